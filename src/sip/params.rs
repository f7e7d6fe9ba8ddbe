//! `;name[=value]` parameter lists of Via, name-addr and URIs (RFC 3261 §25.1 `generic-param`).

use super::error::ValueError;
use super::lex::{is_lws, is_token, skip_lws};
use std::ops::Range;

/// One parameter; spans are relative to the slice the parameters were read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: Range<usize>,
    /// `None` for a flag parameter (`;lr`, `;rport`).
    pub value: Option<Range<usize>>,
}

/// End of a parameter value at `i`: a quoted string, or bytes up to `;`, `?`, `,`, `>` or LWS
/// (IPv6 references in brackets included: RFC 5118 §4.5 `received=[...]` is tolerated).
fn value_end(s: &[u8], i: usize) -> Result<usize, ValueError> {
    if s.get(i) == Some(&b'"') {
        return super::lex::quoted_end(s, i);
    }
    let mut j = i;
    while let Some(&c) = s.get(j) {
        if is_lws(c) || b";?,>".contains(&c) {
            break;
        }
        j += 1;
    }
    Ok(j)
}

/// Reads one parameter after the `;` at `semi`; returns it and the index after it.
fn read_param(s: &[u8], semi: usize) -> Result<(Param, usize), ValueError> {
    let n_start = skip_lws(s, semi + 1);
    let mut n_end = n_start;
    while s.get(n_end).is_some_and(|&c| is_token(c)) {
        n_end += 1;
    }
    if n_end == n_start {
        return Err(ValueError::new("empty parameter", semi));
    }
    let after = skip_lws(s, n_end);
    if s.get(after) != Some(&b'=') {
        return Ok((
            Param {
                name: n_start..n_end,
                value: None,
            },
            n_end,
        ));
    }
    let v_start = skip_lws(s, after + 1);
    let v_end = value_end(s, v_start)?;
    if v_end == v_start {
        return Err(ValueError::new("empty parameter value", v_start));
    }
    Ok((
        Param {
            name: n_start..n_end,
            value: Some(v_start..v_end),
        },
        v_end,
    ))
}

/// Parses `*( SEMI param )` from `s[from..]`, which must hold nothing else but LWS.
pub fn parse_params(s: &[u8], from: usize) -> Result<Vec<Param>, ValueError> {
    let mut out = Vec::new();
    let mut i = skip_lws(s, from);
    while i < s.len() {
        if s.get(i) != Some(&b';') {
            return Err(ValueError::new("expected ';' before a parameter", i));
        }
        let (p, next) = read_param(s, i)?;
        out.push(p);
        i = skip_lws(s, next);
    }
    Ok(out)
}

/// Looks a parameter up by name, case-insensitively (RFC 3261 §19.1.4, §20.42).
pub fn find<'p>(s: &[u8], params: &'p [Param], name: &[u8]) -> Option<&'p Param> {
    params.iter().find(|p| {
        s.get(p.name.clone())
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may fail loudly
mod tests {
    use super::*;

    #[test]
    fn params_with_lws_and_flags() {
        let s = b" ;   tag    = 1918181833n ; lr;x=\"a;b\"";
        let p = parse_params(s, 0).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(&s[p[0].value.clone().unwrap()], b"1918181833n");
        assert_eq!(p[1].value, None);
        assert_eq!(&s[p[2].value.clone().unwrap()], b"\"a;b\"");
        assert!(find(s, &p, b"TAG").is_some());
        assert_eq!(
            parse_params(b";;", 0),
            Err(ValueError::new("empty parameter", 0))
        );
        assert_eq!(
            parse_params(b"x", 0),
            Err(ValueError::new("expected ';' before a parameter", 0))
        );
    }
}
