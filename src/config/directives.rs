//! The table of main directives, in upstream's table order (`siproxd.c:main_cfg_opts`).
//!
//! The order matters only for the `upstream` module, which simulates upstream's substring
//! matching. Value types and ranges are ours: upstream stores every INT4 as a C int and
//! range-checks a few of them at use time; we check when reading, naming file and line.
#![forbid(unsafe_code)]

/// How a directive's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Upstream INT4 with the range we accept.
    Int { min: i64, max: i64 },
    /// Upstream INT4 used as a switch: zero is off, anything else is on.
    Switch,
    /// Upstream STRING: last occurrence wins.
    Str,
    /// Upstream STRING holding a comma-separated `ip/mask` access list.
    Acl,
    /// Upstream STRINGA: every occurrence appends, in file order.
    List,
}

/// One main directive.
#[derive(Debug, Clone, Copy)]
pub struct Directive {
    /// The key, exactly as written in siproxd.conf.
    pub name: &'static str,
    /// How its value is read.
    pub kind: Kind,
    /// Set when our default differs from upstream's code default: says how and why.
    pub default_note: Option<&'static str>,
    /// A directive of siproxd-rs that upstream does not have (it would call
    /// the line an unknown keyword).
    pub ours: bool,
}

const I32_MAX: i64 = i32::MAX as i64;
const PORT: Kind = Kind::Int { min: 1, max: 65535 };
const RTP_PORT: Kind = Kind::Int {
    min: 1024,
    max: 65535,
};
const DSCP: Kind = Kind::Int { min: 0, max: 63 };
const DEJITTER: Kind = Kind::Int {
    min: 0,
    max: 1_500_000,
};
const SECONDS: Kind = Kind::Int {
    min: 1,
    max: I32_MAX,
};
const COUNT: Kind = Kind::Int {
    min: 0,
    max: I32_MAX,
};

const fn d(name: &'static str, kind: Kind) -> Directive {
    Directive {
        name,
        kind,
        default_note: None,
        ours: false,
    }
}

const fn n(name: &'static str, kind: Kind, note: &'static str) -> Directive {
    Directive {
        name,
        kind,
        default_note: Some(note),
        ours: false,
    }
}

/// A directive of ours, after upstream's table.
const fn ours(name: &'static str, kind: Kind) -> Directive {
    Directive {
        name,
        kind,
        default_note: None,
        ours: true,
    }
}

/// Every main directive of siproxd 0.8.x, in upstream's table order, then
/// the few of our own (marked [`Directive::ours`]).
pub const DIRECTIVES: &[Directive] = &[
    d("debug_level", Kind::Int { min: i32::MIN as i64, max: u32::MAX as i64 }),
    d("debug_port", Kind::Int { min: 0, max: 65535 }),
    d("sip_listen_port", PORT),
    d("daemonize", Kind::Switch),
    d("silence_log", Kind::Int { min: 0, max: 4 }),
    d("if_inbound", Kind::Str),
    d("if_outbound", Kind::Str),
    d("host_outbound", Kind::Str),
    n("rtp_port_low", RTP_PORT, "default 7070 (siproxd's code default is 0, with which no RTP port can be allocated)"),
    n("rtp_port_high", RTP_PORT, "default 7089, read as 7088 (siproxd's code default is 0, with which no RTP port can be allocated)"),
    n("rtp_timeout", SECONDS, "default 300 s (siproxd's code default is 0, which tears streams down after a gap of about 1 s)"),
    d("rtp_proxy_enable", Kind::Int { min: 0, max: 1 }),
    d("rtp_dscp", DSCP),
    d("rtp_input_dejitter", DEJITTER),
    d("rtp_output_dejitter", DEJITTER),
    d("user", Kind::Str),
    d("chrootjail", Kind::Str),
    d("hosts_allow_reg", Kind::Acl),
    d("hosts_allow_sip", Kind::Acl),
    d("hosts_deny_sip", Kind::Acl),
    d("proxy_auth_realm", Kind::Str),
    d("proxy_auth_passwd", Kind::Str),
    d("proxy_auth_pwfile", Kind::Str),
    d("mask_host", Kind::List),
    d("masked_host", Kind::List),
    d("outbound_proxy_host", Kind::Str),
    d("outbound_proxy_port", Kind::Int { min: 0, max: 65535 }),
    d("outbound_domain_name", Kind::List),
    d("outbound_domain_host", Kind::List),
    d("outbound_domain_port", Kind::List),
    d("registration_file", Kind::Str),
    d("pid_file", Kind::Str),
    n("default_expires", SECONDS, "default 600 s, as the example file (siproxd's code default is 3600 s)"),
    d("autosave_registrations", COUNT),
    d("ua_string", Kind::Str),
    d("use_rport", Kind::Int { min: 0, max: 3 }),
    d("obscure_loops", Kind::Switch),
    d("plugindir", Kind::Str),
    d("load_plugin", Kind::List),
    d("sip_dscp", DSCP),
    n("tcp_timeout", SECONDS, "default 600 s, as the example file (siproxd's code default is 300 s)"),
    d("tcp_connect_timeout", SECONDS),
    n("tcp_keepalive", COUNT, "default 0 means off here (siproxd 0.8 sends a CRLF on every idle tick with 0)"),
    d("thread_stack_size", COUNT),
    ours("proxy_auth_lan", Kind::Switch),
    ours("rtp_relay_threads", Kind::Int { min: 1, max: 64 }),
];

/// Looks a main directive up by its exact key.
pub fn find(name: &str) -> Option<&'static Directive> {
    DIRECTIVES.iter().find(|d| d.name == name)
}
