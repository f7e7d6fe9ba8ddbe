//! Every proxy edit, asserted on the exact output bytes.

use siproxd::sip::{HeaderName, Message, Position};

fn msg(s: &str) -> Message {
    Message::parse_datagram(s.as_bytes()).unwrap()
}

fn text(m: &Message) -> &str {
    std::str::from_utf8(m.as_bytes()).unwrap()
}

const REG: &str = "REGISTER sip:example.test SIP/2.0\r\n\
v: SIP/2.0/UDP 10.99.0.10:5070;branch=z9hG4bK-1 , SIP/2.0/TCP 10.0.0.9;branch=z9hG4bK-0\r\n\
Via: SIP/2.0/UDP 10.0.0.8;branch=z9hG4bK-x\r\n\
Max-Forwards: 0068\r\n\
From: <sip:alice@example.test>;tag=1\r\n\
To: <sip:alice@example.test>\r\n\
Call-ID: 1@10.99.0.10\r\n\
CSeq: 2 REGISTER\r\n\
m: \"Al\" <sip:alice-0x55@10.99.0.10:5060;line=7>;expires=600;+sip.instance=\"<urn:x>\"\r\n\
User-Agent: sipp-reg\r\n\
l: 0\r\n\r\n";

#[test]
fn add_via_top_inserts_a_line_before_the_first_via() {
    let mut m = msg(REG);
    m.add_via_top(b"SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKabc");
    let want = REG.replace(
        "v: SIP/2.0/UDP 10.99",
        "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKabc\r\nv: SIP/2.0/UDP 10.99",
    );
    assert_eq!(text(&m), want);
    assert_eq!(m.top_via().unwrap().branch(), Some(&b"z9hG4bKabc"[..]));
}

#[test]
fn remove_top_via_takes_the_first_value_of_a_comma_list() {
    let mut m = msg(REG);
    m.remove_top_via().unwrap();
    assert_eq!(
        text(&m),
        REG.replace("SIP/2.0/UDP 10.99.0.10:5070;branch=z9hG4bK-1 , ", "")
    );
    m.remove_top_via().unwrap();
    assert_eq!(text(&m), REG.replace("v: SIP/2.0/UDP 10.99.0.10:5070;branch=z9hG4bK-1 , SIP/2.0/TCP 10.0.0.9;branch=z9hG4bK-0\r\n", ""));
    m.remove_top_via().unwrap();
    assert!(!text(&m).contains("Via") && !text(&m).contains("v:"));
    assert_eq!(
        m.remove_top_via(),
        Err(siproxd::sip::Error::NoSuchHeader { name: "Via" })
    );
}

#[test]
fn top_via_received_and_rport() {
    let mut m = msg("OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1;rport;branch=z9hG4bK1, SIP/2.0/UDP b\r\nl: 0\r\n\r\n");
    m.set_top_via_param(b"rport", Some(b"5062")).unwrap();
    m.set_top_via_param(b"received", Some(b"10.0.0.1")).unwrap();
    assert_eq!(text(&m), "OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1;rport=5062;branch=z9hG4bK1;received=10.0.0.1, SIP/2.0/UDP b\r\nl: 0\r\n\r\n");
    m.set_top_via_param(b"received", Some(b"192.0.2.7"))
        .unwrap();
    m.set_top_via_param(b"rport", None).unwrap();
    assert_eq!(text(&m), "OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1;rport;branch=z9hG4bK1;received=192.0.2.7, SIP/2.0/UDP b\r\nl: 0\r\n\r\n");
    let mut single = msg("OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1\r\nl: 0\r\n\r\n");
    single.set_top_via_param(b"rport", Some(b"5060")).unwrap();
    assert_eq!(
        text(&single),
        "OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;rport=5060\r\nl: 0\r\n\r\n"
    );
    assert_eq!(single.top_via().unwrap().rport(), Some(Some(&b"5060"[..])));
}

#[test]
fn contact_uri_rewrite_keeps_display_name_and_params() {
    let mut m = msg(REG);
    m.set_contact_uri(0, b"sip:alice@198.51.100.1").unwrap();
    assert_eq!(
        text(&m),
        REG.replace(
            "<sip:alice-0x55@10.99.0.10:5060;line=7>",
            "<sip:alice@198.51.100.1>"
        )
    );
    let c = m.contacts().unwrap();
    assert_eq!(
        c[0].addr().unwrap().param(b"expires"),
        Some(Some(&b"600"[..]))
    );
}

#[test]
fn contact_uri_rewrite_of_addr_spec_adds_angle_brackets() {
    let mut m = msg("REGISTER sip:a SIP/2.0\r\nContact: sip:u@10.0.0.2;unknownparam, <sip:v@10.0.0.3>\r\nl: 0\r\n\r\n");
    m.set_contact_uri(0, b"sip:u@198.51.100.1;transport=tcp")
        .unwrap();
    m.set_contact_uri(1, b"sip:v@198.51.100.1").unwrap();
    assert_eq!(text(&m), "REGISTER sip:a SIP/2.0\r\nContact: <sip:u@198.51.100.1;transport=tcp>;unknownparam, <sip:v@198.51.100.1>\r\nl: 0\r\n\r\n");
    assert!(m.set_contact_uri(2, b"sip:x").is_err());
}

#[test]
fn request_uri_replace() {
    let mut m = msg(REG);
    m.set_request_uri(b"sip:alice-0x55@10.99.0.10:5060;line=7")
        .unwrap();
    assert_eq!(
        text(&m),
        REG.replacen(
            "sip:example.test",
            "sip:alice-0x55@10.99.0.10:5060;line=7",
            1
        )
    );
    assert_eq!(m.request_uri().unwrap().unwrap().port(), Some(5060));
}

#[test]
fn record_route_top_bottom_and_first() {
    let base = "INVITE sip:b SIP/2.0\r\nRecord-Route: <sip:p1;lr>\r\nVia: SIP/2.0/UDP x\r\nRecord-Route: <sip:p2;lr>\r\nl: 0\r\n\r\n";
    let mut m = msg(base);
    m.add_record_route(b"<sip:siproxd@10.99.0.1:5060;lr>", Position::Top);
    m.add_record_route(b"<sip:bottom;lr>", Position::Bottom);
    assert_eq!(text(&m), "INVITE sip:b SIP/2.0\r\nRecord-Route: <sip:siproxd@10.99.0.1:5060;lr>\r\nRecord-Route: <sip:p1;lr>\r\nVia: SIP/2.0/UDP x\r\nRecord-Route: <sip:p2;lr>\r\nRecord-Route: <sip:bottom;lr>\r\nl: 0\r\n\r\n");
    let mut none =
        msg("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x\r\nVia: SIP/2.0/UDP y\r\nl: 0\r\n\r\n");
    none.add_record_route(b"<sip:siproxd@10.99.0.1:5060;lr>", Position::Top);
    assert_eq!(text(&none), "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x\r\nVia: SIP/2.0/UDP y\r\nRecord-Route: <sip:siproxd@10.99.0.1:5060;lr>\r\nl: 0\r\n\r\n");
}

#[test]
fn remove_own_route_values_from_lists_and_lines() {
    let base = "ACK sip:b SIP/2.0\r\nRoute: <sip:siproxd@10.99.0.1:5060;lr>, <sip:p2;lr>\r\nRoute: <sip:p3;lr>, <sip:siproxd@10.99.0.1:5060;lr>\r\nRoute: <sip:siproxd@10.99.0.1:5060;lr>\r\nl: 0\r\n\r\n";
    let own =
        |a: &siproxd::sip::NameAddr<'_>| a.uri().is_ok_and(|u| u.user() == Some(&b"siproxd"[..]));
    let mut m = msg(base);
    assert_eq!(m.remove_route_values(HeaderName::Route, own).unwrap(), 3);
    assert_eq!(
        text(&m),
        "ACK sip:b SIP/2.0\r\nRoute: <sip:p2;lr>\r\nRoute: <sip:p3;lr>\r\nl: 0\r\n\r\n"
    );
    let mut all = msg(
        "ACK sip:b SIP/2.0\r\nRecord-Route: <sip:siproxd@a;lr>,<sip:siproxd@b;lr>\r\nl: 0\r\n\r\n",
    );
    assert_eq!(
        all.remove_route_values(HeaderName::RecordRoute, own)
            .unwrap(),
        2
    );
    assert_eq!(text(&all), "ACK sip:b SIP/2.0\r\nl: 0\r\n\r\n");
}

#[test]
fn set_add_remove_headers() {
    let mut m = msg(REG);
    assert_eq!(m.decrement_max_forwards().unwrap(), 67);
    m.set_header(HeaderName::UserAgent, b"siproxd-rs");
    m.set_header(HeaderName::Expires, b"600");
    let want = REG
        .replace("Max-Forwards: 0068", "Max-Forwards: 67")
        .replace("User-Agent: sipp-reg", "User-Agent: siproxd-rs")
        .replace("l: 0\r\n\r\n", "l: 0\r\nExpires: 600\r\n\r\n");
    assert_eq!(text(&m), want);
    assert_eq!(m.remove_header(HeaderName::UserAgent), 1);
    assert_eq!(text(&m), want.replace("User-Agent: siproxd-rs\r\n", ""));
    let mut none = msg("OPTIONS sip:a SIP/2.0\r\nl: 0\r\n\r\n");
    assert_eq!(none.decrement_max_forwards().unwrap(), 70);
    assert_eq!(
        text(&none),
        "OPTIONS sip:a SIP/2.0\r\nl: 0\r\nMax-Forwards: 70\r\n\r\n"
    );
    let mut zero = msg("OPTIONS sip:a SIP/2.0\r\nMax-Forwards: 0\r\n\r\n");
    assert_eq!(
        zero.decrement_max_forwards(),
        Err(siproxd::sip::Error::TooManyHops)
    );
}

#[test]
fn set_body_updates_content_length_in_place() {
    let mut m = msg("INVITE sip:b SIP/2.0\r\nContent-Length:   5\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n");
    m.set_body(b"v=0\r\nx\r\n");
    assert_eq!(text(&m), "INVITE sip:b SIP/2.0\r\nContent-Length:   8\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nx\r\n");
    let mut compact = msg("INVITE sip:b SIP/2.0\r\nl:5\r\n\r\nv=0\r\n");
    compact.set_body(b"");
    assert_eq!(text(&compact), "INVITE sip:b SIP/2.0\r\nl:0\r\n\r\n");
    let mut lf = msg("INVITE sip:b SIP/2.0\nVia: SIP/2.0/UDP x\n");
    lf.set_body(b"v=0\n");
    assert_eq!(
        text(&lf),
        "INVITE sip:b SIP/2.0\nVia: SIP/2.0/UDP x\nContent-Length: 4\n\nv=0\n"
    );
}

#[test]
fn folded_lines_are_removed_whole_and_untouched_otherwise() {
    let base = "INVITE sip:b SIP/2.0\r\nVia: SIP/2.0/UDP a;\r\n branch=z9hG4bK1\r\nSubject: folded\r\n  value\r\nl: 0\r\n\r\n";
    let mut m = msg(base);
    m.add_via_top(b"SIP/2.0/UDP p;branch=z9hG4bK2");
    m.remove_top_via().unwrap();
    assert_eq!(text(&m), base);
    m.remove_top_via().unwrap();
    assert_eq!(
        text(&m),
        "INVITE sip:b SIP/2.0\r\nSubject: folded\r\n  value\r\nl: 0\r\n\r\n"
    );
}

#[test]
fn masquerade_contacts_as_upstream_does() {
    // siproxd-on-the-wire.md §2: baresip's user part is replaced by the AoR user, port 5060 dropped.
    let mut m = msg("REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK1\r\nFrom: <sip:alice@example.test>;tag=1\r\nTo: <sip:alice@example.test>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice-0x55f8dfdf4f30@10.99.0.10:5060>;expires=600\r\nContent-Length: 0\r\n\r\n");
    let new = m.contacts().unwrap()[0]
        .addr()
        .unwrap()
        .uri()
        .unwrap()
        .with_user_host_port(Some(b"alice"), b"198.51.100.1", None);
    m.set_contact_uri(0, &new).unwrap();
    assert!(text(&m).contains("\r\nContact: <sip:alice@198.51.100.1>;expires=600\r\n"));
    // §4: a Contact without a user keeps its explicit port and its params.
    let mut r = msg("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.99.0.1:5060;branch=z9hG4bK2\r\nContact: <sip:10.99.0.10:5060;transport=UDP>\r\nContent-Length: 0\r\n\r\n");
    let new = r.contacts().unwrap()[0]
        .addr()
        .unwrap()
        .uri()
        .unwrap()
        .with_user_host_port(None, b"198.51.100.1", Some(5060));
    r.set_contact_uri(0, &new).unwrap();
    assert_eq!(text(&r), "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.99.0.1:5060;branch=z9hG4bK2\r\nContact: <sip:198.51.100.1:5060;transport=UDP>\r\nContent-Length: 0\r\n\r\n");
}

#[test]
fn outgoing_invite_rewrite_end_to_end() {
    // siproxd-on-the-wire.md §3, with our lossless output instead of libosip2's re-encoding.
    let invite = "INVITE sip:bob@198.51.100.3:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-16097-1-0\r\nMax-Forwards: 70\r\nFrom: \"alice\" <sip:alice@example.test>;tag=16097c1\r\nTo: <sip:bob@198.51.100.3>\r\nCall-ID: 1-16097@10.99.0.10\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@10.99.0.10:5060>\r\nUser-Agent: sipp-uac\r\nContent-Type: application/sdp\r\nContent-Length:   125\r\n\r\nv=0\r\no=alice 53655765 2353687637 IN IP4 10.99.0.10\r\ns=-\r\nc=IN IP4 10.99.0.10\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=sendrecv\r\n";
    let mut m = msg(invite);
    m.add_via_top(b"SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK7636b3ef");
    m.set_contact_uri(0, b"sip:alice@198.51.100.1").unwrap();
    assert_eq!(m.decrement_max_forwards().unwrap(), 69);
    let wan: std::net::IpAddr = "198.51.100.1".parse().unwrap();
    let body = {
        let sdp = siproxd::sip::Sdp::parse(m.body()).unwrap();
        let mut r = sdp.rewriter();
        r.set_origin_address(wan)
            .set_connection_addresses(wan)
            .set_media_port(0, 7070);
        r.to_bytes()
    };
    m.set_body(&body);
    let want = "INVITE sip:bob@198.51.100.3:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK7636b3ef\r\nVia: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-16097-1-0\r\nMax-Forwards: 69\r\nFrom: \"alice\" <sip:alice@example.test>;tag=16097c1\r\nTo: <sip:bob@198.51.100.3>\r\nCall-ID: 1-16097@10.99.0.10\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@198.51.100.1>\r\nUser-Agent: sipp-uac\r\nContent-Type: application/sdp\r\nContent-Length:   129\r\n\r\nv=0\r\no=alice 53655765 2353687637 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 7070 RTP/AVP 8 101\r\na=sendrecv\r\n";
    assert_eq!(text(&m), want);
    assert_eq!(m.body().len(), 129);
}
