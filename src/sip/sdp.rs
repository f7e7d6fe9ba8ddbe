//! SDP (RFC 8866) as a line-level view over a body, and a rewriter that replaces only the
//! fields a masquerading proxy changes — `o=` address, `c=` addresses, `m=` ports and
//! `a=rtcp` (RFC 3605) — leaving every other byte, line terminators included, as it came.
//! Mirrors what upstream does in proxy.c:proxy_rewrite_invitation_body, without re-encoding.

use super::error::Error;
use std::net::IpAddr;
use std::ops::Range;

/// One `x=...` line: its type letter, content range (after `x=`) and end after the terminator.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    kind: u8,
    content: Range<usize>,
    end: usize,
}

/// `c=` (or the address part of `o=`): where `addrtype SP address` sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection<'a> {
    /// `IP4` or `IP6` as sent.
    pub addrtype: &'a [u8],
    /// The address as sent (hostname, `0.0.0.0`, IPv6, multicast with `/ttl` removed).
    pub address: &'a [u8],
    /// `addrtype SP address` in the body, for the rewriter.
    span: Range<usize>,
}

impl Connection<'_> {
    /// The address as an IP, if it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        std::str::from_utf8(self.address).ok()?.parse().ok()
    }
}

/// RFC 8866 §5.14 `m=` with the attributes the proxy reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media<'a> {
    /// `audio`, `video`, `image` (T.38), `application`…
    pub media: &'a [u8],
    /// 0 means the stream is rejected or disabled (RFC 3264 §6).
    pub port: u16,
    /// The `/<number of ports>` suffix, if any.
    pub port_count: Option<u16>,
    pub proto: &'a [u8],
    /// The format list as sent (payload types).
    pub formats: &'a [u8],
    /// Media-level `c=` (RFC 8866 §5.7), if any.
    pub connection: Option<Connection<'a>>,
    /// RFC 3605 `a=rtcp:` port, if any.
    pub rtcp_port: Option<u16>,
    /// RFC 5761 `a=rtcp-mux`.
    pub rtcp_mux: bool,
    /// The media-level direction attribute, if any (RFC 3264 §5.1).
    pub direction: Option<Direction>,
    port_span: Range<usize>,
    rtcp_span: Option<Range<usize>>,
    rtcp_addr_span: Option<Range<usize>>,
}

/// RFC 3264 §5.1 direction attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

/// A parsed SDP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp<'a> {
    body: &'a [u8],
    lines: Vec<Line>,
    /// The `o=` address, if the origin line is well formed.
    pub origin: Option<Connection<'a>>,
    /// Session-level `c=`.
    pub connection: Option<Connection<'a>>,
    /// Session-level direction attribute.
    pub direction: Option<Direction>,
    pub media: Vec<Media<'a>>,
}

fn bad(kind: u8, line: usize, reason: &'static str) -> Error {
    Error::BadSdpLine {
        kind: char::from(kind),
        line,
        reason,
    }
}

/// Up to eight space-separated fields of one line, as absolute ranges (no allocation: this
/// runs for every o=, c=, m= and a=rtcp line of every offer and answer).
struct Fields {
    f: [(usize, usize); 8],
    n: usize,
}

impl Fields {
    fn get(&self, i: usize) -> Option<Range<usize>> {
        self.f.get(i).filter(|_| i < self.n).map(|&(a, b)| a..b)
    }
}

/// Space-separated fields of `body[r]`; fields past the eighth are not needed by any caller.
fn fields(body: &[u8], r: &Range<usize>) -> Fields {
    let mut out = Fields {
        f: [(0, 0); 8],
        n: 0,
    };
    let mut i = r.start;
    while i < r.end && out.n < out.f.len() {
        let len = body
            .get(i..r.end)
            .unwrap_or_default()
            .iter()
            .position(|&c| c == b' ')
            .unwrap_or(r.end - i);
        if let (true, Some(slot)) = (len > 0, out.f.get_mut(out.n)) {
            *slot = (i, i + len);
            out.n += 1;
        }
        i += len + 1;
    }
    out
}

/// Splits the body into lines; each must be `x=` with a lower-case letter (RFC 8866 §5).
fn split_lines(body: &[u8]) -> Result<Vec<Line>, Error> {
    let mut lines = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let rest = body.get(pos..).unwrap_or_default();
        let lf = rest.iter().position(|&c| c == b'\n');
        let end = lf.map_or(body.len(), |n| pos + n + 1);
        let content_end = match lf {
            Some(n) if n > 0 && rest.get(n - 1) == Some(&b'\r') => pos + n - 1,
            Some(n) => pos + n,
            None => body.len(),
        };
        match body.get(pos..content_end).unwrap_or_default() {
            [] => {} // blank line (trailing CRLF some UAs add): kept, never parsed
            [k, b'=', ..] if k.is_ascii_lowercase() => lines.push(Line {
                kind: *k,
                content: pos + 2..content_end,
                end,
            }),
            _ => {
                return Err(bad(
                    rest.first().copied().unwrap_or(b'?'),
                    lines.len() + 1,
                    "not a type=value line",
                ))
            }
        }
        pos = end;
    }
    Ok(lines)
}

/// `addrtype SP address` from fields `at` and `at + 1` (the address without a `/ttl`).
fn connection<'a>(body: &'a [u8], f: &Fields, at: usize) -> Option<Connection<'a>> {
    let (t, a) = (f.get(at)?, f.get(at + 1)?);
    let addr_field = body.get(a.clone())?;
    let addr_len = addr_field
        .iter()
        .position(|&c| c == b'/')
        .unwrap_or(addr_field.len());
    Some(Connection {
        addrtype: body.get(t.clone())?,
        address: addr_field.get(..addr_len)?,
        span: t.start..a.start + addr_len,
    })
}

fn parse_port(body: &[u8], r: &Range<usize>) -> Option<u16> {
    let s = body.get(r.clone())?;
    if s.is_empty() || s.len() > 5 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

fn direction(attr: &[u8]) -> Option<Direction> {
    match attr {
        b"sendrecv" => Some(Direction::SendRecv),
        b"sendonly" => Some(Direction::SendOnly),
        b"recvonly" => Some(Direction::RecvOnly),
        b"inactive" => Some(Direction::Inactive),
        _ => None,
    }
}

/// RFC 8866 §5.14 `m=<media> <port>[/<count>] <proto> <fmt> ...`.
fn parse_media<'a>(body: &'a [u8], line: &Line, n: usize) -> Result<Media<'a>, Error> {
    let f = fields(body, &line.content);
    let (Some(m), Some(p), Some(proto)) = (f.get(0), f.get(1), f.get(2)) else {
        return Err(bad(b'm', n, "fewer than three fields"));
    };
    let port_field = body.get(p.clone()).unwrap_or_default();
    let p = &p;
    let slash = port_field.iter().position(|&c| c == b'/');
    let port_span = p.start..slash.map_or(p.end, |s| p.start + s);
    let port =
        parse_port(body, &port_span).ok_or(bad(b'm', n, "port is not a number in 0..=65535"))?;
    let port_count = match slash {
        Some(s) => Some(parse_port(body, &(p.start + s + 1..p.end)).ok_or(bad(
            b'm',
            n,
            "bad port count",
        ))?),
        None => None,
    };
    let formats = body
        .get(proto.end.saturating_add(1).min(line.content.end)..line.content.end)
        .unwrap_or_default();
    Ok(Media {
        media: body.get(m).unwrap_or_default(),
        port,
        port_count,
        proto: body.get(proto).unwrap_or_default(),
        formats,
        connection: None,
        rtcp_port: None,
        rtcp_mux: false,
        direction: None,
        port_span,
        rtcp_span: None,
        rtcp_addr_span: None,
    })
}

/// RFC 3605 `a=rtcp:<port> [nettype addrtype address]`.
fn parse_rtcp(
    body: &[u8],
    content: &Range<usize>,
    media: &mut Media<'_>,
    n: usize,
) -> Result<(), Error> {
    let r = content.start + 5..content.end;
    let f = fields(body, &r);
    let port = f.get(0).ok_or(bad(b'a', n, "a=rtcp without a port"))?;
    media.rtcp_port =
        Some(parse_port(body, &port).ok_or(bad(b'a', n, "a=rtcp port is not a number"))?);
    media.rtcp_span = Some(port);
    // `a=rtcp:port nettype addrtype address`: the address pair starts at field 2.
    media.rtcp_addr_span = connection(body, &f, 2).map(|c| c.span);
    Ok(())
}

impl<'a> Sdp<'a> {
    /// Parses a body. Only o=, c=, m= and a= lines are looked into; others are kept as lines.
    pub fn parse(body: &'a [u8]) -> Result<Sdp<'a>, Error> {
        let lines = split_lines(body)?;
        let mut sdp = Sdp {
            body,
            lines: Vec::new(),
            origin: None,
            connection: None,
            direction: None,
            media: Vec::new(),
        };
        for (i, line) in lines.iter().enumerate() {
            sdp.read_line(line, i + 1)?;
        }
        sdp.lines = lines;
        Ok(sdp)
    }

    fn read_line(&mut self, line: &Line, n: usize) -> Result<(), Error> {
        let body = self.body;
        match line.kind {
            b'o' => {
                let f = fields(body, &line.content);
                let c = connection(body, &f, 4).ok_or(bad(b'o', n, "fewer than six fields"))?;
                self.origin = Some(c);
            }
            b'c' => {
                let f = fields(body, &line.content);
                let c = connection(body, &f, 1).ok_or(bad(b'c', n, "fewer than three fields"))?;
                match self.media.last_mut() {
                    Some(m) => m.connection = Some(c),
                    None => self.connection = Some(c),
                }
            }
            b'm' => self.media.push(parse_media(body, line, n)?),
            b'a' => self.read_attribute(line, n)?,
            _ => {}
        }
        Ok(())
    }

    fn read_attribute(&mut self, line: &Line, n: usize) -> Result<(), Error> {
        let attr = self.body.get(line.content.clone()).unwrap_or_default();
        if let Some(d) = direction(attr) {
            match self.media.last_mut() {
                Some(m) => m.direction = Some(d),
                None => self.direction = Some(d),
            }
        } else if let Some(m) = self.media.last_mut() {
            if attr.starts_with(b"rtcp:") {
                parse_rtcp(self.body, &line.content, m, n)?;
            } else if attr == b"rtcp-mux" {
                m.rtcp_mux = true;
            }
        }
        Ok(())
    }

    /// A rewriter over this body.
    pub fn rewriter(&self) -> SdpRewriter<'_, 'a> {
        SdpRewriter {
            sdp: self,
            edits: Vec::new(),
        }
    }

    /// The number of `x=` lines.
    pub fn line_count(&self) -> usize {
        self.lines.len()
    }
}

/// Collects field replacements and writes the new body; see the module doc.
#[derive(Debug)]
pub struct SdpRewriter<'s, 'a> {
    sdp: &'s Sdp<'a>,
    edits: Vec<(Range<usize>, Vec<u8>)>,
}

/// Appends `n` in decimal (`format!` costs more than the whole rest of an SDP rewrite).
pub(crate) fn push_decimal(out: &mut Vec<u8>, n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
}

/// `IP4 a.b.c.d` / `IP6 x::y` for an address.
fn addr_field(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => {
            let mut out = Vec::with_capacity(19);
            out.extend_from_slice(b"IP4 ");
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_decimal(&mut out, octet.into());
            }
            out
        }
        IpAddr::V6(v6) => format!("IP6 {v6}").into_bytes(),
    }
}

fn port_bytes(port: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(5);
    push_decimal(&mut out, port.into());
    out
}

impl SdpRewriter<'_, '_> {
    fn replace(&mut self, span: Range<usize>, with: Vec<u8>) {
        self.edits.retain(|(s, _)| *s != span);
        self.edits.push((span, with));
    }

    /// Rewrites the `o=` address (and its addrtype to match `ip`).
    pub fn set_origin_address(&mut self, ip: IpAddr) -> &mut Self {
        if let Some(span) = self.sdp.origin.as_ref().map(|c| c.span.clone()) {
            self.replace(span, addr_field(ip));
        }
        self
    }

    /// Rewrites every `c=` line, session and media level, to `ip`.
    pub fn set_connection_addresses(&mut self, ip: IpAddr) -> &mut Self {
        let session = self.sdp.connection.iter();
        let spans: Vec<_> = session
            .chain(self.sdp.media.iter().filter_map(|m| m.connection.as_ref()))
            .map(|c| c.span.clone())
            .collect();
        let field = addr_field(ip);
        for span in spans {
            self.replace(span, field.clone());
        }
        self
    }

    /// Rewrites the `c=` of media `index` if it has its own, else the session `c=`.
    pub fn set_media_connection(&mut self, index: usize, ip: IpAddr) -> &mut Self {
        let own = self
            .sdp
            .media
            .get(index)
            .and_then(|m| m.connection.as_ref());
        if let Some(span) = own.or(self.sdp.connection.as_ref()).map(|c| c.span.clone()) {
            self.replace(span, addr_field(ip));
        }
        self
    }

    /// Rewrites the port of `m=` line `index` (the `/count` suffix stays).
    pub fn set_media_port(&mut self, index: usize, port: u16) -> &mut Self {
        if let Some(span) = self.sdp.media.get(index).map(|m| m.port_span.clone()) {
            self.replace(span, port_bytes(port));
        }
        self
    }

    /// Rewrites the RFC 3605 `a=rtcp:` port of media `index`, and its address if it has
    /// one and `ip` is given.
    pub fn set_rtcp(&mut self, index: usize, port: u16, ip: Option<IpAddr>) -> &mut Self {
        let Some(m) = self.sdp.media.get(index) else {
            return self;
        };
        let (port_span, addr_span) = (m.rtcp_span.clone(), m.rtcp_addr_span.clone());
        if let Some(span) = port_span {
            self.replace(span, port_bytes(port));
        }
        if let (Some(span), Some(ip)) = (addr_span, ip) {
            self.replace(span, addr_field(ip));
        }
        self
    }

    /// The new body: the old one with each replaced field spliced in.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut edits: Vec<_> = self.edits.iter().collect();
        edits.sort_by_key(|(s, _)| s.start);
        let body = self.sdp.body;
        let mut out = Vec::with_capacity(body.len() + 32);
        let mut pos = 0;
        for (span, with) in edits {
            out.extend_from_slice(body.get(pos..span.start).unwrap_or_default());
            out.extend_from_slice(with);
            pos = span.end;
        }
        out.extend_from_slice(body.get(pos..).unwrap_or_default());
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may fail loudly
mod tests {
    use super::*;

    const OFFER: &[u8] = b"v=0\r\no=alice 53655765 2353687637 IN IP4 10.99.0.10\r\ns=-\r\nc=IN IP4 10.99.0.10\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtcp:6001\r\na=sendonly\r\nm=video 0 RTP/AVP 31\r\nm=image 6002 udptl t38\nc=IN IP6 2001:db8::1\na=rtcp:6003 IN IP6 2001:db8::1\r\na=rtcp-mux\r\n";

    #[test]
    fn view_reads_every_field_the_proxy_uses() {
        let s = Sdp::parse(OFFER).unwrap();
        assert_eq!(s.origin.as_ref().unwrap().address, b"10.99.0.10");
        assert_eq!(
            s.connection.as_ref().unwrap().ip(),
            "10.99.0.10".parse().ok()
        );
        assert_eq!(s.media.len(), 3);
        let a = &s.media[0];
        assert_eq!(
            (a.media, a.port, a.proto, a.formats),
            (&b"audio"[..], 6000, &b"RTP/AVP"[..], &b"8 101"[..])
        );
        assert_eq!(
            (a.rtcp_port, a.direction),
            (Some(6001), Some(Direction::SendOnly))
        );
        assert_eq!(s.media[1].port, 0);
        let t38 = &s.media[2];
        assert_eq!(
            (
                t38.media,
                t38.connection.as_ref().unwrap().addrtype,
                t38.rtcp_mux
            ),
            (&b"image"[..], &b"IP6"[..], true)
        );
    }

    #[test]
    fn rewrite_touches_only_the_fields() {
        let s = Sdp::parse(OFFER).unwrap();
        let wan: IpAddr = "198.51.100.1".parse().unwrap();
        let mut r = s.rewriter();
        r.set_origin_address(wan)
            .set_connection_addresses(wan)
            .set_media_port(0, 7070)
            .set_rtcp(0, 7071, None);
        r.set_media_port(2, 7072).set_rtcp(2, 7073, Some(wan));
        let want = b"v=0\r\no=alice 53655765 2353687637 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 7070 RTP/AVP 8 101\r\na=rtcp:7071\r\na=sendonly\r\nm=video 0 RTP/AVP 31\r\nm=image 7072 udptl t38\nc=IN IP4 198.51.100.1\na=rtcp:7073 IN IP4 198.51.100.1\r\na=rtcp-mux\r\n";
        assert_eq!(
            String::from_utf8_lossy(&r.to_bytes()),
            String::from_utf8_lossy(want)
        );
    }

    #[test]
    fn ipv6_origin_and_multicast_ttl_and_port_count() {
        let body =
            b"v=0\no=- 1 1 IN IP6 2001:db8::2\nc=IN IP4 224.2.1.1/127\nm=audio 49170/2 RTP/AVP 0\n";
        let s = Sdp::parse(body).unwrap();
        assert_eq!((s.media[0].port, s.media[0].port_count), (49170, Some(2)));
        assert_eq!(s.connection.as_ref().unwrap().address, b"224.2.1.1");
        let mut r = s.rewriter();
        r.set_origin_address("10.0.0.1".parse().unwrap())
            .set_connection_addresses("::1".parse().unwrap())
            .set_media_port(0, 7000);
        assert_eq!(
            r.to_bytes(),
            b"v=0\no=- 1 1 IN IP4 10.0.0.1\nc=IN IP6 ::1/127\nm=audio 7000/2 RTP/AVP 0\n"
        );
    }

    #[test]
    fn decimal_and_address_formatting() {
        for n in [0u32, 7, 10, 255, 5060, 65535, u32::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
        assert_eq!(addr_field("0.0.0.0".parse().unwrap()), b"IP4 0.0.0.0");
        assert_eq!(
            addr_field("192.168.100.255".parse().unwrap()),
            b"IP4 192.168.100.255"
        );
    }

    #[test]
    fn hold_address_and_rejected_stream_are_visible() {
        let s = Sdp::parse(b"v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 0 RTP/AVP 0\r\na=inactive\r\n")
            .unwrap();
        assert!(s
            .connection
            .as_ref()
            .unwrap()
            .ip()
            .unwrap()
            .is_unspecified());
        assert_eq!(
            (s.media[0].port, s.media[0].direction),
            (0, Some(Direction::Inactive))
        );
    }

    #[test]
    fn malformed_lines_are_named() {
        assert_eq!(
            Sdp::parse(b"v=0\r\nm=audio 70000 RTP/AVP 0\r\n"),
            Err(bad(b'm', 2, "port is not a number in 0..=65535"))
        );
        assert_eq!(
            Sdp::parse(b"v=0\r\nc=IN\r\n"),
            Err(bad(b'c', 2, "fewer than three fields"))
        );
        assert_eq!(
            Sdp::parse(b"v=0\r\nnot sdp\r\n"),
            Err(bad(b'n', 2, "not a type=value line"))
        );
        assert!(Sdp::parse(b"v=0\r\n\r\n").is_ok());
    }
}
