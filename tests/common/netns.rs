//! A throw-away network for end-to-end tests: a LAN host, a router and a
//! WAN host, each in its own network namespace, joined by veth pairs.
//!
//! ```text
//!  lan ns                    router ns                       wan ns
//!  192.0.2.10/24  ──veth──  192.0.2.1/24 | 198.51.100.1/24 ──veth──  198.51.100.2/24 (+ .3)
//! ```
//!
//! Addresses are TEST-NET ranges only, and nothing leaves these namespaces.
//! The router does not forward IP: whatever crosses it must go through the
//! daemon under test. Everything is torn down on drop, also when a test
//! fails, and namespaces left by an earlier crashed run are removed first.

#![allow(dead_code)]

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const LAN_PHONE: &str = "192.0.2.10";
pub const ROUTER_LAN: &str = "192.0.2.1";
pub const ROUTER_WAN: &str = "198.51.100.1";
pub const PROVIDER: &str = "198.51.100.2";
pub const REMOTE: &str = "198.51.100.3";

static SEQ: AtomicUsize = AtomicUsize::new(0);
/// Interface names are limited to 15 bytes: keep ids short.
const PREFIX: &str = "sx";

/// True when the end-to-end tests can run here (root, `ip` present).
pub fn can_run(test: &str) -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    let ip = Command::new("ip").arg("-V").output().is_ok();
    if !(root && ip) {
        eprintln!("SKIPPED {test}: needs root and iproute2 (CI runs as root and installs them)");
    }
    root && ip
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The three namespaces and the processes started in them.
pub struct Lab {
    pub lan: String,
    pub router: String,
    pub wan: String,
    children: Vec<Child>,
}

impl Lab {
    /// Builds the namespaces and links.
    pub fn new() -> Lab {
        remove_stale();
        let id = format!(
            "{PREFIX}{}x{}",
            std::process::id() % 100_000,
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let lab = Lab {
            lan: format!("{id}l"),
            router: format!("{id}r"),
            wan: format!("{id}w"),
            children: Vec::new(),
        };
        for ns in [&lab.lan, &lab.router, &lab.wan] {
            run(&["ip", "netns", "add", ns]);
            lab.exec_ok(ns, &["ip", "link", "set", "lo", "up"]);
        }
        lab.link(
            &lab.lan,
            "eth0",
            &format!("{ROUTER_LAN}/24"),
            &format!("{LAN_PHONE}/24"),
            "lan0",
        );
        lab.link(
            &lab.wan,
            "eth0",
            &format!("{ROUTER_WAN}/24"),
            &format!("{PROVIDER}/24"),
            "wan0",
        );
        lab.exec_ok(
            &lab.wan,
            &["ip", "addr", "add", &format!("{REMOTE}/24"), "dev", "eth0"],
        );
        lab.exec_ok(
            &lab.lan,
            &["ip", "route", "add", "default", "via", ROUTER_LAN],
        );
        lab.exec_ok(&lab.router, &["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
        lab
    }

    /// A veth pair between the router (`router_if`) and `ns` (`eth0`).
    fn link(&self, ns: &str, peer_if: &str, router_addr: &str, peer_addr: &str, router_if: &str) {
        let tmp_r = format!("{ns}a");
        let tmp_p = format!("{ns}b");
        run(&[
            "ip", "link", "add", &tmp_r, "type", "veth", "peer", "name", &tmp_p,
        ]);
        run(&["ip", "link", "set", &tmp_r, "netns", &self.router]);
        run(&["ip", "link", "set", &tmp_p, "netns", ns]);
        self.exec_ok(
            &self.router,
            &["ip", "link", "set", &tmp_r, "name", router_if],
        );
        self.exec_ok(ns, &["ip", "link", "set", &tmp_p, "name", peer_if]);
        self.exec_ok(
            &self.router,
            &["ip", "addr", "add", router_addr, "dev", router_if],
        );
        self.exec_ok(ns, &["ip", "addr", "add", peer_addr, "dev", peer_if]);
        self.exec_ok(&self.router, &["ip", "link", "set", router_if, "up"]);
        self.exec_ok(ns, &["ip", "link", "set", peer_if, "up"]);
    }

    /// A command inside `ns`.
    pub fn command(&self, ns: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).args(args);
        cmd
    }

    /// Runs a command inside `ns` and insists it succeeds.
    pub fn exec_ok(&self, ns: &str, args: &[&str]) -> Output {
        let out = self.command(ns, args).output().unwrap();
        assert!(
            out.status.success(),
            "{ns}: {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts a long-running process inside `ns`; it is killed on drop.
    pub fn spawn(&mut self, ns: &str, args: &[&str], log: &std::path::Path) -> u32 {
        let file = std::fs::File::create(log).unwrap();
        let child = self
            .command(ns, args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Stops a process started with [`Lab::spawn`] with `sig` and waits
    /// for it; returns its exit status code.
    pub fn stop(&mut self, pid: u32, sig: nix::sys::signal::Signal) -> Option<i32> {
        let idx = self.children.iter().position(|c| c.id() == pid)?;
        let mut child = self.children.remove(idx);
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
        child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.lan, &self.router, &self.wan] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn live_pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
}

/// Removes namespaces of earlier runs whose test process is gone.
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('x').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        // Ids carry the pid modulo 100000: any live process that matches keeps it.
        let alive = live_pids().any(|p| p % 100_000 == pid);
        if !alive {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}
