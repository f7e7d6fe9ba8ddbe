//! What the shell drives besides messages: SIGHUP reconfiguration, interface changes,
//! the timer contract and the status summary.

mod proxy_common;

use proxy_common::{registered_with, REGISTER};
use siproxd::proxy::testnet::{config, interfaces, phone, remote, TestNet};
use siproxd::proxy::{Interfaces, Secrets};

const OPTIONS_IN: &str = "OPTIONS sip:alice@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bK-q
From: <sip:bob@example.test>;tag=q
To: <sip:alice@example.test>
Call-ID: q@198.51.100.3
CSeq: 1 OPTIONS
Content-Length: 0

";

#[test]
fn reconfigure_applies_new_access_lists_and_settings_and_keeps_bindings() {
    let mut net = registered_with("");
    net.proxy.reconfigure(
        &config("hosts_deny_sip = 198.51.100.3/32\nua_string = after-hup\n"),
        Secrets::default(),
    );
    net.send(remote(), OPTIONS_IN);
    net.expect_nothing();
    assert_eq!(net.proxy.status().counters.acl_denied, 1);
    assert_eq!(net.proxy.status().registrations, 1);
    net.send(phone(), &REGISTER.replace("CSeq: 1", "CSeq: 2"));
    assert!(String::from_utf8(net.one().bytes)
        .unwrap()
        .contains("\r\nUser-Agent: after-hup\r\n"));
}

#[test]
fn new_wan_address_is_used_for_new_messages() {
    let mut net = registered_with("");
    net.proxy.set_interfaces(Interfaces {
        outbound: "198.51.100.77".parse().ok(),
        ..interfaces()
    });
    net.send(phone(), &REGISTER.replace("CSeq: 1", "CSeq: 2"));
    let text = String::from_utf8(net.one().bytes).unwrap();
    assert!(text.contains("\r\nVia: SIP/2.0/UDP 198.51.100.77:5060;branch="));
    assert!(text.contains("\r\nContact: <sip:alice@198.51.100.77>;"));
}

#[test]
fn without_a_wan_address_requests_get_408() {
    let no_wan = Interfaces {
        outbound: None,
        ..interfaces()
    };
    let mut net = TestNet::with(config(""), no_wan, Secrets::default());
    net.send(phone(), REGISTER);
    assert!(net
        .one()
        .bytes
        .starts_with(b"SIP/2.0 408 Request Timeout\r\n"));
}

/// A `host_outbound` name that has not resolved yet (dynamic DNS, WAN link not up) must not
/// be replaced by the interface's own address, which the provider could not reach behind
/// another NAT: requests get 408 until the name resolves, then carry its address.
#[test]
fn an_unresolved_host_outbound_name_gets_408_until_it_resolves() {
    let pending = Interfaces {
        host_outbound: None,
        host_outbound_pending: true,
        ..interfaces()
    };
    let mut net = TestNet::with(config(""), pending, Secrets::default());
    net.send(phone(), REGISTER);
    let answer = net.one();
    assert_eq!(answer.to, siproxd::proxy::Destination::Addr(phone()));
    assert!(answer.bytes.starts_with(b"SIP/2.0 408 Request Timeout\r\n"));
    net.proxy.set_interfaces(Interfaces {
        host_outbound: "203.0.113.5".parse().ok(),
        host_outbound_pending: false,
        ..interfaces()
    });
    net.send(phone(), &REGISTER.replace("CSeq: 1", "CSeq: 2"));
    let text = String::from_utf8(net.one().bytes).unwrap();
    assert!(
        text.contains("\r\nVia: SIP/2.0/UDP 203.0.113.5:5060;branch="),
        "{text}"
    );
    assert!(
        text.contains("\r\nContact: <sip:alice@203.0.113.5>;"),
        "{text}"
    );
}

#[test]
fn poll_timeout_names_the_next_expiry_and_nothing_when_idle() {
    let mut net = TestNet::new("");
    assert_eq!(net.proxy.poll_timeout(), None);
    let before = net.now.mono;
    net.send(phone(), REGISTER);
    net.take();
    let due = net.proxy.poll_timeout().unwrap();
    assert_eq!(due.duration_since(before).as_secs(), 32 + 5);
    assert_eq!(net.proxy.status().registrations, 1);
}
