//! Helpers shared by the bundled plugins (compiled into each plugin cdylib):
//! SIP URI and name-addr handling ([`SipUri`], [`name_addr_uri`]), siproxd's
//! `ip/mask` network lists ([`Networks`]) and the redirect cache of
//! `redirect_cache.c` ([`RedirectCache`]). Pure code, no `unsafe`, no panics
//! on input data.

mod networks;
mod redirect;
#[cfg(feature = "regex")]
pub mod rules;
mod uri;
mod via;

pub use networks::Networks;
pub use redirect::{RedirectCache, RewriteCache};
pub use uri::{call_id_parts, name_addr_uri, replace_name_addr_uri, same_url, SipUri};
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

    #[test]
    fn to_tags_are_found_outside_the_uri() {
        use super::has_to_tag;
        assert!(has_to_tag("<sip:a@b>;tag=12"));
        assert!(has_to_tag("sip:a@b;TAG=1"));
        assert!(!has_to_tag("<sip:a@b;tag=inside>"));
        assert!(!has_to_tag("<sip:a@b>"));
    }
}

/// `redirect` (upstream's 302, the default) or `rewrite` (in place), read
/// from `plugin_<name>_mode` by shortdial, prefix and regex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectMode {
    Redirect,
    Rewrite,
}

impl RedirectMode {
    /// Parses the `mode` key; `Err` names the bad value for init's message.
    pub fn parse(plugin: &str, value: Option<&str>) -> Result<RedirectMode, String> {
        match value.map(str::trim) {
            None | Some("") => Ok(RedirectMode::Redirect),
            Some(v) if v.eq_ignore_ascii_case("redirect") => Ok(RedirectMode::Redirect),
            Some(v) if v.eq_ignore_ascii_case("rewrite") => Ok(RedirectMode::Rewrite),
            Some(other) => Err(format!(
                "{plugin}_mode must be 'redirect' or 'rewrite', not '{other}'"
            )),
        }
    }
}

/// True if the To header value carries a `tag` parameter (an in-dialog request).
pub fn has_to_tag(to: &str) -> bool {
    let params = match to.rfind('>') {
        Some(at) => to.get(at + 1..).unwrap_or(""),
        None => to.find(';').and_then(|at| to.get(at..)).unwrap_or(""),
    };
    params.split(';').any(|p| {
        p.split_once('=')
            .is_some_and(|(n, v)| n.trim().eq_ignore_ascii_case("tag") && !v.trim().is_empty())
    })
}
