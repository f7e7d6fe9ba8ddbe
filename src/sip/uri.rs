//! SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), read in place; other schemes are kept
//! opaque (RFC 3261 §19: absoluteURI) so the proxy can answer 416 rather than fail to parse.

use super::error::ValueError;
use super::lex::{is_lws, parse_decimal, unescape};
use super::params::{self, Param};
use std::borrow::Cow;
use std::net::IpAddr;
use std::ops::Range;

/// The URI scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    /// Any other absoluteURI scheme (RFC 4475 §3.3.2–3.3.4).
    Other,
}

/// A parsed view over URI bytes; ranges are relative to [`Uri::as_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri<'a> {
    raw: &'a [u8],
    pub scheme: Scheme,
    user: Option<Range<usize>>,
    password: Option<Range<usize>>,
    host: Range<usize>,
    port: Option<u16>,
    /// From the first `;` after the host to the `?` or the end.
    params: Range<usize>,
    param_list: Vec<Param>,
    /// After the `?`, if any.
    headers: Option<Range<usize>>,
}

fn err(reason: &'static str, at: usize) -> ValueError {
    ValueError::new(reason, at)
}

/// `scheme ":"`; returns the scheme and the index after the colon.
fn parse_scheme(s: &[u8]) -> Result<(Scheme, usize), ValueError> {
    let colon = s
        .iter()
        .position(|&c| c == b':')
        .ok_or(err("no scheme", 0))?;
    let name = s.get(..colon).unwrap_or_default();
    let ok = name.first().is_some_and(u8::is_ascii_alphabetic)
        && name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"+-.".contains(&c));
    if !ok {
        return Err(err("bad scheme", 0));
    }
    let scheme = match name.to_ascii_lowercase().as_slice() {
        b"sip" => Scheme::Sip,
        b"sips" => Scheme::Sips,
        b"tel" => Scheme::Tel,
        _ => Scheme::Other,
    };
    Ok((scheme, colon + 1))
}

/// End of the host at `i`: an IPv6 reference `[...]` (any hex, `:` and `.` inside, so the
/// RFC 5118 §4.10 three-colon form is kept) or a hostname / IPv4 address.
fn host_end(s: &[u8], i: usize) -> Result<usize, ValueError> {
    if s.get(i) == Some(&b'[') {
        let close = s
            .iter()
            .skip(i)
            .position(|&c| c == b']')
            .ok_or(err("unclosed IPv6 reference", i))?;
        let inner = s.get(i + 1..i + close).unwrap_or_default();
        if inner.is_empty()
            || !inner
                .iter()
                .all(|&c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
        {
            return Err(err("bad IPv6 reference", i));
        }
        return Ok(i + close + 1);
    }
    let mut j = i;
    while s
        .get(j)
        .is_some_and(|&c| c.is_ascii_alphanumeric() || b"-._".contains(&c))
    {
        j += 1;
    }
    if j == i {
        return Err(err("empty host", i));
    }
    Ok(j)
}

/// Host, optional port, params and headers of a SIP/SIPS URI from `i` on.
fn parse_hostport_rest(u: &mut Uri<'_>, i: usize) -> Result<(), ValueError> {
    let s = u.raw;
    let h_end = host_end(s, i)?;
    u.host = i..h_end;
    let mut j = h_end;
    if s.get(j) == Some(&b':') {
        let p_end = s
            .iter()
            .skip(j + 1)
            .position(|&c| !c.is_ascii_digit())
            .map_or(s.len(), |n| j + 1 + n);
        let port = parse_decimal(s.get(j + 1..p_end).unwrap_or_default(), 65535)
            .ok_or(err("invalid port", j + 1))?;
        u.port = u16::try_from(port).ok();
        j = p_end;
    }
    let q = s
        .iter()
        .skip(j)
        .position(|&c| c == b'?')
        .map_or(s.len(), |n| j + n);
    u.params = j..q;
    u.param_list = params::parse_params(s.get(..q).unwrap_or_default(), j)?;
    if q < s.len() {
        u.headers = Some(q + 1..s.len());
    }
    Ok(())
}

/// Splits `user[:password]@` off a SIP URI; returns where the host starts. The first `@`
/// ends the userinfo: the user may hold `;` and `?` (RFC 4475 §3.1.1.9), the host part not `@`.
fn parse_userinfo(u: &mut Uri<'_>, i: usize) -> usize {
    let s = u.raw;
    let Some(at) = s.iter().skip(i).position(|&c| c == b'@').map(|n| i + n) else {
        return i;
    };
    match s
        .iter()
        .take(at)
        .skip(i)
        .position(|&c| c == b':')
        .map(|n| i + n)
    {
        Some(colon) => (u.user, u.password) = (Some(i..colon), Some(colon + 1..at)),
        None => u.user = Some(i..at),
    }
    at + 1
}

impl<'a> Uri<'a> {
    /// Parses URI bytes; whitespace and angle brackets are never part of a URI.
    pub fn parse(raw: &'a [u8]) -> Result<Uri<'a>, ValueError> {
        if let Some(bad) = raw
            .iter()
            .position(|&c| is_lws(c) || c == b'<' || c == b'>' || c == b'"')
        {
            return Err(err("whitespace, quote or angle bracket in URI", bad));
        }
        let (scheme, i) = parse_scheme(raw)?;
        let mut u = Uri {
            raw,
            scheme,
            user: None,
            password: None,
            host: i..i,
            port: None,
            params: raw.len()..raw.len(),
            param_list: Vec::new(),
            headers: None,
        };
        match scheme {
            Scheme::Sip | Scheme::Sips => {
                let h = parse_userinfo(&mut u, i);
                parse_hostport_rest(&mut u, h)?;
            }
            Scheme::Tel => parse_tel(&mut u, i)?,
            Scheme::Other if i >= raw.len() => return Err(err("empty URI after the scheme", i)),
            Scheme::Other => {}
        }
        Ok(u)
    }

    /// The URI exactly as it was sent.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    fn get(&self, r: &Range<usize>) -> &'a [u8] {
        self.raw.get(r.clone()).unwrap_or_default()
    }

    /// The user part as sent (escapes kept); the subscriber number of a tel URI.
    pub fn user(&self) -> Option<&'a [u8]> {
        self.user.as_ref().map(|r| self.get(r))
    }

    /// The user part with `%HH` escapes undone, for comparisons (RFC 3261 §19.1.4).
    pub fn user_unescaped(&self) -> Option<Cow<'a, [u8]>> {
        self.user().map(unescape)
    }

    /// The password, if the URI carries one (RFC 3261 §19.1.1 discourages it).
    pub fn password(&self) -> Option<&'a [u8]> {
        self.password.as_ref().map(|r| self.get(r))
    }

    /// The host as sent; IPv6 references keep their brackets.
    pub fn host(&self) -> &'a [u8] {
        self.get(&self.host)
    }

    /// The host as an IP address, if it is one (brackets removed).
    pub fn host_ip(&self) -> Option<IpAddr> {
        parse_ip(self.host())
    }

    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// A URI parameter: `Some(None)` for a flag such as `lr`, `Some(Some(v))` with a value.
    pub fn param(&self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        params::find(self.raw, &self.param_list, name)
            .map(|p| p.value.as_ref().map(|r| self.get(r)))
    }

    /// RFC 3261 §19.1.1 `lr`: the URI names a loose router.
    pub fn is_loose_route(&self) -> bool {
        self.param(b"lr").is_some()
    }

    /// The `?headers` part without the `?`.
    pub fn headers(&self) -> Option<&'a [u8]> {
        self.headers.as_ref().map(|r| self.get(r))
    }

    /// The same URI with another user (or the old one when `None`), host and port; params
    /// and headers are copied byte for byte. `host` is written as given (bracket IPv6).
    pub fn with_user_host_port(
        &self,
        user: Option<&[u8]>,
        host: &[u8],
        port: Option<u16>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.raw.len() + host.len() + 8);
        out.extend_from_slice(self.raw.get(..=self.scheme_end()).unwrap_or_default());
        match (user, &self.user) {
            (Some(user), _) => out.extend_from_slice(user),
            // Keep the old userinfo, password included, exactly as sent.
            (None, Some(old)) => out.extend_from_slice(
                self.raw
                    .get(old.start..self.host.start.saturating_sub(1))
                    .unwrap_or_default(),
            ),
            (None, None) => {}
        }
        if user.is_some() || self.user.is_some() {
            out.push(b'@');
        }
        out.extend_from_slice(host);
        if let Some(port) = port {
            out.push(b':');
            out.extend_from_slice(port.to_string().as_bytes());
        }
        out.extend_from_slice(self.raw.get(self.params.start..).unwrap_or_default());
        out
    }

    /// Index of the colon after the scheme.
    fn scheme_end(&self) -> usize {
        self.raw.iter().position(|&c| c == b':').unwrap_or(0)
    }

    /// RFC 3261 §19.1.4 equality of the parts a proxy compares: scheme, user (unescaped,
    /// case-sensitive), host (case-insensitive), port.
    pub fn same_address(&self, other: &Uri<'_>) -> bool {
        self.scheme == other.scheme
            && self.user_unescaped() == other.user_unescaped()
            && self.host().eq_ignore_ascii_case(other.host())
            && self.port == other.port
    }
}

/// RFC 3966 `tel:` number followed by parameters.
fn parse_tel(u: &mut Uri<'_>, i: usize) -> Result<(), ValueError> {
    let s = u.raw;
    let end = s
        .iter()
        .skip(i)
        .position(|&c| c == b';')
        .map_or(s.len(), |n| i + n);
    if end == i {
        return Err(err("empty telephone number", i));
    }
    u.user = Some(i..end);
    u.host = end..end;
    u.params = end..s.len();
    u.param_list = params::parse_params(s, end)?;
    Ok(())
}

/// An IPv4 address or a bracketed or bare IPv6 address.
pub fn parse_ip(host: &[u8]) -> Option<IpAddr> {
    let inner = host
        .strip_prefix(b"[")
        .and_then(|h| h.strip_suffix(b"]"))
        .unwrap_or(host);
    std::str::from_utf8(inner).ok()?.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may fail loudly
mod tests {
    use super::*;

    #[test]
    fn sip_uri_parts() {
        let u = Uri::parse(b"sip:alice:pw@[2001:db8::1]:5070;transport=tcp;lr?Subject=x").unwrap();
        assert_eq!(
            (u.scheme, u.user(), u.password()),
            (Scheme::Sip, Some(&b"alice"[..]), Some(&b"pw"[..]))
        );
        assert_eq!((u.host(), u.port()), (&b"[2001:db8::1]"[..], Some(5070)));
        assert_eq!(u.param(b"TRANSPORT"), Some(Some(&b"tcp"[..])));
        assert!(u.is_loose_route());
        assert_eq!(u.headers(), Some(&b"Subject=x"[..]));
        assert_eq!(u.host_ip(), "2001:db8::1".parse().ok());
    }

    #[test]
    fn user_may_hold_semicolon_and_escapes() {
        let u = Uri::parse(b"sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user(), Some(&b"user;par=u%40example.net"[..]));
        assert_eq!(
            u.user_unescaped().unwrap().as_ref(),
            b"user;par=u@example.net"
        );
        assert_eq!(u.host(), b"example.com");
        let a = Uri::parse(b"sip:%61lice@EXAMPLE.com").unwrap();
        assert!(a.same_address(&Uri::parse(b"sip:alice@example.com").unwrap()));
    }

    #[test]
    fn bad_uris_are_named() {
        assert_eq!(
            Uri::parse(b"sip:user@2001:db8::10").unwrap_err().reason,
            "invalid port"
        );
        assert_eq!(
            Uri::parse(b"<sip:a@b>").unwrap_err().reason,
            "whitespace, quote or angle bracket in URI"
        );
        assert_eq!(Uri::parse(b"sip:a@").unwrap_err().reason, "empty host");
        assert_eq!(
            Uri::parse(b"sip:a@b:99999").unwrap_err().reason,
            "invalid port"
        );
        assert_eq!(
            Uri::parse(b"soap.beep://192.0.2.103:3002").unwrap().scheme,
            Scheme::Other
        );
        assert_eq!(
            Uri::parse(b"tel:+1-201-555-0123;phone-context=x")
                .unwrap()
                .user(),
            Some(&b"+1-201-555-0123"[..])
        );
    }

    #[test]
    fn rewrite_keeps_params_and_headers() {
        let u = Uri::parse(b"sip:alice-0x55@10.99.0.10:5060;transport=udp?X=1").unwrap();
        assert_eq!(
            u.with_user_host_port(Some(b"alice"), b"198.51.100.1", None),
            b"sip:alice@198.51.100.1;transport=udp?X=1"
        );
        let n = Uri::parse(b"sip:10.99.0.10:5060;transport=UDP").unwrap();
        assert_eq!(
            n.with_user_host_port(None, b"198.51.100.1", Some(5060)),
            b"sip:198.51.100.1:5060;transport=UDP"
        );
    }
}
