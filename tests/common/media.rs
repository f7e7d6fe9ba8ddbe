//! Media and packet helpers for end-to-end tests: UDP sockets created inside
//! a lab namespace (the test itself plays a media endpoint), tcpdump
//! captures, the relay's bound ports as `ss` sees them, and scenario
//! templates.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::netns::{Lab, LAN_PHONE, REMOTE, ROUTER_LAN};
use super::sipp::{wait_for_log, Scratch};

/// A UDP socket bound to `addr` inside network namespace `ns`. The socket
/// stays in that namespace after the thread that made it ends (setns only
/// changes the creating thread).
pub fn udp_in(ns: &str, addr: &str) -> UdpSocket {
    let ns = ns.to_string();
    let addr: SocketAddr = addr.parse().unwrap();
    std::thread::spawn(move || {
        let file = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
        // SAFETY: setns on a valid namespace fd; it affects only this thread.
        let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
        let sock = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind {addr} in {ns}: {e}"));
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        sock
    })
    .join()
    .unwrap()
}

/// A minimal RTP packet (V=2, PT 8) with 160 bytes of payload.
pub fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

/// A minimal RTCP receiver report (V=2, PT 201, no report blocks).
pub fn rtcp(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

/// Sends `n` RTP packets 10 ms apart.
pub fn send_rtp(sock: &UdpSocket, to: SocketAddr, n: u16, ssrc: u32) {
    for seq in 1..=n {
        sock.send_to(&rtp(seq, ssrc), to).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Receives until `quiet` passes without a packet (bounded by 5 s);
/// returns every (source, payload).
pub fn drain(sock: &UdpSocket, quiet: Duration) -> Vec<(SocketAddr, Vec<u8>)> {
    sock.set_read_timeout(Some(quiet)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => got.push((from, buf[..n].to_vec())),
            Err(_) => break,
        }
    }
    got
}

/// A tcpdump running in a namespace, stopped (SIGINT) by [`Capture::stop`];
/// killed with the lab otherwise.
pub struct Capture {
    pid: u32,
    log: PathBuf,
}

impl Capture {
    /// Starts `tcpdump -l -n [-v] -i <iface> <filter>` in `ns` and waits
    /// (bounded) until it listens.
    pub fn start(
        lab: &mut Lab,
        scratch: &Scratch,
        name: &str,
        ns: &str,
        iface: &str,
        verbose: bool,
        filter: &str,
    ) -> Capture {
        let log = scratch.path(&format!("tcpdump-{name}.txt"));
        let mut args = vec!["tcpdump", "-l", "-n", "-i", iface];
        if verbose {
            args.push("-v");
        }
        args.extend(filter.split_whitespace());
        let ns = ns.to_string();
        let pid = lab.spawn(&ns, &args, &log);
        wait_for_log(&log, "listening on");
        Capture { pid, log }
    }

    /// Stops tcpdump and returns its output.
    pub fn stop(self, lab: &mut Lab) -> String {
        // Let the last packets reach the capture first.
        std::thread::sleep(Duration::from_millis(200));
        lab.stop(self.pid, nix::sys::signal::Signal::SIGINT);
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// One captured UDP datagram: source, destination and (with -v) the TOS byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub src: String,
    pub dst: String,
    pub tos: Option<u8>,
}

/// Parses tcpdump text output (`-n`, with or without `-v`) into datagrams.
/// Addresses are tcpdump's `a.b.c.d.port` form.
pub fn datagrams(text: &str) -> Vec<Datagram> {
    let mut out = Vec::new();
    let mut tos = None;
    for line in text.lines() {
        if let Some(i) = line.find("(tos 0x") {
            let hex = &line[i + 7..];
            let end = hex
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(hex.len());
            tos = u8::from_str_radix(&hex[..end], 16).ok();
            continue;
        }
        // "[ts IP ]src > dst: UDP, length n"
        let Some(body) = line
            .split(": UDP")
            .next()
            .filter(|_| line.contains(": UDP"))
        else {
            continue;
        };
        let body = body.trim();
        let body = body.rsplit(" IP ").next().unwrap_or(body);
        let Some((src, dst)) = body.split_once(" > ") else {
            continue;
        };
        out.push(Datagram {
            src: src.trim().to_string(),
            dst: dst.trim().to_string(),
            tos: tos.take(),
        });
    }
    out
}

/// tcpdump's `a.b.c.d.port` for an address and port.
pub fn dotted(ip: &str, port: u16) -> String {
    format!("{ip}.{port}")
}

/// The UDP ports bound in the relay's range (7070..=7089 in router_config),
/// as `ss` lists them in the router namespace.
pub fn relay_ports(lab: &Lab) -> Vec<SocketAddr> {
    let out = lab.exec_ok(&lab.router, &["ss", "-Hnuln"]);
    let mut ports: Vec<SocketAddr> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3)?.parse::<SocketAddr>().ok())
        .filter(|a| (7070..=7089).contains(&a.port()))
        .collect();
    ports.sort();
    ports
}

/// Waits (up to 5 s) until at least `n` relay ports are bound.
pub fn wait_relay_ports(lab: &Lab, n: usize) -> Vec<SocketAddr> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ports = relay_ports(lab);
        if ports.len() >= n {
            return ports;
        }
        assert!(
            Instant::now() < deadline,
            "only {ports:?} relay ports bound, wanted {n}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The even (RTP) relay port bound on `ip`.
pub fn relay_rtp_on(ports: &[SocketAddr], ip: &str) -> SocketAddr {
    *ports
        .iter()
        .find(|a| a.ip().to_string() == ip && a.port() % 2 == 0)
        .unwrap_or_else(|| panic!("no relay RTP port on {ip} in {ports:?}"))
}

/// Writes `tests/sipp/<name>` with `@KEY@` placeholders replaced into the
/// scratch directory; returns its path for [`super::sipp::Sipp::new`].
/// Placeholders not given are replaced by their defaults: `@PORT@` →
/// `[media_port]`, `@URI@` and `@MEDIA@` → nothing, `@WAN@` → the router's
/// WAN address as a regex, `@HOST@` → `[remote_ip]`, `@TARGET@` →
/// `[remote_ip]:[remote_port]`.
pub fn scenario(scratch: &Scratch, name: &str, tag: &str, subst: &[(&str, &str)]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name);
    let mut text = std::fs::read_to_string(&src).unwrap();
    for (k, v) in subst {
        text = text.replace(&format!("@{k}@"), v);
    }
    for (k, v) in [
        ("PORT", "[media_port]"),
        ("URI", ""),
        ("MEDIA", ""),
        ("WAN", r"198\.51\.100\.1"),
        ("HOST", "[remote_ip]"),
        ("TARGET", "[remote_ip]:[remote_port]"),
    ] {
        text = text.replace(&format!("@{k}@"), v);
    }
    let out = scratch.path(&format!("{tag}.xml"));
    std::fs::write(&out, text).unwrap();
    out
}

/// sipp's pcap playback of G.711 audio, for `@MEDIA@`.
pub const PLAY_PCAP: &str =
    r#"<nop><action><exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/></action></nop>"#;

/// The first message of `kind` ("sent" or "received") starting with
/// `start` in a sipp message log.
pub fn sipp_message(log: &str, kind: &str, start: &str) -> String {
    log.split("----------------------------------------------- ")
        .find(|block| {
            block.contains(&format!("message {kind}")) && block.contains(&format!("\n\n{start}"))
        })
        .and_then(|block| block.split_once("\n\n"))
        .map(|(_, msg)| msg.trim_end().to_string())
        .unwrap_or_else(|| panic!("no {kind} {start:?} in:\n{log}"))
}

/// The values of header `name` (e.g. "Via") in a message, in order.
pub fn header_values<'m>(msg: &'m str, name: &str) -> Vec<&'m str> {
    let prefix = format!("{name}:");
    msg.split("\r\n\r\n")
        .next()
        .unwrap_or(msg)
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .map(str::trim)
        .collect()
}

/// Media of one relayed call as the four captures saw it.
pub struct Seen {
    pub at_phone: Vec<Datagram>,
    pub at_remote: Vec<Datagram>,
    pub router_to_lan: Vec<Datagram>,
    pub router_to_wan: Vec<Datagram>,
}

/// Captures at both ends (what arrives from the router) and on the
/// router's two interfaces (what the relay sends, with TOS). `router_wan`
/// is the router's WAN address at the time.
pub fn with_captures(
    lab: &mut Lab,
    scratch: &Scratch,
    tag: &str,
    router_wan: &str,
    call: impl FnOnce(&Lab),
) -> Seen {
    let from = |ip: &str| format!("udp and src host {ip} and not port 5060");
    let (lan, wan, router) = (lab.lan.clone(), lab.wan.clone(), lab.router.clone());
    let phone = Capture::start(
        lab,
        scratch,
        &format!("{tag}-phone"),
        &lan,
        "eth0",
        false,
        &from(ROUTER_LAN),
    );
    let remote = Capture::start(
        lab,
        scratch,
        &format!("{tag}-remote"),
        &wan,
        "eth0",
        false,
        &from(router_wan),
    );
    let lan0 = Capture::start(
        lab,
        scratch,
        &format!("{tag}-lan0"),
        &router,
        "lan0",
        true,
        &from(ROUTER_LAN),
    );
    let wan0 = Capture::start(
        lab,
        scratch,
        &format!("{tag}-wan0"),
        &router,
        "wan0",
        true,
        &from(router_wan),
    );
    call(lab);
    Seen {
        at_phone: datagrams(&phone.stop(lab)),
        at_remote: datagrams(&remote.stop(lab)),
        router_to_lan: datagrams(&lan0.stop(lab)),
        router_to_wan: datagrams(&wan0.stop(lab)),
    }
}

/// At least `min` RTP packets reached each end, to the media port the
/// endpoint's SDP named, and every one the relay sent carried DSCP EF.
pub fn assert_two_way_audio(seen: &Seen, min: usize) {
    let to_phone = seen
        .at_phone
        .iter()
        .filter(|d| d.dst == dotted(LAN_PHONE, 6000))
        .count();
    let to_remote = seen
        .at_remote
        .iter()
        .filter(|d| d.dst.starts_with(&format!("{REMOTE}.")) && d.dst.ends_with(".6000"))
        .count();
    assert!(
        to_phone >= min,
        "only {to_phone} RTP packets reached the phone: {:?}",
        seen.at_phone
    );
    assert!(
        to_remote >= min,
        "only {to_remote} RTP packets reached the remote party: {:?}",
        seen.at_remote
    );
    for (side, sent) in [("lan0", &seen.router_to_lan), ("wan0", &seen.router_to_wan)] {
        assert!(sent.len() >= min, "{side}: {sent:?}");
        assert!(
            sent.iter().all(|d| d.tos == Some(0xb8)),
            "{side}: relayed RTP without tos 0xb8: {sent:?}"
        );
    }
}
