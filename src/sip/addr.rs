//! `name-addr / addr-spec` with header parameters: To, From, Contact, Route, Record-Route
//! (RFC 3261 §20.10, §20.20, §20.30, §20.34, §20.39).

use super::error::ValueError;
use super::lex::{find_unquoted, is_lws, is_token, quoted_end, trim_span, unquote};
use super::params::{self, Param};
use super::uri::Uri;
use std::borrow::Cow;
use std::ops::Range;

/// One address value; ranges relative to [`NameAddr::as_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr<'a> {
    raw: &'a [u8],
    display: Option<Range<usize>>,
    /// The URI, without the angle brackets.
    pub(crate) uri: Range<usize>,
    /// True when the URI was written inside `<` `>`.
    pub angle: bool,
    params: Vec<Param>,
}

/// A Contact value: `*` or an address (RFC 3261 §20.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *` (REGISTER removing all bindings).
    Star,
    Addr(NameAddr<'a>),
}

/// RFC 3261 §25.1 `display-name = *(token LWS) / quoted-string`; RFC 4475 §3.1.1.6 also
/// accepts a token display name with no LWS before `<`.
fn check_display(s: &[u8], r: &Range<usize>) -> Result<(), ValueError> {
    let d = s.get(r.clone()).unwrap_or_default();
    if d.first() == Some(&b'"') {
        let end = quoted_end(d, 0).map_err(|e| ValueError::new(e.reason, r.start))?;
        return if end == d.len() {
            Ok(())
        } else {
            Err(ValueError::new(
                "bytes after the quoted display name",
                r.start + end,
            ))
        };
    }
    match d.iter().position(|&c| !is_token(c) && !is_lws(c)) {
        Some(bad) => Err(ValueError::new(
            "display name is neither tokens nor a quoted string",
            r.start + bad,
        )),
        None => Ok(()),
    }
}

/// (display name, URI inside the brackets, index after `>`).
type AngleParts = (Option<Range<usize>>, Range<usize>, usize);

/// `[display-name] "<" addr-spec ">"` with `lt` the index of the `<`.
fn parse_angle(raw: &[u8], lt: usize) -> Result<AngleParts, ValueError> {
    let display = trim_span(raw, 0..lt);
    check_display(raw, &display)?;
    let gt = raw
        .iter()
        .skip(lt)
        .position(|&c| c == b'>')
        .map(|n| lt + n)
        .ok_or(ValueError::new("no '>' after the URI", lt))?;
    let uri = lt + 1..gt;
    let display = if display.is_empty() {
        None
    } else {
        Some(display)
    };
    Ok((display, uri, gt + 1))
}

/// Index of the first `<` outside a quoted string, or `raw.len()`.
fn find_laquot(raw: &[u8]) -> Result<usize, ValueError> {
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        match c {
            b'"' => i = quoted_end(raw, i)?,
            b'<' => return Ok(i),
            _ => i += 1,
        }
    }
    Ok(raw.len())
}

impl<'a> NameAddr<'a> {
    /// Parses one value. In addr-spec form the URI ends at the first `;` (those are header
    /// parameters, RFC 4475 §3.3.12) and may not hold `?` or `,` (RFC 3261 §20.10).
    pub fn parse(raw: &'a [u8]) -> Result<NameAddr<'a>, ValueError> {
        let lt = find_laquot(raw)?;
        let (display, uri, rest, angle) = if lt < raw.len() {
            let (d, u, rest) = parse_angle(raw, lt)?;
            (d, u, rest, true)
        } else {
            let end = find_unquoted(raw, 0, b";")?;
            let uri = trim_span(raw, 0..end);
            if let Some(bad) = raw
                .get(uri.clone())
                .unwrap_or_default()
                .iter()
                .position(|&c| c == b'?' || c == b',')
            {
                return Err(ValueError::new(
                    "'?' or ',' in a URI outside angle brackets",
                    uri.start + bad,
                ));
            }
            (None, uri, end, false)
        };
        Uri::parse(raw.get(uri.clone()).unwrap_or_default())
            .map_err(|e| ValueError::new(e.reason, uri.start + e.at))?;
        let params = params::parse_params(raw, rest)?;
        Ok(NameAddr {
            raw,
            display,
            uri,
            angle,
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

    /// The display name as sent (quotes kept; may hold non-UTF-8 bytes).
    pub fn display_name(&self) -> Option<&'a [u8]> {
        self.display.as_ref().map(|r| self.get(r))
    }

    /// The display name without quotes and quoted-pairs.
    pub fn display_name_unquoted(&self) -> Option<Cow<'a, [u8]>> {
        self.display_name().map(unquote)
    }

    /// The URI bytes (without `<` `>`).
    pub fn uri_bytes(&self) -> &'a [u8] {
        self.get(&self.uri)
    }

    /// The parsed URI (already validated by [`NameAddr::parse`]).
    pub fn uri(&self) -> Result<Uri<'a>, ValueError> {
        Uri::parse(self.uri_bytes())
    }

    /// A header parameter (not a URI parameter): `Some(None)` for a flag.
    pub fn param(&self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        params::find(self.raw, &self.params, name).map(|p| p.value.as_ref().map(|r| self.get(r)))
    }

    /// RFC 3261 §19.3 tag of To / From.
    pub fn tag(&self) -> Option<&'a [u8]> {
        self.param(b"tag").flatten()
    }

    /// RFC 3261 §20.10 Contact `expires` parameter, if present and a number.
    pub fn expires(&self) -> Option<Result<u32, ValueError>> {
        self.param(b"expires")
            .map(|v| parse_delta_seconds(v.unwrap_or_default()))
    }
}

/// RFC 3261 §25.1 delta-seconds, at most 2^32-1 (RFC 4475 §3.1.2.4 overflows it).
pub fn parse_delta_seconds(v: &[u8]) -> Result<u32, ValueError> {
    super::lex::parse_decimal(v, u32::MAX.into())
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(ValueError::new(
            "delta-seconds is not a number below 2^32",
            0,
        ))
}

impl<'a> Contact<'a> {
    /// Parses one Contact value.
    pub fn parse(raw: &'a [u8]) -> Result<Contact<'a>, ValueError> {
        if raw == b"*" {
            return Ok(Contact::Star);
        }
        NameAddr::parse(raw).map(Contact::Addr)
    }

    /// The address, unless this is `*`.
    pub fn addr(&self) -> Option<&NameAddr<'a>> {
        match self {
            Contact::Star => None,
            Contact::Addr(a) => Some(a),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may fail loudly
mod tests {
    use super::*;

    #[test]
    fn quoted_display_name_with_escapes_and_params() {
        let a = NameAddr::parse(b"\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\r\n      newvalue ;\r\n  secondparam ; q = 0.33").unwrap();
        assert_eq!(a.display_name(), Some(&b"\"Quoted string \\\"\\\"\""[..]));
        assert_eq!(
            a.display_name_unquoted().unwrap().as_ref(),
            b"Quoted string \"\""
        );
        assert_eq!(a.uri_bytes(), b"sip:jdrosen@example.com");
        assert_eq!(a.param(b"newparam"), Some(Some(&b"newvalue"[..])));
        assert_eq!(a.param(b"secondparam"), Some(None));
        assert_eq!(a.param(b"q"), Some(Some(&b"0.33"[..])));
    }

    #[test]
    fn addr_spec_params_belong_to_the_header() {
        let a = NameAddr::parse(b"sip:user@host.example.com;unknownparam").unwrap();
        assert!(!a.angle);
        assert_eq!(a.uri_bytes(), b"sip:user@host.example.com");
        assert_eq!(a.param(b"unknownparam"), Some(None));
        let b = NameAddr::parse(b"<sip:user@host.example.com;unknownparam>").unwrap();
        assert_eq!(
            (b.uri_bytes(), b.param(b"unknownparam")),
            (&b"sip:user@host.example.com;unknownparam"[..], None)
        );
    }

    #[test]
    fn latin1_and_token_display_names() {
        let a = NameAddr::parse(b"\"J\xf6rg\" <sip:j@x>;tag=1").unwrap();
        assert_eq!(
            (a.display_name(), a.tag()),
            (Some(&b"\"J\xf6rg\""[..]), Some(&b"1"[..]))
        );
        let b = NameAddr::parse(b"caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(b.display_name(), Some(&b"caller"[..]));
    }

    #[test]
    fn malformed_addresses_are_errors() {
        let reason = |s: &[u8]| NameAddr::parse(s).unwrap_err().reason;
        assert_eq!(
            reason(b"Bell, Alexander <sip:a.g.bell@example.com>"),
            "display name is neither tokens nor a quoted string"
        );
        assert_eq!(
            reason(b"\"Watson, Thomas\" < sip:t.watson@example.org >"),
            "whitespace, quote or angle bracket in URI"
        );
        assert_eq!(
            reason(b"\"Mr J. User <sip:j.user@example.com>"),
            "unterminated quoted string"
        );
        assert_eq!(
            reason(b"sip:user@example.com?Route=%3Csip:sip.example.com%3E"),
            "'?' or ',' in a URI outside angle brackets"
        );
        assert_eq!(reason(b"<sip:joe@example.org>;;;;"), "empty parameter");
        assert_eq!(Contact::parse(b"*").unwrap(), Contact::Star);
        assert_eq!(
            NameAddr::parse(b"<sip:a@b>;expires=99999999999")
                .unwrap()
                .expires()
                .unwrap()
                .unwrap_err()
                .reason,
            "delta-seconds is not a number below 2^32"
        );
    }
}
