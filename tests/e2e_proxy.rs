//! End-to-end: the real `siproxd` on a router between a LAN phone and WAN
//! peers (network namespaces, see tests/common/netns.rs), driven by sipp as
//! phone, provider and remote party. The scenarios in tests/sipp check what
//! crosses the router (masqueraded Contact, Via, SDP addresses) with regular
//! expressions; these tests add what sipp cannot check alone.

mod common;

use std::path::Path;

use common::netns::*;
use common::sipp::*;
use nix::sys::signal::Signal;

const ROUTER: &str = "192.0.2.1:5060";

/// The phone registers alice@example.test with the provider through the router.
fn register(lab: &Lab, dir: &Path) {
    let provider = Sipp::new(&lab.wan, "provider_registrar.xml", PROVIDER, 5060).start(lab, dir);
    Sipp::new(&lab.lan, "phone_register.xml", LAN_PHONE, 5060)
        .via(ROUTER)
        .to(&format!("{PROVIDER}:5060"))
        .run(lab, dir);
    finish(provider, dir, "provider_registrar");
}

/// bob (WAN) calls alice at the router's WAN address; the phone answers.
fn incoming_call(lab: &Lab, dir: &Path, hold_ms: u32) {
    let phone = Sipp::new(&lab.lan, "phone_answer.xml", LAN_PHONE, 5060).start(lab, dir);
    Sipp::new(&lab.wan, "remote_call.xml", REMOTE, 5062)
        .to(&format!("{ROUTER_WAN}:5060"))
        .arg("-d")
        .arg(&hold_ms.to_string())
        .run(lab, dir);
    finish(phone, dir, "phone_answer");
}

/// alice calls bob on the WAN through the router.
fn outgoing_call(lab: &Lab, dir: &Path, hold_ms: u32) {
    let bob = Sipp::new(&lab.wan, "remote_answer.xml", REMOTE, 5060).start(lab, dir);
    Sipp::new(&lab.lan, "phone_call.xml", LAN_PHONE, 5060)
        .via(ROUTER)
        .to(&format!("{REMOTE}:5060"))
        .arg("-d")
        .arg(&hold_ms.to_string())
        .run(lab, dir);
    finish(bob, dir, "remote_answer");
}

/// The first message of `kind` ("sent" or "received") starting with
/// `start` in a sipp message log.
fn message(log: &str, kind: &str, start: &str) -> String {
    log.split("----------------------------------------------- ")
        .find(|block| {
            block.contains(&format!("message {kind}")) && block.contains(&format!("\n\n{start}"))
        })
        .and_then(|block| block.split_once("\n\n"))
        .map(|(_, msg)| msg.trim_end().to_string())
        .unwrap_or_else(|| panic!("no {kind} {start:?} in:\n{log}"))
}

/// Header lines by name, in order, as they appear on the wire.
fn header_lines(msg: &str) -> Vec<&str> {
    msg.split("\r\n\r\n")
        .next()
        .unwrap_or(msg)
        .lines()
        .skip(1)
        .collect()
}

#[test]
fn phone_registers_and_calls_both_ways_over_udp() {
    if !can_run("phone_registers_and_calls_both_ways_over_udp") {
        return;
    }
    let mut lab = Lab::new();
    let scratch = Scratch::new("udp");
    let conf = router_config(&scratch, "");
    start_daemon(&mut lab, &scratch, &conf);

    register(&lab, &scratch.0);
    incoming_call(&lab, &scratch.0, 200);
    outgoing_call(&lab, &scratch.0, 200);

    // What the proxy does not deliberately rewrite crosses byte for byte:
    // every header line of the phone's INVITE arrives unchanged, in the same
    // order, except Via (one added), Max-Forwards (decremented), Contact
    // (masqueraded) and Content-Length (the SDP changed).
    let sent = message(&sipp_messages(&scratch.0, "phone_call"), "sent", "INVITE ");
    let got = message(
        &sipp_messages(&scratch.0, "remote_answer"),
        "received",
        "INVITE ",
    );
    let rewritten = ["Via:", "Max-Forwards:", "Contact:", "Content-Length:"];
    let keep = |lines: Vec<&str>| -> Vec<String> {
        lines
            .into_iter()
            .filter(|l| !rewritten.iter().any(|r| l.starts_with(r)))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(keep(header_lines(&got)), keep(header_lines(&sent)));
    assert!(got.contains("\r\nMax-Forwards: 69\r\n"), "{got}");
    assert_eq!(
        got.lines().next(),
        sent.lines().next(),
        "Request-URI untouched"
    );
}

#[test]
fn upstreams_own_sipp_scenarios_pass_through() {
    if !can_run("upstreams_own_sipp_scenarios_pass_through") {
        return;
    }
    let mut lab = Lab::new();
    let scratch = Scratch::new("compat");
    let conf = router_config(&scratch, "");
    start_daemon(&mut lab, &scratch, &conf);
    let compat = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/compat");
    let uas = Sipp::new(&lab.wan, &format!("{compat}/sipp_uas.xml"), PROVIDER, 5060)
        .start(&lab, &scratch.0);
    Sipp::new(&lab.lan, &format!("{compat}/sipp_uac.xml"), LAN_PHONE, 5060)
        .via(ROUTER)
        .to(&format!("{PROVIDER}:5060"))
        .arg("-d")
        .arg("500")
        .run(&lab, &scratch.0);
    finish(uas, &scratch.0, "sipp_uas");
}

#[test]
fn a_registration_survives_a_restart() {
    if !can_run("a_registration_survives_a_restart") {
        return;
    }
    let mut lab = Lab::new();
    let scratch = Scratch::new("restart");
    let conf = router_config(&scratch, "");
    let first = start_daemon(&mut lab, &scratch, &conf);
    register(&lab, &scratch.0);
    assert_eq!(lab.stop(first, Signal::SIGTERM), Some(0));
    let saved = std::fs::read_to_string(scratch.path("siproxd_registrations")).unwrap();
    assert!(saved.starts_with("****:1:"), "{saved}");
    assert!(saved.contains("\nsip:alice@198.51.100.1\n"), "{saved}");

    // A new daemon reads the file and routes bob's call to alice at once.
    let _ = std::fs::rename(scratch.path("daemon.log"), scratch.path("daemon-1.log"));
    start_daemon(&mut lab, &scratch, &conf);
    wait_for_log(&scratch.path("daemon.log"), "1 registrations restored");
    incoming_call(&lab, &scratch.0, 200);
}

#[test]
fn sighup_in_the_middle_of_a_call_keeps_the_call() {
    if !can_run("sighup_in_the_middle_of_a_call_keeps_the_call") {
        return;
    }
    let mut lab = Lab::new();
    let scratch = Scratch::new("hup");
    let conf = router_config(&scratch, "");
    let daemon = start_daemon(&mut lab, &scratch, &conf);
    register(&lab, &scratch.0);
    // The call lasts 3 s; the HUP comes after 1.5 s, while it is up.
    let hup = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon as i32), Signal::SIGHUP).unwrap();
    });
    outgoing_call(&lab, &scratch.0, 3000);
    hup.join().unwrap();
    let log = wait_for_log(&scratch.path("daemon.log"), "reload: configuration re-read");
    assert!(!log.contains("panicked"), "{log}");
}

/// The C example plugin, built from plugins/c-example with `cc`, is loaded
/// by the real daemon from its plugindir under the `.la` name existing
/// configurations use, and acts on a call: it logs the request at
/// PRE_PROXY and adds its header at POST_PROXY, which the remote party sees.
#[test]
fn a_c_plugin_acts_on_a_call() {
    if !can_run("a_c_plugin_acts_on_a_call") {
        return;
    }
    let mut lab = Lab::new();
    let scratch = Scratch::new("cplugin");
    let root = env!("CARGO_MANIFEST_DIR");
    let status = std::process::Command::new("cc")
        .args([
            "-std=c99", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", "-I",
        ])
        .arg(format!("{root}/plugin-api/include"))
        .arg(format!("{root}/plugins/c-example/plugin_c_example.c"))
        .arg("-o")
        .arg(scratch.path("plugin_c_example.so"))
        .status()
        .unwrap();
    assert!(status.success(), "cc plugin_c_example.c failed");
    let extra = format!(
        "plugindir = {}/\nload_plugin = plugin_c_example.la\nplugin_c_example_value = tagged-by-c\n",
        scratch.0.display()
    );
    let conf = router_config(&scratch, &extra);
    start_daemon(&mut lab, &scratch, &conf);
    register(&lab, &scratch.0);
    outgoing_call(&lab, &scratch.0, 200);

    let got = message(
        &sipp_messages(&scratch.0, "remote_answer"),
        "received",
        "INVITE ",
    );
    assert!(got.contains("\r\nX-C-Example: tagged-by-c\r\n"), "{got}");
    let log = std::fs::read_to_string(scratch.path("daemon.log")).unwrap();
    assert!(log.contains("plugin plugin_c_example loaded from"), "{log}");
    assert!(
        log.contains("INVITE sip:bob@198.51.100.3:5060"),
        "PRE_PROXY log line missing:\n{log}"
    );
}
