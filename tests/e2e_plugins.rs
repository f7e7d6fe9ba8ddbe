//! End-to-end: upstream's plugins, as our Rust cdylibs, loaded by the real
//! daemon from a plugindir under the `.la` names existing configurations
//! use, acting on real calls through the router (network namespaces, sipp).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::media::udp_in;
use common::netns::*;
use common::sipp::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const ROUTER: &str = "192.0.2.1:5060";

/// plugin_logcall and plugin_defaulttarget, built once into their own
/// target directory (the outer cargo holds the lock on ours).
fn built() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugins-target");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--offline", "--target-dir"])
            .arg(&target)
            .args(["-p", "plugin_logcall", "-p", "plugin_defaulttarget"])
            .current_dir(ROOT)
            .env("CARGO_PROFILE_DEV_DEBUG", "0")
            .status()
            .unwrap();
        assert!(status.success(), "building the plugins failed");
        target.join("debug")
    })
}

/// Installs `names` into the scratch directory as plugin_<name>.so.
fn install(scratch: &Scratch, names: &[&str]) {
    for name in names {
        let from = built().join(format!("libplugin_{name}.so"));
        std::fs::copy(&from, scratch.path(&format!("plugin_{name}.so")))
            .unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
}

#[test]
fn logcall_and_defaulttarget_act_on_real_calls() {
    if !can_run("logcall_and_defaulttarget_act_on_real_calls") {
        return;
    }
    let mut lab = Lab::new();
    let scratch = Scratch::new("plugins");
    install(&scratch, &["logcall", "defaulttarget"]);
    let extra = format!(
        "plugindir = {}/\n\
         load_plugin = plugin_logcall.la\n\
         load_plugin = plugin_defaulttarget.la\n\
         plugin_defaulttarget_target = sip:operator@198.51.100.3:5060\n\
         plugin_defaulttarget_log = 1\n",
        scratch.0.display()
    );
    let conf = router_config(&scratch, &extra);
    start_daemon(&mut lab, &scratch, &conf);

    // alice registers and calls bob: a known phone, so defaulttarget must
    // leave the call alone, and logcall logs it as outgoing.
    let provider =
        Sipp::new(&lab.wan, "provider_registrar.xml", PROVIDER, 5060).start(&lab, &scratch.0);
    Sipp::new(&lab.lan, "phone_register.xml", LAN_PHONE, 5060)
        .via(ROUTER)
        .to(&format!("{PROVIDER}:5060"))
        .run(&lab, &scratch.0);
    finish(provider, &scratch.0, "provider_registrar");
    let bob = Sipp::new(&lab.wan, "remote_answer.xml", REMOTE, 5060).start(&lab, &scratch.0);
    Sipp::new(&lab.lan, "phone_call.xml", LAN_PHONE, 5060)
        .via(ROUTER)
        .to(&format!("{REMOTE}:5060"))
        .arg("-d")
        .arg("200")
        .run(&lab, &scratch.0);
    finish(bob, &scratch.0, "remote_answer");
    let log = wait_for_log(
        &scratch.path("daemon.log"),
        "Outgoing (INVITE) Call: alice@example.test -> bob@198.51.100.3",
    );
    assert!(
        log.contains("plugin plugin_defaulttarget loaded from"),
        "{log}"
    );

    // An INVITE from the WAN for nobody registered: defaulttarget answers
    // 302 with its target, to the caller's Via address.
    let caller = udp_in(&lab.wan, "198.51.100.3:5099");
    let invite = "INVITE sip:carol@198.51.100.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 198.51.100.3:5099;branch=z9hG4bK-dt1\r\n\
        Max-Forwards: 70\r\n\
        From: <sip:bob@198.51.100.3>;tag=dt\r\n\
        To: <sip:carol@198.51.100.1>\r\n\
        Call-ID: dt1@198.51.100.3\r\n\
        CSeq: 1 INVITE\r\n\
        Contact: <sip:bob@198.51.100.3:5099>\r\n\
        Content-Length: 0\r\n\r\n";
    caller
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    caller
        .send_to(invite.as_bytes(), "198.51.100.1:5060")
        .unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = caller.recv_from(&mut buf).unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(answer.starts_with("SIP/2.0 302 "), "{answer}");
    assert!(
        answer.contains("\r\nContact: <sip:operator@198.51.100.3:5060>"),
        "{answer}"
    );
    assert!(
        answer.contains("\r\nCall-ID: dt1@198.51.100.3\r\n"),
        "{answer}"
    );
    wait_for_log(&scratch.path("daemon.log"), "Unknown Target");
}
