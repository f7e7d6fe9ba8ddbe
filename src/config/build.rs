//! Records into the typed [`Config`], with the checks that need more than one line.
//!
//! Mirrors readconf.c's repeat rules (last occurrence wins for INT4 and STRING, STRINGA
//! appends) and its post-processing (even RTP ports). Checks upstream only does at use time,
//! or not at all, are done here with file and line: ranges, paired and tripled lists.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use super::acl;
use super::diag::Origin;
use super::directives::{self, Directive, Kind, DIRECTIVES};
use super::parse::{Record, Sink};
use super::upstream::{self, Reading};
use super::value::parse_integer;
use super::{Config, OutboundDomain, PluginLine};

/// Where each directive's values came from.
pub type Origins = BTreeMap<&'static str, Vec<Origin>>;

/// The values of a list directive with their line numbers.
type ListValues = Vec<(String, usize)>;

struct Builder<'s> {
    sink: &'s mut Sink,
    config: Config,
    origins: Origins,
    lists: BTreeMap<&'static str, ListValues>,
    /// Lines of every single-value directive, to warn about repeats.
    seen: BTreeMap<&'static str, Vec<usize>>,
    /// Every rtp_port_low value with its line, for OPNsense's template bug.
    rtp_lows: Vec<(u16, usize)>,
}

/// Builds the configuration from the records; problems go to `sink`.
pub fn build(records: &[Record], sink: &mut Sink) -> (Config, Origins) {
    let mut b = Builder {
        sink,
        config: Config::default(),
        origins: Origins::new(),
        lists: BTreeMap::new(),
        seen: BTreeMap::new(),
        rtp_lows: Vec::new(),
    };
    for r in records {
        b.record(r);
    }
    b.finish();
    (b.config, b.origins)
}

impl Builder<'_> {
    fn record(&mut self, r: &Record) {
        if let Some(d) = directives::find(&r.key) {
            self.check_main_reading(r, d.name);
            self.directive(d, r);
        } else if r.key.starts_with("plugin_") {
            self.plugin(r);
        } else {
            let mut msg = "unknown directive, line ignored (as siproxd does)".to_string();
            if let Some(rd) = upstream::main_reading(&r.raw) {
                msg.push_str(&format!(
                    "; siproxd would have read it as \"{}\"{}",
                    rd.key,
                    lost(&rd)
                ));
            }
            self.sink.warn(r.line, Some(&r.key), msg);
        }
    }

    /// Warns when upstream's substring scan would pick another directive for this line.
    fn check_main_reading(&mut self, r: &Record, name: &str) {
        if let Some(rd) = upstream::main_reading(&r.raw).filter(|rd| rd.key != name) {
            self.sink.warn(r.line, Some(name), other_reading(&rd, name));
        }
    }

    fn directive(&mut self, d: &'static Directive, r: &Record) {
        if r.value.is_empty() {
            let msg = "empty value; the default is kept (as siproxd does)".to_string();
            self.sink.warn(r.line, Some(d.name), msg);
            return;
        }
        match d.kind {
            Kind::Int { min, max } => {
                if let Some(v) = self.integer(d.name, r, min, max) {
                    if d.name == "rtp_port_low" {
                        self.rtp_lows.push((u16::try_from(v).unwrap_or(0), r.line));
                    }
                    self.set_int(d.name, v);
                    self.set_origin(d.name, r.line);
                }
            }
            Kind::Switch => {
                if let Some(v) = self.integer(d.name, r, i64::from(i32::MIN), i64::from(i32::MAX)) {
                    self.set_switch(d.name, v != 0);
                    self.set_origin(d.name, r.line);
                }
            }
            Kind::Str => {
                self.set_str(d.name, r.value.clone());
                self.set_origin(d.name, r.line);
            }
            Kind::Acl => self.acl(d.name, r),
            Kind::List => {
                self.lists
                    .entry(d.name)
                    .or_default()
                    .push((r.value.clone(), r.line));
                let origin = self.file_origin(r.line);
                self.origins.entry(d.name).or_default().push(origin);
            }
        }
    }

    /// Reads an integer in `min..=max`, reporting errors and the octal difference.
    fn integer(&mut self, name: &str, r: &Record, min: i64, max: i64) -> Option<i64> {
        let Some(int) = parse_integer(&r.value) else {
            let msg = format!(
                "value \"{}\" is not an integer (expected decimal or 0x hex, {min}..{max})",
                r.value
            );
            self.sink.error(r.line, Some(name), msg);
            return None;
        };
        if !(min..=max).contains(&int.value) {
            let msg = format!("value {} is out of range (expected {min}..{max})", r.value);
            self.sink.error(r.line, Some(name), msg);
            return None;
        }
        if let Some(octal) = int.octal_reading {
            let msg = format!(
                "value \"{}\" has a leading 0: siproxd reads it as octal ({octal}), it is read here as decimal {}",
                r.value, int.value
            );
            self.sink.warn(r.line, Some(name), msg);
        }
        Some(int.value)
    }

    fn acl(&mut self, name: &'static str, r: &Record) {
        let read = acl::parse_list(&r.value);
        for w in read.warnings {
            self.sink.warn(r.line, Some(name), w);
        }
        let failed = !read.errors.is_empty();
        for e in read.errors {
            self.sink.error(r.line, Some(name), e);
        }
        if failed {
            return;
        }
        match name {
            "hosts_allow_reg" => self.config.hosts_allow_reg = read.entries,
            "hosts_allow_sip" => self.config.hosts_allow_sip = read.entries,
            _ => self.config.hosts_deny_sip = read.entries,
        }
        self.set_origin(name, r.line);
    }

    fn plugin(&mut self, r: &Record) {
        self.check_plugin_reading(r);
        if r.value.is_empty() {
            let msg = "empty value; the line is ignored (as siproxd does)".to_string();
            self.sink.warn(r.line, Some(&r.key), msg);
            return;
        }
        self.config.plugins.push(PluginLine {
            key: r.key.clone(),
            value: r.value.clone(),
            file: self.sink.file.clone(),
            line: r.line,
        });
    }

    /// Mirrors the plugin passes of readconf.c for bundled plugins; keys of other plugins are
    /// kept silently (they may belong to a plugin built on our ABI).
    fn check_plugin_reading(&mut self, r: &Record) {
        let key = r.key.as_str();
        let Some((plugin, table)) = upstream::owner(key) else {
            if let Some(similar) = upstream::similar_key(key) {
                let msg = format!("no plugin reads this key; did you mean \"{similar}\"?");
                self.sink.warn(r.line, Some(key), msg);
            }
            return;
        };
        let reading = upstream::plugin_reading(&r.raw, table);
        if table.contains(&key) {
            if let Some(rd) = reading.filter(|rd| rd.key != key) {
                self.sink.warn(r.line, Some(key), other_reading(&rd, key));
            }
            return;
        }
        let mut msg = format!(
            "not a key of plugin_{plugin} (its keys: {})",
            table.join(", ")
        );
        match reading {
            Some(rd) => msg.push_str(&format!(
                "; siproxd would have read this line as \"{}\"{}",
                rd.key,
                lost(&rd)
            )),
            None => msg.push_str("; no plugin reads it"),
        }
        self.sink.warn(r.line, Some(key), msg);
    }

    fn file_origin(&self, line: usize) -> Origin {
        Origin::File {
            file: self.sink.file.clone(),
            line,
        }
    }

    fn set_origin(&mut self, name: &'static str, line: usize) {
        self.seen.entry(name).or_default().push(line);
        let origin = self.file_origin(line);
        self.origins.insert(name, vec![origin]);
    }

    /// Stores a range-checked integer in its field (the ranges of [`DIRECTIVES`] make every
    /// conversion lossless; `debug_level` keeps the low 32 bits so `-1` is all classes).
    fn set_int(&mut self, name: &str, v: i64) {
        let c = &mut self.config;
        let port = u16::try_from(v).unwrap_or(0);
        let small = u8::try_from(v).unwrap_or(0);
        let count = u32::try_from(v).unwrap_or(0);
        match name {
            "debug_level" => c.debug_level = v as u32,
            "debug_port" => c.debug_port = port,
            "sip_listen_port" => c.sip_listen_port = port,
            "silence_log" => c.silence_log = small,
            "rtp_port_low" => c.rtp_port_low = port,
            "rtp_port_high" => c.rtp_port_high = port,
            "rtp_timeout" => c.rtp_timeout = count,
            "rtp_proxy_enable" => c.rtp_proxy_enable = v != 0,
            "rtp_dscp" => c.rtp_dscp = small,
            "rtp_input_dejitter" => c.rtp_input_dejitter = count,
            "rtp_output_dejitter" => c.rtp_output_dejitter = count,
            "rtp_relay_threads" => c.rtp_relay_threads = count,
            "outbound_proxy_port" => c.outbound_proxy_port = if port == 0 { 5060 } else { port },
            "default_expires" => c.default_expires = count,
            "autosave_registrations" => c.autosave_registrations = count,
            "use_rport" => c.use_rport = small,
            "sip_dscp" => c.sip_dscp = small,
            "tcp_timeout" => c.tcp_timeout = count,
            "tcp_connect_timeout" => c.tcp_connect_timeout = count,
            "tcp_keepalive" => c.tcp_keepalive = count,
            "thread_stack_size" => c.thread_stack_size = count,
            _ => {}
        }
    }

    fn set_switch(&mut self, name: &str, on: bool) {
        match name {
            "daemonize" => self.config.daemonize = on,
            "obscure_loops" => self.config.obscure_loops = on,
            "proxy_auth_lan" => self.config.proxy_auth_lan = on,
            _ => {}
        }
    }

    fn set_str(&mut self, name: &str, v: String) {
        let c = &mut self.config;
        match name {
            "if_inbound" => c.if_inbound = Some(v),
            "if_outbound" => c.if_outbound = Some(v),
            "host_outbound" => c.host_outbound = Some(v),
            "user" => c.user = Some(v),
            "chrootjail" => c.chrootjail = Some(PathBuf::from(v)),
            "proxy_auth_realm" => c.proxy_auth_realm = Some(v),
            "proxy_auth_passwd" => c.proxy_auth_passwd = Some(v),
            "proxy_auth_pwfile" => c.proxy_auth_pwfile = Some(PathBuf::from(v)),
            "outbound_proxy_host" => c.outbound_proxy_host = Some(v),
            "registration_file" => c.registration_file = Some(PathBuf::from(v)),
            "pid_file" => c.pid_file = Some(PathBuf::from(v)),
            "ua_string" => c.ua_string = Some(v),
            "plugindir" => c.plugindir = Some(v),
            _ => {}
        }
    }

    /// Checks spanning several lines, then notes.
    fn finish(&mut self) {
        self.config.load_plugin = self.list_values("load_plugin");
        self.mask_pairs();
        self.outbound_domains();
        let opnsense = self.opnsense_rtp_range();
        self.repeats(opnsense);
        self.rtp_range();
        self.default_notes();
        self.path_notes();
        self.interface_notes();
    }

    fn list_values(&self, name: &str) -> Vec<String> {
        self.lists
            .get(name)
            .map(|l| l.iter().map(|(v, _)| v.clone()).collect())
            .unwrap_or_default()
    }

    fn list_lines(&self, name: &str) -> Vec<usize> {
        self.lists
            .get(name)
            .map(|l| l.iter().map(|(_, n)| *n).collect())
            .unwrap_or_default()
    }

    /// Mirrors register.c: mask_host\[i\] pairs with masked_host\[i\]; upstream ignores the
    /// feature on a count mismatch, we refuse the file.
    fn mask_pairs(&mut self) {
        let names = ["mask_host", "masked_host"];
        if self.counts_match(&names, "each mask_host needs one masked_host") {
            self.config.mask_host = self.list_values("mask_host");
            self.config.masked_host = self.list_values("masked_host");
        }
    }

    /// Mirrors sip_utils.c: name\[i\], host\[i\] and port\[i\] form one per-domain proxy.
    fn outbound_domains(&mut self) {
        let names = [
            "outbound_domain_name",
            "outbound_domain_host",
            "outbound_domain_port",
        ];
        if !self.counts_match(
            &names,
            "each outbound_domain_name needs one _host and one _port",
        ) {
            return;
        }
        let hosts = self.list_values("outbound_domain_host");
        let ports = self
            .lists
            .get("outbound_domain_port")
            .cloned()
            .unwrap_or_default();
        let domains = self.list_values("outbound_domain_name");
        for ((name, host), (port, line)) in domains.into_iter().zip(hosts).zip(ports) {
            let port = match parse_integer(&port)
                .map(|i| i.value)
                .and_then(|v| u16::try_from(v).ok())
            {
                Some(p) if p > 0 => p,
                _ => {
                    let msg = format!("value \"{port}\" is not a port (expected 1..65535)");
                    self.sink.error(line, Some("outbound_domain_port"), msg);
                    continue;
                }
            };
            self.config
                .outbound_domains
                .push(OutboundDomain { name, host, port });
        }
    }

    /// True when the lists have equal lengths; otherwise one error naming counts and lines.
    fn counts_match(&mut self, names: &[&'static str], rule: &str) -> bool {
        let counts: Vec<usize> = names.iter().map(|n| self.list_lines(n).len()).collect();
        if counts.windows(2).all(|w| w.first() == w.last()) {
            return true;
        }
        let parts: Vec<String> = names
            .iter()
            .map(|n| {
                let lines = self.list_lines(n);
                format!("{} {n} ({})", lines.len(), line_list(&lines))
            })
            .collect();
        let first_line = names
            .iter()
            .filter_map(|n| self.list_lines(n).first().copied())
            .min()
            .unwrap_or(0);
        let msg = format!("counts differ: {}; {rule}", parts.join(", "));
        let directive = names.first().copied();
        self.sink.error(first_line, directive, msg);
        false
    }

    /// Mirrors readconf.c: the last occurrence wins; upstream says nothing, we warn.
    fn repeats(&mut self, skip_rtp_low: bool) {
        let repeated: Vec<(&'static str, Vec<usize>)> = self
            .seen
            .iter()
            .filter(|(_, l)| l.len() > 1)
            .map(|(n, l)| (*n, l.clone()))
            .collect();
        for (name, lines) in repeated {
            if skip_rtp_low && name == "rtp_port_low" {
                continue;
            }
            let (Some(last), Some(earlier)) = (lines.last(), lines.get(..lines.len() - 1)) else {
                continue;
            };
            let msg = format!(
                "set again; replaces the value of {} (the last one wins)",
                line_list(earlier)
            );
            self.sink.warn(*last, Some(name), msg);
        }
    }

    /// OPNsense's template writes `rtp_port_low` twice (the second should be rtp_port_high).
    /// With exactly two rtp_port_low lines, no rtp_port_high and a rising pair, read them as
    /// low and high. siproxd 0.8 took the second as the low port and had no high port.
    fn opnsense_rtp_range(&mut self) -> bool {
        let [(low, low_line), (high, high_line)] = self.rtp_lows.as_slice() else {
            return false;
        };
        if self.origins.contains_key("rtp_port_high") || low >= high {
            return false;
        }
        let (low, low_line, high, high_line) = (*low, *low_line, *high, *high_line);
        self.config.rtp_port_low = low;
        self.config.rtp_port_high = high;
        self.origins
            .insert("rtp_port_low", vec![self.file_origin(low_line)]);
        self.origins
            .insert("rtp_port_high", vec![self.file_origin(high_line)]);
        let msg = format!(
            "set twice (lines {low_line} and {high_line}) and rtp_port_high not at all, as OPNsense's \
             template writes it: read as rtp_port_low = {low}, rtp_port_high = {high} \
             (siproxd would have used {high} as the low port and no high port)"
        );
        self.sink.warn(high_line, Some("rtp_port_low"), msg);
        true
    }

    /// Mirrors readconf.c's post-processing: an odd low port is rounded up (warning), an odd
    /// high port down (a note only: 7089 is the usual way to write "up to the RTCP port 7089").
    fn rtp_range(&mut self) {
        let low_line = self.file_line("rtp_port_low");
        let high_line = self.file_line("rtp_port_high");
        let low = self.config.rtp_port_low;
        if low % 2 == 1 {
            match low.checked_add(1) {
                Some(even) => {
                    self.config.rtp_port_low = even;
                    let msg = format!("odd value {low} rounded up to {even} (RTP ports are even, RTCP is the next odd port)");
                    self.sink
                        .warn(low_line.unwrap_or(0), Some("rtp_port_low"), msg);
                }
                None => {
                    let msg = format!("odd value {low} cannot be rounded up to an even port");
                    self.sink
                        .error(low_line.unwrap_or(0), Some("rtp_port_low"), msg);
                    return;
                }
            }
        }
        let high = self.config.rtp_port_high;
        if high % 2 == 1 && high_line.is_some() {
            self.config.rtp_port_high = high - 1;
            let msg = format!(
                "odd value {high} read as {}: the last RTP/RTCP pair is {}/{high}",
                high - 1,
                high - 1
            );
            self.sink.note(high_line, Some("rtp_port_high"), msg);
        }
        self.check_rtp_order(low_line, high_line);
    }

    fn check_rtp_order(&mut self, low_line: Option<usize>, high_line: Option<usize>) {
        let (low, high) = (self.config.rtp_port_low, self.config.rtp_port_high);
        if low <= high {
            return;
        }
        let at = |l: Option<usize>| {
            l.map(|n| format!("line {n}"))
                .unwrap_or_else(|| "default".to_string())
        };
        let msg = format!(
            "rtp_port_low {low} ({}) is above rtp_port_high {high} ({}); the range needs low <= high",
            at(low_line),
            at(high_line)
        );
        let line = low_line.or(high_line).unwrap_or(0);
        self.sink.error(line, Some("rtp_port_low"), msg);
    }

    fn file_line(&self, name: &str) -> Option<usize> {
        match self.origins.get(name).and_then(|o| o.last()) {
            Some(Origin::File { line, .. }) => Some(*line),
            _ => None,
        }
    }

    fn default_notes(&mut self) {
        for d in DIRECTIVES {
            if let (Some(note), false) = (d.default_note, self.origins.contains_key(d.name)) {
                self.sink.note(None, Some(d.name), note.to_string());
            }
        }
    }

    /// Relative paths resolve inside the chroot jail, as upstream opens them after chroot.
    fn path_notes(&mut self) {
        let jail = self.config.chrootjail.clone();
        for name in ["registration_file", "pid_file"] {
            let path = match name {
                "pid_file" => self.config.pid_file.clone(),
                _ => self.config.registration_file.clone(),
            };
            let Some(path) = path.filter(|p| p.is_relative()) else {
                continue;
            };
            let msg = match &jail {
                Some(j) => format!(
                    "relative path \"{}\" is taken inside chrootjail \"{}\" (as siproxd does)",
                    path.display(),
                    j.display()
                ),
                None => format!(
                    "relative path \"{}\" is taken from the working directory",
                    path.display()
                ),
            };
            let line = self.file_line(name);
            self.sink.note(line, Some(name), msg);
        }
    }

    /// pfSense may write an IP address where siproxd expects an interface name.
    fn interface_notes(&mut self) {
        for name in ["if_inbound", "if_outbound"] {
            let value = match name {
                "if_inbound" => self.config.if_inbound.clone(),
                _ => self.config.if_outbound.clone(),
            };
            if let Some(v) = value.filter(|v| v.parse::<IpAddr>().is_ok()) {
                let msg = format!("value \"{v}\" is an IP address, not an interface name (pfSense writes these; siproxd 0.8 cannot use them)");
                let line = self.file_line(name);
                self.sink.note(line, Some(name), msg);
            }
        }
    }
}

/// "siproxd would have read this line as …" for a line whose exact key is `ours`.
fn other_reading(rd: &Reading, ours: &str) -> String {
    format!(
        "siproxd would have read this line as \"{}\"{} (it finds directive names anywhere in the line); it is read here as \"{ours}\"",
        rd.key,
        lost(rd)
    )
}

fn lost(rd: &Reading) -> String {
    if rd.lost {
        format!(" and lost it (no \"=\" after \"{}\")", rd.key)
    } else {
        String::new()
    }
}

fn line_list(lines: &[usize]) -> String {
    if lines.is_empty() {
        return "none".to_string();
    }
    let nums: Vec<String> = lines.iter().map(ToString::to_string).collect();
    let word = if lines.len() == 1 { "line" } else { "lines" };
    format!("{word} {}", nums.join(", "))
}
