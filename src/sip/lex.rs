//! Byte-level lexing shared by the typed views (RFC 3261 §25.1 basic rules).
//!
//! Values are taken as they sit in the message, folding included, so every whitespace test
//! here accepts SP, HTAB, CR and LF: inside a value, CR/LF can only be part of LWS because the
//! header splitter already ended the value at the first line that does not continue it.

use super::error::ValueError;
use std::ops::Range;

/// RFC 3261 §25.1 `token` characters as a lookup table (hot in header-name scanning).
#[allow(clippy::indexing_slicing)] // const evaluation: `c < 256` by the loop bound
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        c += 1;
    }
    t
};

/// RFC 3261 §25.1 `token` characters.
pub fn is_token(c: u8) -> bool {
    TOKEN.get(usize::from(c)).copied().unwrap_or(false)
}

/// Index of the first `needle` in `s`, eight bytes at a time (no memchr dependency).
pub fn find_byte(s: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO * u64::from(needle);
    let mut chunks = s.chunks_exact(8);
    let mut base = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ pattern;
        let found = x.wrapping_sub(LO) & !x & HI;
        if found != 0 {
            return Some(base + (found.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == needle)
        .map(|i| base + i)
}

/// LWS byte inside a value (see the module doc).
pub fn is_lws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// The span of `s` without leading and trailing LWS.
pub fn trim_span(s: &[u8], span: Range<usize>) -> Range<usize> {
    let mut start = span.start;
    let mut end = span.end;
    while start < end && s.get(start).is_some_and(|&c| is_lws(c)) {
        start += 1;
    }
    while end > start && s.get(end - 1).is_some_and(|&c| is_lws(c)) {
        end -= 1;
    }
    start..end
}

/// Index of the first LWS-free byte at or after `i`.
pub fn skip_lws(s: &[u8], mut i: usize) -> usize {
    while s.get(i).is_some_and(|&c| is_lws(c)) {
        i += 1;
    }
    i
}

/// Index just past the quoted-string starting at `s[start] == '"'` (RFC 3261 §25.1).
pub fn quoted_end(s: &[u8], start: usize) -> Result<usize, ValueError> {
    let mut i = start + 1;
    loop {
        match s.get(i) {
            None => return Err(ValueError::new("unterminated quoted string", start)),
            Some(b'"') => return Ok(i + 1),
            Some(b'\\') => i += 2,
            Some(_) => i += 1,
        }
    }
}

/// Finds the first byte in `stops` at or after `i` that is outside quoted strings and
/// outside `<...>`; returns `s.len()` when there is none.
pub fn find_unquoted(s: &[u8], mut i: usize, stops: &[u8]) -> Result<usize, ValueError> {
    let mut in_angle = false;
    while let Some(&c) = s.get(i) {
        match c {
            b'"' if !in_angle => i = quoted_end(s, i)?,
            b'<' => (in_angle, i) = (true, i + 1),
            b'>' => (in_angle, i) = (false, i + 1),
            _ if !in_angle && stops.contains(&c) => return Ok(i),
            _ => i += 1,
        }
    }
    Ok(s.len())
}

/// Splits a header value into its comma-separated elements (RFC 3261 §7.3.1), trimmed.
/// Empty elements are errors: RFC 4475 §3.1.2.1 (`badinv01`) must be rejected.
pub fn split_commas(s: &[u8]) -> Result<Vec<Range<usize>>, ValueError> {
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let end = find_unquoted(s, start, b",")?;
        let elem = trim_span(s, start..end);
        if elem.is_empty() {
            return Err(ValueError::new("empty element in comma list", start));
        }
        out.push(elem);
        if end >= s.len() {
            return Ok(out);
        }
        start = end + 1;
    }
}

/// Parses a decimal number of at most `max`; leading zeros allowed (RFC 4475 §3.1.1.1).
pub fn parse_decimal(s: &[u8], max: u64) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u64 = 0;
    for &c in s {
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
        if n > max {
            return None;
        }
    }
    Some(n)
}

/// Value of one hex digit.
fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Undoes `%HH` escapes (RFC 3261 §19.1.4: compare after unescaping). A `%` not followed by
/// two hex digits stays as it is (RFC 4475 §3.1.1.5).
pub fn unescape(s: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !s.contains(&b'%') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        let pair = (
            s.get(i + 1).and_then(|&h| hex(h)),
            s.get(i + 2).and_then(|&l| hex(l)),
        );
        match (c, pair) {
            (b'%', (Some(h), Some(l))) => (out.push(h << 4 | l), i += 3),
            _ => (out.push(c), i += 1),
        };
    }
    std::borrow::Cow::Owned(out)
}

/// The content of a quoted string without the quotes and with quoted-pairs resolved.
pub fn unquote(s: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let inner = match s {
        [b'"', inner @ .., b'"'] => inner,
        _ => return std::borrow::Cow::Borrowed(s),
    };
    if !inner.contains(&b'\\') {
        return std::borrow::Cow::Borrowed(inner);
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut it = inner.iter();
    while let Some(&c) = it.next() {
        out.push(if c == b'\\' {
            it.next().copied().unwrap_or(c)
        } else {
            c
        });
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may fail loudly
mod tests {
    use super::*;

    #[test]
    fn commas_inside_quotes_and_angles_do_not_split() {
        let v = b"\"a, b\" <sip:x@y;p=1,2>;q=1 , <sip:z>";
        let parts = split_commas(v).unwrap();
        assert_eq!(parts, vec![0..26, 29..36]);
        assert!(split_commas(b"a,,b").is_err());
        assert!(split_commas(b"\"open").is_err());
    }

    #[test]
    fn find_byte_matches_position() {
        let s: Vec<u8> = (0..100u8)
            .map(|i| if i % 37 == 36 { b'\n' } else { b'a' + i % 26 })
            .collect();
        for start in 0..s.len() {
            for needle in [b'\n', b'z', b'a', 0x80] {
                assert_eq!(
                    find_byte(&s[start..], needle),
                    s[start..].iter().position(|&c| c == needle)
                );
            }
        }
    }

    #[test]
    fn decimal_limits() {
        assert_eq!(parse_decimal(b"0068", 255), Some(68));
        assert_eq!(parse_decimal(b"300", 255), None);
        assert_eq!(parse_decimal(b"36893488147419103232", u64::MAX), None);
        assert_eq!(parse_decimal(b"-1", 10), None);
        assert_eq!(parse_decimal(b"", 10), None);
    }

    #[test]
    fn unescape_and_unquote() {
        assert_eq!(&*unescape(b"null-%00-null"), b"null-\0-null");
        assert_eq!(&*unescape(b"%Z%45"), b"%ZE");
        assert_eq!(&*unquote(b"\"J Rosenberg \\\\\\\"\""), b"J Rosenberg \\\"");
    }
}
