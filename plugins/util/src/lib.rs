//! Helpers shared by the bundled plugins (compiled into each plugin cdylib):
//! SIP URI and name-addr handling ([`SipUri`], [`name_addr_uri`]), siproxd's
//! `ip/mask` network lists ([`Networks`]) and the redirect cache of
//! `redirect_cache.c` ([`RedirectCache`]). Pure code, no `unsafe`, no panics
//! on input data.

mod networks;
mod redirect;
mod uri;
mod via;

pub use networks::Networks;
pub use redirect::RedirectCache;
pub use uri::{call_id_parts, name_addr_uri, replace_name_addr_uri, SipUri};
pub use via::{via_host_port, via_sent_by};

/// An INT4 config value as siproxd reads it (`atoi`: leading blanks, an
/// optional sign, digits; 0 if none); `default` when the key is absent.
pub fn config_int(value: Option<&str>, default: i64) -> i64 {
    let Some(text) = value else { return default };
    let text = text.trim_start();
    let (sign, digits) = match text.as_bytes().first() {
        Some(b'-') => (-1, text.get(1..).unwrap_or("")),
        Some(b'+') => (1, text.get(1..).unwrap_or("")),
        _ => (1, text),
    };
    let mut value: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        value = value.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    sign * value
}

#[cfg(test)]
mod tests {
    use super::config_int;

    #[test]
    fn config_int_reads_like_atoi() {
        assert_eq!(config_int(None, 3478), 3478);
        assert_eq!(config_int(Some(" 300"), 0), 300);
        assert_eq!(config_int(Some("-1"), 0), -1);
        assert_eq!(config_int(Some("12x"), 0), 12);
        assert_eq!(config_int(Some("x"), 7), 0);
    }
}
