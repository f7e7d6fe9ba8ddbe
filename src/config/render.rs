//! `siproxd -t`: the effective configuration, one directive per line with its origin.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::Path;

use super::directives::DIRECTIVES;
use super::{Config, Loaded};

/// Renders every directive (upstream's table order), the plugin lines, then the notes.
pub fn render(loaded: &Loaded) -> String {
    let mut out = format!("# effective configuration from {}\n", loaded.file.display());
    for d in DIRECTIVES {
        let values = values_of(&loaded.config, d.name);
        let origins = loaded.origin(d.name);
        if values.is_empty() {
            let _ = writeln!(out, "# {} is not set (default)", d.name);
        }
        for (i, v) in values.iter().enumerate() {
            let origin = origins.get(i).or(origins.last()).map(ToString::to_string);
            let origin = origin.unwrap_or_else(|| "default".to_string());
            let _ = writeln!(out, "{} = {v}  # {origin}", d.name);
        }
    }
    for p in &loaded.config.plugins {
        let _ = writeln!(
            out,
            "{} = {}  # {}:{}",
            p.key,
            p.value,
            p.file.display(),
            p.line
        );
    }
    for n in &loaded.notes {
        let _ = writeln!(out, "# note: {n}");
    }
    out
}

fn opt(v: &Option<String>) -> Vec<String> {
    v.iter().cloned().collect()
}

fn path(v: &Option<std::path::PathBuf>) -> Vec<String> {
    v.iter().map(|p| Path::display(p).to_string()).collect()
}

fn one(v: impl ToString) -> Vec<String> {
    vec![v.to_string()]
}

fn acl(v: &[super::AclEntry]) -> Vec<String> {
    if v.is_empty() {
        return Vec::new();
    }
    let entries: Vec<String> = v.iter().map(ToString::to_string).collect();
    vec![entries.join(",")]
}

/// The effective value(s) of a directive as text; empty when unset.
fn values_of(c: &Config, name: &str) -> Vec<String> {
    match name {
        "debug_level" => one(format!("0x{:08x}", c.debug_level)),
        "debug_port" => one(c.debug_port),
        "sip_listen_port" => one(c.sip_listen_port),
        "daemonize" => one(u8::from(c.daemonize)),
        "silence_log" => one(c.silence_log),
        "if_inbound" => opt(&c.if_inbound),
        "if_outbound" => opt(&c.if_outbound),
        "host_outbound" => opt(&c.host_outbound),
        "rtp_port_low" => one(c.rtp_port_low),
        "rtp_port_high" => one(c.rtp_port_high),
        "rtp_timeout" => one(c.rtp_timeout),
        "rtp_proxy_enable" => one(u8::from(c.rtp_proxy_enable)),
        "rtp_dscp" => one(c.rtp_dscp),
        "rtp_relay_threads" => one(c.rtp_relay_threads),
        "rtp_input_dejitter" => one(c.rtp_input_dejitter),
        "rtp_output_dejitter" => one(c.rtp_output_dejitter),
        "user" => opt(&c.user),
        "chrootjail" => path(&c.chrootjail),
        "hosts_allow_reg" => acl(&c.hosts_allow_reg),
        "hosts_allow_sip" => acl(&c.hosts_allow_sip),
        "hosts_deny_sip" => acl(&c.hosts_deny_sip),
        "proxy_auth_realm" => opt(&c.proxy_auth_realm),
        "proxy_auth_passwd" => c
            .proxy_auth_passwd
            .as_ref()
            .map(|_| "(hidden)".to_string())
            .into_iter()
            .collect(),
        "proxy_auth_pwfile" => path(&c.proxy_auth_pwfile),
        "outbound_proxy_host" => opt(&c.outbound_proxy_host),
        "outbound_proxy_port" => one(c.outbound_proxy_port),
        "registration_file" => path(&c.registration_file),
        "pid_file" => path(&c.pid_file),
        "default_expires" => one(c.default_expires),
        "autosave_registrations" => one(c.autosave_registrations),
        "ua_string" => opt(&c.ua_string),
        "use_rport" => one(c.use_rport),
        "obscure_loops" => one(u8::from(c.obscure_loops)),
        "proxy_auth_lan" => one(u8::from(c.proxy_auth_lan)),
        "plugindir" => opt(&c.plugindir),
        "sip_dscp" => one(c.sip_dscp),
        "tcp_timeout" => one(c.tcp_timeout),
        "tcp_connect_timeout" => one(c.tcp_connect_timeout),
        "tcp_keepalive" => one(c.tcp_keepalive),
        "thread_stack_size" => one(c.thread_stack_size),
        _ => list_values_of(c, name),
    }
}

fn list_values_of(c: &Config, name: &str) -> Vec<String> {
    match name {
        "mask_host" => c.mask_host.clone(),
        "masked_host" => c.masked_host.clone(),
        "outbound_domain_name" => c.outbound_domains.iter().map(|d| d.name.clone()).collect(),
        "outbound_domain_host" => c.outbound_domains.iter().map(|d| d.host.clone()).collect(),
        "outbound_domain_port" => c
            .outbound_domains
            .iter()
            .map(|d| d.port.to_string())
            .collect(),
        "load_plugin" => c.load_plugin.clone(),
        _ => Vec::new(),
    }
}
