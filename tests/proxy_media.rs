//! SDP and media through the RTP table: early media, re-INVITE, hold, several m= lines,
//! port 0, teardown paths, a rejected re-INVITE, port exhaustion, rtp_proxy_enable = 0.

mod proxy_common;

use std::net::SocketAddr;

use proxy_common::{branch_for, registered_with};
use siproxd::proxy::rtp_table::{Leg, LegOptions, Peer, RtpCommand, StreamId};
use siproxd::proxy::testnet::{phone, remote, TestNet};
use siproxd::proxy::{Destination, Transport};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn open(id: u64, leg: Leg, local: &str) -> RtpCommand {
    RtpCommand::Open {
        id: StreamId(id),
        leg,
        local: addr(local),
        options: LegOptions {
            dscp: 0,
            latch: leg == Leg::Outbound,
            dejitter_us: 0,
        },
    }
}

fn update(id: u64, leg: Leg, ip: &str, port: u16) -> RtpCommand {
    RtpCommand::Update {
        id: StreamId(id),
        leg,
        peer: Peer::Media {
            rtp: addr(&format!("{ip}:{port}")),
            rtcp: addr(&format!("{ip}:{}", port + 1)),
        },
    }
}

fn sdp(user: &str, ip: &str, media: &str) -> String {
    format!("v=0\no={user} 1 1 IN IP4 {ip}\ns=-\nc=IN IP4 {ip}\nt=0 0\n{media}")
}

fn body_headers(body: &str) -> &'static str {
    if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\n"
    }
}

/// A request from alice's phone in dialog m1 (To tag once `to_tag`).
fn phone_req(method: &str, cseq: u32, branch: &str, to_tag: bool, body: &str) -> String {
    let tt = if to_tag { ";tag=b1" } else { "" };
    let ct = body_headers(body);
    format!(
        "{method} sip:bob@198.51.100.3 SIP/2.0
Via: SIP/2.0/UDP 10.99.0.10:5060;branch={branch}
Max-Forwards: 70
From: <sip:alice@example.test>;tag=c1
To: <sip:bob@198.51.100.3>{tt}
Call-ID: m1@10.99.0.10
CSeq: {cseq} {method}
Contact: <sip:alice@10.99.0.10:5060>
{ct}Content-Length: *

{body}"
    )
}

/// The remote's response to a phone request sent with `branch`.
fn remote_resp(status: &str, cseq: u32, method: &str, branch: &str, body: &str) -> String {
    let ours = branch_for(branch);
    let ct = body_headers(body);
    format!(
        "SIP/2.0 {status}
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={ours}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch={branch}
From: <sip:alice@example.test>;tag=c1
To: <sip:bob@198.51.100.3>;tag=b1
Call-ID: m1@10.99.0.10
CSeq: {cseq} {method}
{ct}Content-Length: *

{body}"
    )
}

/// A request from the remote party to alice in dialog m1.
fn remote_req(method: &str, cseq: u32, branch: &str, body: &str) -> String {
    let ct = body_headers(body);
    format!(
        "{method} sip:alice@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.3:5060;branch={branch}
Max-Forwards: 70
From: <sip:bob@198.51.100.3>;tag=b1
To: <sip:alice@example.test>;tag=c1
Call-ID: m1@10.99.0.10
CSeq: {cseq} {method}
Contact: <sip:bob@198.51.100.3>
{ct}Content-Length: *

{body}"
    )
}

/// The phone's response to a remote request sent with `branch`.
fn phone_resp(status: &str, cseq: u32, method: &str, branch: &str, body: &str) -> String {
    let ours = branch_for(branch);
    let ct = body_headers(body);
    format!(
        "SIP/2.0 {status}
Via: SIP/2.0/UDP 10.99.0.1:5060;branch={ours}
Via: SIP/2.0/UDP 198.51.100.3:5060;branch={branch}
From: <sip:bob@198.51.100.3>;tag=b1
To: <sip:alice@example.test>;tag=c1
Call-ID: m1@10.99.0.10
CSeq: {cseq} {method}
Contact: <sip:alice@10.99.0.10:5060>
{ct}Content-Length: *

{body}"
    )
}

const ALICE_AUDIO: &str = "m=audio 6000 RTP/AVP 0\n";
const BOB_AUDIO: &str = "m=audio 6000 RTP/AVP 0\n";

/// The body of the last transmission.
fn body_of(net: &mut TestNet) -> String {
    let out = String::from_utf8(net.one().bytes).unwrap();
    out[out.find("\r\n\r\n").unwrap() + 4..].to_string()
}

fn crlf(s: &str) -> String {
    s.replace('\n', "\r\n")
}

/// An established outgoing call m1: alice 10.99.0.10:6000 ⇄ bob 198.51.100.3:6000 via
/// relay ports WAN 7070 / LAN 7072, stream #1.
fn established() -> TestNet {
    let mut net = registered_with("");
    net.send(
        phone(),
        &phone_req(
            "INVITE",
            1,
            "z9hG4bK-i1",
            false,
            &sdp("alice", "10.99.0.10", ALICE_AUDIO),
        ),
    );
    net.send(
        remote(),
        &remote_resp(
            "200 OK",
            1,
            "INVITE",
            "z9hG4bK-i1",
            &sdp("bob", "198.51.100.3", BOB_AUDIO),
        ),
    );
    net.send(phone(), &phone_req("ACK", 1, "z9hG4bK-a1", true, ""));
    assert_eq!(net.take().len(), 3);
    assert_eq!(net.rtp().len(), 4);
    net
}

#[test]
fn early_media_opens_the_relay_and_the_same_answer_changes_nothing() {
    let mut net = registered_with("");
    net.send(
        phone(),
        &phone_req(
            "INVITE",
            1,
            "z9hG4bK-i1",
            false,
            &sdp("alice", "10.99.0.10", ALICE_AUDIO),
        ),
    );
    net.take();
    net.rtp();
    let bob = sdp("bob", "198.51.100.3", BOB_AUDIO);
    net.send(
        remote(),
        &remote_resp("183 Session Progress", 1, "INVITE", "z9hG4bK-i1", &bob),
    );
    assert_eq!(
        body_of(&mut net),
        crlf(&sdp("bob", "10.99.0.1", "m=audio 7072 RTP/AVP 0\n"))
    );
    assert_eq!(
        net.rtp(),
        [
            open(1, Leg::Inbound, "10.99.0.1:7072"),
            update(1, Leg::Outbound, "198.51.100.3", 6000)
        ]
    );
    net.send(
        remote(),
        &remote_resp("200 OK", 1, "INVITE", "z9hG4bK-i1", &bob),
    );
    assert_eq!(
        body_of(&mut net),
        crlf(&sdp("bob", "10.99.0.1", "m=audio 7072 RTP/AVP 0\n"))
    );
    assert_eq!(net.rtp(), []);
}

#[test]
fn reinvite_from_the_remote_moves_its_address_and_keeps_relay_ports() {
    let mut net = established();
    let moved = sdp("bob", "198.51.100.4", "m=audio 6010 RTP/AVP 0\n");
    net.send(remote(), &remote_req("INVITE", 1, "z9hG4bK-r1", &moved));
    let out = net.one();
    assert_eq!(out.to, Destination::Addr(phone()));
    let text = String::from_utf8(out.bytes).unwrap();
    assert!(
        text.ends_with(&crlf(&sdp("bob", "10.99.0.1", "m=audio 7072 RTP/AVP 0\n"))),
        "{text}"
    );
    assert_eq!(net.rtp(), [update(1, Leg::Outbound, "198.51.100.4", 6010)]);
    net.send(
        phone(),
        &phone_resp(
            "200 OK",
            1,
            "INVITE",
            "z9hG4bK-r1",
            &sdp("alice", "10.99.0.10", ALICE_AUDIO),
        ),
    );
    assert_eq!(
        body_of(&mut net),
        crlf(&sdp("alice", "198.51.100.1", "m=audio 7070 RTP/AVP 0\n"))
    );
    assert_eq!(net.rtp(), []);
}

#[test]
fn rejected_reinvite_keeps_the_established_media() {
    let mut net = established();
    let moved = sdp("bob", "198.51.100.4", "m=audio 6010 RTP/AVP 0\n");
    net.send(remote(), &remote_req("INVITE", 1, "z9hG4bK-r1", &moved));
    net.take();
    net.rtp();
    net.send(
        phone(),
        &phone_resp("488 Not Acceptable Here", 1, "INVITE", "z9hG4bK-r1", ""),
    );
    net.one();
    assert_eq!(net.rtp(), [update(1, Leg::Outbound, "198.51.100.3", 6000)]);
    assert_eq!(net.proxy.status().rtp_streams, 1);
}

#[test]
fn hold_keeps_the_zero_address_and_rewrites_the_port() {
    let mut net = established();
    let hold = "v=0\no=alice 1 2 IN IP4 10.99.0.10\ns=-\nc=IN IP4 0.0.0.0\nt=0 0\nm=audio 6000 RTP/AVP 0\na=sendonly\n";
    net.send(phone(), &phone_req("INVITE", 2, "z9hG4bK-h1", true, hold));
    assert_eq!(
        body_of(&mut net),
        crlf("v=0\no=alice 1 2 IN IP4 198.51.100.1\ns=-\nc=IN IP4 0.0.0.0\nt=0 0\nm=audio 7070 RTP/AVP 0\na=sendonly\n")
    );
    assert_eq!(
        net.rtp(),
        [RtpCommand::Update {
            id: StreamId(1),
            leg: Leg::Inbound,
            peer: Peer::Hold
        }]
    );
}

#[test]
fn several_media_lines_and_a_disabled_one() {
    let mut net = registered_with("");
    let media = "m=audio 6000 RTP/AVP 0\na=rtcp:6001 IN IP4 10.99.0.10\nm=video 0 RTP/AVP 96\nm=video 6002 RTP/AVP 97\nc=IN IP4 10.99.0.12\n";
    net.send(
        phone(),
        &phone_req(
            "INVITE",
            1,
            "z9hG4bK-i1",
            false,
            &sdp("alice", "10.99.0.10", media),
        ),
    );
    let want = "m=audio 7070 RTP/AVP 0\na=rtcp:7071 IN IP4 198.51.100.1\nm=video 0 RTP/AVP 96\nm=video 7072 RTP/AVP 97\nc=IN IP4 198.51.100.1\n";
    assert_eq!(body_of(&mut net), crlf(&sdp("alice", "198.51.100.1", want)));
    assert_eq!(
        net.rtp(),
        [
            open(1, Leg::Outbound, "198.51.100.1:7070"),
            update(1, Leg::Inbound, "10.99.0.10", 6000),
            open(2, Leg::Outbound, "198.51.100.1:7072"),
            update(2, Leg::Inbound, "10.99.0.12", 6002),
        ]
    );
}

#[test]
fn cancel_and_a_final_error_close_the_initial_invites_streams() {
    let mut net = registered_with("");
    net.send(
        phone(),
        &phone_req(
            "INVITE",
            1,
            "z9hG4bK-i1",
            false,
            &sdp("alice", "10.99.0.10", ALICE_AUDIO),
        ),
    );
    let invite = String::from_utf8(net.one().bytes).unwrap();
    net.rtp();
    net.send(phone(), &phone_req("CANCEL", 1, "z9hG4bK-i1", false, ""));
    let cancel = String::from_utf8(net.one().bytes).unwrap();
    let top_via = |m: &str| m.lines().nth(1).unwrap().to_string();
    assert_eq!(
        top_via(&cancel),
        top_via(&invite),
        "CANCEL must carry the INVITE's branch"
    );
    assert_eq!(net.rtp(), [RtpCommand::Close { id: StreamId(1) }]);

    let mut net = registered_with("");
    net.send(
        phone(),
        &phone_req(
            "INVITE",
            1,
            "z9hG4bK-i1",
            false,
            &sdp("alice", "10.99.0.10", ALICE_AUDIO),
        ),
    );
    net.take();
    net.rtp();
    net.send(
        remote(),
        &remote_resp("486 Busy Here", 1, "INVITE", "z9hG4bK-i1", ""),
    );
    net.one();
    assert_eq!(net.rtp(), [RtpCommand::Close { id: StreamId(1) }]);
}

#[test]
fn update_with_sdp_changes_the_phone_side() {
    let mut net = established();
    let moved = sdp("alice", "10.99.0.10", "m=audio 6004 RTP/AVP 0\n");
    net.send(phone(), &phone_req("UPDATE", 2, "z9hG4bK-u1", true, &moved));
    assert_eq!(
        body_of(&mut net),
        crlf(&sdp("alice", "198.51.100.1", "m=audio 7070 RTP/AVP 0\n"))
    );
    assert_eq!(net.rtp(), [update(1, Leg::Inbound, "10.99.0.10", 6004)]);
}

#[test]
fn relay_port_exhaustion_answers_503() {
    let mut net = registered_with("rtp_port_low = 7070\nrtp_port_high = 7070\n");
    net.send(
        phone(),
        &phone_req(
            "INVITE",
            1,
            "z9hG4bK-i1",
            false,
            &sdp("alice", "10.99.0.10", ALICE_AUDIO),
        ),
    );
    net.one();
    let second = phone_req(
        "INVITE",
        1,
        "z9hG4bK-i2",
        false,
        &sdp("alice", "10.99.0.10", ALICE_AUDIO),
    )
    .replace("m1@", "m2@");
    net.send(phone(), &second);
    let out = net.one();
    assert_eq!(
        (out.to, out.transport),
        (Destination::Addr(phone()), Transport::Udp)
    );
    assert!(out.bytes.starts_with(b"SIP/2.0 503 Service Unavailable\r\nVia: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-i2\r\n"));
    assert_eq!(net.proxy.status().counters.rtp_ports_exhausted, 1);
    assert_eq!(net.proxy.status().rtp_streams, 1);
}

#[test]
fn rtp_proxy_disabled_leaves_sdp_alone() {
    let mut net = registered_with("rtp_proxy_enable = 0\n");
    let offer = sdp("alice", "10.99.0.10", ALICE_AUDIO);
    net.send(
        phone(),
        &phone_req("INVITE", 1, "z9hG4bK-i1", false, &offer),
    );
    assert_eq!(body_of(&mut net), crlf(&offer));
    assert_eq!(net.rtp(), []);
}

#[test]
fn rtp_timeout_closes_a_silent_stream_and_activity_defers_it() {
    let mut net = established();
    net.advance(200);
    net.proxy.rtp_activity(StreamId(1), net.now.mono);
    net.advance(200);
    assert_eq!(net.rtp(), []);
    net.advance(101);
    assert_eq!(net.rtp(), [RtpCommand::Close { id: StreamId(1) }]);
}

#[test]
fn late_offer_in_the_200_and_answer_in_the_ack() {
    let mut net = registered_with("");
    net.send(phone(), &phone_req("INVITE", 1, "z9hG4bK-i1", false, ""));
    net.one();
    assert_eq!(net.rtp(), []);
    net.send(
        remote(),
        &remote_resp(
            "200 OK",
            1,
            "INVITE",
            "z9hG4bK-i1",
            &sdp("bob", "198.51.100.3", BOB_AUDIO),
        ),
    );
    assert_eq!(
        body_of(&mut net),
        crlf(&sdp("bob", "10.99.0.1", "m=audio 7070 RTP/AVP 0\n"))
    );
    assert_eq!(
        net.rtp(),
        [
            open(1, Leg::Inbound, "10.99.0.1:7070"),
            update(1, Leg::Outbound, "198.51.100.3", 6000)
        ]
    );
    net.send(
        phone(),
        &phone_req(
            "ACK",
            1,
            "z9hG4bK-a1",
            true,
            &sdp("alice", "10.99.0.10", ALICE_AUDIO),
        ),
    );
    assert_eq!(
        body_of(&mut net),
        crlf(&sdp("alice", "198.51.100.1", "m=audio 7072 RTP/AVP 0\n"))
    );
    assert_eq!(
        net.rtp(),
        [
            open(1, Leg::Outbound, "198.51.100.1:7072"),
            update(1, Leg::Inbound, "10.99.0.10", 6000)
        ]
    );
}

#[test]
fn host_outbound_is_advertised_while_the_relay_binds_the_real_address() {
    use siproxd::proxy::testnet::{config, interfaces};
    use siproxd::proxy::{Interfaces, Secrets};
    let ifaces = Interfaces {
        host_outbound: "203.0.113.50".parse().ok(),
        ..interfaces()
    };
    let mut net = TestNet::with(config(""), ifaces, Secrets::default());
    net.send(phone(), proxy_common::REGISTER);
    let reg = String::from_utf8(net.one().bytes).unwrap();
    assert!(reg.contains("\r\nVia: SIP/2.0/UDP 203.0.113.50:5060;branch="));
    assert!(reg.contains("\r\nContact: <sip:alice@203.0.113.50>;"));
    let media = "m=audio 6000 RTP/AVP 0\nm=video 6002 RTP/AVP 96\nc=IN IP4 10.99.0.10\n";
    net.send(
        phone(),
        &phone_req(
            "INVITE",
            1,
            "z9hG4bK-i1",
            false,
            &sdp("alice", "10.99.0.10", media),
        ),
    );
    let want = "m=audio 7070 RTP/AVP 0\nm=video 7072 RTP/AVP 96\nc=IN IP4 203.0.113.50\n";
    assert_eq!(body_of(&mut net), crlf(&sdp("alice", "203.0.113.50", want)));
    let cmds = net.rtp();
    assert_eq!(cmds[0], open(1, Leg::Outbound, "198.51.100.1:7070"));
    assert_eq!(cmds[2], open(2, Leg::Outbound, "198.51.100.1:7072"));
}

/// The relay could not bind a port the core handed out (another process
/// holds it): the core releases the stream and tells the relay to close it,
/// so its ports are not leaked.
#[test]
fn a_stream_the_relay_cannot_open_is_released() {
    let mut net = established();
    assert_eq!(net.proxy.status().rtp_streams, 1);
    net.proxy.rtp_failed(StreamId(1));
    assert_eq!(net.rtp(), [RtpCommand::Close { id: StreamId(1) }]);
    assert_eq!(net.proxy.status().rtp_streams, 0);
    // Unknown streams are ignored.
    net.proxy.rtp_failed(StreamId(99));
    assert_eq!(net.rtp(), []);
}
