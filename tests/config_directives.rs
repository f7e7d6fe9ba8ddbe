//! Every main directive: its type, default and repeat rule.

use std::path::{Path, PathBuf};

use siproxd::config::{self, AclEntry, Config, Loaded, Origin, OutboundDomain};

const FILE: &str = "/etc/siproxd.conf";

fn parse(text: &str) -> Loaded {
    match config::parse_str(text, Path::new(FILE)) {
        Ok(l) => l,
        Err(e) => panic!("unexpected error:\n{e}"),
    }
}

fn warnings(l: &Loaded) -> Vec<String> {
    l.warnings.iter().map(ToString::to_string).collect()
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = Config::default();
    assert_eq!(c.debug_level, 0);
    assert_eq!(c.debug_port, 0);
    assert_eq!(c.sip_listen_port, 5060);
    assert!(!c.daemonize);
    assert_eq!(c.silence_log, 1);
    assert_eq!(
        (
            c.if_inbound.clone(),
            c.if_outbound.clone(),
            c.host_outbound.clone()
        ),
        (None, None, None)
    );
    assert_eq!((c.rtp_port_low, c.rtp_port_high), (7070, 7088));
    assert_eq!(c.rtp_timeout, 300);
    assert!(c.rtp_proxy_enable);
    assert_eq!((c.rtp_dscp, c.sip_dscp), (0, 0));
    assert_eq!((c.rtp_input_dejitter, c.rtp_output_dejitter), (0, 0));
    assert_eq!((c.user.clone(), c.chrootjail.clone()), (None, None));
    assert!(
        c.hosts_allow_reg.is_empty() && c.hosts_allow_sip.is_empty() && c.hosts_deny_sip.is_empty()
    );
    assert_eq!(c.proxy_auth_realm, None);
    assert_eq!(c.proxy_auth_passwd, None);
    assert_eq!(c.proxy_auth_pwfile, None);
    assert!(c.mask_host.is_empty() && c.masked_host.is_empty());
    assert_eq!(c.outbound_proxy_host, None);
    assert_eq!(c.outbound_proxy_port, 5060);
    assert!(c.outbound_domains.is_empty());
    assert_eq!(
        (c.registration_file.clone(), c.pid_file.clone()),
        (None, None)
    );
    assert_eq!(c.default_expires, 600);
    assert_eq!(c.autosave_registrations, 0);
    assert_eq!(c.ua_string, None);
    assert_eq!(c.use_rport, 0);
    assert!(!c.obscure_loops);
    assert_eq!(c.plugindir, None);
    assert!(c.load_plugin.is_empty());
    assert_eq!(
        (c.tcp_timeout, c.tcp_connect_timeout, c.tcp_keepalive),
        (600, 500, 0)
    );
    assert_eq!(c.thread_stack_size, 0);
    assert_eq!(c.rtp_relay_threads, 1, "one relay thread, as upstream");
    assert!(c.plugins.is_empty());
}

/// `rtp_relay_threads` (ours): read in range, refused outside it with file, line and name.
#[test]
fn rtp_relay_threads_is_read_and_range_checked() {
    assert_eq!(parse("rtp_relay_threads = 4\n").config.rtp_relay_threads, 4);
    for bad in ["0", "65"] {
        let err = match config::parse_str(&format!("rtp_relay_threads = {bad}\n"), Path::new(FILE))
        {
            Err(e) => e.to_string(),
            Ok(_) => panic!("rtp_relay_threads = {bad} accepted"),
        };
        assert!(
            err.starts_with(&format!("{FILE}:1: rtp_relay_threads: ")),
            "{err}"
        );
        assert!(err.contains("1..64"), "{err}");
    }
}

#[test]
fn empty_file_gives_defaults_and_default_notes() {
    let l = parse("");
    assert_eq!(l.config, Config::default());
    assert!(l.warnings.is_empty());
    let notes: Vec<String> = l.notes.iter().map(ToString::to_string).collect();
    assert_eq!(
        notes,
        [
            "/etc/siproxd.conf: rtp_port_low: default 7070 (siproxd's code default is 0, with which no RTP port can be allocated)",
            "/etc/siproxd.conf: rtp_port_high: default 7089, read as 7088 (siproxd's code default is 0, with which no RTP port can be allocated)",
            "/etc/siproxd.conf: rtp_timeout: default 300 s (siproxd's code default is 0, which tears streams down after a gap of about 1 s)",
            "/etc/siproxd.conf: default_expires: default 600 s, as the example file (siproxd's code default is 3600 s)",
            "/etc/siproxd.conf: tcp_timeout: default 600 s, as the example file (siproxd's code default is 300 s)",
            "/etc/siproxd.conf: tcp_keepalive: default 0 means off here (siproxd 0.8 sends a CRLF on every idle tick with 0)",
        ]
    );
}

const ALL: &str = "\
debug_level = 0x1100
debug_port = 9999
sip_listen_port = 5070
daemonize = 1
silence_log = 3
if_inbound = eth0
if_outbound = ppp0
host_outbound = sip.example.org
rtp_port_low = 10000
rtp_port_high = 10100
rtp_timeout = 120
rtp_proxy_enable = 0
rtp_dscp = 46
rtp_input_dejitter = 20000
rtp_output_dejitter = 1500000
user = nobody
chrootjail = /var/siproxd/
hosts_allow_reg = 192.168.1.0/24
hosts_allow_sip = 198.51.100.0/24,fd00::/8
hosts_deny_sip = 10.0.0.0/8
proxy_auth_realm = Authentication Realm
proxy_auth_passwd = pa#ss
proxy_auth_pwfile = /usr/local/etc/siproxd_passwd.cfg
mask_host = 10.0.1.1
masked_host = my.public.host
outbound_proxy_host = proxy.example.net
outbound_proxy_port = 5080
outbound_domain_name = a.example
outbound_domain_host = proxy.a.example
outbound_domain_port = 5061
registration_file = siproxd_registrations
pid_file = siproxd.pid
default_expires = 1800
autosave_registrations = 10
ua_string = Siproxd UA
use_rport = 3
obscure_loops = 1
plugindir = /usr/local/lib/siproxd/
load_plugin = plugin_logcall.la
sip_dscp = 26
tcp_timeout = 900
tcp_connect_timeout = 250
tcp_keepalive = 20
thread_stack_size = 512
plugin_stun_server = stun.example.org
";

#[test]
fn every_directive_is_read_into_its_typed_field() {
    let l = parse(ALL);
    let c = &l.config;
    assert_eq!(c.debug_level, 0x1100);
    assert_eq!(c.debug_port, 9999);
    assert_eq!(c.sip_listen_port, 5070);
    assert!(c.daemonize);
    assert_eq!(c.silence_log, 3);
    assert_eq!(c.if_inbound.as_deref(), Some("eth0"));
    assert_eq!(c.if_outbound.as_deref(), Some("ppp0"));
    assert_eq!(c.host_outbound.as_deref(), Some("sip.example.org"));
    assert_eq!(
        (c.rtp_port_low, c.rtp_port_high, c.rtp_timeout),
        (10000, 10100, 120)
    );
    assert!(!c.rtp_proxy_enable);
    assert_eq!(
        (c.rtp_dscp, c.rtp_input_dejitter, c.rtp_output_dejitter),
        (46, 20000, 1_500_000)
    );
    assert_eq!(c.user.as_deref(), Some("nobody"));
    assert_eq!(c.chrootjail, Some(PathBuf::from("/var/siproxd/")));
    let acl = |v: &[AclEntry]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(acl(&c.hosts_allow_reg), "192.168.1.0/24");
    assert_eq!(acl(&c.hosts_allow_sip), "198.51.100.0/24,fd00::/8");
    assert_eq!(acl(&c.hosts_deny_sip), "10.0.0.0/8");
    assert_eq!(c.proxy_auth_realm.as_deref(), Some("Authentication Realm"));
    assert_eq!(c.proxy_auth_passwd.as_deref(), Some("pa#ss"));
    assert_eq!(
        c.proxy_auth_pwfile,
        Some(PathBuf::from("/usr/local/etc/siproxd_passwd.cfg"))
    );
    assert_eq!(
        (c.mask_host.clone(), c.masked_host.clone()),
        (
            vec!["10.0.1.1".to_string()],
            vec!["my.public.host".to_string()]
        )
    );
    assert_eq!(c.outbound_proxy_host.as_deref(), Some("proxy.example.net"));
    assert_eq!(c.outbound_proxy_port, 5080);
    let d = OutboundDomain {
        name: "a.example".into(),
        host: "proxy.a.example".into(),
        port: 5061,
    };
    assert_eq!(c.outbound_domains, vec![d]);
    assert_eq!(
        c.registration_file,
        Some(PathBuf::from("siproxd_registrations"))
    );
    assert_eq!(c.pid_file, Some(PathBuf::from("siproxd.pid")));
    assert_eq!((c.default_expires, c.autosave_registrations), (1800, 10));
    assert_eq!(c.ua_string.as_deref(), Some("Siproxd UA"));
    assert_eq!(c.use_rport, 3);
    assert!(c.obscure_loops);
    assert_eq!(c.plugindir.as_deref(), Some("/usr/local/lib/siproxd/"));
    assert_eq!(c.load_plugin, vec!["plugin_logcall.la".to_string()]);
    assert_eq!(c.sip_dscp, 26);
    assert_eq!(
        (c.tcp_timeout, c.tcp_connect_timeout, c.tcp_keepalive),
        (900, 250, 20)
    );
    assert_eq!(c.thread_stack_size, 512);
    assert_eq!(c.plugins.len(), 1);
    assert_eq!(
        warnings(&l),
        ["/etc/siproxd.conf:22: proxy_auth_passwd: value \"pa#ss\" contains \"#\": siproxd would have cut it to \"pa\"; it is kept whole here (a \"#\" starts a comment only after a blank)"]
    );
}

#[test]
fn scalars_last_one_wins_with_a_warning() {
    let l = parse("rtp_timeout = 100\nua_string = one\nrtp_timeout = 200\nua_string = two\nrtp_timeout = 0x12c\n");
    assert_eq!(l.config.rtp_timeout, 300);
    assert_eq!(l.config.ua_string.as_deref(), Some("two"));
    assert_eq!(
        warnings(&l),
        [
            "/etc/siproxd.conf:4: ua_string: set again; replaces the value of line 2 (the last one wins)",
            "/etc/siproxd.conf:5: rtp_timeout: set again; replaces the value of lines 1, 3 (the last one wins)",
        ]
    );
    assert_eq!(
        l.origin("rtp_timeout"),
        [Origin::File {
            file: FILE.into(),
            line: 5
        }]
    );
}

#[test]
fn lists_accumulate_in_order() {
    let text = "load_plugin = plugin_a.la\nload_plugin=plugin_b.so\nmask_host = a\nmasked_host = b\nmask_host = c\nmasked_host = d\n";
    let l = parse(text);
    assert_eq!(l.config.load_plugin, ["plugin_a.la", "plugin_b.so"]);
    assert_eq!(l.config.mask_host, ["a", "c"]);
    assert_eq!(l.config.masked_host, ["b", "d"]);
    assert!(l.warnings.is_empty());
    assert_eq!(l.origin("load_plugin").len(), 2);
}

#[test]
fn outbound_domain_triples_pair_by_position() {
    let text = "outbound_domain_name = a\noutbound_domain_name = b\noutbound_domain_host = ha\noutbound_domain_host = hb\noutbound_domain_port = 5060\noutbound_domain_port = 0x13c5\n";
    let l = parse(text);
    let names: Vec<(String, String, u16)> = l
        .config
        .outbound_domains
        .iter()
        .map(|d| (d.name.clone(), d.host.clone(), d.port))
        .collect();
    assert_eq!(
        names,
        [
            ("a".into(), "ha".into(), 5060),
            ("b".into(), "hb".into(), 5061)
        ]
    );
}

#[test]
fn integers_hex_negative_and_switches() {
    let l = parse("debug_level = -1\ndaemonize = 2\nobscure_loops = 0\nsilence_log = 0x4\n");
    assert_eq!(l.config.debug_level, 0xffff_ffff);
    assert!(l.config.daemonize);
    assert!(!l.config.obscure_loops);
    assert_eq!(l.config.silence_log, 4);
    assert_eq!(
        parse("debug_level = 0xffffffff\n").config.debug_level,
        u32::MAX
    );
    assert_eq!(
        parse("outbound_proxy_port = 0\n")
            .config
            .outbound_proxy_port,
        5060
    );
}

#[test]
fn string_values_keep_inner_spaces_and_lose_outer_blanks() {
    let l = parse("ua_string =\t  My  Phone Proxy \t\r\nproxy_auth_realm = realm   # comment\n");
    assert_eq!(l.config.ua_string.as_deref(), Some("My  Phone Proxy"));
    assert_eq!(l.config.proxy_auth_realm.as_deref(), Some("realm"));
    assert!(l.warnings.is_empty());
}

#[test]
fn plugin_lines_are_kept_raw_in_order() {
    let text = "plugin_regex_desc = one\nplugin_regex_body_desc = body\nplugin_regex_desc = two\nplugin_myown_key = x y\n";
    let l = parse(text);
    let regex: Vec<(&str, &str, usize)> = l
        .config
        .plugin_lines("plugin_regex")
        .map(|p| (p.key.as_str(), p.value.as_str(), p.line))
        .collect();
    assert_eq!(
        regex,
        [
            ("plugin_regex_desc", "one", 1),
            ("plugin_regex_body_desc", "body", 2),
            ("plugin_regex_desc", "two", 3)
        ]
    );
    let body: Vec<&str> = l
        .config
        .plugin_lines("plugin_regex_body")
        .map(|p| p.value.as_str())
        .collect();
    assert_eq!(body, ["body"]);
    let own: Vec<&str> = l
        .config
        .plugin_lines("plugin_myown")
        .map(|p| p.value.as_str())
        .collect();
    assert_eq!(own, ["x y"]);
    assert_eq!(
        l.config.plugins.first().map(|p| p.file.clone()),
        Some(PathBuf::from(FILE))
    );
    assert!(l.warnings.is_empty());
}

#[test]
fn rtp_ports_are_rounded_to_even() {
    let l = parse("rtp_port_low = 7071\nrtp_port_high = 7091\n");
    assert_eq!(
        (l.config.rtp_port_low, l.config.rtp_port_high),
        (7072, 7090)
    );
    assert_eq!(
        warnings(&l),
        ["/etc/siproxd.conf:1: rtp_port_low: odd value 7071 rounded up to 7072 (RTP ports are even, RTCP is the next odd port)"]
    );
    let notes: Vec<String> = l.notes.iter().map(ToString::to_string).collect();
    assert!(notes.contains(&"/etc/siproxd.conf:2: rtp_port_high: odd value 7091 read as 7090: the last RTP/RTCP pair is 7090/7091".to_string()));
}

/// Single-value string directives: the last occurrence wins, shown by `-t` with its line.
#[test]
fn every_string_directive_last_one_wins() {
    let names = [
        "if_inbound",
        "if_outbound",
        "host_outbound",
        "user",
        "chrootjail",
        "proxy_auth_realm",
        "proxy_auth_pwfile",
        "outbound_proxy_host",
        "registration_file",
        "pid_file",
        "ua_string",
        "plugindir",
    ];
    for name in names {
        let l = parse(&format!("{name} = /first\n{name} = /second value\n"));
        let out = l.render_effective();
        assert!(
            out.contains(&format!("\n{name} = /second value  # {FILE}:2\n")),
            "{name}:\n{out}"
        );
        assert!(!out.contains("/first"), "{name}");
    }
}

/// Integer directives: the last occurrence wins and the range is stated in the error.
#[test]
fn every_integer_directive_type_and_range() {
    let ranges = [
        ("debug_level", "-2147483648..4294967295"),
        ("debug_port", "0..65535"),
        ("sip_listen_port", "1..65535"),
        ("daemonize", "-2147483648..2147483647"),
        ("silence_log", "0..4"),
        ("rtp_port_low", "1024..65535"),
        ("rtp_port_high", "1024..65535"),
        ("rtp_timeout", "1..2147483647"),
        ("rtp_proxy_enable", "0..1"),
        ("rtp_dscp", "0..63"),
        ("rtp_input_dejitter", "0..1500000"),
        ("rtp_output_dejitter", "0..1500000"),
        ("outbound_proxy_port", "0..65535"),
        ("default_expires", "1..2147483647"),
        ("autosave_registrations", "0..2147483647"),
        ("use_rport", "0..3"),
        ("obscure_loops", "-2147483648..2147483647"),
        ("sip_dscp", "0..63"),
        ("tcp_timeout", "1..2147483647"),
        ("tcp_connect_timeout", "1..2147483647"),
        ("tcp_keepalive", "0..2147483647"),
        ("thread_stack_size", "0..2147483647"),
        ("rtp_relay_threads", "1..64"),
    ];
    for (name, range) in ranges {
        let err = match config::parse_str(&format!("{name} = many\n"), Path::new(FILE)) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{name} accepted \"many\""),
        };
        assert_eq!(
            err,
            format!("{FILE}:1: {name}: value \"many\" is not an integer (expected decimal or 0x hex, {range})")
        );
        let min = range.split("..").next().unwrap_or("0");
        let v = if name == "rtp_port_high" {
            "65534"
        } else {
            min
        };
        let l = parse(&format!("{name} = {v}\n{name} = {v}\n"));
        assert_eq!(
            l.origin(name),
            [Origin::File {
                file: FILE.into(),
                line: 2
            }],
            "{name}"
        );
    }
}

/// List directives accumulate; each value keeps its own line for `-t`.
#[test]
fn every_list_directive_accumulates() {
    let text = "load_plugin = a\nload_plugin = b\nmask_host = m1\nmask_host = m2\nmasked_host = n1\nmasked_host = n2\n\
                outbound_domain_name = d1\noutbound_domain_host = h1\noutbound_domain_port = 1\n\
                outbound_domain_name = d2\noutbound_domain_host = h2\noutbound_domain_port = 2\n";
    let out = parse(text).render_effective();
    for expected in [
        "load_plugin = a  # /etc/siproxd.conf:1",
        "load_plugin = b  # /etc/siproxd.conf:2",
        "mask_host = m2  # /etc/siproxd.conf:4",
        "masked_host = n1  # /etc/siproxd.conf:5",
        "outbound_domain_name = d2  # /etc/siproxd.conf:10",
        "outbound_domain_port = 1  # /etc/siproxd.conf:9",
    ] {
        assert!(
            out.lines().any(|l| l == expected),
            "missing {expected:?} in\n{out}"
        );
    }
}
