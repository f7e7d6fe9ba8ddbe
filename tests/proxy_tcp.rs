//! TCP: the transport follows the next hop, so UDP on one side and TCP on the other are
//! bridged with the right Via transport; TCP arrivals get received/rport on their Via.

mod proxy_common;

use std::net::SocketAddr;

use proxy_common::{branch_for, registered_with, REGISTER};
use siproxd::proxy::testnet::{phone, registrar, TestNet};
use siproxd::proxy::{Destination, Transport};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const TCP_INVITE_IN: &str = "INVITE sip:alice@198.51.100.1 SIP/2.0
Via: SIP/2.0/TCP 198.51.100.3:5060;branch=z9hG4bK-t1
Max-Forwards: 70
From: <sip:bob@example.test>;tag=t1
To: <sip:alice@example.test>
Call-ID: t1@198.51.100.3
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.3;transport=tcp>
Content-Length: 0

";

#[test]
fn tcp_from_the_wan_is_bridged_to_a_udp_phone_and_back() {
    let mut net = registered_with("");
    let conn = addr("198.51.100.3:40000");
    net.send_on(conn, Transport::Tcp, TCP_INVITE_IN);
    let b = branch_for("z9hG4bK-t1");
    net.expect(
        phone(),
        Transport::Udp,
        &format!(
            "INVITE sip:alice@10.99.0.10:5060 SIP/2.0
Via: SIP/2.0/UDP 10.99.0.1:5060;branch={b}
Via: SIP/2.0/TCP 198.51.100.3:5060;branch=z9hG4bK-t1;received=198.51.100.3;rport=40000
Record-Route: <sip:siproxd@10.99.0.1:5060;lr>
Max-Forwards: 69
From: <sip:bob@example.test>;tag=t1
To: <sip:alice@example.test>
Call-ID: t1@198.51.100.3
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.3;transport=tcp>
Content-Length: 0

"
        ),
    );
    net.send(
        phone(),
        &format!(
            "SIP/2.0 180 Ringing
Via: SIP/2.0/UDP 10.99.0.1:5060;branch={b}
Via: SIP/2.0/TCP 198.51.100.3:5060;branch=z9hG4bK-t1;received=198.51.100.3;rport=40000
Record-Route: <sip:siproxd@10.99.0.1:5060;lr>
From: <sip:bob@example.test>;tag=t1
To: <sip:alice@example.test>;tag=a1
Call-ID: t1@198.51.100.3
CSeq: 1 INVITE
Content-Length: 0

"
        ),
    );
    net.expect(
        conn,
        Transport::Tcp,
        "SIP/2.0 180 Ringing
Via: SIP/2.0/TCP 198.51.100.3:5060;branch=z9hG4bK-t1;received=198.51.100.3;rport=40000
From: <sip:bob@example.test>;tag=t1
To: <sip:alice@example.test>;tag=a1
Call-ID: t1@198.51.100.3
CSeq: 1 INVITE
Content-Length: 0

",
    );
}

#[test]
fn transport_tcp_in_the_target_uri_leaves_on_tcp() {
    let mut net = registered_with("");
    net.send(
        phone(),
        "OPTIONS sip:bob@198.51.100.3;transport=tcp SIP/2.0
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-o2
Max-Forwards: 70
From: <sip:alice@example.test>;tag=o2
To: <sip:bob@198.51.100.3>
Call-ID: o2@10.99.0.10
CSeq: 1 OPTIONS
Content-Length: 0

",
    );
    let out = net.one();
    assert_eq!(
        (out.to, out.transport),
        (Destination::Addr(addr("198.51.100.3:5060")), Transport::Tcp)
    );
    let b = branch_for("z9hG4bK-o2");
    assert!(String::from_utf8(out.bytes).unwrap().contains(&format!(
        "\r\nVia: SIP/2.0/TCP 198.51.100.1:5060;branch={b}\r\n"
    )));
}

#[test]
fn phone_registered_with_transport_tcp_is_reached_over_tcp() {
    let mut net = TestNet::new("");
    let reg = REGISTER.replace(
        "<sip:alice@10.99.0.10:5060>",
        "<sip:alice@10.99.0.10:5060;transport=tcp>",
    );
    net.send(phone(), &reg);
    net.take();
    net.send(
        registrar(),
        &TCP_INVITE_IN.replace(
            "SIP/2.0/TCP 198.51.100.3:5060",
            "SIP/2.0/UDP 198.51.100.2:5060",
        ),
    );
    let out = net.one();
    assert_eq!(
        (out.to, out.transport),
        (Destination::Addr(phone()), Transport::Tcp)
    );
    let text = String::from_utf8(out.bytes).unwrap();
    assert!(text.starts_with("INVITE sip:alice@10.99.0.10:5060;transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP 10.99.0.1:5060;branch="));
}
