//! Files a drop-in must accept: upstream's example, what pfSense and OPNsense write, and our
//! own etc/siproxd.conf. Also `-t` output and the command-line overrides.

use std::path::{Path, PathBuf};

use siproxd::cli::Options;
use siproxd::config::{self, Loaded, Origin};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(path: &Path) -> Loaded {
    match config::load(path) {
        Ok(l) => l,
        Err(e) => panic!("{} does not load:\n{e}", path.display()),
    }
}

fn strings(d: &[config::Diagnostic]) -> Vec<String> {
    d.iter().map(ToString::to_string).collect()
}

#[test]
fn upstream_example_loads_unchanged() {
    let path = root().join("../shared/compat/siproxd.conf.example");
    let l = load(&path);
    let c = &l.config;
    assert_eq!(strings(&l.warnings), Vec::<String>::new());
    assert_eq!(
        (c.if_inbound.as_deref(), c.if_outbound.as_deref()),
        (Some("eth0"), Some("ppp0"))
    );
    assert!(c.daemonize);
    assert_eq!(
        (c.rtp_port_low, c.rtp_port_high, c.rtp_timeout, c.rtp_dscp),
        (7070, 7088, 300, 46)
    );
    assert_eq!(c.user.as_deref(), Some("nobody"));
    assert_eq!(c.tcp_keepalive, 20);
    assert_eq!(c.load_plugin, ["plugin_logcall.la"]);
    assert_eq!(c.plugindir.as_deref(), Some("/usr/lib/siproxd/"));
    assert_eq!(c.outbound_domains.len(), 1);
    assert_eq!(c.plugin_lines("plugin_shortdial_entry").count(), 2);
    assert_eq!(c.plugin_lines("plugin_regex").count(), 12);
    assert_eq!(c.plugin_lines("plugin_stripheader").count(), 4);
    assert_eq!(c.plugins.len(), 38);
    assert_eq!(
        l.origin("rtp_port_low"),
        [Origin::File {
            file: path.clone(),
            line: 131
        }]
    );
}

#[test]
fn pfsense_config_loads_without_warnings() {
    let path = root().join("tests/fixtures/config/pfsense.conf");
    let l = load(&path);
    let c = &l.config;
    assert_eq!(strings(&l.warnings), Vec::<String>::new());
    assert_eq!(c.debug_level, u32::MAX);
    assert_eq!(c.if_inbound.as_deref(), Some("192.168.1.1"));
    assert_eq!(c.pid_file, Some(PathBuf::from("siproxd.pid")));
    assert_eq!((c.rtp_port_low, c.rtp_port_high), (7070, 7078));
    assert_eq!(
        c.load_plugin,
        [
            "plugin_logcall.la",
            "plugin_stun.la",
            "plugin_stripheader.la"
        ]
    );
    let p = path.display();
    let notes = strings(&l.notes);
    for expected in [
        format!("{p}:3: if_inbound: value \"192.168.1.1\" is an IP address, not an interface name (pfSense writes these; siproxd 0.8 cannot use them)"),
        format!("{p}:11: registration_file: relative path \"siproxd_registrations\" is taken inside chrootjail \"/var/siproxd/\" (as siproxd does)"),
        format!("{p}:13: pid_file: relative path \"siproxd.pid\" is taken inside chrootjail \"/var/siproxd/\" (as siproxd does)"),
        format!("{p}:16: rtp_port_high: odd value 7079 read as 7078: the last RTP/RTCP pair is 7078/7079"),
    ] {
        assert!(notes.contains(&expected), "missing note {expected}\nin {notes:#?}");
    }
}

#[test]
fn opnsense_config_loads_with_its_warnings() {
    let path = root().join("tests/fixtures/config/opnsense.conf");
    let l = load(&path);
    let c = &l.config;
    let p = path.display();
    let stun = "not a key of plugin_stun (its keys: plugin_stun_server, plugin_stun_port, plugin_stun_period); siproxd would have read this line as \"plugin_stun_server\"";
    assert_eq!(
        strings(&l.warnings),
        [
            format!("{p}:16: rtp_port_low: set twice (lines 15 and 16) and rtp_port_high not at all, as OPNsense's template writes it: read as rtp_port_low = 7070, rtp_port_high = 7089 (siproxd would have used 7089 as the low port and no high port)"),
            format!("{p}:33: plugin_stun_server_host: {stun}"),
            format!("{p}:34: plugin_stun_server_port: {stun}"),
            format!("{p}:35: plugin_stun_server_period: {stun}"),
            format!("{p}:37: plugin_fbox_anoncall_networks: no plugin reads this key; did you mean \"plugin_fix_fbox_anoncall_networks\"?"),
        ]
    );
    assert_eq!((c.rtp_port_low, c.rtp_port_high), (7070, 7088));
    let hosts: Vec<(&str, u16)> = c
        .outbound_domains
        .iter()
        .map(|d| (d.host.as_str(), d.port))
        .collect();
    assert_eq!(
        hosts,
        [
            ("sip.provider-a.example", 5060),
            ("sip.provider-b.example", 5080)
        ]
    );
    assert_eq!(c.plugin_lines("plugin_stun").count(), 3);
}

#[test]
fn our_sample_loads_without_warnings() {
    let l = load(&root().join("etc/siproxd.conf"));
    assert_eq!(strings(&l.warnings), Vec::<String>::new());
    let c = &l.config;
    assert!(!c.daemonize);
    assert_eq!(
        (c.if_inbound.as_deref(), c.if_outbound.as_deref()),
        (Some("lo"), Some("lo"))
    );
    assert_eq!(c.pid_file, None);
    assert_eq!(c.registration_file, None);
    assert!(c.load_plugin.is_empty());
}

#[test]
fn our_sample_mentions_every_directive() {
    let text = std::fs::read_to_string(root().join("etc/siproxd.conf")).unwrap_or_default();
    for d in config::directives::DIRECTIVES {
        let written = text.lines().any(|l| {
            let l = l.trim_start_matches('#');
            l.split('=').next().map(str::trim) == Some(d.name)
        });
        assert!(written, "etc/siproxd.conf does not show {}", d.name);
    }
}

#[test]
fn render_effective_shows_values_origins_plugins_and_notes() {
    let text = "sip_listen_port = 5070\nload_plugin = plugin_stun.la\nproxy_auth_passwd = secret\nplugin_stun_server = stun.example.org\n";
    let l = match config::parse_str(text, Path::new("/x.conf")) {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    };
    let out = l.render_effective();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"# effective configuration from /x.conf")
    );
    for expected in [
        "debug_level = 0x00000000  # default",
        "sip_listen_port = 5070  # /x.conf:1",
        "# if_inbound is not set (default)",
        "rtp_port_high = 7088  # default",
        "proxy_auth_passwd = (hidden)  # /x.conf:3",
        "load_plugin = plugin_stun.la  # /x.conf:2",
        "plugin_stun_server = stun.example.org  # /x.conf:4",
        "# note: /x.conf: tcp_keepalive: default 0 means off here (siproxd 0.8 sends a CRLF on every idle tick with 0)",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?} in\n{out}");
    }
    let directive_lines = lines
        .iter()
        .filter(|l| !l.starts_with("# note") && !l.starts_with("plugin_"))
        .count();
    assert_eq!(directive_lines, 1 + config::directives::DIRECTIVES.len());
}

#[test]
fn command_line_overrides() {
    let mut l = match config::parse_str(
        "debug_level = 0x10\ndaemonize = 1\npid_file = /a.pid\n",
        Path::new("/x.conf"),
    ) {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    };
    l.apply_cli(&Options {
        debug: Some(0),
        ..Options::default()
    });
    assert_eq!(l.config.debug_level, 0x10);
    assert_eq!(
        l.origin("debug_level"),
        [Origin::File {
            file: "/x.conf".into(),
            line: 1
        }]
    );
    let opts = Options {
        debug: Some(-1),
        pid_file: Some("/b.pid".into()),
        foreground: true,
        ..Options::default()
    };
    l.apply_cli(&opts);
    assert_eq!(l.config.debug_level, u32::MAX);
    assert_eq!(l.config.pid_file, Some(PathBuf::from("/b.pid")));
    assert!(!l.config.daemonize);
    let out = l.render_effective();
    assert!(
        out.contains("debug_level = 0xffffffff  # command line\n"),
        "{out}"
    );
    assert!(out.contains("daemonize = 0  # command line\n"), "{out}");
    assert!(out.contains("pid_file = /b.pid  # command line\n"), "{out}");
}
