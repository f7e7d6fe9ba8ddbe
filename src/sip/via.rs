//! The Via header field value (RFC 3261 §20.42, §18.2.1 received/rport per RFC 3581).

use super::error::ValueError;
use super::lex::{is_token, skip_lws};
use super::params::{self, Param};
use super::uri::parse_ip;
use std::net::IpAddr;
use std::ops::Range;

/// One Via value: `sent-protocol LWS sent-by *( SEMI via-params )`.
/// Ranges are relative to [`Via::as_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    raw: &'a [u8],
    protocol: Range<usize>,
    version: Range<usize>,
    transport: Range<usize>,
    host: Range<usize>,
    port: Option<u16>,
    /// Where the sent-by ends (the first parameter, or the end).
    pub(crate) sent_by_end: usize,
    params: Vec<Param>,
}

/// A token at `i` (after LWS); returns its range.
fn token_at(s: &[u8], i: usize, what: &'static str) -> Result<Range<usize>, ValueError> {
    let start = skip_lws(s, i);
    let mut end = start;
    while s.get(end).is_some_and(|&c| is_token(c)) {
        end += 1;
    }
    if end == start {
        return Err(ValueError::new(what, start));
    }
    Ok(start..end)
}

/// `"/"` surrounded by optional LWS (RFC 3261 §25.1 SLASH).
fn slash_at(s: &[u8], i: usize) -> Result<usize, ValueError> {
    let j = skip_lws(s, i);
    match s.get(j) {
        Some(b'/') => Ok(j + 1),
        _ => Err(ValueError::new("expected '/' in sent-protocol", j)),
    }
}

/// `host [ COLON port ]` with LWS allowed around the colon.
fn sent_by(s: &[u8], i: usize) -> Result<(Range<usize>, Option<u16>, usize), ValueError> {
    let start = skip_lws(s, i);
    let mut end = start;
    if s.get(start) == Some(&b'[') {
        end = s
            .iter()
            .skip(start)
            .position(|&c| c == b']')
            .map(|n| start + n + 1)
            .ok_or(ValueError::new("unclosed IPv6 reference", start))?;
    } else {
        while s
            .get(end)
            .is_some_and(|&c| c.is_ascii_alphanumeric() || b"-._".contains(&c))
        {
            end += 1;
        }
    }
    if end == start {
        return Err(ValueError::new("empty sent-by host", start));
    }
    let colon = skip_lws(s, end);
    if s.get(colon) != Some(&b':') {
        return Ok((start..end, None, end));
    }
    let p = token_at(s, colon + 1, "empty sent-by port")?;
    let port = super::lex::parse_decimal(s.get(p.clone()).unwrap_or_default(), 65535)
        .ok_or(ValueError::new("invalid sent-by port", p.start))?;
    Ok((start..end, u16::try_from(port).ok(), p.end))
}

impl<'a> Via<'a> {
    /// Parses one Via value (one element of a comma list).
    pub fn parse(raw: &'a [u8]) -> Result<Via<'a>, ValueError> {
        let protocol = token_at(raw, 0, "empty protocol name")?;
        let version = token_at(raw, slash_at(raw, protocol.end)?, "empty protocol version")?;
        let transport = token_at(raw, slash_at(raw, version.end)?, "empty transport")?;
        let (host, port, end) = sent_by(raw, transport.end)?;
        let params = params::parse_params(raw, end)?;
        Ok(Via {
            raw,
            protocol,
            version,
            transport,
            host,
            port,
            sent_by_end: end,
            params,
        })
    }

    fn get(&self, r: &Range<usize>) -> &'a [u8] {
        self.raw.get(r.clone()).unwrap_or_default()
    }

    /// The value exactly as sent.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// `SIP` in `SIP/2.0/UDP`.
    pub fn protocol(&self) -> &'a [u8] {
        self.get(&self.protocol)
    }

    /// `2.0` in `SIP/2.0/UDP`.
    pub fn version(&self) -> &'a [u8] {
        self.get(&self.version)
    }

    /// The transport token as sent (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`… or unknown).
    pub fn transport(&self) -> &'a [u8] {
        self.get(&self.transport)
    }

    /// The sent-by host as sent (IPv6 with brackets).
    pub fn host(&self) -> &'a [u8] {
        self.get(&self.host)
    }

    /// The sent-by host as an IP address, if it is one.
    pub fn host_ip(&self) -> Option<IpAddr> {
        parse_ip(self.host())
    }

    /// The sent-by port, if given.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Any Via parameter: `Some(None)` for a flag, `Some(Some(value))` otherwise.
    pub fn param(&self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        params::find(self.raw, &self.params, name).map(|p| p.value.as_ref().map(|r| self.get(r)))
    }

    /// All parameters in order as (name, value).
    pub fn params(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + '_ {
        self.params
            .iter()
            .map(|p| (self.get(&p.name), p.value.as_ref().map(|r| self.get(r))))
    }

    /// RFC 3261 §8.1.1.7 branch.
    pub fn branch(&self) -> Option<&'a [u8]> {
        self.param(b"branch").flatten()
    }

    /// RFC 3261 §18.2.1 received.
    pub fn received(&self) -> Option<&'a [u8]> {
        self.param(b"received").flatten()
    }

    /// RFC 3581 rport: `None` absent, `Some(None)` requested, `Some(Some(port))` filled in.
    pub fn rport(&self) -> Option<Option<&'a [u8]>> {
        self.param(b"rport")
    }

    /// RFC 3261 §18.2.1 maddr.
    pub fn maddr(&self) -> Option<&'a [u8]> {
        self.param(b"maddr").flatten()
    }

    /// The parameter's (name, value) ranges relative to the value, for edits.
    pub(crate) fn param_ranges(&self, name: &[u8]) -> Option<(Range<usize>, Option<Range<usize>>)> {
        params::find(self.raw, &self.params, name).map(|p| (p.name.clone(), p.value.clone()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may fail loudly
mod tests {
    use super::*;

    #[test]
    fn folded_via_with_lws_everywhere() {
        let v = Via::parse(b"SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(
            (v.protocol(), v.version(), v.transport()),
            (&b"SIP"[..], &b"2.0"[..], &b"UDP"[..])
        );
        assert_eq!(
            (v.host(), v.port(), v.branch()),
            (&b"192.0.2.2"[..], None, Some(&b"390skdjuw"[..]))
        );
        let w = Via::parse(
            b"SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8",
        )
        .unwrap();
        assert_eq!(w.branch(), Some(&b"z9hG4bK9ikj8"[..]));
    }

    #[test]
    fn rport_received_and_ipv6() {
        let v = Via::parse(
            b"SIP/2.0/UDP [2001:db8::9:1]:5070;received=[2001:db8::9:255];rport;branch=z9hG4bKas3",
        )
        .unwrap();
        assert_eq!((v.host(), v.port()), (&b"[2001:db8::9:1]"[..], Some(5070)));
        assert_eq!(v.received(), Some(&b"[2001:db8::9:255]"[..]));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.host_ip(), "2001:db8::9:1".parse().ok());
        let r = Via::parse(b"SIP/2.0/TCP 10.0.0.1 : 5060 ;rport=1234").unwrap();
        assert_eq!(
            (r.port(), r.rport()),
            (Some(5060), Some(Some(&b"1234"[..])))
        );
    }

    #[test]
    fn stray_semicolons_are_errors() {
        assert_eq!(
            Via::parse(b"SIP/2.0/UDP 192.0.2.15;;").unwrap_err().reason,
            "empty parameter"
        );
        assert_eq!(
            Via::parse(b"SIP/2.0 192.0.2.15").unwrap_err().reason,
            "expected '/' in sent-protocol"
        );
        assert_eq!(
            Via::parse(b"SIP/2.0/UDP").unwrap_err().reason,
            "empty sent-by host"
        );
    }
}
