//! What upstream siproxd 0.8 would have made of a line, so we can warn where it differs.
//!
//! Mirrors readconf.c: for each table entry in table order, the first keyword found
//! *anywhere* in the line (`strstr`, value and comment included) wins, and the value starts
//! after the next `=` behind that occurrence. The main pass skips lines with `plugin_` before
//! the first `=`; each plugin re-reads the file, keeps lines with `plugin_<name>` before the
//! `=`, and substring-matches its own key table. We match keys exactly instead.
#![forbid(unsafe_code)]

use super::directives::DIRECTIVES;

/// The bundled plugins of upstream 0.8.x and their key tables, in their table order
/// (`plugin_*.c`, `cfgopts_t plugin_cfg_opts[]`).
pub const PLUGINS: &[(&str, &[&str])] = &[
    ("demo", &["plugin_demo_string"]),
    (
        "shortdial",
        &["plugin_shortdial_akey", "plugin_shortdial_entry"],
    ),
    ("logcall", &[]),
    (
        "defaulttarget",
        &["plugin_defaulttarget_target", "plugin_defaulttarget_log"],
    ),
    ("fix_bogus_via", &["plugin_fix_bogus_via_networks"]),
    ("fix_DTAG", &["plugin_fix_DTAG_networks"]),
    ("fix_fbox_anoncall", &["plugin_fix_fbox_anoncall_networks"]),
    (
        "stun",
        &[
            "plugin_stun_server",
            "plugin_stun_port",
            "plugin_stun_period",
        ],
    ),
    ("prefix", &["plugin_prefix_akey"]),
    (
        "regex",
        &[
            "plugin_regex_desc",
            "plugin_regex_pattern",
            "plugin_regex_replace",
        ],
    ),
    (
        "regex_body",
        &[
            "plugin_regex_body_desc",
            "plugin_regex_body_pattern",
            "plugin_regex_body_replace",
        ],
    ),
    ("stripheader", &["plugin_stripheader_remove"]),
    ("codecfilter", &["plugin_codecfilter_blacklist"]),
    (
        "siptrunk",
        &[
            "plugin_siptrunk_name",
            "plugin_siptrunk_account",
            "plugin_siptrunk_numbers_regex",
        ],
    ),
    (
        "stats",
        &[
            "plugin_stats_to_syslog",
            "plugin_stats_to_file",
            "plugin_stats_filename",
        ],
    ),
    (
        "blacklist",
        &[
            "plugin_blacklist_dbpath",
            "plugin_blacklist_db_sync_mode",
            "plugin_blacklist_simulate",
            "plugin_blacklist_duration",
            "plugin_blacklist_hitcount",
            "plugin_blacklist_register_window",
        ],
    ),
];

/// The keyword upstream would pick for a line and whether it would then find its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// The keyword upstream's table scan would pick.
    pub key: &'static str,
    /// True when no `=` follows that keyword's first occurrence: upstream logs "argument
    /// missing" and loses the line.
    pub lost: bool,
}

/// The main pass: None when the line is skipped (plugin scope) or matches no keyword.
pub fn main_reading(raw: &str) -> Option<Reading> {
    if before_eq(raw).contains("plugin_") {
        return None;
    }
    first_match(raw, DIRECTIVES.iter().filter(|d| !d.ours).map(|d| d.name))
}

/// The plugin owning a `plugin_*` key: the longest bundled plugin name `p` with the key
/// starting `plugin_<p>_`. Returns its name and key table.
pub fn owner(key: &str) -> Option<(&'static str, &'static [&'static str])> {
    let rest = key.strip_prefix("plugin_")?;
    PLUGINS
        .iter()
        .filter(|(name, _)| {
            rest.strip_prefix(name)
                .is_some_and(|tail| tail.starts_with('_'))
        })
        .max_by_key(|(name, _)| name.len())
        .copied()
}

/// A plugin pass over a line: the key the plugin's table scan would pick.
pub fn plugin_reading(raw: &str, table: &'static [&'static str]) -> Option<Reading> {
    first_match(raw, table.iter().copied())
}

/// A bundled key that ends like `key` does (OPNsense writes `plugin_fbox_anoncall_networks`
/// for `plugin_fix_fbox_anoncall_networks`).
pub fn similar_key(key: &str) -> Option<&'static str> {
    let rest = key.strip_prefix("plugin_")?;
    let tail = format!("_{rest}");
    PLUGINS
        .iter()
        .flat_map(|(_, keys)| keys.iter().copied())
        .find(|k| k.ends_with(&tail))
}

fn before_eq(raw: &str) -> &str {
    raw.split('=').next().unwrap_or(raw)
}

fn first_match(raw: &str, keys: impl Iterator<Item = &'static str>) -> Option<Reading> {
    for key in keys {
        if let Some(pos) = raw.find(key) {
            let after = raw.get(pos + key.len()..).unwrap_or("");
            return Some(Reading {
                key,
                lost: !after.contains('='),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_rule() {
        let r = main_reading("proxy_auth_pwfile = /home/user/pw");
        assert_eq!(
            r,
            Some(Reading {
                key: "user",
                lost: true
            })
        );
        assert_eq!(main_reading("plugin_stun_server = x"), None);
        assert_eq!(
            main_reading("rtp_timeout = 5").map(|r| r.key),
            Some("rtp_timeout")
        );
        let (name, table) = owner("plugin_stun_server_port").unwrap_or(("", &[]));
        assert_eq!(name, "stun");
        assert_eq!(
            plugin_reading("plugin_stun_server_port = 3478", table).map(|r| r.key),
            Some("plugin_stun_server")
        );
        assert_eq!(
            owner("plugin_regex_body_desc").map(|o| o.0),
            Some("regex_body")
        );
        assert_eq!(owner("plugin_fbox_anoncall_networks"), None);
        assert_eq!(
            similar_key("plugin_fbox_anoncall_networks"),
            Some("plugin_fix_fbox_anoncall_networks")
        );
    }
}
