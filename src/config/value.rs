//! Integer values of siproxd.conf and `-d`.
//!
//! Upstream reads integers with `sscanf("%i")` (readconf.c): `0x` is hex, a leading `0` is
//! octal, a sign is allowed and trailing garbage is ignored. We accept decimal and `0x` hex
//! with an optional sign, refuse trailing garbage, and read a leading `0` as decimal — the
//! caller warns with both numbers (see [`Integer::octal_reading`]).
#![forbid(unsafe_code)]

/// A parsed integer and how it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Integer {
    /// The value as we read it.
    pub value: i64,
    /// What upstream's `%i` would have read when the text has a leading `0` (octal), else None.
    pub octal_reading: Option<i64>,
}

/// Parses decimal or `0x` hex, with an optional `+`/`-` sign. None for anything else.
pub fn parse_integer(text: &str) -> Option<Integer> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (radix, digits) = match unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        Some(hex) => (16, hex),
        None => (10, unsigned),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i64::from_str_radix(digits, radix).ok()?;
    let sign = if negative { -1 } else { 1 };
    let octal_reading = if radix == 10 && digits.len() > 1 && digits.starts_with('0') {
        Some(sign * upstream_octal(digits))
    } else {
        None
    };
    Some(Integer {
        value: sign * magnitude,
        octal_reading,
    })
}

/// What `%i` reads from a string of decimal digits with a leading 0: octal digits up to the
/// first 8 or 9 (so `089` is 0 there).
fn upstream_octal(digits: &str) -> i64 {
    digits
        .chars()
        .map_while(|c| c.to_digit(8))
        .fold(0i64, |acc, d| {
            acc.saturating_mul(8).saturating_add(i64::from(d))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse_integer("7070").map(|i| i.value), Some(7070));
        assert_eq!(parse_integer("0x10").map(|i| i.value), Some(16));
        assert_eq!(parse_integer("-1").map(|i| i.value), Some(-1));
        assert_eq!(parse_integer("+5").map(|i| i.value), Some(5));
        assert_eq!(parse_integer("0").map(|i| i.octal_reading), Some(None));
        assert_eq!(
            parse_integer("046").map(|i| (i.value, i.octal_reading)),
            Some((46, Some(38)))
        );
        assert_eq!(parse_integer("089").map(|i| i.octal_reading), Some(Some(0)));
        for bad in [
            "",
            "-",
            "0x",
            "70x0",
            "7070abc",
            "--1",
            "0x-5",
            "1e3",
            " 5",
            "99999999999999999999",
        ] {
            assert_eq!(parse_integer(bad), None, "{bad}");
        }
    }
}
