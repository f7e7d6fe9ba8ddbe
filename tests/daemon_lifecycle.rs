//! End-to-end: the real `siproxd` binary started as root the way router
//! packages start it, daemonized with a `user`, then driven with signals.
//! What an admin checks: the pid file, who the process runs as, that a
//! second start is refused, that HUP and USR1 do not kill it, and that TERM
//! ends it cleanly.
//!
//! The daemon logs to syslog once detached; most tests read its log through
//! `debug_port` (bound to loopback), which receives every INFO line, and one
//! reads syslog itself through a /dev/log of its own.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_siproxd");

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// A scratch directory owned by `nobody`, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("spx-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        nix::unistd::chown(&dir, Some(nobody.uid), Some(nobody.gid)).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port free for both UDP and TCP on the wildcard address, for SIP.
fn free_sip_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
}

fn write_config(dir: &Path, debug_port: u16, daemonize: u8) -> PathBuf {
    let conf = dir.join("siproxd.conf");
    let text = format!(
        "# written by tests/daemon_lifecycle.rs\n\
         if_inbound = lo\n\
         if_outbound = lo\n\
         daemonize = {daemonize}\n\
         user = nobody\n\
         silence_log = 1\n\
         debug_port = {debug_port}\n\
         sip_listen_port = {}\n\
         pid_file = {}\n",
        free_sip_port(),
        dir.join("siproxd.pid").display()
    );
    std::fs::write(&conf, text).unwrap();
    conf
}

/// Collects what the daemon writes to its debug port.
struct LogTap(Arc<Mutex<String>>);

impl LogTap {
    fn connect(port: u16) -> LogTap {
        let deadline = Instant::now() + Duration::from_secs(5);
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => panic!("debug_port {port}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let text = Arc::new(Mutex::new(String::new()));
        let sink = text.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut t = sink.lock().unwrap();
                t.push_str(&line);
                t.push('\n');
            }
        });
        LogTap(text)
    }

    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = self.0.lock().unwrap().clone();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn alive(pid: i32) -> bool {
    // kill(pid, 0) probes without sending anything.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

fn send(pid: i32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).unwrap();
}

/// The bound: SIGTERM ends the daemon within 2 s.
fn gone_within_2s(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "pid {pid} still alive 2 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The Uid:/Gid:/Groups: lines of /proc/<pid>/status.
fn ids(pid: i32) -> (Vec<u32>, Vec<u32>, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> String {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let nums = |s: String| s.split_whitespace().map(|n| n.parse().unwrap()).collect();
    (nums(field("Uid:")), nums(field("Gid:")), field("Groups:"))
}

#[test]
fn daemonized_as_nobody_with_signals() {
    if !is_root() {
        eprintln!("SKIPPED daemonized_as_nobody_with_signals: needs root (CI runs as root)");
        return;
    }
    let scratch = Scratch::new("daemon");
    let port = free_tcp_port();
    let conf = write_config(&scratch.0, port, 1);
    let pid_path = scratch.0.join("siproxd.pid");

    let first = Command::new(BIN).arg("-c").arg(&conf).output().unwrap();
    assert!(first.status.success(), "start failed: {first:?}");
    let pid: i32 = std::fs::read_to_string(&pid_path)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(pid));

    // Who it runs as: real, effective, saved and fs uid all nobody's, no
    // supplementary groups but nobody's own group.
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let (uids, gids, groups) = ids(pid);
    assert_eq!(uids, vec![nobody.uid.as_raw(); 4], "Uid: line of pid {pid}");
    assert_eq!(gids, vec![nobody.gid.as_raw(); 4], "Gid: line of pid {pid}");
    assert_eq!(groups, nobody.gid.as_raw().to_string());

    let log = LogTap::connect(port);
    log.wait_for("debug_port: client");

    // A second start is refused, on the terminal, and changes nothing.
    let second = Command::new(BIN).arg("-c").arg(&conf).output().unwrap();
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(&format!("siproxd is already running with pid {pid}")),
        "{stderr}"
    );
    assert!(alive(pid));

    send(pid, nix::sys::signal::Signal::SIGHUP);
    log.wait_for(&format!(
        "reload: configuration re-read from {}",
        conf.display()
    ));
    assert!(alive(pid));

    send(pid, nix::sys::signal::Signal::SIGUSR1);
    log.wait_for("status: siproxd-rs");
    assert!(alive(pid));

    send(pid, nix::sys::signal::Signal::SIGTERM);
    gone_within_2s(pid);
    log.wait_for("exiting with status 0");
    assert!(!pid_path.exists(), "pid file left behind");
}

#[test]
fn foreground_sigterm_exits_zero() {
    if !is_root() {
        eprintln!("SKIPPED foreground_sigterm_exits_zero: needs root (CI runs as root)");
        return;
    }
    let scratch = Scratch::new("fg");
    let port = free_tcp_port();
    let conf = write_config(&scratch.0, port, 1);
    // Our directive: three relay threads instead of one.
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("rtp_relay_threads = 3\n");
    std::fs::write(&conf, text).unwrap();
    // -f overrides daemonize = 1.
    let mut child = Command::new(BIN)
        .arg("-f")
        .arg("-c")
        .arg(&conf)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = LogTap::connect(port);
    log.wait_for("debug_port: client");
    let pid = i32::try_from(child.id()).unwrap();
    let mut relay_threads: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|c| c.trim().to_string())
        .filter(|c| c.starts_with("rtp-relay"))
        .collect();
    relay_threads.sort();
    assert_eq!(
        relay_threads,
        ["rtp-relay-0", "rtp-relay-1", "rtp-relay-2"],
        "rtp_relay_threads = 3"
    );
    send(pid, nix::sys::signal::Signal::SIGTERM);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("INFO:"),
        "foreground logs go to stderr: {stderr}"
    );
    assert!(
        stderr.contains("siproxd-rs exiting with status 0"),
        "{stderr}"
    );
}

/// pfSense's way: `chrootjail` with a relative `pid_file`, daemonized as
/// nobody. The pid file lives inside the jail, the process's root is the
/// jail, and SIGTERM removes the pid file from inside it.
#[test]
fn chroot_jail_with_a_relative_pid_file() {
    if !is_root() {
        eprintln!("SKIPPED chroot_jail_with_a_relative_pid_file: needs root (CI runs as root)");
        return;
    }
    let jail = Scratch::new("jail");
    let port = free_tcp_port();
    let conf = jail.0.join("siproxd.conf");
    std::fs::write(
        &conf,
        format!(
            "if_inbound = lo\nif_outbound = lo\ndaemonize = 1\nuser = nobody\n\
             chrootjail = {}/\npid_file = siproxd.pid\nregistration_file = siproxd_registrations\n\
             debug_port = {port}\nsip_listen_port = {}\n",
            jail.0.display(),
            free_sip_port()
        ),
    )
    .unwrap();
    let start = Command::new(BIN).arg("-c").arg(&conf).output().unwrap();
    assert!(start.status.success(), "{start:?}");
    let pid_path = jail.0.join("siproxd.pid");
    let pid: i32 = std::fs::read_to_string(&pid_path)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let root = std::fs::read_link(format!("/proc/{pid}/root")).unwrap();
    assert_eq!(root, jail.0, "the daemon's root directory is the jail");
    let log = LogTap::connect(port);
    log.wait_for("debug_port: client");
    send(pid, nix::sys::signal::Signal::SIGTERM);
    gone_within_2s(pid);
    assert!(!pid_path.exists(), "pid file left in the jail");
    // Saved at shutdown, inside the jail, in upstream's format.
    let saved = std::fs::read_to_string(jail.0.join("siproxd_registrations")).unwrap();
    assert!(saved.starts_with("****:0:0\n"), "{saved}");
}

/// A jail that does not exist stops the start, with the reason, instead of
/// running unjailed (upstream logs it at debug level and goes on).
#[test]
fn a_missing_jail_is_an_error() {
    if !is_root() {
        eprintln!("SKIPPED a_missing_jail_is_an_error: needs root (CI runs as root)");
        return;
    }
    let scratch = Scratch::new("nojail");
    let conf = scratch.0.join("siproxd.conf");
    std::fs::write(
        &conf,
        format!(
            "if_inbound = lo\nif_outbound = lo\ndaemonize = 0\nchrootjail = /nonexistent/jail\nsip_listen_port = {}\n",
            free_sip_port()
        ),
    )
    .unwrap();
    let out = Command::new(BIN).arg("-c").arg(&conf).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("chrootjail /nonexistent/jail: chroot failed: No such file or directory"),
        "{stderr}"
    );
}

/// What an admin reads on a router: once detached, the daemon logs to syslog — ident
/// `siproxd` with its pid, facility daemon — even inside a `chrootjail` (pfSense), where
/// /dev/log is out of reach after the chroot. `silence_log = 1` lets INFO through.
///
/// There is no syslogd in CI, so the daemon runs in a private mount namespace whose
/// /dev/log is a socket this test listens on; nothing outside that namespace changes.
#[test]
fn daemonized_logs_reach_syslog_from_inside_the_jail() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixDatagram;
    if !is_root() {
        eprintln!(
            "SKIPPED daemonized_logs_reach_syslog_from_inside_the_jail: needs root (CI runs as root)"
        );
        return;
    }
    let have = |cmd: &str| {
        Command::new(cmd)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(
        have("unshare") && have("mount"),
        "unshare and mount (util-linux, mount) are missing; tools/test-all.sh installs them"
    );
    let jail = Scratch::new("syslog");
    let socket_path = jail.0.join("syslog.sock");
    let syslog = UnixDatagram::bind(&socket_path).unwrap();
    // The daemon may (re)connect after dropping to nobody.
    std::fs::set_permissions(&socket_path, std::fs::Permissions::from_mode(0o666)).unwrap();
    syslog
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let conf = jail.0.join("siproxd.conf");
    std::fs::write(
        &conf,
        format!(
            "if_inbound = lo\nif_outbound = lo\ndaemonize = 1\nuser = nobody\nsilence_log = 1\n\
             chrootjail = {}/\npid_file = siproxd.pid\nsip_listen_port = {}\n",
            jail.0.display(),
            free_sip_port()
        ),
    )
    .unwrap();
    // A tmpfs over /dev in the new namespace, with the devices a daemon opens bound back
    // in and /dev/log bound to our socket.
    let script = format!(
        "set -e; keep={jail}/dev; mkdir -p \"$keep\"; mount --bind /dev \"$keep\"; \
         mount -t tmpfs tmpfs /dev; \
         for n in null zero random urandom; do touch /dev/$n; mount --bind \"$keep/$n\" /dev/$n; done; \
         touch /dev/log; mount --bind {sock} /dev/log; \
         exec {bin} -c {conf}",
        jail = jail.0.display(),
        sock = socket_path.display(),
        bin = BIN,
        conf = conf.display()
    );
    let start = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(start.status.success(), "{start:?}");
    let pid: i32 = std::fs::read_to_string(jail.0.join("siproxd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    let mut lines: Vec<String> = Vec::new();
    let wait_for = |needle: &str, lines: &mut Vec<String>| -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(l) = lines.iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in syslog:\n{}",
                lines.join("\n")
            );
            let mut buf = [0u8; 4096];
            if let Ok(n) = syslog.recv(&mut buf) {
                lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    };
    // <29> = facility daemon (3 × 8) + severity notice (5): INFO and WARN lines go out
    // as notice, as upstream's log.c sends them; DEBUG would be <31>.
    let started = wait_for("siproxd-rs", &mut lines);
    assert!(started.starts_with("<29>"), "{started}");
    assert!(
        started.contains(&format!(" siproxd[{pid}]: ")),
        "ident and pid: {started}"
    );
    // After the chroot and the drop to nobody, through the connection opened before them.
    send(pid, nix::sys::signal::Signal::SIGUSR1);
    let status = wait_for("status: siproxd-rs", &mut lines);
    assert!(status.starts_with("<29>"), "{status}");
    send(pid, nix::sys::signal::Signal::SIGTERM);
    gone_within_2s(pid);
    wait_for("exiting with status 0", &mut lines);
    assert!(
        !lines.iter().any(|l| l.starts_with("<31>")),
        "DEBUG lines reached syslog despite silence_log = 1:\n{}",
        lines.join("\n")
    );
}
