//! REGISTER through the proxy (proxy mode), on the TestNet: exact bytes both ways.

mod proxy_common;

use proxy_common::{branch_for, REGISTER};
use siproxd::proxy::testnet::{phone, phone2, registrar, TestNet, START_WALL};
use siproxd::proxy::{Destination, Transport};

fn provider() -> Destination {
    Destination::Name {
        host: "example.test".into(),
        port: None,
    }
}

fn ok_200(branch: &str, contact: &str) -> String {
    format!(
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={branch}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-reg-1
From: <sip:alice@example.test>;tag=r1
To: <sip:alice@example.test>;tag=srv1
Call-ID: reg1@10.99.0.10
CSeq: 1 REGISTER
Contact: {contact}
Content-Length: 0

"
    )
}

/// Registers alice's phone and answers with the registrar's 200 carrying `contact`.
fn register_alice(net: &mut TestNet, contact: &str) {
    net.send(phone(), REGISTER);
    net.take();
    net.send(registrar(), &ok_200(&branch_for("z9hG4bK-reg-1"), contact));
    net.take();
}

#[test]
fn register_is_masqueraded_and_the_200_restored() {
    let mut net = TestNet::new("");
    net.send(phone(), REGISTER);
    let b = branch_for("z9hG4bK-reg-1");
    net.expect_to(
        provider(),
        Transport::Udp,
        &format!(
            "REGISTER sip:example.test SIP/2.0
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={b}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-reg-1
Max-Forwards: 69
From: <sip:alice@example.test>;tag=r1
To: <sip:alice@example.test>
Call-ID: reg1@10.99.0.10
CSeq: 1 REGISTER
Contact: <sip:alice@198.51.100.1>;+sip.instance=\"<urn:uuid:1>\"
Expires: 600
User-Agent: sipp-reg
Content-Length: 0

"
        ),
    );
    net.send(
        registrar(),
        &ok_200(&b, "<sip:alice@198.51.100.1>;expires=600"),
    );
    net.expect(
        phone(),
        Transport::Udp,
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-reg-1
From: <sip:alice@example.test>;tag=r1
To: <sip:alice@example.test>;tag=srv1
Call-ID: reg1@10.99.0.10
CSeq: 1 REGISTER
Contact: <sip:alice@10.99.0.10:5060>;expires=600
Content-Length: 0

",
    );
    let (_, b) = net.proxy.registrations().iter().next().unwrap();
    assert_eq!(b.expires, START_WALL + 600);
    assert_eq!(b.masq, "sip:alice@198.51.100.1");
    assert_eq!(b.contact, "sip:alice@10.99.0.10:5060");
}

#[test]
fn retransmission_gets_the_same_branch() {
    let mut net = TestNet::new("");
    net.send(phone(), REGISTER);
    let first = net.one();
    net.send(phone(), REGISTER);
    assert_eq!(net.one().bytes, first.bytes);
}

#[test]
fn default_expires_is_added_and_a_listen_port_shows_in_the_contact() {
    let mut net = TestNet::new("sip_listen_port = 5070\ndefault_expires = 1800\n");
    let no_expires = REGISTER.replace("Expires: 600\n", "");
    net.send(phone(), &no_expires);
    let b = branch_for("z9hG4bK-reg-1");
    net.expect_to(
        provider(),
        Transport::Udp,
        &format!(
            "REGISTER sip:example.test SIP/2.0
Via: SIP/2.0/UDP 198.51.100.1:5070;branch={b}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-reg-1
Max-Forwards: 69
From: <sip:alice@example.test>;tag=r1
To: <sip:alice@example.test>
Call-ID: reg1@10.99.0.10
CSeq: 1 REGISTER
Contact: <sip:alice@198.51.100.1:5070>;+sip.instance=\"<urn:uuid:1>\"
User-Agent: sipp-reg
Content-Length: 0
Expires: 1800

"
        ),
    );
}

#[test]
fn lenient_2xx_contact_and_expires_header_keep_the_binding() {
    // The registrar echoes a Contact without the user part and puts the time in Expires:
    // upstream keeps its 5 s provisional expiry and loses the phone ~10 s later.
    let mut net = TestNet::new("");
    net.send(phone(), REGISTER);
    net.take();
    let b = branch_for("z9hG4bK-reg-1");
    let reply = ok_200(&b, "<sip:198.51.100.1>")
        .replace("Content-Length: 0", "Expires: 300\nContent-Length: 0");
    net.send(registrar(), &reply);
    net.take();
    net.advance(60);
    assert_eq!(net.proxy.status().registrations, 1);
    let (_, binding) = net.proxy.registrations().iter().next().unwrap();
    assert_eq!(binding.expires, START_WALL + 300);
    net.advance(250);
    assert_eq!(net.proxy.status().registrations, 0, "expired by the timer");
}

#[test]
fn unconfirmed_binding_expires_after_a_transaction_lifetime() {
    let mut net = TestNet::new("");
    net.send(phone(), REGISTER);
    net.take();
    net.advance(30);
    assert_eq!(net.proxy.status().registrations, 1);
    net.advance(10);
    assert_eq!(net.proxy.status().registrations, 0);
}

#[test]
fn two_phones_with_the_same_aor_both_stay_registered() {
    let mut net = TestNet::new("");
    register_alice(&mut net, "<sip:alice@198.51.100.1>;expires=600");
    let second = REGISTER
        .replace("10.99.0.10", "10.99.0.11")
        .replace("reg1@", "reg2@")
        .replace("z9hG4bK-reg-1", "z9hG4bK-reg-2");
    net.send(phone2(), &second);
    let out = net.one();
    assert!(String::from_utf8_lossy(&out.bytes).contains("\r\nContact: <sip:alice@198.51.100.1>;"));
    let reply = ok_200(
        &branch_for("z9hG4bK-reg-2"),
        "<sip:alice@198.51.100.1>;expires=600",
    )
    .replace("10.99.0.10", "10.99.0.11")
    .replace("reg1@", "reg2@")
    .replace("z9hG4bK-reg-1", "z9hG4bK-reg-2");
    net.send(registrar(), &reply);
    let back = net.one();
    assert_eq!(back.to, Destination::Addr(phone2()));
    assert!(String::from_utf8_lossy(&back.bytes)
        .contains("\r\nContact: <sip:alice@10.99.0.11:5060>;expires=600\r\n"));
    net.advance(100);
    let contacts: Vec<String> = net
        .proxy
        .registrations()
        .iter()
        .map(|(_, b)| b.contact.clone())
        .collect();
    assert_eq!(
        contacts,
        ["sip:alice@10.99.0.10:5060", "sip:alice@10.99.0.11:5060"]
    );
}

#[test]
fn expires_zero_unregisters_after_the_response() {
    let mut net = TestNet::new("");
    register_alice(&mut net, "<sip:alice@198.51.100.1>;expires=600");
    let bye = REGISTER
        .replace("Expires: 600", "Expires: 0")
        .replace("CSeq: 1", "CSeq: 2");
    net.send(phone(), &bye);
    let out = net.one();
    assert!(String::from_utf8_lossy(&out.bytes).contains("\r\nExpires: 0\r\n"));
    net.advance(6);
    assert_eq!(net.proxy.status().registrations, 0);
}

#[test]
fn star_from_an_unknown_phone_gets_the_proxy_200() {
    let mut net = TestNet::new("");
    let star = REGISTER
        .replace(
            "Contact: <sip:alice@10.99.0.10:5060>;+sip.instance=\"<urn:uuid:1>\"",
            "Contact: *",
        )
        .replace("Expires: 600", "Expires: 0");
    net.send(phone(), &star);
    net.expect(
        phone(),
        Transport::Udp,
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-reg-1
From: <sip:alice@example.test>;tag=r1
To: <sip:alice@example.test>;tag=eb13d829629460cf
Call-ID: reg1@10.99.0.10
CSeq: 1 REGISTER
Content-Length: 0

",
    );
}

#[test]
fn a_full_table_answers_503() {
    let mut net = TestNet::new("");
    net.proxy.set_registration_limit(1);
    register_alice(&mut net, "<sip:alice@198.51.100.1>;expires=600");
    let bob = REGISTER
        .replace("alice", "bob")
        .replace("10.99.0.10", "10.99.0.11");
    net.send(phone2(), &bob);
    let out = net.one();
    assert_eq!(out.to, Destination::Addr(phone2()));
    assert!(out
        .bytes
        .starts_with(b"SIP/2.0 503 Service Unavailable\r\n"));
    assert_eq!(net.proxy.status().counters.registrations_full, 1);
}

#[test]
fn tcp_register_gets_transport_tcp_and_received_rport() {
    let mut net = TestNet::new("");
    let from = "10.99.0.10:40000".parse().unwrap();
    let tcp = REGISTER.replace("SIP/2.0/UDP 10.99.0.10", "SIP/2.0/TCP 10.99.0.10");
    net.send_on(from, Transport::Tcp, &tcp);
    let out = net.one();
    let text = String::from_utf8_lossy(&out.bytes).into_owned();
    assert_eq!(out.transport, Transport::Tcp);
    assert!(text.contains(&format!(
        "\r\nVia: SIP/2.0/TCP 198.51.100.1:5060;branch={}\r\n",
        branch_for("z9hG4bK-reg-1")
    )));
    assert!(text.contains("\r\nVia: SIP/2.0/TCP 10.99.0.10:5060;branch=z9hG4bK-reg-1;received=10.99.0.10;rport=40000\r\n"));
    assert!(text.contains("\r\nContact: <sip:alice@198.51.100.1;transport=tcp>;+sip.instance"));
}

#[test]
fn star_from_a_registered_phone_unbinds_every_contact_and_is_forwarded() {
    let mut net = TestNet::new("");
    register_alice(&mut net, "<sip:alice@198.51.100.1>;expires=600");
    let star = REGISTER
        .replace(
            "Contact: <sip:alice@10.99.0.10:5060>;+sip.instance=\"<urn:uuid:1>\"",
            "Contact: *",
        )
        .replace("Expires: 600", "Expires: 0")
        .replace("CSeq: 1", "CSeq: 2");
    net.send(phone(), &star);
    let out = net.one();
    assert_eq!(out.to, provider());
    assert!(String::from_utf8(out.bytes)
        .unwrap()
        .contains("\r\nContact: *\r\n"));
    net.advance(6);
    assert_eq!(net.proxy.status().registrations, 0);
}
