//! End-to-end media: RTP and RTCP relayed by the real `siproxd` between a
//! LAN phone and WAN parties in network namespaces (tests/common/netns.rs).
//! Audio is played by sipp from a G.711 capture, or sent by the test itself
//! from sockets inside the namespaces; tcpdump watches both ends and the
//! router's interfaces.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::media::*;
use common::netns::*;
use common::sipp::*;

const ROUTER: &str = "192.0.2.1:5060";
/// The SDP media port of the test's own endpoints.
const MEDIA: u16 = 40000;

fn register(lab: &Lab, dir: &Path) {
    let provider = Sipp::new(&lab.wan, "provider_registrar.xml", PROVIDER, 5060).start(lab, dir);
    Sipp::new(&lab.lan, "phone_register.xml", LAN_PHONE, 5060)
        .via(ROUTER)
        .to(&format!("{PROVIDER}:5060"))
        .run(lab, dir);
    finish(provider, dir, "provider_registrar");
}

/// Waits (bounded) until the relay has no port bound any more.
fn assert_relay_ports_closed(lab: &Lab) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let ports = relay_ports(lab);
        if ports.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "relay ports still bound after BYE: {ports:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tcpdump_text_is_parsed() {
    let text = "listening on eth0\n\
        12:00:00.000001 IP (tos 0xb8, ttl 64, id 1, offset 0, flags [DF], proto UDP (17), length 200)\n    \
        198.51.100.1.7070 > 198.51.100.3.6000: UDP, length 172\n\
        12:00:00.000002 IP 192.0.2.1.7072 > 192.0.2.10.6000: UDP, length 172\n\
        2 packets captured\n";
    assert_eq!(
        datagrams(text),
        vec![
            Datagram {
                src: "198.51.100.1.7070".into(),
                dst: "198.51.100.3.6000".into(),
                tos: Some(0xb8)
            },
            Datagram {
                src: "192.0.2.1.7072".into(),
                dst: "192.0.2.10.6000".into(),
                tos: None
            },
        ]
    );
}

/// Issue 5 and 6: sipp plays G.711 audio from both sides after the ACK, in
/// a call out and a call in; the audio arrives at both ends, marked EF on
/// the wire, and the relay's ports are closed once each call is over.
#[test]
fn audio_flows_both_ways_in_calls_both_ways_marked_ef() {
    if !can_run("audio_flows_both_ways_in_calls_both_ways_marked_ef") {
        return;
    }
    let mut lab = Lab::new();
    let scratch = Scratch::new("audio");
    let conf = router_config(&scratch, "");
    start_daemon(&mut lab, &scratch, &conf);
    register(&lab, &scratch.0);
    let play = [("MEDIA", PLAY_PCAP)];
    let dir = scratch.0.clone();

    // alice calls bob.
    let bob = scenario(&scratch, "t_remote_answer.xml", "out-bob", &play);
    let alice = scenario(&scratch, "t_phone_call.xml", "out-alice", &play);
    let seen = with_captures(&mut lab, &scratch, "out", ROUTER_WAN, |lab| {
        let uas = Sipp::new(&lab.wan, bob.to_str().unwrap(), REMOTE, 5060).start(lab, &dir);
        Sipp::new(&lab.lan, alice.to_str().unwrap(), LAN_PHONE, 5060)
            .via(ROUTER)
            .to(&format!("{REMOTE}:5060"))
            .arg("-d")
            .arg("1500")
            .run(lab, &dir);
        finish(uas, &dir, "out-bob");
    });
    // 1.5 s of 30 ms packets is 50; allow for the start-up of playback.
    assert_two_way_audio(&seen, 25);
    assert_relay_ports_closed(&lab);

    // bob calls alice.
    let alice = scenario(&scratch, "t_phone_answer.xml", "in-alice", &play);
    let bob = scenario(&scratch, "t_remote_call.xml", "in-bob", &play);
    let seen = with_captures(&mut lab, &scratch, "in", ROUTER_WAN, |lab| {
        let uas = Sipp::new(&lab.lan, alice.to_str().unwrap(), LAN_PHONE, 5060).start(lab, &dir);
        Sipp::new(&lab.wan, bob.to_str().unwrap(), REMOTE, 5062)
            .to(&format!("{ROUTER_WAN}:5060"))
            .arg("-d")
            .arg("1500")
            .run(lab, &dir);
        finish(uas, &dir, "in-alice");
    });
    assert_two_way_audio(&seen, 25);
    assert_relay_ports_closed(&lab);
}

/// A call whose media the test carries itself — out (alice calls bob) or
/// in (bob calls alice): sipp does the signalling with SDP naming port
/// 40000 on both sides and holds the call for `hold_ms`; `media` runs while
/// it is up, with the relay's RTP port on the LAN and on the WAN side.
fn call_with_own_media(
    lab: &mut Lab,
    scratch: &Scratch,
    incoming: bool,
    hold_ms: u32,
    media: impl FnOnce(&mut Lab, SocketAddr, SocketAddr),
) {
    let port = MEDIA.to_string();
    let subst = [("PORT", port.as_str())];
    let dir = &scratch.0;
    let hold = hold_ms.to_string();
    let (uas, uac) = if incoming {
        let alice = scenario(scratch, "t_phone_answer.xml", "own-alice", &subst);
        let bob = scenario(scratch, "t_remote_call.xml", "own-bob", &subst);
        let uas = Sipp::new(&lab.lan, alice.to_str().unwrap(), LAN_PHONE, 5060).start(lab, dir);
        let uac = Sipp::new(&lab.wan, bob.to_str().unwrap(), REMOTE, 5062)
            .to(&format!("{ROUTER_WAN}:5060"))
            .arg("-d")
            .arg(&hold)
            .start(lab, dir);
        (uas, uac)
    } else {
        let bob = scenario(scratch, "t_remote_answer.xml", "own-bob", &subst);
        let alice = scenario(scratch, "t_phone_call.xml", "own-alice", &subst);
        let uas = Sipp::new(&lab.wan, bob.to_str().unwrap(), REMOTE, 5060).start(lab, dir);
        let uac = Sipp::new(&lab.lan, alice.to_str().unwrap(), LAN_PHONE, 5060)
            .via(ROUTER)
            .to(&format!("{REMOTE}:5060"))
            .arg("-d")
            .arg(&hold)
            .start(lab, dir);
        (uas, uac)
    };
    // Both SDPs have passed once both legs' pairs are bound.
    let ports = wait_relay_ports(lab, 4);
    let lan_relay = relay_rtp_on(&ports, ROUTER_LAN);
    let wan_relay = relay_rtp_on(&ports, ROUTER_WAN);
    media(lab, lan_relay, wan_relay);
    finish(uac, dir, "caller");
    finish(uas, dir, "callee");
}

fn sources(got: &[(SocketAddr, Vec<u8>)]) -> Vec<SocketAddr> {
    got.iter().map(|(a, _)| *a).collect()
}

/// Issue 6: RTP and RTCP both ways, each sent from the port the relay
/// advertised (symmetric), all marked EF on the wire; after BYE the relay's
/// sockets are gone and their ports can be bound again.
#[test]
fn rtcp_is_relayed_and_marked_ef_and_ports_close_after_bye() {
    if !can_run("rtcp_is_relayed_and_marked_ef_and_ports_close_after_bye") {
        return;
    }
    let mut lab = Lab::new();
    let scratch = Scratch::new("rtcp");
    let conf = router_config(&scratch, "");
    start_daemon(&mut lab, &scratch, &conf);
    register(&lab, &scratch.0);

    let phone = |p: u16| format!("{LAN_PHONE}:{p}");
    let remote = |p: u16| format!("{REMOTE}:{p}");
    let lan_rtp = udp_in(&lab.lan, &phone(MEDIA));
    let lan_rtcp = udp_in(&lab.lan, &phone(MEDIA + 1));
    let wan_rtp = udp_in(&lab.wan, &remote(MEDIA));
    let wan_rtcp = udp_in(&lab.wan, &remote(MEDIA + 1));
    let mut used = Vec::new();
    let captured = std::cell::RefCell::new(Vec::new());

    call_with_own_media(
        &mut lab,
        &scratch,
        false,
        4000,
        |lab, lan_relay, wan_relay| {
            used = vec![lan_relay, wan_relay];
            let filter = "udp and not port 5060";
            let router = lab.router.clone();
            let lan0 = Capture::start(lab, &scratch, "lan0", &router, "lan0", true, filter);
            let wan0 = Capture::start(lab, &scratch, "wan0", &router, "wan0", true, filter);
            let plus1 = |a: SocketAddr| SocketAddr::new(a.ip(), a.port() + 1);

            send_rtp(&lan_rtp, lan_relay, 5, 0x1111);
            let got = drain(&wan_rtp, Duration::from_millis(200));
            assert_eq!(got.len(), 5, "phone → remote RTP: {:?}", sources(&got));
            assert!(sources(&got).iter().all(|s| *s == wan_relay), "{got:?}");

            send_rtp(&wan_rtp, wan_relay, 5, 0x2222);
            let got = drain(&lan_rtp, Duration::from_millis(200));
            assert_eq!(got.len(), 5, "remote → phone RTP: {:?}", sources(&got));
            assert!(sources(&got).iter().all(|s| *s == lan_relay), "{got:?}");

            for _ in 0..3 {
                lan_rtcp.send_to(&rtcp(0x1111), plus1(lan_relay)).unwrap();
                wan_rtcp.send_to(&rtcp(0x2222), plus1(wan_relay)).unwrap();
            }
            let got = drain(&wan_rtcp, Duration::from_millis(200));
            assert_eq!(got.len(), 3, "phone → remote RTCP");
            assert!(sources(&got).iter().all(|s| *s == plus1(wan_relay)));
            assert_eq!(got[0].1, rtcp(0x1111), "RTCP relayed byte for byte");
            let got = drain(&lan_rtcp, Duration::from_millis(200));
            assert_eq!(got.len(), 3, "remote → phone RTCP");
            assert!(sources(&got).iter().all(|s| *s == plus1(lan_relay)));

            captured
                .borrow_mut()
                .push(("lan0", lan_relay, lan0.stop(lab)));
            captured
                .borrow_mut()
                .push(("wan0", wan_relay, wan0.stop(lab)));
        },
    );

    // On the wire: everything the relay sent, RTP and RTCP, carries EF.
    for (side, relay, text) in captured.into_inner() {
        let ip = relay.ip().to_string();
        let sent: Vec<Datagram> = datagrams(&text)
            .into_iter()
            .filter(|d| d.src.starts_with(&format!("{ip}.")))
            .collect();
        let rtp = dotted(&ip, relay.port());
        let rtcp = dotted(&ip, relay.port() + 1);
        let n_rtp = sent.iter().filter(|d| d.src == rtp).count();
        let n_rtcp = sent.iter().filter(|d| d.src == rtcp).count();
        assert_eq!((n_rtp, n_rtcp), (5, 3), "{side}: {sent:?}");
        assert!(
            sent.iter().all(|d| d.tos == Some(0xb8)),
            "{side}: sent without tos 0xb8:\n{text}"
        );
    }

    // After the BYE: no relay socket left, and each port binds again.
    assert_relay_ports_closed(&lab);
    for relay in used {
        for port in [relay.port(), relay.port() + 1] {
            let addr = SocketAddr::new(relay.ip(), port).to_string();
            drop(udp_in(&lab.router, &addr));
        }
    }
}

/// Issue 6: bob is behind a NAT, so his RTP comes from port 41000 and his
/// RTCP from 41001 while his SDP says 40000. After the relay's probation
/// (3 packets) each is latched: the phone hears him, the phone's RTP and
/// RTCP go to his real ports (nothing to the SDP's), and a stranger's
/// packets to the relay port are dropped. In calls both ways.
fn remote_party_behind_nat(tag: &str, incoming: bool) {
    let mut lab = Lab::new();
    let scratch = Scratch::new(tag);
    let conf = router_config(&scratch, "");
    start_daemon(&mut lab, &scratch, &conf);
    register(&lab, &scratch.0);

    let lan = udp_in(&lab.lan, &format!("{LAN_PHONE}:{MEDIA}"));
    let lan_rtcp = udp_in(&lab.lan, &format!("{LAN_PHONE}:{}", MEDIA + 1));
    let wan_sdp = udp_in(&lab.wan, &format!("{REMOTE}:{MEDIA}"));
    let wan_nat = udp_in(&lab.wan, &format!("{REMOTE}:41000"));
    let wan_nat_rtcp = udp_in(&lab.wan, &format!("{REMOTE}:41001"));
    let stranger = udp_in(&lab.wan, &format!("{PROVIDER}:42000"));

    call_with_own_media(
        &mut lab,
        &scratch,
        incoming,
        3000,
        |_, lan_relay, wan_relay| {
            let plus1 = |a: SocketAddr| SocketAddr::new(a.ip(), a.port() + 1);
            send_rtp(&wan_nat, wan_relay, 6, 0x3333);
            let heard = drain(&lan, Duration::from_millis(200));
            assert_eq!(heard.len(), 6, "the phone hears bob from behind his NAT");
            assert!(sources(&heard).iter().all(|s| *s == lan_relay));

            send_rtp(&lan, lan_relay, 5, 0x4444);
            let at_nat = drain(&wan_nat, Duration::from_millis(200));
            assert_eq!(
                at_nat.len(),
                5,
                "the phone's audio goes to bob's latched source"
            );
            assert!(sources(&at_nat).iter().all(|s| *s == wan_relay));
            let at_sdp = drain(&wan_sdp, Duration::from_millis(50));
            assert!(
                at_sdp.is_empty(),
                "nothing to the SDP port once latched: {at_sdp:?}"
            );

            for _ in 0..4 {
                wan_nat_rtcp
                    .send_to(&rtcp(0x3333), plus1(wan_relay))
                    .unwrap();
            }
            assert_eq!(drain(&lan_rtcp, Duration::from_millis(200)).len(), 4);
            for _ in 0..2 {
                lan_rtcp.send_to(&rtcp(0x4444), plus1(lan_relay)).unwrap();
            }
            let got = drain(&wan_nat_rtcp, Duration::from_millis(200));
            assert_eq!(
                got.len(),
                2,
                "the phone's RTCP goes to bob's latched RTCP source"
            );

            send_rtp(&stranger, wan_relay, 5, 0x5555);
            let injected = drain(&lan, Duration::from_millis(200));
            assert!(
                injected.is_empty(),
                "a stranger's RTP reached the phone: {injected:?}"
            );
        },
    );
    assert_relay_ports_closed(&lab);
}

#[test]
fn a_remote_party_behind_nat_is_latched_and_heard_in_a_call_out() {
    if !can_run("a_remote_party_behind_nat_is_latched_and_heard_in_a_call_out") {
        return;
    }
    remote_party_behind_nat("latch-out", false);
}

#[test]
fn a_remote_party_behind_nat_is_latched_and_heard_in_a_call_in() {
    if !can_run("a_remote_party_behind_nat_is_latched_and_heard_in_a_call_in") {
        return;
    }
    remote_party_behind_nat("latch-in", true);
}

/// The phone's side of a call that ends before it is answered.
const PHONE_CANCELS: &str = r#"
  <recv response="180"/>
  <pause milliseconds="700"/>
  <send>
    <![CDATA[

      CANCEL sip:bob@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK[pid]i[call_number]
      Max-Forwards: 70
      From: "alice" <sip:alice@example.test>;tag=[pid]o[call_number]
      To: <sip:bob@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <recv response="487"/>
  <send>
    <![CDATA[

      ACK sip:bob@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK[pid]i[call_number]
      Max-Forwards: 70
      From: "alice" <sip:alice@example.test>;tag=[pid]o[call_number]
      To: <sip:bob@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Content-Length: 0

    ]]>
  </send>"#;

const REMOTE_RINGS_UNTIL_CANCELLED: &str = r#"
  <send>
    <![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]b[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:bob@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
  <recv request="CANCEL"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]b[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <send>
    <![CDATA[

      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]b[call_number]
      [last_Call-ID:]
      CSeq: 1 INVITE
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>"#;

const PHONE_GETS_BUSY: &str = r#"
  <recv response="180" optional="true"/>
  <recv response="486"/>
  <send>
    <![CDATA[

      ACK sip:bob@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK[pid]i[call_number]
      Max-Forwards: 70
      From: "alice" <sip:alice@example.test>;tag=[pid]o[call_number]
      To: <sip:bob@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Content-Length: 0

    ]]>
  </send>"#;

const REMOTE_IS_BUSY: &str = r#"
  <pause milliseconds="700"/>
  <send>
    <![CDATA[

      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]b[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>"#;

/// Issue 6: the relay opens ports on the INVITE's offer; a call that is
/// cancelled while ringing, or rejected, must give them back at once (else
/// each one holds a pair until rtp_timeout, and a busy evening runs the
/// port range dry).
#[test]
fn relay_ports_are_closed_when_a_call_is_cancelled_or_rejected() {
    if !can_run("relay_ports_are_closed_when_a_call_is_cancelled_or_rejected") {
        return;
    }
    let mut lab = Lab::new();
    let scratch = Scratch::new("early");
    let conf = router_config(&scratch, "");
    start_daemon(&mut lab, &scratch, &conf);
    register(&lab, &scratch.0);
    let dir = &scratch.0;
    for (tag, phone_end, remote_end) in [
        ("cancel", PHONE_CANCELS, REMOTE_RINGS_UNTIL_CANCELLED),
        ("busy", PHONE_GETS_BUSY, REMOTE_IS_BUSY),
    ] {
        let bob = scenario(
            &scratch,
            "t_remote_ends_early.xml",
            &format!("{tag}-bob"),
            &[("END", remote_end)],
        );
        let alice = scenario(
            &scratch,
            "t_phone_call_ends_early.xml",
            &format!("{tag}-alice"),
            &[("END", phone_end)],
        );
        let uas = Sipp::new(&lab.wan, bob.to_str().unwrap(), REMOTE, 5060).start(&lab, dir);
        let uac = Sipp::new(&lab.lan, alice.to_str().unwrap(), LAN_PHONE, 5060)
            .via(ROUTER)
            .to(&format!("{REMOTE}:5060"))
            .start(&lab, dir);
        // The offer has opened the WAN side while bob rings or thinks.
        let open = wait_relay_ports(&lab, 2);
        assert!(
            open.iter().any(|a| a.ip().to_string() == ROUTER_WAN),
            "{tag}: {open:?}"
        );
        finish(uac, dir, &format!("{tag}-alice"));
        finish(uas, dir, &format!("{tag}-bob"));
        assert_relay_ports_closed(&lab);
    }
}
