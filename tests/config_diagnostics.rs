//! Every error and warning of the reader, with its exact text; malformed files never panic.

use std::path::Path;

use siproxd::config::{self, ConfigError, Loaded};

const FILE: &str = "/etc/siproxd.conf";

fn warnings(text: &str) -> Vec<String> {
    match config::parse_str(text, Path::new(FILE)) {
        Ok(l) => l.warnings.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("unexpected error:\n{e}"),
    }
}

fn loaded(text: &str) -> Loaded {
    match config::parse_str(text, Path::new(FILE)) {
        Ok(l) => l,
        Err(e) => panic!("unexpected error:\n{e}"),
    }
}

/// The error text of a file that must fail (one line per error, as printed).
fn error_bytes(bytes: &[u8]) -> String {
    match config::parse_bytes(bytes, Path::new(FILE)) {
        Ok(_) => panic!("expected an error"),
        Err(e @ ConfigError::Invalid { .. }) => e.to_string(),
        Err(e) => panic!("unexpected kind of error: {e}"),
    }
}

fn error(text: &str) -> String {
    error_bytes(text.as_bytes())
}

#[test]
fn bad_integer_names_file_line_directive_value_and_expectation() {
    assert_eq!(
        error("# c\n\nrtp_port_low = 70x0\n"),
        "/etc/siproxd.conf:3: rtp_port_low: value \"70x0\" is not an integer (expected decimal or 0x hex, 1024..65535)"
    );
    assert_eq!(
        error("rtp_dscp = 0xZZ\n"),
        "/etc/siproxd.conf:1: rtp_dscp: value \"0xZZ\" is not an integer (expected decimal or 0x hex, 0..63)"
    );
}

#[test]
fn out_of_range_values() {
    let cases = [
        (
            "sip_listen_port = 0",
            "sip_listen_port: value 0 is out of range (expected 1..65535)",
        ),
        (
            "sip_listen_port = 65536",
            "sip_listen_port: value 65536 is out of range (expected 1..65535)",
        ),
        (
            "debug_port = 70000",
            "debug_port: value 70000 is out of range (expected 0..65535)",
        ),
        (
            "rtp_port_low = 80",
            "rtp_port_low: value 80 is out of range (expected 1024..65535)",
        ),
        (
            "rtp_dscp = 64",
            "rtp_dscp: value 64 is out of range (expected 0..63)",
        ),
        (
            "sip_dscp = -1",
            "sip_dscp: value -1 is out of range (expected 0..63)",
        ),
        (
            "silence_log = 5",
            "silence_log: value 5 is out of range (expected 0..4)",
        ),
        (
            "rtp_proxy_enable = 2",
            "rtp_proxy_enable: value 2 is out of range (expected 0..1)",
        ),
        (
            "rtp_input_dejitter = 1500001",
            "rtp_input_dejitter: value 1500001 is out of range (expected 0..1500000)",
        ),
        (
            "rtp_output_dejitter = -5",
            "rtp_output_dejitter: value -5 is out of range (expected 0..1500000)",
        ),
        (
            "use_rport = 4",
            "use_rport: value 4 is out of range (expected 0..3)",
        ),
        (
            "rtp_timeout = 0",
            "rtp_timeout: value 0 is out of range (expected 1..2147483647)",
        ),
        (
            "default_expires = 0",
            "default_expires: value 0 is out of range (expected 1..2147483647)",
        ),
        (
            "tcp_timeout = 0",
            "tcp_timeout: value 0 is out of range (expected 1..2147483647)",
        ),
        (
            "tcp_connect_timeout = 0",
            "tcp_connect_timeout: value 0 is out of range (expected 1..2147483647)",
        ),
        (
            "tcp_keepalive = -1",
            "tcp_keepalive: value -1 is out of range (expected 0..2147483647)",
        ),
        (
            "autosave_registrations = -1",
            "autosave_registrations: value -1 is out of range (expected 0..2147483647)",
        ),
        (
            "thread_stack_size = -1",
            "thread_stack_size: value -1 is out of range (expected 0..2147483647)",
        ),
        (
            "outbound_proxy_port = 65536",
            "outbound_proxy_port: value 65536 is out of range (expected 0..65535)",
        ),
        (
            "debug_level = 0x100000000",
            "debug_level: value 0x100000000 is out of range (expected -2147483648..4294967295)",
        ),
        (
            "daemonize = 0x80000000",
            "daemonize: value 0x80000000 is out of range (expected -2147483648..2147483647)",
        ),
    ];
    for (line, msg) in cases {
        assert_eq!(error(line), format!("/etc/siproxd.conf:1: {msg}"), "{line}");
    }
}

#[test]
fn all_errors_of_a_file_are_reported_in_line_order() {
    let text = "rtp_port_low = x\nsip_dscp = 99\nno equals here\n = 5\n";
    assert_eq!(
        error(text),
        "/etc/siproxd.conf:1: rtp_port_low: value \"x\" is not an integer (expected decimal or 0x hex, 1024..65535)\n\
         /etc/siproxd.conf:2: sip_dscp: value 99 is out of range (expected 0..63)\n\
         /etc/siproxd.conf:3: no: no \"=\" on this line (expected \"no = value\")\n\
         /etc/siproxd.conf:4: no directive name before \"=\""
    );
}

#[test]
fn error_carries_the_warnings_too() {
    match config::parse_str("foo = 1\nrtp_dscp = 99\n", Path::new(FILE)) {
        Err(ConfigError::Invalid { errors, warnings }) => {
            assert_eq!(errors.0.len(), 1);
            assert_eq!(warnings.len(), 1);
            assert_eq!(errors.0.first().and_then(|d| d.line), Some(2));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn missing_equals_sign() {
    assert_eq!(
        error("rtp_port_low 7070\n"),
        "/etc/siproxd.conf:1: rtp_port_low: no \"=\" on this line (expected \"rtp_port_low = value\")"
    );
    assert_eq!(
        error("  ???\n"),
        "/etc/siproxd.conf:1: no \"=\" on this line (expected \"directive = value\")"
    );
}

#[test]
fn binary_garbage_and_invalid_utf8() {
    assert_eq!(
        error_bytes(b"ua_string = caf\xe9\n"),
        "/etc/siproxd.conf:1: ua_string: line is not valid UTF-8 text"
    );
    assert_eq!(
        error_bytes(b"ua_string = a\x00b\n"),
        "/etc/siproxd.conf:1: ua_string: control character U+0000 at column 14 (binary data?)"
    );
    assert_eq!(
        error_bytes(b"\x7fELF\x02\x01\x01\x00\x00\n"),
        "/etc/siproxd.conf:1: control character U+007F at column 1 (binary data?)"
    );
    // Latin-1 in a comment is fine, as upstream skips comments unread.
    assert!(config::parse_bytes(b"# Gr\xfc\xdfe\nrtp_dscp = 46\n", Path::new(FILE)).is_ok());
}

#[test]
fn very_long_line() {
    let text = format!("ua_string = {}\n", "x".repeat(2000));
    assert_eq!(
        error(&text),
        "/etc/siproxd.conf:1: ua_string: line is 2012 bytes long; the limit is 1023 (as in siproxd)"
    );
    let comment = format!("#{}\n", "x".repeat(5000));
    assert!(config::parse_str(&comment, Path::new(FILE)).is_ok());
}

#[test]
fn unbalanced_outbound_domain_triples() {
    let text = "outbound_domain_name = a\noutbound_domain_host = ha\noutbound_domain_port = 5060\noutbound_domain_name = b\noutbound_domain_port = 5060\n";
    assert_eq!(
        error(text),
        "/etc/siproxd.conf:1: outbound_domain_name: counts differ: 2 outbound_domain_name (lines 1, 4), \
         1 outbound_domain_host (line 2), 2 outbound_domain_port (lines 3, 5); \
         each outbound_domain_name needs one _host and one _port"
    );
    assert_eq!(
        error("outbound_domain_name = a\noutbound_domain_host = ha\noutbound_domain_port = http\n"),
        "/etc/siproxd.conf:3: outbound_domain_port: value \"http\" is not a port (expected 1..65535)"
    );
}

#[test]
fn unbalanced_mask_pairs() {
    assert_eq!(
        error("# masks\nmask_host = 10.0.1.1\n"),
        "/etc/siproxd.conf:2: mask_host: counts differ: 1 mask_host (line 2), 0 masked_host (none); \
         each mask_host needs one masked_host"
    );
}

#[test]
fn rtp_range_upside_down() {
    assert_eq!(
        error("rtp_port_low = 9000\nrtp_port_high = 8000\n"),
        "/etc/siproxd.conf:1: rtp_port_low: rtp_port_low 9000 (line 1) is above rtp_port_high 8000 (line 2); the range needs low <= high"
    );
    assert_eq!(
        error("rtp_port_low = 65535\n"),
        "/etc/siproxd.conf:1: rtp_port_low: odd value 65535 cannot be rounded up to an even port"
    );
}

#[test]
fn acl_errors_and_warnings() {
    assert_eq!(
        error("hosts_allow_reg = 192.168.1.0/33\n"),
        "/etc/siproxd.conf:1: hosts_allow_reg: entry \"192.168.1.0/33\": mask /33 is out of range (expected 0..32)"
    );
    assert_eq!(
        error("hosts_deny_sip = 10.0.0.0/8,999.1.2.3/8\n"),
        "/etc/siproxd.conf:1: hosts_deny_sip: entry \"999.1.2.3/8\" is not an address/mask (expected e.g. 192.168.1.0/24, fd00::/8 or host.example.org/32)"
    );
    assert_eq!(
        error("hosts_allow_sip = fd00::/129\n"),
        "/etc/siproxd.conf:1: hosts_allow_sip: entry \"fd00::/129\": mask /129 is out of range (expected 0..128)"
    );
    assert_eq!(
        warnings("hosts_allow_sip = 192.168.1.10,pbx.example.org/32\n"),
        ["/etc/siproxd.conf:1: hosts_allow_sip: entry \"192.168.1.10\" has no /mask: taken as a single host (/32); siproxd would have ignored the whole list"]
    );
    assert_eq!(
        warnings("hosts_allow_reg = 10.0.0.0/8,,192.168.0.0/16\n"),
        ["/etc/siproxd.conf:1: hosts_allow_reg: empty entry in \"10.0.0.0/8,,192.168.0.0/16\" ignored"]
    );
}

#[test]
fn unknown_directive_is_a_warning() {
    assert_eq!(
        warnings("listen_port = 5060\n"),
        ["/etc/siproxd.conf:1: listen_port: unknown directive, line ignored (as siproxd does)"]
    );
    assert_eq!(
        warnings("xrtp_timeout = 5\n"),
        ["/etc/siproxd.conf:1: xrtp_timeout: unknown directive, line ignored (as siproxd does); siproxd would have read it as \"rtp_timeout\""]
    );
}

#[test]
fn empty_value_is_a_warning_and_keeps_the_default() {
    let l = loaded("sip_listen_port =\nload_plugin =   \nplugin_stun_server = # none\n");
    assert_eq!(l.config.sip_listen_port, 5060);
    assert!(l.config.load_plugin.is_empty() && l.config.plugins.is_empty());
    let w: Vec<String> = l.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        [
            "/etc/siproxd.conf:1: sip_listen_port: empty value; the default is kept (as siproxd does)",
            "/etc/siproxd.conf:2: load_plugin: empty value; the default is kept (as siproxd does)",
            "/etc/siproxd.conf:3: plugin_stun_server: empty value; the line is ignored (as siproxd does)",
        ]
    );
}

#[test]
fn substring_reading_of_upstream_is_warned() {
    let l = loaded("proxy_auth_pwfile = /home/user/pw\n");
    assert_eq!(
        l.config.proxy_auth_pwfile.as_deref(),
        Some(Path::new("/home/user/pw"))
    );
    assert_eq!(
        l.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["/etc/siproxd.conf:1: proxy_auth_pwfile: siproxd would have read this line as \"user\" and lost it (no \"=\" after \"user\") (it finds directive names anywhere in the line); it is read here as \"proxy_auth_pwfile\""]
    );
    assert_eq!(
        warnings("ua_string = debug_port=1\n"),
        ["/etc/siproxd.conf:1: ua_string: siproxd would have read this line as \"debug_port\" (it finds directive names anywhere in the line); it is read here as \"ua_string\""]
    );
}

#[test]
fn leading_zero_is_warned_with_both_numbers() {
    let l = loaded("rtp_dscp = 046\n");
    assert_eq!(l.config.rtp_dscp, 46);
    assert_eq!(
        l.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["/etc/siproxd.conf:1: rtp_dscp: value \"046\" has a leading 0: siproxd reads it as octal (38), it is read here as decimal 46"]
    );
}

#[test]
fn hash_without_blank_is_kept_and_warned() {
    let l = loaded("proxy_auth_passwd = pa#ss  # the password\nua_string =#1\n");
    assert_eq!(l.config.proxy_auth_passwd.as_deref(), Some("pa#ss"));
    assert_eq!(l.config.ua_string.as_deref(), Some("#1"));
    assert_eq!(
        l.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "/etc/siproxd.conf:1: proxy_auth_passwd: value \"pa#ss\" contains \"#\": siproxd would have cut it to \"pa\"; it is kept whole here (a \"#\" starts a comment only after a blank)",
            "/etc/siproxd.conf:2: ua_string: value \"#1\" contains \"#\": siproxd would have cut it to \"\"; it is kept whole here (a \"#\" starts a comment only after a blank)",
        ]
    );
}

#[test]
fn inline_comment_after_blank() {
    let l = loaded("rtp_port_low = 7070  # LAN\nrtp_port_high = 7080\t# tab\n");
    assert_eq!(
        (l.config.rtp_port_low, l.config.rtp_port_high),
        (7070, 7080)
    );
    assert!(l.warnings.is_empty());
}

#[test]
fn plugin_key_diagnostics() {
    assert_eq!(
        warnings("plugin_stun_server_port = 3478\n"),
        ["/etc/siproxd.conf:1: plugin_stun_server_port: not a key of plugin_stun (its keys: plugin_stun_server, plugin_stun_port, plugin_stun_period); siproxd would have read this line as \"plugin_stun_server\""]
    );
    assert_eq!(
        warnings("plugin_stun_hostname = x\n"),
        ["/etc/siproxd.conf:1: plugin_stun_hostname: not a key of plugin_stun (its keys: plugin_stun_server, plugin_stun_port, plugin_stun_period); no plugin reads it"]
    );
    assert_eq!(
        warnings("plugin_fbox_anoncall_networks = 192.168.0.0/16\n"),
        ["/etc/siproxd.conf:1: plugin_fbox_anoncall_networks: no plugin reads this key; did you mean \"plugin_fix_fbox_anoncall_networks\"?"]
    );
    assert_eq!(
        warnings("plugin_stun_period = 60 # plugin_stun_server\n"),
        ["/etc/siproxd.conf:1: plugin_stun_period: siproxd would have read this line as \"plugin_stun_server\" and lost it (no \"=\" after \"plugin_stun_server\") (it finds directive names anywhere in the line); it is read here as \"plugin_stun_period\""]
    );
}

#[test]
fn tricky_lines_never_panic() {
    let inputs: [&[u8]; 12] = [
        b"=",
        b"==",
        b"=\n=\n",
        b"\xff\xfe\xfd",
        b"\r\n\r\n",
        b"rtp_port_low = \xf0\x9f\x98\x80",
        b"debug_level = -9223372036854775808",
        b"debug_level = 99999999999999999999999",
        b"outbound_domain_port = 5060",
        b"hosts_allow_reg = /",
        b"hosts_allow_reg = ,/,",
        b"\t\t#\n \t",
    ];
    for input in inputs {
        let _ = config::parse_bytes(input, Path::new(FILE)).map(|l| l.render_effective());
    }
    let mut noise = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..20000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        noise.push(b"= #\n\t x0a_-/.,\xc3"[(x >> 16) as usize % 15]);
    }
    let _ = config::parse_bytes(&noise, Path::new(FILE));
}

#[test]
fn too_large_and_unreadable_files() {
    let missing = Path::new("/nonexistent/siproxd.conf");
    match config::load(missing) {
        Err(e @ ConfigError::Unreadable { .. }) => assert!(
            e.to_string()
                .starts_with("/nonexistent/siproxd.conf: cannot read the configuration file: "),
            "{e}"
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn too_large_file_is_refused() {
    let path =
        std::env::temp_dir().join(format!("siproxd-config-large-{}.conf", std::process::id()));
    let big = "#".repeat(1024 * 1024 + 1);
    if let Err(e) = std::fs::write(&path, big) {
        panic!("cannot write {}: {e}", path.display());
    }
    let result = config::load(&path);
    let _ = std::fs::remove_file(&path);
    match result {
        Err(e @ ConfigError::TooLarge { .. }) => assert_eq!(
            e.to_string(),
            format!(
                "{}: configuration file is 1048577 bytes long; the limit is 1048576",
                path.display()
            )
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn relative_paths_without_jail_are_noted() {
    let l = loaded("pid_file = run/siproxd.pid\n");
    let notes: Vec<String> = l.notes.iter().map(ToString::to_string).collect();
    assert!(notes.contains(
        &"/etc/siproxd.conf:1: pid_file: relative path \"run/siproxd.pid\" is taken from the working directory".to_string()
    ));
    assert!(l.warnings.is_empty());
}
