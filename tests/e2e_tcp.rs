//! End-to-end over TCP: the real `siproxd` on the lab's router with the
//! phone and/or the WAN parties speaking SIP over TCP (sipp `-t t1`). Each
//! side's Via must name the transport used on that side, and the calls'
//! audio (sipp pcap playback, RTP over UDP as always) must reach both ends.

mod common;

use std::path::Path;

use common::media::*;
use common::netns::*;
use common::sipp::*;

const ROUTER: &str = "192.0.2.1:5060";

/// Which transport the phone ↔ router and router ↔ WAN hops use.
#[derive(Clone, Copy)]
struct Mode {
    phone_tcp: bool,
    wan_tcp: bool,
}

impl Mode {
    fn phone(self) -> &'static str {
        if self.phone_tcp {
            "TCP"
        } else {
            "UDP"
        }
    }
    fn wan(self) -> &'static str {
        if self.wan_tcp {
            "TCP"
        } else {
            "UDP"
        }
    }
    /// alice's masqueraded Contact as the WAN side must see it: with
    /// `;transport=tcp` when it is reached over TCP.
    fn masq(self) -> String {
        let t = if self.wan_tcp { ";transport=tcp" } else { "" };
        format!("<sip:alice@198.51.100.1{t}>")
    }
    /// A UDP phone asks for TCP beyond the router with `;transport=tcp`
    /// in the Request-URI; a TCP phone's requests continue over TCP.
    fn uri(self) -> &'static str {
        if self.wan_tcp && !self.phone_tcp {
            ";transport=tcp"
        } else {
            ""
        }
    }
}

fn sipp<'a>(ns: &'a str, path: &Path, ip: &'a str, port: u16, tcp: bool) -> Sipp<'a> {
    let s = Sipp::new(ns, path.to_str().unwrap(), ip, port);
    if tcp {
        s.tcp()
    } else {
        s
    }
}

fn assert_via(via: &str, transport: &str, sent_by: &str) {
    let want = format!("SIP/2.0/{transport} {sent_by}");
    assert!(via.starts_with(&want), "Via {via:?}, expected {want}…");
}

fn register(lab: &Lab, scratch: &Scratch, m: Mode) {
    let dir = &scratch.0;
    let uri = [("URI", m.uri())];
    let prov = scenario(scratch, "t_provider_registrar.xml", "reg-provider", &uri);
    let phone = scenario(scratch, "t_phone_register.xml", "reg-phone", &uri);
    let provider = sipp(&lab.wan, &prov, PROVIDER, 5060, m.wan_tcp).start(lab, dir);
    sipp(&lab.lan, &phone, LAN_PHONE, 5060, m.phone_tcp)
        .via(ROUTER)
        .to(&format!("{PROVIDER}:5060"))
        .run(lab, dir);
    finish(provider, dir, "reg-provider");

    let got = sipp_message(&sipp_messages(dir, "reg-provider"), "received", "REGISTER ");
    let vias = header_values(&got, "Via");
    assert_eq!(vias.len(), 2, "{got}");
    assert_via(vias[0], m.wan(), "198.51.100.1:5060;branch=z9hG4bK");
    assert_via(vias[1], m.phone(), "192.0.2.10:5060");
    let contact = header_values(&got, "Contact").join(",");
    assert!(contact.starts_with(&m.masq()), "{got}");
    let ok = sipp_message(&sipp_messages(dir, "reg-phone"), "received", "SIP/2.0 200");
    let vias = header_values(&ok, "Via");
    assert_eq!(vias.len(), 1, "the router's Via is removed: {ok}");
    assert_via(vias[0], m.phone(), "192.0.2.10:5060");
}

fn outgoing_call(lab: &mut Lab, scratch: &Scratch, m: Mode) {
    let dir = &scratch.0;
    let subst = [("URI", m.uri()), ("MEDIA", PLAY_PCAP)];
    let bob = scenario(scratch, "t_remote_answer.xml", "out-bob", &subst);
    let alice = scenario(scratch, "t_phone_call.xml", "out-alice", &subst);
    let seen = with_captures(lab, scratch, "out", ROUTER_WAN, |lab| {
        let uas = sipp(&lab.wan, &bob, REMOTE, 5060, m.wan_tcp).start(lab, dir);
        sipp(&lab.lan, &alice, LAN_PHONE, 5060, m.phone_tcp)
            .via(ROUTER)
            .to(&format!("{REMOTE}:5060"))
            .arg("-d")
            .arg("1000")
            .run(lab, dir);
        finish(uas, dir, "out-bob");
    });
    // 1 s of 30 ms packets is 33.
    assert_two_way_audio(&seen, 15);

    let at_bob = sipp_messages(dir, "out-bob");
    for method in ["INVITE ", "ACK ", "BYE "] {
        let got = sipp_message(&at_bob, "received", method);
        let vias = header_values(&got, "Via");
        assert_eq!(vias.len(), 2, "{got}");
        assert_via(vias[0], m.wan(), "198.51.100.1:5060;branch=z9hG4bK");
        assert_via(vias[1], m.phone(), "192.0.2.10:5060");
    }
    let invite = sipp_message(&at_bob, "received", "INVITE ");
    let contact = header_values(&invite, "Contact").join(",");
    assert!(contact.starts_with(&m.masq()), "{invite}");
    let ok = sipp_message(&sipp_messages(dir, "out-alice"), "received", "SIP/2.0 200");
    let vias = header_values(&ok, "Via");
    assert_eq!(vias.len(), 1, "{ok}");
    assert_via(vias[0], m.phone(), "192.0.2.10:5060");
}

fn incoming_call(lab: &mut Lab, scratch: &Scratch, m: Mode) {
    let dir = &scratch.0;
    let play = [("MEDIA", PLAY_PCAP)];
    let alice = scenario(scratch, "t_phone_answer.xml", "in-alice", &play);
    let bob = scenario(scratch, "t_remote_call.xml", "in-bob", &play);
    let seen = with_captures(lab, scratch, "in", ROUTER_WAN, |lab| {
        let uas = sipp(&lab.lan, &alice, LAN_PHONE, 5060, m.phone_tcp).start(lab, dir);
        sipp(&lab.wan, &bob, REMOTE, 5062, m.wan_tcp)
            .to(&format!("{ROUTER_WAN}:5060"))
            .arg("-d")
            .arg("1000")
            .run(lab, dir);
        finish(uas, dir, "in-alice");
    });
    assert_two_way_audio(&seen, 15);

    let at_alice = sipp_messages(dir, "in-alice");
    for method in ["INVITE ", "ACK ", "BYE "] {
        let got = sipp_message(&at_alice, "received", method);
        let vias = header_values(&got, "Via");
        assert_eq!(vias.len(), 2, "{got}");
        assert_via(vias[0], m.phone(), "192.0.2.1:5060;branch=z9hG4bK");
        assert_via(vias[1], m.wan(), "198.51.100.3:5062");
    }
    let ok = sipp_message(&sipp_messages(dir, "in-bob"), "received", "SIP/2.0 200");
    let vias = header_values(&ok, "Via");
    assert_eq!(vias.len(), 1, "{ok}");
    assert_via(vias[0], m.wan(), "198.51.100.3:5062");
    let contact = header_values(&ok, "Contact").join(",");
    assert!(contact.starts_with(&m.masq()), "{ok}");
}

fn register_and_call_both_ways(tag: &str, m: Mode) {
    let mut lab = Lab::new();
    let scratch = Scratch::new(tag);
    let conf = router_config(&scratch, "");
    start_daemon(&mut lab, &scratch, &conf);
    register(&lab, &scratch, m);
    incoming_call(&mut lab, &scratch, m);
    outgoing_call(&mut lab, &scratch, m);
    let log = std::fs::read_to_string(scratch.path("daemon.log")).unwrap();
    assert!(!log.contains("panicked"), "{log}");
}

/// Issue 5: phone ↔ router and router ↔ WAN both over TCP.
#[test]
fn phone_registers_and_calls_both_ways_over_tcp() {
    if !can_run("phone_registers_and_calls_both_ways_over_tcp") {
        return;
    }
    register_and_call_both_ways(
        "tcp",
        Mode {
            phone_tcp: true,
            wan_tcp: true,
        },
    );
}

/// Issue 5: the phone speaks UDP, the provider and the remote party TCP.
#[test]
fn udp_phone_registers_and_calls_both_ways_with_tcp_peers() {
    if !can_run("udp_phone_registers_and_calls_both_ways_with_tcp_peers") {
        return;
    }
    register_and_call_both_ways(
        "udptcp",
        Mode {
            phone_tcp: false,
            wan_tcp: true,
        },
    );
}
