//! The real `siproxd` binary, as an admin or an init script calls it: exit
//! statuses, what reaches the terminal, `-t` on upstream's own example, and
//! malformed configurations that must name file, line and directive.

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_siproxd");

fn siproxd(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn upstream_example() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/compat/siproxd.conf.example"
    )
    .to_string()
}

#[test]
fn check_lists_upstreams_example_and_exits_zero() {
    let out = siproxd(&["-t", "-c", &upstream_example()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let example = upstream_example();
    for line in [
        format!("rtp_port_low = 7070  # {example}:131"),
        format!("sip_listen_port = 5060  # {example}:59"),
        format!("user = nobody  # {example}:81"),
        format!("load_plugin = plugin_logcall.la  # {example}:"),
        format!("plugin_shortdial_entry = 17474743246  # {example}:"),
        "configuration is usable".to_string(),
    ] {
        assert!(stdout.contains(&line), "missing {line:?} in:\n{stdout}");
    }
}

#[test]
fn check_shows_command_line_origins() {
    let out = siproxd(&[
        "-t",
        "-d0x10",
        "-p",
        "/tmp/x.pid",
        "-f",
        "-c",
        &upstream_example(),
    ]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("debug_level = 0x00000010  # command line"),
        "{stdout}"
    );
    assert!(
        stdout.contains("pid_file = /tmp/x.pid  # command line"),
        "{stdout}"
    );
    assert!(stdout.contains("daemonize = 0  # command line"), "{stdout}");
}

#[test]
fn check_fails_without_interfaces() {
    let dir = std::env::temp_dir().join(format!("spx-noif-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("siproxd.conf");
    std::fs::write(&conf, "sip_listen_port = 5060\n").unwrap();
    let out = siproxd(&["-t", "-c", conf.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("error: if_inbound is not set: siproxd cannot tell LAN from WAN"),
        "{stdout}"
    );
    assert!(stdout.contains("configuration is NOT usable"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_version_and_unknown_options() {
    let help = siproxd(&["-h"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(
        text(&help.stderr).contains("-c, --config <cfgfile>"),
        "usage goes to stderr, as upstream"
    );
    let version = siproxd(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert_eq!(
        text(&version.stdout),
        format!("siproxd-rs {}\n", env!("CARGO_PKG_VERSION"))
    );
    let unknown = siproxd(&["-x"]);
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = text(&unknown.stderr);
    assert!(
        stderr.starts_with("siproxd: unknown option -x\n"),
        "{stderr}"
    );
    assert!(stderr.contains("Usage: siproxd"), "{stderr}");
    let missing = siproxd(&["-c"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn missing_configuration_exits_one_and_says_why() {
    let out = siproxd(&["-c", "/nonexistent/siproxd.conf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/nonexistent/siproxd.conf: cannot read the configuration file"),
        "{}",
        text(&out.stderr)
    );
}

/// Ten kinds of mistakes; each must name file:line and the directive, and
/// the daemon must exit 1 without a panic.
#[test]
fn malformed_configurations_name_file_line_and_directive() {
    let dir = std::env::temp_dir().join(format!("spx-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases: [(&str, &str); 10] = [
        ("rtp_port_low = 70x0\n", ":1: rtp_port_low:"),
        (
            "if_inbound = lo\nsip_listen_port = 99999\n",
            ":2: sip_listen_port:",
        ),
        ("rtp_dscp = 64\n", ":1: rtp_dscp:"),
        ("silence_log = 0xZZ\n", ":1: silence_log:"),
        ("rtp_proxy_enable = 2\n", ":1: rtp_proxy_enable:"),
        ("hosts_allow_sip = 10.0.0.0/40\n", ":1: hosts_allow_sip:"),
        (
            "outbound_domain_name = a.test\noutbound_domain_host = b.test\n",
            "outbound_domain_",
        ),
        ("mask_host = a.test\n", "mask_host"),
        ("rtp_port_low = 8000\nrtp_port_high = 7000\n", "rtp_port_"),
        ("rtp_timeout = -5\n", ":1: rtp_timeout:"),
    ];
    for (i, (body, needle)) in cases.iter().enumerate() {
        let conf: PathBuf = dir.join(format!("bad{i}.conf"));
        std::fs::write(&conf, body).unwrap();
        let out = siproxd(&["-t", "-c", conf.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "case {i}: {body:?}\n{stderr}");
        assert!(!stderr.contains("panicked"), "case {i}: {stderr}");
        let file = conf.display().to_string();
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&file) && l.contains(needle)),
            "case {i}: {body:?}: no line with {file} and {needle:?} in:\n{stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
