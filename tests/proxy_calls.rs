//! Calls through the proxy on the TestNet: outgoing (LAN → WAN) and incoming (WAN → LAN),
//! exact bytes both ways, RTP commands in order.

mod proxy_common;

use std::net::SocketAddr;

use proxy_common::{branch_for, REGISTER};
use siproxd::proxy::rtp_table::{Leg, LegOptions, Peer, RtpCommand, StreamId};
use siproxd::proxy::testnet::{phone, registrar, remote, TestNet};
use siproxd::proxy::Transport;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A TestNet with alice's phone registered (registrar echoed the masqueraded contact).
pub fn registered() -> TestNet {
    let mut net = TestNet::new("");
    net.send(phone(), REGISTER);
    net.take();
    let b = branch_for("z9hG4bK-reg-1");
    net.send(
        registrar(),
        &format!(
            "SIP/2.0 200 OK
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={b}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-reg-1
From: <sip:alice@example.test>;tag=r1
To: <sip:alice@example.test>;tag=srv1
Call-ID: reg1@10.99.0.10
CSeq: 1 REGISTER
Contact: <sip:alice@198.51.100.1>;expires=600
Content-Length: 0

"
        ),
    );
    net.take();
    net
}

fn open(id: u64, leg: Leg, local: &str) -> RtpCommand {
    let latch = leg == Leg::Outbound;
    RtpCommand::Open {
        id: StreamId(id),
        leg,
        local: addr(local),
        options: LegOptions {
            dscp: 0,
            latch,
            dejitter_us: 0,
        },
    }
}

fn update(id: u64, leg: Leg, rtp: &str, rtcp: &str) -> RtpCommand {
    RtpCommand::Update {
        id: StreamId(id),
        leg,
        peer: Peer::Media {
            rtp: addr(rtp),
            rtcp: addr(rtcp),
        },
    }
}

const INVITE_OUT: &str = "INVITE sip:bob@198.51.100.3:5060 SIP/2.0
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-inv-1
Max-Forwards: 70
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <sip:bob@198.51.100.3>
Call-ID: call1@10.99.0.10
CSeq: 1 INVITE
Contact: <sip:alice@10.99.0.10:5060>
User-Agent: sipp-uac
Content-Type: application/sdp
Content-Length: *

v=0
o=alice 53655765 2353687637 IN IP4 10.99.0.10
s=-
c=IN IP4 10.99.0.10
t=0 0
m=audio 6000 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
";

/// The remote's response to INVITE_OUT, with our Via on top.
fn remote_response(status: &str, extra: &str, body: &str) -> String {
    let b = branch_for("z9hG4bK-inv-1");
    format!(
        "SIP/2.0 {status}
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={b}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-inv-1
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <sip:bob@198.51.100.3>;tag=b1
Call-ID: call1@10.99.0.10
CSeq: 1 INVITE
{extra}Content-Length: *

{body}"
    )
}

const BOB_SDP: &str = "v=0
o=bob 1 1 IN IP4 198.51.100.3
s=-
c=IN IP4 198.51.100.3
t=0 0
m=audio 6000 RTP/AVP 8
";

#[test]
fn outgoing_call_invite_answer_ack_bye() {
    let mut net = registered();
    net.send(phone(), INVITE_OUT);
    let b = branch_for("z9hG4bK-inv-1");
    net.expect(
        remote(),
        Transport::Udp,
        &format!(
            "INVITE sip:bob@198.51.100.3:5060 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={b}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-inv-1
Max-Forwards: 69
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <sip:bob@198.51.100.3>
Call-ID: call1@10.99.0.10
CSeq: 1 INVITE
Contact: <sip:alice@198.51.100.1>
User-Agent: sipp-uac
Content-Type: application/sdp
Content-Length: *

v=0
o=alice 53655765 2353687637 IN IP4 198.51.100.1
s=-
c=IN IP4 198.51.100.1
t=0 0
m=audio 7070 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
"
        ),
    );
    assert_eq!(
        net.rtp(),
        [
            open(1, Leg::Outbound, "198.51.100.1:7070"),
            update(1, Leg::Inbound, "10.99.0.10:6000", "10.99.0.10:6001")
        ]
    );

    net.send(remote(), &remote_response("180 Ringing", "", ""));
    net.expect(
        phone(),
        Transport::Udp,
        "SIP/2.0 180 Ringing
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-inv-1
Record-Route: <sip:siproxd@10.99.0.1:5060;lr>
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <sip:bob@198.51.100.3>;tag=b1
Call-ID: call1@10.99.0.10
CSeq: 1 INVITE
Content-Length: 0

",
    );

    let ok = remote_response(
        "200 OK",
        "Contact: <sip:198.51.100.3:5060;transport=UDP>\nContent-Type: application/sdp\n",
        BOB_SDP,
    );
    net.send(remote(), &ok);
    net.expect(
        phone(),
        Transport::Udp,
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-inv-1
Record-Route: <sip:siproxd@10.99.0.1:5060;lr>
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <sip:bob@198.51.100.3>;tag=b1
Call-ID: call1@10.99.0.10
CSeq: 1 INVITE
Contact: <sip:198.51.100.3:5060;transport=UDP>
Content-Type: application/sdp
Content-Length: *

v=0
o=bob 1 1 IN IP4 10.99.0.1
s=-
c=IN IP4 10.99.0.1
t=0 0
m=audio 7072 RTP/AVP 8
",
    );
    assert_eq!(
        net.rtp(),
        [
            open(1, Leg::Inbound, "10.99.0.1:7072"),
            update(1, Leg::Outbound, "198.51.100.3:6000", "198.51.100.3:6001")
        ]
    );

    net.send(
        phone(),
        "ACK sip:198.51.100.3:5060;transport=UDP SIP/2.0
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-ack-1
Route: <sip:siproxd@10.99.0.1:5060;lr>
Max-Forwards: 70
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <sip:bob@198.51.100.3>;tag=b1
Call-ID: call1@10.99.0.10
CSeq: 1 ACK
Contact: <sip:alice@10.99.0.10:5060>
Content-Length: 0

",
    );
    let ack_branch = branch_for("z9hG4bK-ack-1");
    net.expect(
        remote(),
        Transport::Udp,
        &format!(
            "ACK sip:198.51.100.3:5060;transport=UDP SIP/2.0
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={ack_branch}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-ack-1
Max-Forwards: 69
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <sip:bob@198.51.100.3>;tag=b1
Call-ID: call1@10.99.0.10
CSeq: 1 ACK
Contact: <sip:alice@198.51.100.1>
Content-Length: 0

"
        ),
    );
    assert_eq!(
        (net.proxy.status().rtp_streams, net.proxy.status().calls),
        (1, 1)
    );

    let bye = "BYE sip:198.51.100.3:5060;transport=UDP SIP/2.0
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-bye-1
Route: <sip:siproxd@10.99.0.1:5060;lr>
Max-Forwards: 70
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <sip:bob@198.51.100.3>;tag=b1
Call-ID: call1@10.99.0.10
CSeq: 2 BYE
Content-Length: 0

";
    net.send(phone(), bye);
    let bye_branch = branch_for("z9hG4bK-bye-1");
    net.expect(
        remote(),
        Transport::Udp,
        &format!(
            "BYE sip:198.51.100.3:5060;transport=UDP SIP/2.0
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={bye_branch}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-bye-1
Max-Forwards: 69
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <sip:bob@198.51.100.3>;tag=b1
Call-ID: call1@10.99.0.10
CSeq: 2 BYE
Content-Length: 0

"
        ),
    );
    assert_eq!(net.rtp(), [RtpCommand::Close { id: StreamId(1) }]);
    assert_eq!(
        (net.proxy.status().rtp_streams, net.proxy.status().calls),
        (0, 0)
    );
}

const INVITE_IN: &str = "INVITE sip:alice@198.51.100.1 SIP/2.0
Record-Route: <sip:198.51.100.2;lr=on;ftag=16361c1>
Via: SIP/2.0/UDP 198.51.100.2;branch=z9hG4bK3a8f.1
Via: SIP/2.0/UDP 198.51.100.3:5062;branch=z9hG4bK-in-1
Max-Forwards: 69
From: <sip:bob@example.test>;tag=16361c1
To: <sip:alice@example.test>
Call-ID: in1@198.51.100.3
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.3:5062>
Content-Type: application/sdp
Content-Length: *

v=0
o=bob 2 2 IN IP4 198.51.100.3
s=-
c=IN IP4 198.51.100.3
t=0 0
m=audio 6000 RTP/AVP 0
";

#[test]
fn incoming_call_invite_answer_bye() {
    let mut net = registered();
    net.send(registrar(), INVITE_IN);
    let b = branch_for("z9hG4bK3a8f.1");
    net.expect(
        phone(),
        Transport::Udp,
        &format!(
            "INVITE sip:alice@10.99.0.10:5060 SIP/2.0
Record-Route: <sip:siproxd@10.99.0.1:5060;lr>
Record-Route: <sip:198.51.100.2;lr=on;ftag=16361c1>
Via: SIP/2.0/UDP 10.99.0.1:5060;branch={b}
Via: SIP/2.0/UDP 198.51.100.2;branch=z9hG4bK3a8f.1
Via: SIP/2.0/UDP 198.51.100.3:5062;branch=z9hG4bK-in-1
Max-Forwards: 68
From: <sip:bob@example.test>;tag=16361c1
To: <sip:alice@example.test>
Call-ID: in1@198.51.100.3
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.3:5062>
Content-Type: application/sdp
Content-Length: *

v=0
o=bob 2 2 IN IP4 10.99.0.1
s=-
c=IN IP4 10.99.0.1
t=0 0
m=audio 7070 RTP/AVP 0
"
        ),
    );
    assert_eq!(
        net.rtp(),
        [
            open(1, Leg::Inbound, "10.99.0.1:7070"),
            update(1, Leg::Outbound, "198.51.100.3:6000", "198.51.100.3:6001")
        ]
    );

    net.send(
        phone(),
        &format!(
            "SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.99.0.1:5060;branch={b}
Via: SIP/2.0/UDP 198.51.100.2;branch=z9hG4bK3a8f.1
Via: SIP/2.0/UDP 198.51.100.3:5062;branch=z9hG4bK-in-1
Record-Route: <sip:siproxd@10.99.0.1:5060;lr>
Record-Route: <sip:198.51.100.2;lr=on;ftag=16361c1>
From: <sip:bob@example.test>;tag=16361c1
To: <sip:alice@example.test>;tag=a1
Call-ID: in1@198.51.100.3
CSeq: 1 INVITE
Contact: <sip:alice@10.99.0.10:5060>
Content-Type: application/sdp
Content-Length: *

v=0
o=alice 3 3 IN IP4 10.99.0.10
s=-
c=IN IP4 10.99.0.10
t=0 0
m=audio 6000 RTP/AVP 0
"
        ),
    );
    net.expect(
        registrar(),
        Transport::Udp,
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 198.51.100.2;branch=z9hG4bK3a8f.1
Via: SIP/2.0/UDP 198.51.100.3:5062;branch=z9hG4bK-in-1
Record-Route: <sip:198.51.100.2;lr=on;ftag=16361c1>
From: <sip:bob@example.test>;tag=16361c1
To: <sip:alice@example.test>;tag=a1
Call-ID: in1@198.51.100.3
CSeq: 1 INVITE
Contact: <sip:alice@198.51.100.1>
Content-Type: application/sdp
Content-Length: *

v=0
o=alice 3 3 IN IP4 198.51.100.1
s=-
c=IN IP4 198.51.100.1
t=0 0
m=audio 7072 RTP/AVP 0
",
    );
    assert_eq!(
        net.rtp(),
        [
            open(1, Leg::Outbound, "198.51.100.1:7072"),
            update(1, Leg::Inbound, "10.99.0.10:6000", "10.99.0.10:6001")
        ]
    );

    net.send(
        registrar(),
        "BYE sip:alice@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.2;branch=z9hG4bK3a8f.2
Via: SIP/2.0/UDP 198.51.100.3:5062;branch=z9hG4bK-bye-2
Max-Forwards: 69
From: <sip:bob@example.test>;tag=16361c1
To: <sip:alice@example.test>;tag=a1
Call-ID: in1@198.51.100.3
CSeq: 2 BYE
Content-Length: 0

",
    );
    let bb = branch_for("z9hG4bK3a8f.2");
    net.expect(
        phone(),
        Transport::Udp,
        &format!(
            "BYE sip:alice@10.99.0.10:5060 SIP/2.0
Via: SIP/2.0/UDP 10.99.0.1:5060;branch={bb}
Via: SIP/2.0/UDP 198.51.100.2;branch=z9hG4bK3a8f.2
Via: SIP/2.0/UDP 198.51.100.3:5062;branch=z9hG4bK-bye-2
Record-Route: <sip:siproxd@10.99.0.1:5060;lr>
Max-Forwards: 68
From: <sip:bob@example.test>;tag=16361c1
To: <sip:alice@example.test>;tag=a1
Call-ID: in1@198.51.100.3
CSeq: 2 BYE
Content-Length: 0

"
        ),
    );
    assert_eq!(net.rtp(), [RtpCommand::Close { id: StreamId(1) }]);
}

#[test]
fn phone_contact_without_user_keeps_an_explicit_port() {
    // on-the-wire §4: `<sip:10.99.0.10:5060;transport=UDP>` → `<sip:198.51.100.1:5060;…>`.
    let mut net = registered();
    net.send(registrar(), INVITE_IN);
    net.take();
    let b = branch_for("z9hG4bK3a8f.1");
    net.send(
        phone(),
        &format!(
            "SIP/2.0 180 Ringing
Via: SIP/2.0/UDP 10.99.0.1:5060;branch={b}
Via: SIP/2.0/UDP 198.51.100.2;branch=z9hG4bK3a8f.1
Via: SIP/2.0/UDP 198.51.100.3:5062;branch=z9hG4bK-in-1
From: <sip:bob@example.test>;tag=16361c1
To: <sip:alice@example.test>;tag=a1
Call-ID: in1@198.51.100.3
CSeq: 1 INVITE
Contact: <sip:10.99.0.10:5060;transport=UDP>
Content-Length: 0

"
        ),
    );
    let out = net.one();
    assert!(String::from_utf8_lossy(&out.bytes)
        .contains("\r\nContact: <sip:198.51.100.1:5060;transport=UDP>\r\n"));
}

/// Upstream's Grandstream hack: a 202 to SUBSCRIBE from a Grandstream user agent reaches
/// the phone as 404 (it breaks the phone's endless re-SUBSCRIBE); other user agents' 202,
/// and a Grandstream's other answers, pass unchanged.
#[test]
fn grandstream_202_to_subscribe_reaches_the_phone_as_404() {
    let mut net = registered();
    net.send(
        phone(),
        "SUBSCRIBE sip:bob@198.51.100.3:5060 SIP/2.0
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-sub-1
Max-Forwards: 70
From: <sip:alice@example.test>;tag=s1
To: <sip:bob@198.51.100.3>
Call-ID: sub1@10.99.0.10
CSeq: 5 SUBSCRIBE
Contact: <sip:alice@10.99.0.10:5060>
Event: message-summary
Expires: 3600
Content-Length: 0

",
    );
    net.take();
    let b = branch_for("z9hG4bK-sub-1");
    let answer = |status: &str, ua: &str| {
        format!(
            "SIP/2.0 {status}
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={b}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-sub-1
From: <sip:alice@example.test>;tag=s1
To: <sip:bob@198.51.100.3>;tag=g1
Call-ID: sub1@10.99.0.10
CSeq: 5 SUBSCRIBE
User-Agent: {ua}
Expires: 3600
Content-Length: 0

"
        )
    };
    let forwarded = |status: &str, ua: &str| {
        format!(
            "SIP/2.0 {status}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-sub-1
Record-Route: <sip:siproxd@10.99.0.1:5060;lr>
From: <sip:alice@example.test>;tag=s1
To: <sip:bob@198.51.100.3>;tag=g1
Call-ID: sub1@10.99.0.10
CSeq: 5 SUBSCRIBE
User-Agent: {ua}
Expires: 3600
Content-Length: 0

"
        )
    };
    for (sent, ua, got) in [
        (
            "202 Accepted",
            "Grandstream GXP2130 1.0.4.40",
            "404 Not Found",
        ),
        ("202 OK", "GRANDSTREAM", "404 Not Found"),
        ("202 Accepted", "Asterisk PBX 18.2.0", "202 Accepted"),
        ("200 OK", "Grandstream GXP2130 1.0.4.40", "200 OK"),
    ] {
        net.send(remote(), &answer(sent, ua));
        net.expect(phone(), Transport::Udp, &forwarded(got, ua));
    }
}

/// siproxd 0.8 deleted an Asterisk PBX's Alert-Info because its parser failed on the value
/// without angle brackets; ours accepts it, so it reaches the phone byte for byte (the
/// phone's distinctive ring keeps working).
#[test]
fn asterisk_alert_info_without_brackets_reaches_the_phone_unchanged() {
    let mut net = registered();
    net.send(phone(), INVITE_OUT);
    net.take();
    net.send(
        remote(),
        &remote_response(
            "180 Ringing",
            "User-Agent: Asterisk PBX\nAlert-Info: http://127.0.0.1/Bellcore-dr2\n",
            "",
        ),
    );
    let out = net.one();
    assert_eq!(out.to, siproxd::proxy::Destination::Addr(phone()));
    let text = String::from_utf8(out.bytes).unwrap();
    assert!(text.starts_with("SIP/2.0 180 Ringing\r\n"), "{text}");
    assert!(
        text.contains(
            "\r\nUser-Agent: Asterisk PBX\r\nAlert-Info: http://127.0.0.1/Bellcore-dr2\r\n"
        ),
        "{text}"
    );
}
