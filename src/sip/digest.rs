//! Authorization / Proxy-Authorization / WWW-Authenticate / Proxy-Authenticate values
//! (RFC 3261 §20.7, §20.27, §20.28, §20.44; RFC 2617 §3.2 auth-param lists).

use super::error::ValueError;
use super::lex::{find_unquoted, is_token, skip_lws, trim_span, unquote};
use std::borrow::Cow;
use std::ops::Range;

/// A challenge or credentials: the scheme and its `name=value` parameters in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParams<'a> {
    raw: &'a [u8],
    scheme: Range<usize>,
    params: Vec<(Range<usize>, Range<usize>)>,
}

/// One `name LWS? "=" LWS? (token / quoted-string)` inside `r`.
fn auth_param(s: &[u8], r: Range<usize>) -> Result<(Range<usize>, Range<usize>), ValueError> {
    let eq = s
        .iter()
        .take(r.end)
        .skip(r.start)
        .position(|&c| c == b'=')
        .map(|n| r.start + n)
        .ok_or(ValueError::new("auth-param without '='", r.start))?;
    let name = trim_span(s, r.start..eq);
    let value = trim_span(s, eq + 1..r.end);
    let name_ok = !name.is_empty()
        && s.get(name.clone())
            .unwrap_or_default()
            .iter()
            .all(|&c| is_token(c));
    if !name_ok || value.is_empty() {
        return Err(ValueError::new("malformed auth-param", r.start));
    }
    Ok((name, value))
}

impl<'a> AuthParams<'a> {
    /// Parses `scheme LWS auth-param *(COMMA auth-param)`. An unknown scheme whose value is
    /// not a parameter list is an error here; the proxy still forwards it untouched.
    pub fn parse(raw: &'a [u8]) -> Result<AuthParams<'a>, ValueError> {
        let start = skip_lws(raw, 0);
        let mut end = start;
        while raw.get(end).is_some_and(|&c| is_token(c)) {
            end += 1;
        }
        if end == start {
            return Err(ValueError::new("no auth scheme", start));
        }
        let mut params = Vec::new();
        let mut i = end;
        while skip_lws(raw, i) < raw.len() {
            let stop = find_unquoted(raw, i, b",")?;
            params.push(auth_param(raw, i..stop)?);
            i = stop + 1;
        }
        Ok(AuthParams {
            raw,
            scheme: start..end,
            params,
        })
    }

    /// The scheme as sent (`Digest`; compare case-insensitively).
    pub fn scheme(&self) -> &'a [u8] {
        self.raw.get(self.scheme.clone()).unwrap_or_default()
    }

    /// A parameter value as sent (quotes kept).
    pub fn get_raw(&self, name: &[u8]) -> Option<&'a [u8]> {
        let raw = self.raw;
        self.params
            .iter()
            .find(|(n, _)| {
                raw.get(n.clone())
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .and_then(|(_, v)| raw.get(v.clone()))
    }

    /// A parameter value with quotes and quoted-pairs removed (`realm`, `nonce`, `uri`…).
    pub fn get(&self, name: &[u8]) -> Option<Cow<'a, [u8]>> {
        self.get_raw(name).map(unquote)
    }

    /// All parameters in order as (name, raw value).
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + '_ {
        let raw = self.raw;
        self.params.iter().map(move |(n, v)| {
            (
                raw.get(n.clone()).unwrap_or_default(),
                raw.get(v.clone()).unwrap_or_default(),
            )
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may fail loudly
mod tests {
    use super::*;

    #[test]
    fn digest_credentials() {
        let a = AuthParams::parse(b"Digest username=\"alice\",realm=\"example.test\", uri=\"sip:10.99.0.1:5060\",nonce=\"a,b\",\r\n response=\"c106\",algorithm=MD5").unwrap();
        assert_eq!(a.scheme(), b"Digest");
        assert_eq!(a.get(b"nonce").unwrap().as_ref(), b"a,b");
        assert_eq!(a.get(b"ALGORITHM").unwrap().as_ref(), b"MD5");
        assert_eq!(a.get_raw(b"realm"), Some(&b"\"example.test\""[..]));
        assert_eq!(a.iter().count(), 6);
    }

    #[test]
    fn malformed_params_are_errors() {
        assert_eq!(
            AuthParams::parse(b"Digest realm").unwrap_err().reason,
            "auth-param without '='"
        );
        assert_eq!(
            AuthParams::parse(b"Digest realm=\"x").unwrap_err().reason,
            "unterminated quoted string"
        );
        assert_eq!(AuthParams::parse(b"").unwrap_err().reason, "no auth scheme");
    }
}
