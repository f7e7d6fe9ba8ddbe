//! siproxd.conf: reading, checking and the typed [`Config`].
//!
//! Layer: pure core input. No sockets; the only I/O is reading the file in [`load`] and the
//! existence checks of the search path in [`locate`]. Corresponds to upstream's readconf.c
//! and the option table of siproxd.c. Module map: `parse` (lines into records), `directives`
//! (the table), `build` (records into `Config`), `upstream` (simulation of upstream's
//! reading, for warnings), `acl` (access lists), `render` (`siproxd -t`), `search` (path).
#![forbid(unsafe_code)]

mod acl;
mod build;
mod diag;
pub mod directives;
mod parse;
mod render;
mod search;
mod upstream;
pub mod value;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use acl::AclEntry;
pub use diag::{ConfigError, Diagnostic, Diagnostics, Origin};
pub use search::{default_sysconfdir, home_dir, locate, search_path};

/// Largest configuration file we read (upstream has no limit; real files are a few kB).
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// One `plugin_<name>_<key>` line, kept as written, for plugins to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginLine {
    pub key: String,
    pub value: String,
    pub file: PathBuf,
    pub line: usize,
}

/// One per-domain outbound proxy (`outbound_domain_name/_host/_port`, matched by position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundDomain {
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// The effective configuration: one typed field per directive, named as the directive.
/// Defaults are documented in etc/siproxd.conf; see [`directives::DIRECTIVES`] for where they
/// differ from upstream's code defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Debug class mask (`-1` in the file is `0xffffffff`).
    pub debug_level: u32,
    /// TCP port for the remote debug stream; 0 = off.
    pub debug_port: u16,
    pub sip_listen_port: u16,
    pub daemonize: bool,
    /// Syslog threshold 0..4.
    pub silence_log: u8,
    pub if_inbound: Option<String>,
    pub if_outbound: Option<String>,
    pub host_outbound: Option<String>,
    /// Lowest RTP port, even (an odd value is rounded up).
    pub rtp_port_low: u16,
    /// Highest RTP port, even (an odd value is rounded down); its RTCP port is one above.
    pub rtp_port_high: u16,
    /// Seconds.
    pub rtp_timeout: u32,
    pub rtp_proxy_enable: bool,
    pub rtp_dscp: u8,
    /// Microseconds.
    pub rtp_input_dejitter: u32,
    /// Microseconds.
    pub rtp_output_dejitter: u32,
    /// Ours: RTP relay threads (1..=64). Upstream relays in one thread.
    pub rtp_relay_threads: u32,
    pub user: Option<String>,
    pub chrootjail: Option<PathBuf>,
    pub hosts_allow_reg: Vec<AclEntry>,
    pub hosts_allow_sip: Vec<AclEntry>,
    pub hosts_deny_sip: Vec<AclEntry>,
    pub proxy_auth_realm: Option<String>,
    pub proxy_auth_passwd: Option<String>,
    pub proxy_auth_pwfile: Option<PathBuf>,
    /// Paired by position with `masked_host` (equal counts are checked).
    pub mask_host: Vec<String>,
    pub masked_host: Vec<String>,
    pub outbound_proxy_host: Option<String>,
    /// 0 in the file means 5060, as upstream; stored as 5060.
    pub outbound_proxy_port: u16,
    /// From the `outbound_domain_name/_host/_port` triples, in file order.
    pub outbound_domains: Vec<OutboundDomain>,
    /// Relative paths are relative to `chrootjail` when one is set (as upstream).
    pub registration_file: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    /// Seconds.
    pub default_expires: u32,
    /// Seconds; 0 = save only at exit.
    pub autosave_registrations: u32,
    pub ua_string: Option<String>,
    /// Bit 1: `;rport` on incoming, bit 2: on outgoing.
    pub use_rport: u8,
    pub obscure_loops: bool,
    /// Ours: with `proxy_auth_realm`, every request from the LAN must carry
    /// credentials for the realm (upstream asks only in registrar mode).
    pub proxy_auth_lan: bool,
    /// Prefix concatenated verbatim with each `load_plugin` name (must end with `/`).
    pub plugindir: Option<String>,
    pub load_plugin: Vec<String>,
    pub sip_dscp: u8,
    /// Seconds.
    pub tcp_timeout: u32,
    /// Milliseconds.
    pub tcp_connect_timeout: u32,
    /// Seconds; 0 = off.
    pub tcp_keepalive: u32,
    /// kB; 0 = system default.
    pub thread_stack_size: u32,
    /// Every `plugin_*` line, in file order.
    pub plugins: Vec<PluginLine>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            debug_level: 0,
            debug_port: 0,
            sip_listen_port: 5060,
            daemonize: false,
            silence_log: 1,
            if_inbound: None,
            if_outbound: None,
            host_outbound: None,
            rtp_port_low: 7070,
            rtp_port_high: 7088,
            rtp_timeout: 300,
            rtp_proxy_enable: true,
            rtp_dscp: 0,
            rtp_input_dejitter: 0,
            rtp_output_dejitter: 0,
            rtp_relay_threads: 1,
            user: None,
            chrootjail: None,
            hosts_allow_reg: Vec::new(),
            hosts_allow_sip: Vec::new(),
            hosts_deny_sip: Vec::new(),
            proxy_auth_realm: None,
            proxy_auth_passwd: None,
            proxy_auth_pwfile: None,
            mask_host: Vec::new(),
            masked_host: Vec::new(),
            outbound_proxy_host: None,
            outbound_proxy_port: 5060,
            outbound_domains: Vec::new(),
            registration_file: None,
            pid_file: None,
            default_expires: 600,
            autosave_registrations: 0,
            ua_string: None,
            use_rport: 0,
            obscure_loops: false,
            proxy_auth_lan: false,
            plugindir: None,
            load_plugin: Vec::new(),
            sip_dscp: 0,
            tcp_timeout: 600,
            tcp_connect_timeout: 500,
            tcp_keepalive: 0,
            thread_stack_size: 0,
            plugins: Vec::new(),
        }
    }
}

impl Config {
    /// The plugin lines whose key is `prefix` or starts with `prefix_`, in file order.
    /// Like upstream's filter, `plugin_regex` also sees `plugin_regex_body_*` lines.
    pub fn plugin_lines<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = &'a PluginLine> + 'a {
        self.plugins.iter().filter(move |p| {
            p.key
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('_'))
        })
    }
}

/// A loaded configuration with everything worth telling the admin.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The file it came from.
    pub file: PathBuf,
    /// Warnings: things upstream would have read differently, unknown keys, empty values…
    pub warnings: Vec<Diagnostic>,
    /// Informational notes: defaults that differ from upstream's, paths relative to the jail.
    pub notes: Vec<Diagnostic>,
    /// Where each directive's value came from (one entry per value for lists).
    origins: BTreeMap<&'static str, Vec<Origin>>,
}

impl Loaded {
    /// Where the value(s) of `directive` came from; empty for an unset list.
    pub fn origin(&self, directive: &str) -> &[Origin] {
        self.origins
            .get(directive)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Applies `-d`, `-p` and `-f`. Mirrors siproxd.c: `-d` wins only when non-zero.
    pub fn apply_cli(&mut self, opts: &crate::cli::Options) {
        if let Some(debug) = opts.debug.filter(|d| *d != 0) {
            self.config.debug_level = debug as u32;
            self.origins
                .insert("debug_level", vec![Origin::CommandLine]);
        }
        if let Some(pid) = &opts.pid_file {
            self.config.pid_file = Some(pid.clone());
            self.origins.insert("pid_file", vec![Origin::CommandLine]);
        }
        if opts.foreground {
            self.config.daemonize = false;
            self.origins.insert("daemonize", vec![Origin::CommandLine]);
        }
    }

    /// Every directive with its effective value and origin, plugin lines, then notes.
    pub fn render_effective(&self) -> String {
        render::render(self)
    }
}

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let unreadable = |source| ConfigError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(unreadable)?.len();
    if size > MAX_FILE_SIZE {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_FILE_SIZE,
        });
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    parse_bytes(&bytes, path)
}

/// Checks configuration text; `file_name` is used in messages.
pub fn parse_str(text: &str, file_name: &Path) -> Result<Loaded, ConfigError> {
    parse_bytes(text.as_bytes(), file_name)
}

/// Checks configuration bytes (a file may hold invalid UTF-8 in comments).
pub fn parse_bytes(bytes: &[u8], file_name: &Path) -> Result<Loaded, ConfigError> {
    let mut sink = parse::Sink::new(file_name);
    let records = parse::records(bytes, &mut sink);
    let (config, origins) = build::build(&records, &mut sink);
    for list in [&mut sink.errors, &mut sink.warnings, &mut sink.notes] {
        list.sort_by_key(|d| d.line.unwrap_or(0));
    }
    if !sink.errors.is_empty() {
        return Err(ConfigError::Invalid {
            errors: Diagnostics(sink.errors),
            warnings: sink.warnings,
        });
    }
    Ok(Loaded {
        config,
        file: file_name.to_path_buf(),
        warnings: sink.warnings,
        notes: sink.notes,
        origins,
    })
}
