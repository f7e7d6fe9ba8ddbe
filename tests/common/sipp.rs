//! Running the real daemon and sipp inside a [`Lab`].

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::netns::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_siproxd");

/// A scratch directory for one test's config, logs and state.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("spx-e2e-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            eprintln!("logs kept in {}", self.0.display());
        }
    }
}

/// The router's configuration: LAN on lan0, WAN on wan0, RTP relay on.
pub fn router_config(scratch: &Scratch, extra: &str) -> PathBuf {
    let conf = scratch.path("siproxd.conf");
    let text = format!(
        "if_inbound = lan0\n\
         if_outbound = wan0\n\
         sip_listen_port = 5060\n\
         rtp_port_low = 7070\n\
         rtp_port_high = 7089\n\
         rtp_timeout = 300\n\
         rtp_dscp = 46\n\
         registration_file = {}\n\
         debug_level = 0x3fff\n\
         {extra}",
        scratch.path("siproxd_registrations").display()
    );
    std::fs::write(&conf, text).unwrap();
    conf
}

/// Starts the daemon in the router namespace, in the foreground, logging
/// to `daemon.log`; waits until it says it started.
pub fn start_daemon(lab: &mut Lab, scratch: &Scratch, conf: &Path) -> u32 {
    let log = scratch.path("daemon.log");
    let router = lab.router.clone();
    let pid = lab.spawn(&router, &[BIN, "-f", "-c", conf.to_str().unwrap()], &log);
    wait_for_log(&log, "started (pid");
    pid
}

/// Waits up to 5 s for `needle` to appear in `log`.
pub fn wait_for_log(log: &Path, needle: &str) -> String {
    wait_for_log_within(log, needle, std::time::Duration::from_secs(5))
}

/// Waits up to `within` for `needle` to appear in `log`; returns the log.
pub fn wait_for_log_within(log: &Path, needle: &str, within: std::time::Duration) -> String {
    let deadline = std::time::Instant::now() + within;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {needle:?} in {}:\n{text}",
            log.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// One sipp run.
pub struct Sipp<'a> {
    pub ns: &'a str,
    pub scenario: String,
    pub local_ip: &'a str,
    pub local_port: u16,
    pub target: Option<String>,
    pub outbound_proxy: Option<String>,
    pub transport: &'a str,
    pub extra: Vec<String>,
}

impl<'a> Sipp<'a> {
    /// A scenario from tests/sipp (or a path) run from `local_ip:local_port` in `ns`.
    pub fn new(ns: &'a str, scenario: &str, local_ip: &'a str, local_port: u16) -> Sipp<'a> {
        let scenario = if scenario.contains('/') {
            scenario.to_string()
        } else {
            format!("{}/tests/sipp/{scenario}", env!("CARGO_MANIFEST_DIR"))
        };
        Sipp {
            ns,
            scenario,
            local_ip,
            local_port,
            target: None,
            outbound_proxy: None,
            transport: "u1",
            extra: Vec::new(),
        }
    }

    pub fn to(mut self, target: &str) -> Self {
        self.target = Some(target.to_string());
        self
    }

    /// Sends every request through the router (`-rsa`), like a phone with
    /// the router as its outbound proxy.
    pub fn via(mut self, proxy: &str) -> Self {
        self.outbound_proxy = Some(proxy.to_string());
        self
    }

    pub fn tcp(mut self) -> Self {
        self.transport = "t1";
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.extra.push(a.to_string());
        self
    }

    fn command(&self, lab: &Lab, dir: &Path) -> Command {
        let port = self.local_port.to_string();
        let mut args: Vec<String> = vec![
            "sipp".into(),
            "-sf".into(),
            self.scenario.clone(),
            "-i".into(),
            self.local_ip.into(),
            "-p".into(),
            port,
            "-t".into(),
            self.transport.into(),
            "-m".into(),
            "1".into(),
            "-timeout".into(),
            "15s".into(),
            "-timeout_error".into(),
            "-nostdin".into(),
            "-trace_err".into(),
            "-trace_msg".into(),
            "-mi".into(),
            self.local_ip.into(),
        ];
        if let Some(p) = &self.outbound_proxy {
            args.push("-rsa".into());
            args.push(p.clone());
        }
        args.extend(self.extra.iter().cloned());
        if let Some(t) = &self.target {
            args.push(t.clone());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = lab.command(self.ns, &refs);
        cmd.current_dir(dir);
        cmd
    }

    /// Runs to completion; panics with sipp's error log when it fails.
    pub fn run(&self, lab: &Lab, dir: &Path) {
        let out = self.command(lab, dir).output().unwrap();
        assert!(
            out.status.success(),
            "sipp {} failed:\n{}",
            self.scenario,
            sipp_errors(dir)
        );
    }

    /// Starts in the background (a UAS waiting for its call).
    pub fn start(&self, lab: &Lab, dir: &Path) -> std::process::Child {
        let child = self
            .command(lab, dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Give it time to bind before the other side sends.
        std::thread::sleep(std::time::Duration::from_millis(300));
        child
    }
}

/// Waits for a background sipp and insists it succeeded.
pub fn finish(mut child: std::process::Child, dir: &Path, what: &str) {
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "sipp {what} failed ({status}):\n{}",
        sipp_errors(dir)
    );
}

/// Every sipp error log in `dir`.
pub fn sipp_errors(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with("_errors.log") {
            text.push_str(&format!(
                "== {name}\n{}\n",
                std::fs::read_to_string(entry.path()).unwrap_or_default()
            ));
        }
    }
    if text.is_empty() {
        text.push_str("(no sipp error log)");
    }
    text
}

/// Every message sipp logged in `dir` whose scenario file name starts with `prefix`.
pub fn sipp_messages(dir: &Path, prefix: &str) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) && name.ends_with("_messages.log") {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    text
}
