//! Header field names: case-insensitive, with every compact form (RFC 3261 §7.3.3, §20).

/// The header fields the proxy reads or edits; every other name is [`HeaderName::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    MaxForwards,
    Route,
    RecordRoute,
    Expires,
    ContentType,
    ContentLength,
    ContentEncoding,
    UserAgent,
    Server,
    Authorization,
    ProxyAuthorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    Subject,
    Supported,
    Event,
    AllowEvents,
    ReferTo,
    ReferredBy,
    SessionExpires,
    Identity,
    AcceptContact,
    RejectContact,
    RequestDisposition,
    Other,
}

/// (long name, compact letter or 0, variant). RFC 3261 §7.3.3 plus the compact forms
/// registered later (RFC 3265 o/u, 3515 r, 3892 b, 4028 x, 4474 y, 3841 a/j/d).
const TABLE: &[(&str, u8, HeaderName)] = &[
    ("Via", b'v', HeaderName::Via),
    ("From", b'f', HeaderName::From),
    ("To", b't', HeaderName::To),
    ("Call-ID", b'i', HeaderName::CallId),
    ("CSeq", 0, HeaderName::CSeq),
    ("Contact", b'm', HeaderName::Contact),
    ("Max-Forwards", 0, HeaderName::MaxForwards),
    ("Route", 0, HeaderName::Route),
    ("Record-Route", 0, HeaderName::RecordRoute),
    ("Expires", 0, HeaderName::Expires),
    ("Content-Type", b'c', HeaderName::ContentType),
    ("Content-Length", b'l', HeaderName::ContentLength),
    ("Content-Encoding", b'e', HeaderName::ContentEncoding),
    ("User-Agent", 0, HeaderName::UserAgent),
    ("Server", 0, HeaderName::Server),
    ("Authorization", 0, HeaderName::Authorization),
    ("Proxy-Authorization", 0, HeaderName::ProxyAuthorization),
    ("WWW-Authenticate", 0, HeaderName::WwwAuthenticate),
    ("Proxy-Authenticate", 0, HeaderName::ProxyAuthenticate),
    ("Subject", b's', HeaderName::Subject),
    ("Supported", b'k', HeaderName::Supported),
    ("Event", b'o', HeaderName::Event),
    ("Allow-Events", b'u', HeaderName::AllowEvents),
    ("Refer-To", b'r', HeaderName::ReferTo),
    ("Referred-By", b'b', HeaderName::ReferredBy),
    ("Session-Expires", b'x', HeaderName::SessionExpires),
    ("Identity", b'y', HeaderName::Identity),
    ("Accept-Contact", b'a', HeaderName::AcceptContact),
    ("Reject-Contact", b'j', HeaderName::RejectContact),
    ("Request-Disposition", b'd', HeaderName::RequestDisposition),
];

impl HeaderName {
    /// Classifies a header name as received; case-insensitive (RFC 3261 §7.3.1).
    pub fn parse(name: &[u8]) -> HeaderName {
        if let [c] = name {
            let c = c.to_ascii_lowercase();
            return TABLE
                .iter()
                .find(|e| e.1 == c)
                .map_or(HeaderName::Other, |e| e.2);
        }
        TABLE
            .iter()
            .find(|e| e.0.len() == name.len() && e.0.as_bytes().eq_ignore_ascii_case(name))
            .map_or(HeaderName::Other, |e| e.2)
    }

    /// The long form, as the proxy writes it in headers it adds.
    pub fn as_str(self) -> &'static str {
        TABLE.iter().find(|e| e.2 == self).map_or("", |e| e.0)
    }

    /// The compact form, if RFC 3261 or a later RFC defines one.
    pub fn compact(self) -> Option<char> {
        TABLE
            .iter()
            .find(|e| e.2 == self && e.1 != 0)
            .map(|e| char::from(e.1))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may fail loudly
mod tests {
    use super::HeaderName as H;

    #[test]
    fn every_compact_form_is_recognised() {
        let pairs = [
            ("i", H::CallId),
            ("m", H::Contact),
            ("e", H::ContentEncoding),
            ("l", H::ContentLength),
            ("c", H::ContentType),
            ("f", H::From),
            ("s", H::Subject),
            ("k", H::Supported),
            ("t", H::To),
            ("v", H::Via),
            ("o", H::Event),
            ("u", H::AllowEvents),
            ("r", H::ReferTo),
            ("b", H::ReferredBy),
            ("x", H::SessionExpires),
            ("y", H::Identity),
            ("a", H::AcceptContact),
        ];
        for (short, want) in pairs {
            assert_eq!(H::parse(short.as_bytes()), want, "{short}");
            assert_eq!(H::parse(short.to_uppercase().as_bytes()), want, "{short}");
        }
    }

    #[test]
    fn long_names_are_case_insensitive() {
        assert_eq!(H::parse(b"MaX-fOrWaRdS"), H::MaxForwards);
        assert_eq!(H::parse(b"call-id"), H::CallId);
        assert_eq!(H::parse(b"C%6Fntact"), H::Other);
        assert_eq!(H::parse(b"q"), H::Other);
        assert_eq!(H::CallId.as_str(), "Call-ID");
        assert_eq!(H::ContentLength.compact(), Some('l'));
        assert_eq!(H::CSeq.compact(), None);
    }
}
