//! Responses the proxy sends itself (100 Trying, 3xx with Contact, 4xx, 5xx), built from the
//! request per RFC 3261 §8.2.6 (a stateless proxy answers like a UAS here).

use super::error::Error;
use super::message::Message;

/// The default reason phrase for the codes siproxd answers with (RFC 3261 §21).
pub fn default_reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        _ => "",
    }
}

fn line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Builds a response to `request`: every Via line in order (RFC 3261 §8.2.6.2), From, To
/// (with `;tag=to_tag` added when the request's To has none, except for 100 — §8.2.6.2),
/// Call-ID, CSeq, Timestamp for a 100 (§8.2.6.1), then `extra` headers (Contact for a 3xx,
/// Proxy-Authenticate for a 407…) and `Content-Length: 0`. `reason: None` uses
/// [`default_reason`].
pub fn build_response(
    request: &Message,
    code: u16,
    reason: Option<&[u8]>,
    to_tag: Option<&[u8]>,
    extra: &[(&[u8], &[u8])],
) -> Result<Vec<u8>, Error> {
    if !request.is_request() {
        return Err(Error::NotARequest);
    }
    let to = request.to()?;
    let (from, call_id, cseq) = (request.from()?, request.call_id()?, request.cseq()?);
    let mut out = Vec::with_capacity(request.as_bytes().len().min(2048) + 64);
    let reason = reason.unwrap_or(default_reason(code).as_bytes());
    out.extend_from_slice(format!("SIP/2.0 {code} ").as_bytes());
    out.extend_from_slice(reason);
    out.extend_from_slice(b"\r\n");
    for via in request.header_values(b"Via") {
        line(&mut out, b"Via", via);
    }
    line(&mut out, b"From", from.as_bytes());
    match to_tag.filter(|_| code > 100 && to.tag().is_none()) {
        Some(tag) => line(&mut out, b"To", &[to.as_bytes(), b";tag=", tag].concat()),
        None => line(&mut out, b"To", to.as_bytes()),
    }
    line(&mut out, b"Call-ID", call_id);
    // The number is re-printed: RFC 4475 §3.1.1.1 leading zeros and folding do not survive.
    let mut cseq_value = format!("{} ", cseq.seq).into_bytes();
    cseq_value.extend_from_slice(cseq.method);
    line(&mut out, b"CSeq", &cseq_value);
    if code == 100 {
        for ts in request.header_values(b"Timestamp") {
            line(&mut out, b"Timestamp", ts);
        }
    }
    for (name, value) in extra {
        line(&mut out, name, value);
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may fail loudly
mod tests {
    use super::*;
    use crate::sip::HeaderName;

    const INVITE: &[u8] = b"INVITE sip:bob@b.example SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1;rport, SIP/2.0/UDP 10.0.0.3;branch=z9hG4bK0\r\nVia: SIP/2.0/UDP 10.0.0.4;branch=z9hG4bK9\r\nf: \"A\" <sip:a@a.example>;tag=x1\r\nt: <sip:bob@b.example>\r\ni: c1@10.0.0.2\r\nCSeq: 0007 INVITE\r\nTimestamp: 54\r\nMax-Forwards: 70\r\nl: 0\r\n\r\n";

    #[test]
    fn trying_copies_vias_and_timestamp_without_a_to_tag() {
        let req = Message::parse_datagram(INVITE).unwrap();
        let out = build_response(&req, 100, None, Some(b"t9"), &[]).unwrap();
        let want = "SIP/2.0 100 Trying\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1;rport, SIP/2.0/UDP 10.0.0.3;branch=z9hG4bK0\r\nVia: SIP/2.0/UDP 10.0.0.4;branch=z9hG4bK9\r\nFrom: \"A\" <sip:a@a.example>;tag=x1\r\nTo: <sip:bob@b.example>\r\nCall-ID: c1@10.0.0.2\r\nCSeq: 7 INVITE\r\nTimestamp: 54\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn redirect_with_contact_and_to_tag() {
        let req = Message::parse_datagram(INVITE).unwrap();
        let out = build_response(
            &req,
            302,
            None,
            Some(b"t9"),
            &[(b"Contact", b"<sip:bob@192.0.2.9>")],
        )
        .unwrap();
        let want = "SIP/2.0 302 Moved Temporarily\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1;rport, SIP/2.0/UDP 10.0.0.3;branch=z9hG4bK0\r\nVia: SIP/2.0/UDP 10.0.0.4;branch=z9hG4bK9\r\nFrom: \"A\" <sip:a@a.example>;tag=x1\r\nTo: <sip:bob@b.example>;tag=t9\r\nCall-ID: c1@10.0.0.2\r\nCSeq: 7 INVITE\r\nContact: <sip:bob@192.0.2.9>\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(String::from_utf8(out.clone()).unwrap(), want);
        let parsed = Message::parse_datagram(&out).unwrap();
        parsed.check().unwrap();
        assert_eq!(parsed.to().unwrap().tag(), Some(&b"t9"[..]));
    }

    #[test]
    fn proxy_auth_challenge_and_missing_headers() {
        let req = Message::parse_datagram(INVITE).unwrap();
        let challenge: &[u8] = b"Digest realm=\"siproxd\", nonce=\"abc\"";
        let out = build_response(
            &req,
            407,
            None,
            Some(b"t9"),
            &[(b"Proxy-Authenticate", challenge)],
        )
        .unwrap();
        let parsed = Message::parse_datagram(&out).unwrap();
        assert_eq!(parsed.status_code(), Some(407));
        assert_eq!(
            parsed.auth(HeaderName::ProxyAuthenticate).unwrap()[0]
                .get(b"nonce")
                .unwrap()
                .as_ref(),
            b"abc"
        );
        let bare = Message::parse_datagram(b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP x\r\n\r\n")
            .unwrap();
        assert_eq!(
            build_response(&bare, 400, None, None, &[]),
            Err(Error::MissingHeader { name: "To" })
        );
    }
}
