//! End-to-end interfaces and names: the real `siproxd` on the lab's router
//! notices a new WAN address while it runs, advertises `host_outbound` (an
//! address, or a dynamic DNS name it follows), and
//! reaches next hops given as names (through /etc/hosts and through DNS SRV
//! from a small DNS server the test runs in the WAN namespace).

mod common;

use std::net::UdpSocket;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::media::*;
use common::netns::*;
use common::sipp::*;

const ROUTER: &str = "192.0.2.1:5060";

fn assert_starts(value: &str, want: &str, msg: &str) {
    assert!(
        value.starts_with(want),
        "{value:?}, expected {want}…\n{msg}"
    );
}

/// The phone registers alice through the router; `host` is the Request-URI
/// host. Returns the REGISTER as the provider received it.
fn register(lab: &Lab, scratch: &Scratch, tag: &str, host: &str) -> String {
    let dir = &scratch.0;
    let prov = scenario(
        scratch,
        "t_provider_registrar.xml",
        &format!("{tag}-provider"),
        &[],
    );
    let phone = scenario(
        scratch,
        "t_phone_register.xml",
        &format!("{tag}-phone"),
        &[("HOST", host)],
    );
    let provider = Sipp::new(&lab.wan, prov.to_str().unwrap(), PROVIDER, 5060).start(lab, dir);
    Sipp::new(&lab.lan, phone.to_str().unwrap(), LAN_PHONE, 5060)
        .via(ROUTER)
        .to(&format!("{PROVIDER}:5060"))
        .run(lab, dir);
    finish(provider, dir, "provider");
    sipp_message(
        &sipp_messages(dir, &format!("{tag}-provider")),
        "received",
        "REGISTER ",
    )
}

/// alice calls bob, both playing audio; bob's sipp listens on `bob_port`
/// and checks that the SDP points at `router_wan`, and the audio must reach
/// both ends. Returns the INVITE as bob received it.
fn outgoing_call(
    lab: &mut Lab,
    scratch: &Scratch,
    tag: &str,
    target: Option<&str>,
    bob_port: u16,
    router_wan: &str,
) -> String {
    let dir = &scratch.0;
    let wan_regex = router_wan.replace('.', r"\.");
    let bob = scenario(
        scratch,
        "t_remote_answer.xml",
        &format!("{tag}-bob"),
        &[("WAN", &wan_regex), ("MEDIA", PLAY_PCAP)],
    );
    let mut subst = vec![("MEDIA", PLAY_PCAP)];
    if let Some(t) = target {
        subst.push(("TARGET", t));
    }
    let alice = scenario(scratch, "t_phone_call.xml", &format!("{tag}-alice"), &subst);
    let seen = with_captures(lab, scratch, tag, router_wan, |lab| {
        let uas = Sipp::new(&lab.wan, bob.to_str().unwrap(), REMOTE, bob_port).start(lab, dir);
        Sipp::new(&lab.lan, alice.to_str().unwrap(), LAN_PHONE, 5060)
            .via(ROUTER)
            .to(&format!("{REMOTE}:{bob_port}"))
            .arg("-d")
            .arg("1000")
            .run(lab, dir);
        finish(uas, dir, "bob");
    });
    // 1 s of 30 ms packets is 33.
    assert_two_way_audio(&seen, 15);
    sipp_message(
        &sipp_messages(dir, &format!("{tag}-bob")),
        "received",
        "INVITE ",
    )
}

/// Issue 5: the WAN address changes while the daemon runs (a PPPoE
/// redial); within about a second the daemon uses the new one in the Via
/// and Contact of the next REGISTER and INVITE, and in the SDP.
#[test]
fn a_new_wan_address_is_used_within_a_second() {
    if !can_run("a_new_wan_address_is_used_within_a_second") {
        return;
    }
    let mut lab = Lab::new();
    let scratch = Scratch::new("newaddr");
    let conf = router_config(&scratch, "");
    start_daemon(&mut lab, &scratch, &conf);
    let got = register(&lab, &scratch, "before", "[remote_ip]");
    assert_starts(
        header_values(&got, "Via")[0],
        "SIP/2.0/UDP 198.51.100.1:5060;",
        &got,
    );

    let router = lab.router.clone();
    lab.exec_ok(
        &router,
        &["ip", "addr", "del", "198.51.100.1/24", "dev", "wan0"],
    );
    lab.exec_ok(
        &router,
        &["ip", "addr", "add", "198.51.100.4/24", "dev", "wan0"],
    );
    let changed = Instant::now();
    wait_for_log(
        &scratch.path("daemon.log"),
        "if_outbound wan0: address 198.51.100.4",
    );
    let noticed = changed.elapsed();
    assert!(
        noticed < Duration::from_millis(2000),
        "the new address was noticed only after {noticed:?}"
    );

    let got = register(&lab, &scratch, "after", "[remote_ip]");
    let vias = header_values(&got, "Via");
    assert_starts(
        vias[0],
        "SIP/2.0/UDP 198.51.100.4:5060;branch=z9hG4bK",
        &got,
    );
    assert_starts(
        &header_values(&got, "Contact").join(","),
        "<sip:alice@198.51.100.4>",
        &got,
    );
    let invite = outgoing_call(&mut lab, &scratch, "call", None, 5060, "198.51.100.4");
    assert_starts(
        header_values(&invite, "Via")[0],
        "SIP/2.0/UDP 198.51.100.4:5060;branch=z9hG4bK",
        &invite,
    );
    assert_starts(
        &header_values(&invite, "Contact").join(","),
        "<sip:alice@198.51.100.4",
        &invite,
    );
    eprintln!("new WAN address noticed after {noticed:?}");
}

/// Issue 5: behind another NAT, `host_outbound` is what the WAN sees in
/// Via, Contact and SDP, while the relay still binds the real WAN address.
#[test]
fn host_outbound_is_advertised_on_the_wan() {
    if !can_run("host_outbound_is_advertised_on_the_wan") {
        return;
    }
    let mut lab = Lab::new();
    let scratch = Scratch::new("hostout");
    let conf = router_config(&scratch, "host_outbound = 203.0.113.5\n");
    start_daemon(&mut lab, &scratch, &conf);
    let got = register(&lab, &scratch, "reg", "[remote_ip]");
    assert_starts(
        header_values(&got, "Via")[0],
        "SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK",
        &got,
    );
    assert_starts(
        &header_values(&got, "Contact").join(","),
        "<sip:alice@203.0.113.5>",
        &got,
    );

    // The call: SDP names 203.0.113.5 (checked by bob's scenario); while it
    // is up, the WAN leg's relay socket is bound on 198.51.100.1.
    let dir = &scratch.0;
    let bob = scenario(
        &scratch,
        "t_remote_answer.xml",
        "call-bob",
        &[("WAN", r"203\.0\.113\.5")],
    );
    let alice = scenario(&scratch, "t_phone_call.xml", "call-alice", &[]);
    let uas = Sipp::new(&lab.wan, bob.to_str().unwrap(), REMOTE, 5060).start(&lab, dir);
    let uac = Sipp::new(&lab.lan, alice.to_str().unwrap(), LAN_PHONE, 5060)
        .via(ROUTER)
        .to(&format!("{REMOTE}:5060"))
        .arg("-d")
        .arg("1000")
        .start(&lab, dir);
    let ports = wait_relay_ports(&lab, 4);
    relay_rtp_on(&ports, ROUTER_WAN);
    assert!(
        ports.iter().all(|p| p.ip().to_string() != "203.0.113.5"),
        "{ports:?}"
    );
    finish(uac, dir, "call-alice");
    finish(uas, dir, "call-bob");
    let invite = sipp_message(&sipp_messages(dir, "call-bob"), "received", "INVITE ");
    assert_starts(
        header_values(&invite, "Via")[0],
        "SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK",
        &invite,
    );
    assert_starts(
        &header_values(&invite, "Contact").join(","),
        "<sip:alice@203.0.113.5",
        &invite,
    );
}

/// Files in /etc/netns/<ns>/, which `ip netns exec` mounts over /etc for
/// everything started in that namespace; removed on drop.
struct NetnsEtc(PathBuf);

impl NetnsEtc {
    fn new(ns: &str, files: &[(&str, &str)]) -> NetnsEtc {
        let dir = PathBuf::from("/etc/netns").join(ns);
        std::fs::create_dir_all(&dir).unwrap();
        let guard = NetnsEtc(dir);
        for (name, text) in files {
            std::fs::write(guard.0.join(name), text).unwrap();
        }
        guard
    }
}

impl Drop for NetnsEtc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        // /etc/netns itself too, when no other test still uses it.
        if let Some(parent) = self.0.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// A tiny authoritative DNS server on a socket in the lab: answers A and
/// SRV questions from `records` (name, type, rdata) and every other
/// question with an empty NOERROR; logs the questions it saw.
/// (name, type, rdata) of the records a [`Dns`] serves.
type Records = Vec<(String, u16, Vec<u8>)>;

struct Dns {
    records: Arc<Mutex<Records>>,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(String, u16)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const A: u16 = 1;
const SRV: u16 = 33;

fn dns_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

fn srv_rdata(priority: u16, weight: u16, port: u16, target: &str) -> Vec<u8> {
    let mut r = Vec::new();
    for v in [priority, weight, port] {
        r.extend_from_slice(&v.to_be_bytes());
    }
    r.extend(dns_name(target));
    r
}

impl Dns {
    fn start(sock: UdpSocket, records: Records) -> Dns {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let records = Arc::new(Mutex::new(records));
        let (stop2, seen2, records2) = (stop.clone(), seen.clone(), records.clone());
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !stop2.load(Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let q = &buf[..n];
                if n < 17 {
                    continue;
                }
                // Question: labels from byte 12, then type and class.
                let mut i = 12;
                let mut labels = Vec::new();
                while i < n && q[i] != 0 {
                    let len = q[i] as usize;
                    labels.push(String::from_utf8_lossy(&q[i + 1..i + 1 + len]).to_lowercase());
                    i += 1 + len;
                }
                let qname = labels.join(".");
                let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
                let question_end = i + 5;
                seen2.lock().unwrap().push((qname.clone(), qtype));
                let answers: Vec<Vec<u8>> = records2
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(name, t, _)| *name == qname && *t == qtype)
                    .map(|(_, _, rdata)| rdata.clone())
                    .collect();
                let mut r = q[..2].to_vec(); // id
                r.extend_from_slice(&[0x84, 0x00]); // response, authoritative
                r.extend_from_slice(&[0, 1]);
                r.extend_from_slice(&(answers.len() as u16).to_be_bytes());
                r.extend_from_slice(&[0, 0, 0, 0]);
                r.extend_from_slice(&q[12..question_end]);
                for rdata in answers {
                    r.extend_from_slice(&[0xc0, 12]); // the question's name
                    r.extend_from_slice(&qtype.to_be_bytes());
                    r.extend_from_slice(&[0, 1, 0, 0, 0, 60]); // IN, TTL 60
                    r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                    r.extend_from_slice(&rdata);
                }
                let _ = sock.send_to(&r, from);
            }
        });
        Dns {
            records,
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Replaces the records of `name` and type `rtype`.
    fn set(&self, name: &str, rtype: u16, rdata: Vec<u8>) {
        let mut records = self.records.lock().unwrap();
        records.retain(|(n, t, _)| !(n == name && *t == rtype));
        records.push((name.to_string(), rtype, rdata));
    }

    fn questions(&self) -> Vec<(String, u16)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Issue 5: next hops given as names. The provider is `sip.example.test`
/// in the router's /etc/hosts; bob is `pbx.example.test`, found only by
/// DNS SRV (`_sip._udp.pbx.example.test` → `bob-host.example.test:5070`,
/// whose A record is bob's address) from a DNS server in the WAN namespace,
/// the one the router's /etc/resolv.conf names.
#[test]
fn next_hops_by_name_from_etc_hosts_and_dns_srv() {
    if !can_run("next_hops_by_name_from_etc_hosts_and_dns_srv") {
        return;
    }
    let mut lab = Lab::new();
    let _etc = NetnsEtc::new(
        &lab.router,
        &[
            (
                "hosts",
                "127.0.0.1 localhost\n198.51.100.2 sip.example.test\n",
            ),
            (
                "resolv.conf",
                "nameserver 198.51.100.2\noptions timeout:1\n",
            ),
        ],
    );
    let dns = Dns::start(
        udp_in(&lab.wan, "198.51.100.2:53"),
        vec![
            (
                "_sip._udp.pbx.example.test".into(),
                SRV,
                srv_rdata(10, 0, 5070, "bob-host.example.test"),
            ),
            (
                "_sip._tcp.pbx.example.test".into(),
                SRV,
                srv_rdata(10, 0, 5072, "bob-host.example.test"),
            ),
            ("bob-host.example.test".into(), A, vec![198, 51, 100, 3]),
        ],
    );
    let scratch = Scratch::new("names");
    let conf = router_config(&scratch, "");
    start_daemon(&mut lab, &scratch, &conf);

    let got = register(&lab, &scratch, "reg", "sip.example.test");
    assert!(
        got.starts_with("REGISTER sip:sip.example.test SIP/2.0\r\n"),
        "{got}"
    );
    assert!(
        dns.questions().is_empty(),
        "a name in /etc/hosts needs no DNS: {:?}",
        dns.questions()
    );

    let invite = outgoing_call(
        &mut lab,
        &scratch,
        "srv",
        Some("pbx.example.test"),
        5070,
        ROUTER_WAN,
    );
    assert!(
        invite.starts_with("INVITE sip:bob@pbx.example.test SIP/2.0\r\n"),
        "{invite}"
    );
    let asked = dns.questions();
    assert!(
        asked.contains(&("_sip._udp.pbx.example.test".into(), SRV)),
        "{asked:?}"
    );
    assert!(
        asked.contains(&("bob-host.example.test".into(), A)),
        "{asked:?}"
    );

    // Over TCP (`;transport=tcp`) the service is `_sip._tcp`, here on 5072.
    let dir = &scratch.0;
    let bob = scenario(&scratch, "t_remote_answer.xml", "tcp-bob", &[]);
    let alice = scenario(
        &scratch,
        "t_phone_call.xml",
        "tcp-alice",
        &[("TARGET", "pbx.example.test"), ("URI", ";transport=tcp")],
    );
    let uas = Sipp::new(&lab.wan, bob.to_str().unwrap(), REMOTE, 5072)
        .tcp()
        .start(&lab, dir);
    Sipp::new(&lab.lan, alice.to_str().unwrap(), LAN_PHONE, 5060)
        .via(ROUTER)
        .to(&format!("{REMOTE}:5072"))
        .arg("-d")
        .arg("200")
        .run(&lab, dir);
    finish(uas, dir, "tcp-bob");
    let invite = sipp_message(&sipp_messages(dir, "tcp-bob"), "received", "INVITE ");
    assert!(
        invite.starts_with("INVITE sip:bob@pbx.example.test;transport=tcp SIP/2.0\r\n"),
        "{invite}"
    );
    assert_starts(
        header_values(&invite, "Via")[0],
        "SIP/2.0/TCP 198.51.100.1:5060;branch=z9hG4bK",
        &invite,
    );
    let asked = dns.questions();
    assert!(
        asked.contains(&("_sip._tcp.pbx.example.test".into(), SRV)),
        "{asked:?}"
    );
}

/// A lab whose router resolves names through a DNS server in the WAN namespace
/// (198.51.100.2) holding `records`, and the daemon started with
/// `host_outbound = name`. The returned guards keep the lab's /etc files and
/// the DNS server alive.
fn dyndns_lab(tag: &str, name: &str, records: Records) -> (Lab, NetnsEtc, Dns, Scratch) {
    let mut lab = Lab::new();
    let etc = NetnsEtc::new(
        &lab.router,
        &[
            ("hosts", "127.0.0.1 localhost\n"),
            (
                "resolv.conf",
                "nameserver 198.51.100.2\noptions timeout:1\n",
            ),
        ],
    );
    let dns = Dns::start(udp_in(&lab.wan, "198.51.100.2:53"), records);
    let scratch = Scratch::new(tag);
    let conf = router_config(&scratch, &format!("host_outbound = {name}\n"));
    start_daemon(&mut lab, &scratch, &conf);
    (lab, etc, dns, scratch)
}

/// Waits up to 25 s (the name is looked up every 5 s) for `needle` in the daemon's log;
/// returns how long it took.
fn wait_for_dyndns_log(scratch: &Scratch, needle: &str) -> Duration {
    let since = Instant::now();
    wait_for_log_within(&scratch.path("daemon.log"), needle, Duration::from_secs(25));
    since.elapsed()
}

/// Registers and checks that the WAN side saw `ip` in the top Via and the Contact.
fn registers_as(lab: &Lab, scratch: &Scratch, tag: &str, ip: &str) {
    let got = register(lab, scratch, tag, "[remote_ip]");
    assert_starts(
        header_values(&got, "Via")[0],
        &format!("SIP/2.0/UDP {ip}:5060;branch=z9hG4bK"),
        &got,
    );
    assert_starts(
        &header_values(&got, "Contact").join(","),
        &format!("<sip:alice@{ip}>"),
        &got,
    );
}

/// Issue 5: `host_outbound` given as a dynamic DNS name, as the example
/// configuration suggests. It is advertised, and when the name moves to a
/// new address (the ISP gave the router another one) the daemon follows
/// without a restart, like upstream, which re-resolves it after its 60 s
/// DNS cache expires.
#[test]
fn host_outbound_as_a_dyndns_name_follows_its_address() {
    if !can_run("host_outbound_as_a_dyndns_name_follows_its_address") {
        return;
    }
    let name = "home.example.test";
    let (lab, _etc, dns, scratch) =
        dyndns_lab("dyndns", name, vec![(name.into(), A, vec![203, 0, 113, 5])]);
    registers_as(&lab, &scratch, "reg0", "203.0.113.5");

    dns.set(name, A, vec![203, 0, 113, 6]);
    let took = wait_for_dyndns_log(
        &scratch,
        "host_outbound home.example.test: address 203.0.113.6",
    );
    eprintln!("new host_outbound address used after {took:?}");
    registers_as(&lab, &scratch, "reg1", "203.0.113.6");
}

/// The router boots before DNS answers for its dynamic DNS name: the daemon
/// starts anyway (upstream does too; it used to refuse to start), advertises
/// nothing on the WAN side meanwhile, and once the name resolves it is used
/// without a restart.
#[test]
fn host_outbound_that_does_not_resolve_at_start_is_used_once_it_does() {
    if !can_run("host_outbound_that_does_not_resolve_at_start_is_used_once_it_does") {
        return;
    }
    let name = "late.example.test";
    // The name has no address yet.
    let (lab, _etc, dns, scratch) = dyndns_lab("dyndns-late", name, vec![]);
    wait_for_dyndns_log(
        &scratch,
        "host_outbound late.example.test: does not resolve yet",
    );

    dns.set(name, A, vec![203, 0, 113, 5]);
    let took = wait_for_dyndns_log(
        &scratch,
        "host_outbound late.example.test: address 203.0.113.5",
    );
    eprintln!("name resolved and used after {took:?}");
    registers_as(&lab, &scratch, "reg0", "203.0.113.5");
}

/// Issue 5: the router boots before its WAN link (PPPoE not up yet): the
/// daemon starts without a WAN address, and once one appears it is used
/// within about a second, for registrations and calls with audio.
#[test]
fn a_wan_address_that_comes_after_the_daemon_is_used() {
    if !can_run("a_wan_address_that_comes_after_the_daemon_is_used") {
        return;
    }
    let mut lab = Lab::new();
    let router = lab.router.clone();
    lab.exec_ok(
        &router,
        &["ip", "addr", "del", "198.51.100.1/24", "dev", "wan0"],
    );
    let scratch = Scratch::new("lateaddr");
    let conf = router_config(&scratch, "");
    start_daemon(&mut lab, &scratch, &conf);
    wait_for_log(
        &scratch.path("daemon.log"),
        "if_outbound wan0: no usable address",
    );

    lab.exec_ok(
        &router,
        &["ip", "addr", "add", "198.51.100.1/24", "dev", "wan0"],
    );
    let added = Instant::now();
    wait_for_log(
        &scratch.path("daemon.log"),
        "if_outbound wan0: address 198.51.100.1",
    );
    assert!(
        added.elapsed() < Duration::from_millis(2000),
        "{:?}",
        added.elapsed()
    );
    let got = register(&lab, &scratch, "reg", "[remote_ip]");
    assert_starts(
        header_values(&got, "Via")[0],
        "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK",
        &got,
    );
    assert_starts(
        &header_values(&got, "Contact").join(","),
        "<sip:alice@198.51.100.1>",
        &got,
    );
    outgoing_call(&mut lab, &scratch, "call", None, 5060, ROUTER_WAN);
}
