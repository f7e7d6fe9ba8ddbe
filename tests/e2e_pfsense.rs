//! The router GUIs as they are: pfSense's package (net/pfSense-pkg-siproxd)
//! and OPNsense's plugin (os-siproxd) drive the real daemon here exactly the
//! way they drive siproxd 0.8, in the network-namespace lab of
//! tests/common/netns.rs with sipp as phone and provider.
//!
//! pfSense (`siproxd.inc`, `sync_package_siproxd`): the configuration is
//! written line by line as that function writes it, GUI defaults, both
//! "expedited forwarding" boxes ticked, interfaces given as IP literals (the
//! `is_ipaddr` branch), `chrootjail = /var/siproxd/` with relative
//! `pid_file` and `registration_file`, `autosave_registrations = 10`,
//! `user = nobody`, `daemonize = 1`, `load_plugin=plugin_logcall.la`. The
//! only substitution: the jail is a scratch directory instead of
//! /var/siproxd/ (owned by nobody, as `siproxd_create_chroot` makes it).
//! It is started as the package's rc script does (`siproxd -c <conf> &`),
//! stopped as it does (`killall -9 siproxd`: SIGKILL, here to the pid of
//! the daemon we started, never by name), and started again; the
//! registration saved by the 10 s autosave must survive. The registration
//! file is read with the logic of `siproxd_registered_phones.php`.
//!
//! OPNsense (`templates/OPNsense/Siproxd/siproxd.conf`): the template's
//! output with its quirks (the high RTP port written as a second
//! `rtp_port_low`, `plugin_stun_server_*` keys, the misnamed fbox key,
//! absolute pid and registration paths), started as the rc.d script of our
//! port starts it (`siproxd -c <conf> -p <pidfile>`) and stopped with
//! SIGTERM as rc.subr does.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::netns::*;
use common::sipp::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const ROUTER: &str = "192.0.2.1:5060";

/// A daemonized siproxd we started; SIGKILLed on drop (a failing test must
/// not leave it running in a deleted namespace).
struct Daemon {
    pid: i32,
}

impl Daemon {
    fn alive(&self) -> bool {
        Path::new(&format!("/proc/{}", self.pid)).exists()
            && !std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
                .unwrap_or_default()
                .contains(") Z ")
    }

    /// What pfSense's `killall -9 siproxd` does to it.
    fn kill9(&self) {
        kill(Pid::from_raw(self.pid), Signal::SIGKILL).unwrap();
        wait_until("the killed daemon is gone", Duration::from_secs(5), || {
            !self.alive()
        });
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.alive() {
            let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
        }
    }
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Starts the daemon in the router namespace the way a router's script
/// does: the command returns once the daemon has detached; its pid is
/// taken from the pid file it wrote.
fn start_detached(lab: &Lab, args: &[&str], pid_file: &Path) -> Daemon {
    let mut argv = vec![BIN];
    argv.extend_from_slice(args);
    let started = Instant::now();
    let out = lab.command(&lab.router, &argv).output().unwrap();
    assert!(
        out.status.success(),
        "{argv:?} exited with {}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "start did not return promptly"
    );
    let text = std::fs::read_to_string(pid_file)
        .unwrap_or_else(|e| panic!("pid file {}: {e}", pid_file.display()));
    assert!(text.ends_with('\n'), "pid file {text:?}");
    let daemon = Daemon {
        pid: text.trim().parse().unwrap(),
    };
    assert!(
        daemon.alive(),
        "pid {} from {text:?} is not running",
        daemon.pid
    );
    // GUIs and rc.subr find it by name.
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", daemon.pid)).unwrap();
    assert_eq!(comm.trim(), "siproxd");
    daemon
}

/// The phone registers alice@example.test with the provider through the
/// router (as tests/e2e_proxy.rs).
fn register(lab: &Lab, dir: &Path) {
    let provider = Sipp::new(&lab.wan, "provider_registrar.xml", PROVIDER, 5060).start(lab, dir);
    Sipp::new(&lab.lan, "phone_register.xml", LAN_PHONE, 5060)
        .via(ROUTER)
        .to(&format!("{PROVIDER}:5060"))
        .run(lab, dir);
    finish(provider, dir, "provider_registrar");
}

/// bob on the WAN calls alice at the router's WAN address; only a daemon
/// that knows alice's registration can route it to the phone.
fn incoming_call(lab: &Lab, dir: &Path) {
    let phone = Sipp::new(&lab.lan, "phone_answer.xml", LAN_PHONE, 5060).start(lab, dir);
    Sipp::new(&lab.wan, "remote_call.xml", REMOTE, 5062)
        .to(&format!("{ROUTER_WAN}:5060"))
        .arg("-d")
        .arg("200")
        .run(lab, dir);
    finish(phone, dir, "phone_answer");
}

// ---------------------------------------------------------------------------
// pfSense

/// The configuration exactly as `sync_package_siproxd()` writes it for an
/// enabled proxy with the GUI's defaults, interfaces given as addresses,
/// and both DSCP boxes ticked. `jail` stands for "/var/siproxd/".
fn pfsense_conf(jail: &Path) -> String {
    let jail = format!("{}/", jail.display());
    let mut c = String::new();
    // fwrite() calls in the order of siproxd.inc.
    c += "# This file was automatically generated by the pfSense\n";
    c += "# package management system.\n\n";
    c += &format!("if_inbound = {ROUTER_LAN}\n");
    c += &format!("if_outbound = {ROUTER_WAN}\n");
    c += "sip_listen_port = 5060\n";
    c += "daemonize = 1\n";
    c += "silence_log = 0\n";
    c += "user = nobody\n";
    c += &format!("chrootjail = {jail}\n");
    c += "registration_file = siproxd_registrations\n";
    c += "autosave_registrations = 10\n";
    c += "pid_file = siproxd.pid\n";
    c += "rtp_proxy_enable = 1\n";
    c += "rtp_port_low = 7070\n";
    c += "rtp_port_high = 7079\n";
    c += "rtp_timeout = 300\n";
    c += "default_expires = 600\n";
    c += "debug_level = 0x00000000\n";
    c += "rtp_dscp = 46\n";
    c += "sip_dscp = 26\n";
    c += "plugindir=/usr/local/lib/siproxd/\n";
    c += "load_plugin=plugin_logcall.la\n";
    c
}

/// One URI line as the Registered Phones page splits it:
/// `list($type, $user_host, $port_tags) = explode(":", $line)`, then
/// `explode("@", $user_host)` and `explode(";", $port_tags)`. A part PHP's
/// `list()` finds no element for is null, shown as `None`.
#[derive(Debug, PartialEq, Eq)]
struct PhpUri {
    kind: Option<String>,
    user: Option<String>,
    host: Option<String>,
    port: Option<String>,
}

/// PHP's `list($a, $b, ...) = explode($sep, $s)`: the first `n` pieces,
/// missing ones null. `explode` of null is `[""]`.
fn php_list(s: Option<&str>, sep: char, n: usize) -> Vec<Option<String>> {
    let parts: Vec<&str> = s.unwrap_or("").split(sep).collect();
    (0..n)
        .map(|i| parts.get(i).map(|p| p.to_string()))
        .collect()
}

fn php_uri(line: Option<&str>) -> PhpUri {
    let l = php_list(line, ':', 3);
    let uh = php_list(l[1].as_deref(), '@', 2);
    let pt = php_list(l[2].as_deref(), ';', 2);
    PhpUri {
        kind: l[0].clone(),
        user: uh[0].clone(),
        host: uh[1].clone(),
        port: pt[0].clone(),
    }
}

#[derive(Debug, PartialEq, Eq)]
struct PhpPhone {
    expires: String,
    real: PhpUri,
    nat: PhpUri,
    registered: PhpUri,
}

/// `siproxd_registered_phones.php`: explode the file on "\n"; for each
/// line, `list($stars, $active, $expires) = explode(":", $line)`; when
/// `$active == "1"` the next three lines are the real, NAT and registered
/// URIs (the loop index moves past them).
fn registered_phones(text: &str) -> Vec<PhpPhone> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut phones = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let head = php_list(Some(lines[i]), ':', 3);
        if head[1].as_deref() == Some("1") {
            let mut next = || {
                i += 1;
                lines.get(i).copied()
            };
            let real = php_uri(next());
            let nat = php_uri(next());
            let registered = php_uri(next());
            phones.push(PhpPhone {
                expires: head[2].clone().unwrap_or_default(),
                real,
                nat,
                registered,
            });
        }
        i += 1;
    }
    phones
}

fn uri(kind: &str, user: &str, host: &str, port: Option<&str>) -> PhpUri {
    PhpUri {
        kind: Some(kind.into()),
        user: Some(user.into()),
        host: Some(host.into()),
        port: port.map(str::to_string),
    }
}

/// What the page shows for alice, registered through the lab's router.
fn assert_alice_on_the_page(text: &str, registered_at: i64) {
    let phones = registered_phones(text);
    assert_eq!(phones.len(), 1, "active phones in:\n{text}");
    let p = &phones[0];
    assert_eq!(p.real, uri("sip", "alice", LAN_PHONE, Some("5060")));
    // No port in the masqueraded and registered URIs: `$port_tags` is null,
    // `explode(";", null)` gives [""], and the page shows "" as 5060.
    assert_eq!(p.nat, uri("sip", "alice", ROUTER_WAN, Some("")));
    assert_eq!(p.registered, uri("sip", "alice", "example.test", Some("")));
    // `date("m/d/Y h:i:sa", $expires)`: absolute epoch seconds, 600 s on.
    let expires: i64 = p.expires.parse().unwrap_or_else(|_| panic!("{p:?}"));
    assert!(
        (registered_at + 590..=now() + 600).contains(&expires),
        "expires {expires}, registered at {registered_at}"
    );
}

fn nobody() -> (u32, u32) {
    let user = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    (user.uid.as_raw(), user.gid.as_raw())
}

#[test]
fn page_parser_follows_the_php_logic() {
    // The parser above must reproduce PHP's reading of upstream's format,
    // including the quirks: a URI without port gives port "" (list() leaves
    // $port_tags null, explode() of null is [""]), tags are cut off, and the
    // trailing empty line is no phone.
    let text = "****:1:1767225600\n\
                sip:abcd@192.168.1.10:5062;line=k3j2\n\
                sip:1001@203.0.113.5\n\
                sip:1001@sip.provider.net\n\
                ****:0:0\n";
    let phones = registered_phones(text);
    assert_eq!(
        phones,
        vec![PhpPhone {
            expires: "1767225600".into(),
            real: uri("sip", "abcd", "192.168.1.10", Some("5062")),
            nat: uri("sip", "1001", "203.0.113.5", Some("")),
            registered: uri("sip", "1001", "sip.provider.net", Some("")),
        }]
    );
    assert!(registered_phones("****:0:0\n****:0:0\n").is_empty());
    assert!(registered_phones("").is_empty());
}

#[test]
fn pfsense_package_drives_the_daemon() {
    if !can_run("pfsense_package_drives_the_daemon") {
        return;
    }
    let lab = Lab::new();
    let scratch = Scratch::new("pfsense");
    // siproxd_create_chroot(): the jail, owned by nobody.
    let jail = scratch.path("var-siproxd");
    std::fs::create_dir(&jail).unwrap();
    let (uid, gid) = nobody();
    nix::unistd::chown(
        &jail,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .unwrap();
    let conf = scratch.path("siproxd.conf");
    std::fs::write(&conf, pfsense_conf(&jail)).unwrap();
    let conf = conf.to_str().unwrap();
    let pid_file = jail.join("siproxd.pid");
    let regs = jail.join("siproxd_registrations");

    // rc script: "/usr/local/sbin/siproxd -c /usr/local/etc/siproxd.conf &"
    let first = start_detached(&lab, &["-c", conf], &pid_file);
    // user = nobody, fully dropped; root is the jail.
    let status = std::fs::read_to_string(format!("/proc/{}/status", first.pid)).unwrap();
    let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uids.split_whitespace().skip(1).collect::<Vec<_>>(),
        vec![uid.to_string(); 4],
        "{uids}"
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{}/root", first.pid)).unwrap(),
        jail
    );

    let registered_at = now();
    register(&lab, &scratch.0);

    // autosave_registrations = 10: the registration reaches the file in
    // the jail within 10 s (plus a tick), while the daemon keeps running.
    let saved_by = Instant::now();
    wait_until(
        "autosave wrote the registration",
        Duration::from_secs(13),
        || {
            std::fs::read_to_string(&regs)
                .map(|t| !registered_phones(&t).is_empty())
                .unwrap_or(false)
        },
    );
    eprintln!(
        "autosave wrote the registration {:.1} s after it was made",
        saved_by.elapsed().as_secs_f64()
    );
    assert!(first.alive());
    let meta = std::fs::metadata(&regs).unwrap();
    assert_eq!(meta.uid(), uid, "registration file written as nobody");

    // Settings saved in the GUI: stop_service() = "killall -9 siproxd".
    first.kill9();
    let text = std::fs::read_to_string(&regs).unwrap();
    assert_alice_on_the_page(&text, registered_at);

    // start_service(): a fresh daemon over the stale pid file reads the
    // registrations back and routes bob's call to alice at once.
    std::thread::sleep(Duration::from_millis(200));
    let second = start_detached(&lab, &["-c", conf], &pid_file);
    assert_ne!(second.pid, first.pid);
    incoming_call(&lab, &scratch.0);
    assert!(second.alive());
    second.kill9();
    let text = std::fs::read_to_string(&regs).unwrap();
    assert_alice_on_the_page(&text, registered_at);
}

// ---------------------------------------------------------------------------
// OPNsense

struct OpnPaths {
    conf: PathBuf,
    pid_file: PathBuf,
    regs: PathBuf,
}

/// The template's output for an enabled proxy on lan0/wan0 with the GUI's
/// usual values, one outbound domain, and the STUN and fbox plugins ticked.
/// `root` stands for "/": the template's /var/lib/siproxd and
/// /var/run/siproxd live under it (made by setup.sh, owned by nobody).
fn opnsense_conf(root: &Path) -> OpnPaths {
    let run = root.join("var/run/siproxd");
    let lib = root.join("var/lib/siproxd");
    for dir in [&run, &lib] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let paths = OpnPaths {
        conf: root.join("siproxd.conf"),
        pid_file: run.join("siproxd.pid"),
        regs: lib.join("siproxd_registrations"),
    };
    let text = format!(
        "\n\
         if_inbound  = lan0\n\
         if_outbound = wan0\n\
         \n\
         \n\
         #hosts_allow_reg = 192.168.1.8/24\n\
         #hosts_allow_sip = 123.45.0.0/16,123.46.0.0/16\n\
         #hosts_deny_sip  = 10.0.0.0/8,11.0.0.0/8\n\
         \n\
         sip_listen_port = 5060\n\
         \n\
         daemonize = 1\n\
         silence_log = 3\n\
         registration_file = {regs}\n\
         autosave_registrations = 300\n\
         pid_file = {pid}\n\
         rtp_proxy_enable = 1\n\
         \n\
         rtp_port_low  = 7070\n\
         rtp_port_low  = 7089\n\
         rtp_timeout = 300\n\
         rtp_dscp = 46\n\
         rtp_input_dejitter  = 0\n\
         rtp_output_dejitter  = 0\n\
         tcp_timeout = 600\n\
         \n\
         debug_level =      0x00000000\n\
         debug_port = 0\n\
         \n\
         \n\
         outbound_domain_name = sip.example.net\n\
         outbound_domain_host = proxy.example.net\n\
         outbound_domain_port = 5060\n\
         \n\
         \n\
         plugindir=/usr/local/lib/siproxd/\n\
         \n\
         load_plugin=plugin_fix_fbox_anoncall.la\n\
         plugin_fbox_anoncall_networks = 192.168.0.0/16\n\
         \n\
         load_plugin=plugin_stun.la\n\
         plugin_stun_server_host = stun.example.org\n\
         plugin_stun_server_port = 3478\n\
         plugin_stun_server_period = 300\n\
         \n\
         \n",
        regs = paths.regs.display(),
        pid = paths.pid_file.display(),
    );
    std::fs::write(&paths.conf, text).unwrap();
    paths
}

#[test]
fn opnsense_template_is_read_with_its_quirks_and_runs() {
    if !can_run("opnsense_template_is_read_with_its_quirks_and_runs") {
        return;
    }
    let lab = Lab::new();
    let scratch = Scratch::new("opnsense");
    let paths = opnsense_conf(&scratch.0);
    let conf = paths.conf.to_str().unwrap();

    // How the daemon reads the quirks (siproxd -t, in the router namespace
    // where lan0 and wan0 exist).
    let out = lab
        .command(&lab.router, &[BIN, "-t", "-c", conf])
        .output()
        .unwrap();
    let check =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{check}");
    let value = |key: &str| -> String {
        check
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in:\n{check}"))
            .split("  #")
            .next()
            .unwrap()
            .to_string()
    };
    // The duplicated rtp_port_low is read as the range it was meant to be.
    assert_eq!(value("rtp_port_low"), "rtp_port_low = 7070");
    assert_eq!(value("rtp_port_high"), "rtp_port_high = 7088");
    assert_eq!(value("silence_log"), "silence_log = 3");
    assert_eq!(
        value("outbound_domain_host"),
        "outbound_domain_host = proxy.example.net"
    );
    for key in [
        "plugin_stun_server_host",
        "plugin_stun_server_port",
        "plugin_stun_server_period",
    ] {
        assert!(
            check.lines().any(|l| l.starts_with("warning:")
                && l.contains(&format!(": {key}: "))
                && l.contains("siproxd would have read this line as \"plugin_stun_server\"")),
            "no warning for {key}:\n{check}"
        );
    }
    assert!(
        check.lines().any(|l| l.starts_with("warning:")
            && l.contains("plugin_fbox_anoncall_networks")
            && l.contains("plugin_fix_fbox_anoncall_networks")),
        "{check}"
    );
    assert!(
        check.contains("error(s): configuration is usable"),
        "{check}"
    );

    // rc.d: "siproxd -c <siproxd_config> -p <siproxd_pidfile>", daemonizing.
    let pid_file = paths.pid_file.to_str().unwrap();
    let daemon = start_detached(&lab, &["-c", conf, "-p", pid_file], &paths.pid_file);
    let registered_at = now();
    register(&lab, &scratch.0);
    incoming_call(&lab, &scratch.0);

    // rc.subr stop: SIGTERM to the pid file's process; the registrations
    // are saved and the pid file removed.
    kill(Pid::from_raw(daemon.pid), Signal::SIGTERM).unwrap();
    wait_until("the daemon stopped", Duration::from_secs(5), || {
        !daemon.alive()
    });
    assert!(!paths.pid_file.exists(), "pid file left behind");
    // OPNsense's "registrations" action cats this file.
    let text = std::fs::read_to_string(&paths.regs).unwrap();
    assert!(text.starts_with("****:1:"), "{text}");
    assert_alice_on_the_page(&text, registered_at);
    drop(lab);
}
