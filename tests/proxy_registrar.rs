//! Registrar mode with digest authentication, routing options (outbound proxies, loose and
//! strict routes), ua_string, use_rport, obscure_loops, RFC 3581 response routing and the
//! registration file.

mod proxy_common;

use std::net::SocketAddr;

use proxy_common::{branch_for, REGISTER};
use siproxd::proxy::auth::{self, Credentials, NonceKey};
use siproxd::proxy::testnet::{phone, registrar, remote, TestNet, PHONE_IP, START_WALL};
use siproxd::proxy::{Destination, Transport};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A REGISTER addressed to the proxy itself (registrar mode).
fn register_to_us(extra: &str) -> String {
    REGISTER
        .replace("REGISTER sip:example.test", "REGISTER sip:10.99.0.1")
        .replace(
            "User-Agent: sipp-reg\n",
            &format!("User-Agent: sipp-reg\n{extra}"),
        )
}

fn tag() -> &'static str {
    "eb13d829629460cf"
}

fn local_reply(status: &str, extra: &str) -> String {
    format!(
        "SIP/2.0 {status}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-reg-1
From: <sip:alice@example.test>;tag=r1
To: <sip:alice@example.test>;tag={}
Call-ID: reg1@10.99.0.10
CSeq: 1 REGISTER
{extra}Content-Length: 0

",
        tag()
    )
}

#[test]
fn registrar_mode_answers_itself_and_routes_incoming_calls() {
    let mut net = TestNet::new("");
    net.send(phone(), &register_to_us(""));
    net.expect(
        phone(),
        Transport::Udp,
        &local_reply(
            "200 OK",
            "Contact: <sip:alice@10.99.0.10:5060>;expires=600\nExpires: 600\n",
        ),
    );
    let (_, b) = net.proxy.registrations().iter().next().unwrap();
    assert_eq!(
        (b.masq.as_str(), b.expires),
        ("sip:alice@example.test", START_WALL + 600)
    );
    net.send(
        remote(),
        "OPTIONS sip:alice@example.test SIP/2.0
Via: SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bK-q
From: <sip:bob@example.test>;tag=q
To: <sip:alice@example.test>
Call-ID: q@198.51.100.3
CSeq: 1 OPTIONS
Content-Length: 0

",
    );
    let out = net.one();
    assert_eq!(out.to, Destination::Addr(phone()));
    assert!(out
        .bytes
        .starts_with(b"OPTIONS sip:alice@10.99.0.10:5060 SIP/2.0\r\n"));
}

#[test]
fn mask_host_changes_the_masqueraded_host() {
    let mut net = TestNet::new("mask_host = example.test\nmasked_host = masked.test\n");
    net.send(phone(), &register_to_us(""));
    net.take();
    let (_, b) = net.proxy.registrations().iter().next().unwrap();
    assert_eq!(b.masq, "sip:alice@masked.test");
}

fn authorization(nonce: &str, password: &str) -> String {
    let creds = Credentials {
        username: "alice".into(),
        realm: "example.test".into(),
        nonce: nonce.into(),
        uri: "sip:10.99.0.1".into(),
        response: String::new(),
        ..Credentials::default()
    };
    let response = auth::expected_response(&creds, "REGISTER", password);
    format!(
        "Proxy-Authorization: Digest username=\"alice\", realm=\"example.test\", nonce=\"{nonce}\", uri=\"sip:10.99.0.1\", response=\"{response}\"\n"
    )
}

#[test]
fn registrar_digest_challenge_success_wrong_password_and_stale_nonce() {
    let mut net = TestNet::new("proxy_auth_realm = example.test\nproxy_auth_passwd = secret\n");
    let key = NonceKey([0; 16]);
    net.send(phone(), &register_to_us(""));
    let nonce = auth::issue_nonce(&key, START_WALL, PHONE_IP);
    let challenge = format!(
        "Proxy-Authenticate: Digest realm=\"example.test\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\"\n"
    );
    net.expect(
        phone(),
        Transport::Udp,
        &local_reply("407 Proxy Authentication Required", &challenge),
    );

    net.send(phone(), &register_to_us(&authorization(&nonce, "wrong")));
    net.expect(phone(), Transport::Udp, &local_reply("403 Forbidden", ""));
    assert_eq!(net.proxy.status().registrations, 0);

    net.send(phone(), &register_to_us(&authorization(&nonce, "secret")));
    assert!(net.one().bytes.starts_with(b"SIP/2.0 200 OK\r\n"));
    assert_eq!(net.proxy.status().registrations, 1);

    net.advance(auth::NONCE_LIFETIME + 1);
    net.send(phone(), &register_to_us(&authorization(&nonce, "secret")));
    let fresh = auth::issue_nonce(&key, net.now.wall, PHONE_IP);
    let stale = format!(
        "Proxy-Authenticate: Digest realm=\"example.test\", nonce=\"{fresh}\", algorithm=MD5, qop=\"auth\", stale=true\n"
    );
    net.expect(
        phone(),
        Transport::Udp,
        &local_reply("407 Proxy Authentication Required", &stale),
    );
    assert_eq!(net.proxy.status().counters.auth_failures, 1);
}

fn registered(conf: &str) -> TestNet {
    let mut net = TestNet::new(conf);
    net.send(phone(), REGISTER);
    net.take();
    net
}

fn invite(extra: &str, ruri: &str) -> String {
    format!(
        "INVITE {ruri} SIP/2.0
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-i9
{extra}Max-Forwards: 70
From: <sip:alice@example.test>;tag=c9
To: <sip:bob@example.test>
Call-ID: c9@10.99.0.10
CSeq: 1 INVITE
Contact: <sip:alice@10.99.0.10:5060>
Content-Length: 0

"
    )
}

#[test]
fn outbound_proxy_and_per_domain_proxy_are_the_next_hop() {
    let mut net = registered("outbound_proxy_host = sbc.isp.test\noutbound_proxy_port = 5070\n");
    net.send(phone(), &invite("", "sip:bob@example.test"));
    assert_eq!(
        net.one().to,
        Destination::Name {
            host: "sbc.isp.test".into(),
            port: Some(5070)
        }
    );

    let conf = "outbound_proxy_host = sbc.isp.test\noutbound_domain_name = other.test\noutbound_domain_host = o.test\noutbound_domain_port = 5080\noutbound_domain_name = EXAMPLE.test\noutbound_domain_host = 192.0.2.7\noutbound_domain_port = 5090\n";
    let mut net = registered(conf);
    net.send(phone(), &invite("", "sip:bob@example.test"));
    assert_eq!(net.one().to, Destination::Addr(addr("192.0.2.7:5090")));
}

#[test]
fn loose_route_is_the_next_hop_and_stays() {
    let mut net = registered("outbound_proxy_host = sbc.isp.test\n");
    net.send(
        phone(),
        &invite(
            "Route: <sip:edge.example.test;lr>\n",
            "sip:bob@example.test",
        ),
    );
    let out = net.one();
    assert_eq!(
        out.to,
        Destination::Name {
            host: "edge.example.test".into(),
            port: None
        }
    );
    assert!(
        String::from_utf8_lossy(&out.bytes).contains("\r\nRoute: <sip:edge.example.test;lr>\r\n")
    );
}

#[test]
fn strict_routed_request_uri_pops_the_last_route() {
    let mut net = registered("");
    let text = invite(
        "Route: <sip:edge.example.test;lr>, <sip:bob@198.51.100.3:5062>\n",
        "sip:siproxd@10.99.0.1:5060",
    );
    net.send(phone(), &text);
    let out = net.one();
    let text = String::from_utf8_lossy(&out.bytes).into_owned();
    assert!(
        text.starts_with("INVITE sip:bob@198.51.100.3:5062 SIP/2.0\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nRoute: <sip:edge.example.test;lr>\r\n"));
    assert_eq!(
        out.to,
        Destination::Name {
            host: "edge.example.test".into(),
            port: None
        }
    );
}

#[test]
fn ua_string_use_rport_and_obscure_loops() {
    let mut net = registered("ua_string = siproxd-rs\nuse_rport = 3\nobscure_loops = 1\n");
    net.send(phone(), &invite("", "sip:bob@198.51.100.3"));
    let b = branch_for("z9hG4bK-i9");
    net.expect(
        addr("198.51.100.3:5060"),
        Transport::Udp,
        &format!(
            "INVITE sip:bob@198.51.100.3 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={b};rport
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-i9
Max-Forwards: 69
From: <sip:alice@example.test>;tag=c9
To: <sip:bob@example.test>
Call-ID: c9@10.99.0.10-siproxdc9
CSeq: 1 INVITE
Contact: <sip:alice@198.51.100.1>
Content-Length: 0
User-Agent: siproxd-rs

"
        ),
    );
    net.send(
        remote(),
        &format!(
            "SIP/2.0 486 Busy Here
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={b};rport=5060;received=198.51.100.1
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-i9
From: <sip:alice@example.test>;tag=c9
To: <sip:bob@example.test>;tag=b9
Call-ID: c9@10.99.0.10-siproxdc9
CSeq: 1 INVITE
Content-Length: 0

"
        ),
    );
    net.expect(
        phone(),
        Transport::Udp,
        "SIP/2.0 486 Busy Here
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-i9
Record-Route: <sip:siproxd@10.99.0.1:5060;lr>
From: <sip:alice@example.test>;tag=c9
To: <sip:bob@example.test>;tag=b9
Call-ID: c9@10.99.0.10
CSeq: 1 INVITE
Content-Length: 0

",
    );
}

#[test]
fn responses_follow_received_and_rport() {
    // RFC 3581: a phone behind another NAT asks for rport; upstream ignores it for UDP.
    let mut net = TestNet::new("");
    let natted = addr("10.99.0.10:40001");
    let reg = REGISTER.replace("branch=z9hG4bK-reg-1", "branch=z9hG4bK-reg-1;rport");
    net.send(natted, &reg);
    let out = String::from_utf8(net.one().bytes).unwrap();
    assert!(out.contains("\r\nVia: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-reg-1;rport=40001;received=10.99.0.10\r\n"), "{out}");
    let b = branch_for("z9hG4bK-reg-1");
    net.send(
        registrar(),
        &format!(
            "SIP/2.0 200 OK
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={b}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-reg-1;rport=40001;received=10.99.0.10
From: <sip:alice@example.test>;tag=r1
To: <sip:alice@example.test>;tag=srv1
Call-ID: reg1@10.99.0.10
CSeq: 1 REGISTER
Contact: <sip:alice@198.51.100.1>;expires=600
Content-Length: 0

"
        ),
    );
    assert_eq!(net.one().to, Destination::Addr(natted));
}

#[test]
fn registration_file_round_trip_keeps_incoming_calls_working() {
    let mut net = registered("");
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
    let file = net.proxy.registrations_file(net.now);
    let head = format!(
        "****:1:{}\nsip:alice@10.99.0.10:5060\nsip:alice@198.51.100.1\nsip:alice@example.test\n****:0:0\n",
        START_WALL + 600
    );
    assert!(file.starts_with(&head), "{file}");
    assert_eq!(file.lines().count(), 4 + 511);

    let mut restarted = TestNet::new("");
    assert!(restarted
        .proxy
        .load_registrations(&file, restarted.now)
        .is_empty());
    restarted.send(
        registrar(),
        "OPTIONS sip:alice@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.2:5060;branch=z9hG4bK-q2
From: <sip:bob@example.test>;tag=q2
To: <sip:alice@example.test>
Call-ID: q2@198.51.100.2
CSeq: 1 OPTIONS
Content-Length: 0

",
    );
    assert_eq!(restarted.one().to, Destination::Addr(phone()));
}

#[test]
fn response_to_a_named_via_without_port_is_left_to_the_shells_srv_lookup() {
    let mut net = registered("");
    let via = "SIP/2.0/UDP sbc.provider.test;branch=z9hG4bK-n1";
    let invite = "OPTIONS sip:alice@198.51.100.1 SIP/2.0
Via: VIA
Max-Forwards: 70
From: <sip:bob@example.test>;tag=n1
To: <sip:alice@example.test>
Call-ID: n1@sbc
CSeq: 1 OPTIONS
Content-Length: 0

"
    .replace("VIA", via);
    net.send(registrar(), &invite);
    let fwd = net.one();
    let ours = branch_for("z9hG4bK-n1");
    let answer = format!(
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.99.0.1:5060;branch={ours}
Via: {via};received=198.51.100.2
From: <sip:bob@example.test>;tag=n1
To: <sip:alice@example.test>;tag=a
Call-ID: n1@sbc
CSeq: 1 OPTIONS
Content-Length: 0

"
    );
    assert!(String::from_utf8(fwd.bytes)
        .unwrap()
        .contains(&format!("\r\nVia: {via};received=198.51.100.2\r\n")));
    net.send(phone(), &answer);
    assert_eq!(net.one().to, Destination::Addr(addr("198.51.100.2:5060")));
    net.send(phone(), &answer.replace(";received=198.51.100.2", ""));
    assert_eq!(
        net.one().to,
        Destination::Name {
            host: "sbc.provider.test".into(),
            port: None
        }
    );
}

#[test]
fn obscured_call_id_is_restored_for_the_phone_and_reapplied_on_its_bye_answer() {
    let mut net = registered("obscure_loops = 1\n");
    let bye = "BYE sip:alice@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bK-ob1
Max-Forwards: 70
From: <sip:bob@example.test>;tag=b9
To: <sip:alice@example.test>;tag=c9
Call-ID: c9@10.99.0.10-siproxdc9
CSeq: 2 BYE
Content-Length: 0

";
    net.send(remote(), bye);
    let out = String::from_utf8(net.one().bytes).unwrap();
    assert!(out.contains("\r\nCall-ID: c9@10.99.0.10\r\n"), "{out}");
    let ours = branch_for("z9hG4bK-ob1");
    net.send(
        phone(),
        &format!(
            "SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.99.0.1:5060;branch={ours}
Via: SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bK-ob1
From: <sip:bob@example.test>;tag=b9
To: <sip:alice@example.test>;tag=c9
Call-ID: c9@10.99.0.10
CSeq: 2 BYE
Content-Length: 0

"
        ),
    );
    let out = String::from_utf8(net.one().bytes).unwrap();
    assert!(
        out.contains("\r\nCall-ID: c9@10.99.0.10-siproxdc9\r\n"),
        "{out}"
    );
}
