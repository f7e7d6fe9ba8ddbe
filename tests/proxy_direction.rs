//! Direction, unknown targets, hop checks, malformed input, access lists and plugin stages.

mod proxy_common;

use std::net::SocketAddr;

use proxy_common::{branch_for, REGISTER};
use siproxd::proxy::testnet::{phone, registrar, remote, wire, TestNet};
use siproxd::proxy::{Destination, Direction, StageHooks, Ticket, Transport, Verdict};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn options(ruri: &str, from_host: &str, max_forwards: u8) -> String {
    format!(
        "OPTIONS {ruri} SIP/2.0
Via: SIP/2.0/UDP {from_host}:5060;branch=z9hG4bK-o1
Max-Forwards: {max_forwards}
From: <sip:x@{from_host}>;tag=o1
To: <{ruri}>
Call-ID: o1@{from_host}
CSeq: 7 OPTIONS
Content-Length: 0

"
    )
}

fn reply(code: &str, from_host: &str, ruri: &str, tag: &str) -> String {
    format!(
        "SIP/2.0 {code}
Via: SIP/2.0/UDP {from_host}:5060;branch=z9hG4bK-o1
From: <sip:x@{from_host}>;tag=o1
To: <{ruri}>;tag={tag}
Call-ID: o1@{from_host}
CSeq: 7 OPTIONS
Content-Length: 0

"
    )
}

/// The To tag the TestNet's proxy (seed 0) gives local answers to `options()` from `host`.
fn tag_for(net: &mut TestNet, ruri: &str, host: &str) -> String {
    net.send(addr(&format!("{host}:5060")), &options(ruri, host, 0));
    let text = String::from_utf8(net.one().bytes).unwrap();
    let to = text.find("\r\nTo:").unwrap();
    let at = to + text[to..].find(";tag=").unwrap();
    let rest = &text[at + 5..];
    let tag = rest[..rest.find('\r').unwrap()].to_string();
    assert!(text.starts_with("SIP/2.0 200 OK\r\n"));
    tag
}

#[test]
fn unregistered_lan_phone_gets_408() {
    let mut net = TestNet::new("");
    let ruri = "sip:bob@198.51.100.3";
    let tag = tag_for(&mut net, ruri, "10.99.0.20");
    net.send(addr("10.99.0.20:5060"), &options(ruri, "10.99.0.20", 70));
    net.expect(
        addr("10.99.0.20:5060"),
        Transport::Udp,
        &reply("408 Request Timeout", "10.99.0.20", ruri, &tag),
    );
    assert_eq!(net.proxy.status().counters.unknown_target, 1);
}

#[test]
fn unknown_user_at_our_address_gets_404() {
    let mut net = TestNet::new("");
    let ruri = "sip:nobody@198.51.100.1";
    let tag = tag_for(&mut net, ruri, "198.51.100.3");
    net.send(remote(), &options(ruri, "198.51.100.3", 70));
    net.expect(
        remote(),
        Transport::Udp,
        &reply("404 Not Found", "198.51.100.3", ruri, &tag),
    );
}

#[test]
fn wan_request_for_a_foreign_host_is_refused_not_relayed() {
    let mut net = TestNet::new("");
    let ruri = "sip:victim@203.0.113.9";
    let tag = tag_for(&mut net, ruri, "198.51.100.3");
    net.send(remote(), &options(ruri, "198.51.100.3", 70));
    net.expect(
        remote(),
        Transport::Udp,
        &reply("403 Forbidden", "198.51.100.3", ruri, &tag),
    );
    assert_eq!(net.proxy.status().counters.relay_refused, 1);
}

#[test]
fn hosts_allow_reg_members_are_proxied_unregistered() {
    let mut net = TestNet::new("hosts_allow_reg = 10.99.0.0/24\n");
    let ruri = "sip:bob@198.51.100.3";
    net.send(addr("10.99.0.20:5060"), &options(ruri, "10.99.0.20", 70));
    let out = net.one();
    assert_eq!(out.to, Destination::Addr(addr("198.51.100.3:5060")));
    assert!(out.bytes.starts_with(b"OPTIONS sip:bob@198.51.100.3 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK"));
}

#[test]
fn loopback_source_counts_as_lan() {
    // Rule 6: pfSense redirects a local PBX through 127.0.0.1.
    let mut net = TestNet::new("");
    let ruri = "sip:bob@198.51.100.3";
    net.send(
        addr("127.0.0.1:5070"),
        &options(ruri, "127.0.0.1", 70).replace("127.0.0.1:5060", "127.0.0.1:5070"),
    );
    let out = net.one();
    assert_eq!(out.to, Destination::Addr(addr("198.51.100.3:5060")));
}

#[test]
fn max_forwards_zero_483_and_options_200() {
    let mut net = TestNet::new("");
    let ruri = "sip:bob@198.51.100.3";
    let tag = tag_for(&mut net, ruri, "10.99.0.10");
    let invite = options(ruri, "10.99.0.10", 0).replace("OPTIONS", "INVITE");
    net.send(phone(), &invite);
    net.expect(
        phone(),
        Transport::Udp,
        &reply("483 Too Many Hops", "10.99.0.10", ruri, &tag).replace("OPTIONS", "INVITE"),
    );
    assert_eq!(net.proxy.status().counters.too_many_hops, 2);
}

#[test]
fn own_via_three_times_is_a_loop_482() {
    let mut net = TestNet::new("");
    let ruri = "sip:bob@198.51.100.3";
    let mine = "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKa\n";
    let looped = options(ruri, "10.99.0.10", 70)
        .replace("Max-Forwards", &format!("{mine}{mine}{mine}Max-Forwards"));
    net.send(phone(), &looped);
    let out = net.one();
    assert!(out.bytes.starts_with(b"SIP/2.0 482 Loop Detected\r\n"));
    assert_eq!(net.proxy.status().counters.loops, 1);
}

#[test]
fn malformed_input_is_counted_and_dropped() {
    let mut net = TestNet::new("");
    let inputs: [&[u8]; 5] = [
        b"\x00\xff garbage",
        b"INVITE  sip:a SIP/2.0\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCSeq: 1 OPTIONS\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKdead\r\nFrom: <sip:alice@example.test>;tag=x\r\nTo: <sip:bob@198.51.100.3>;tag=y\r\nCall-ID: crash1@198.51.100.3\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        b"",
    ];
    for bytes in inputs {
        net.send_bytes(remote(), Transport::Udp, bytes);
        net.send_bytes(remote(), Transport::Tcp, bytes);
    }
    net.expect_nothing();
    assert_eq!(net.proxy.status().counters.malformed, 10);
}

#[test]
fn foreign_top_via_on_a_response_is_dropped() {
    let mut net = TestNet::new("");
    net.send(
        remote(),
        &reply("200 OK", "10.99.0.10", "sip:bob@198.51.100.3", "t"),
    );
    net.expect_nothing();
    assert_eq!(net.proxy.status().counters.foreign_via, 1);
}

#[test]
fn access_lists_deny_first_and_register_needs_its_right() {
    let mut net =
        TestNet::new("hosts_deny_sip = 198.51.100.3/32\nhosts_allow_reg = 10.99.0.11/32\n");
    net.send(
        remote(),
        &options("sip:bob@198.51.100.1", "198.51.100.3", 70),
    );
    net.send(phone(), REGISTER);
    net.expect_nothing();
    assert_eq!(net.proxy.status().counters.acl_denied, 2);
    assert_eq!(net.proxy.status().registrations, 0);
}

#[test]
fn headers_not_edited_leave_byte_for_byte() {
    // Compact names, odd case, folding and unknown headers stay as sent (upstream
    // re-encodes them, on-the-wire §5).
    let mut net = TestNet::new("");
    net.send(phone(), REGISTER);
    net.take();
    let text = "INVITE sip:bob@198.51.100.3 SIP/2.0
v: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-c1
f: \"alice\" <sip:alice@example.test>;tag=c1
t:   <sip:bob@198.51.100.3>
i: compact@10.99.0.10
CSeq: 1 INVITE
subject: folded
 across lines
Allow: INVITE,ACK,BYE
X-Odd:value-without-space
m: <sip:alice@10.99.0.10:5060>
l: 0

";
    net.send(phone(), text);
    let b = branch_for("z9hG4bK-c1");
    net.expect(
        addr("198.51.100.3:5060"),
        Transport::Udp,
        &format!(
            "INVITE sip:bob@198.51.100.3 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={b}
v: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-c1
f: \"alice\" <sip:alice@example.test>;tag=c1
t:   <sip:bob@198.51.100.3>
i: compact@10.99.0.10
CSeq: 1 INVITE
subject: folded
 across lines
Allow: INVITE,ACK,BYE
X-Odd:value-without-space
m: <sip:alice@198.51.100.1>
l: 0
Max-Forwards: 70

"
        ),
    );
}

/// A fake plugin host recording stages and acting on them.
#[derive(Default)]
struct Fake {
    log: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
    next_hop: Option<Destination>,
    answer_at_target: bool,
}

impl StageHooks for Fake {
    fn process_raw(&mut self, raw: &mut Vec<u8>, _: SocketAddr, _: Transport) -> Verdict {
        self.log.borrow_mut().push("raw".into());
        if raw.starts_with(b"DROP") {
            Verdict::Drop
        } else {
            Verdict::Continue
        }
    }
    fn validate(&mut self, _: &mut Ticket) -> Verdict {
        self.log.borrow_mut().push("validate".into());
        Verdict::Continue
    }
    fn determine_target(&mut self, t: &mut Ticket) -> Verdict {
        self.log.borrow_mut().push("target".into());
        if self.answer_at_target {
            t.sent.push(siproxd::proxy::Transmit {
                to: Destination::Addr(t.from),
                transport: t.transport,
                bytes: b"SIP/2.0 302 Moved\r\n\r\n".to_vec(),
            });
            return Verdict::Sent;
        }
        Verdict::Continue
    }
    fn pre_proxy(&mut self, t: &mut Ticket) {
        self.log.borrow_mut().push(format!("pre {:?}", t.direction));
        t.direction = Direction::OutgoingRequest;
    }
    fn proxy_unknown(&mut self, _: &mut Ticket) {
        self.log.borrow_mut().push("unknown".into());
    }
    fn post_proxy(&mut self, t: &mut Ticket) {
        self.log.borrow_mut().push("post".into());
        if let Some(h) = self.next_hop.clone() {
            t.next_hop = Some(h);
        }
    }
}

#[test]
fn stages_run_in_order_and_can_redirect() {
    let mut net = TestNet::new("");
    let fake = Fake {
        next_hop: Some(Destination::Addr(addr("192.0.2.99:5080"))),
        ..Fake::default()
    };
    let log = fake.log.clone();
    net.proxy.set_hooks(Box::new(fake));
    // Unregistered LAN host: PRE_PROXY turns the unknown direction into outgoing.
    net.send(
        addr("10.99.0.20:5060"),
        &options("sip:bob@198.51.100.3", "10.99.0.20", 70),
    );
    assert_eq!(net.one().to, Destination::Addr(addr("192.0.2.99:5080")));
    assert_eq!(
        *log.borrow(),
        ["raw", "validate", "target", "pre Unknown", "post"]
    );
    net.send_bytes(remote(), Transport::Udp, &wire("DROP"));
    net.expect_nothing();
    assert_eq!(net.proxy.status().counters.plugin_dropped, 1);
}

#[test]
fn determine_target_can_answer_instead() {
    let mut net = TestNet::new("");
    net.proxy.set_hooks(Box::new(Fake {
        answer_at_target: true,
        ..Fake::default()
    }));
    net.send(phone(), &options("sip:bob@198.51.100.3", "10.99.0.10", 70));
    let out = net.one();
    assert_eq!(
        (out.to, out.bytes),
        (
            Destination::Addr(phone()),
            b"SIP/2.0 302 Moved\r\n\r\n".to_vec()
        )
    );
    let _ = registrar();
}

#[test]
fn tel_uri_without_an_outbound_proxy_gets_416_and_with_one_is_sent_there() {
    let mut net = TestNet::new("");
    net.send(phone(), REGISTER);
    net.take();
    let tel = options("tel:+41441234567", "10.99.0.10", 70);
    net.send(phone(), &tel);
    assert!(net
        .one()
        .bytes
        .starts_with(b"SIP/2.0 416 Unsupported URI Scheme\r\n"));
    let mut net = TestNet::new("outbound_proxy_host = 192.0.2.5\n");
    net.send(phone(), REGISTER);
    net.take();
    net.send(phone(), &tel);
    assert_eq!(net.one().to, Destination::Addr(addr("192.0.2.5:5060")));
}

#[test]
fn requests_naming_the_proxy_itself_are_answered_not_looped() {
    let mut net = TestNet::new("");
    net.send(phone(), REGISTER);
    net.take();
    net.send(phone(), &options("sip:10.99.0.1", "10.99.0.10", 70));
    assert!(net.one().bytes.starts_with(b"SIP/2.0 200 OK\r\n"));
    net.send(
        phone(),
        &options("sip:x@198.51.100.1:5060", "10.99.0.10", 70).replace("OPTIONS", "MESSAGE"),
    );
    assert!(net
        .one()
        .bytes
        .starts_with(b"SIP/2.0 482 Loop Detected\r\n"));
}
