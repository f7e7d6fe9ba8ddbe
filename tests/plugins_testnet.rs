//! Each bundled plugin, as its real cdylib, in the stage hooks of one proxy
//! on the TestNet (src/proxy/testnet.rs): exact messages out of the proxy,
//! exact log lines where the log is the plugin's output. The plugins are
//! built once (tests/plugins_common); each test loads private copies.
//!
//! TestNet has no event loop, so the tests do its plugin work by hand:
//! refresh the state snapshot after a registration, run the TIMER stage,
//! carry out `HostAction`s (plugin_stun's datagrams and public address).

mod plugins_common;
mod proxy_common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use plugins_common::PluginNet;
use proxy_common::{branch_for, REGISTER};
use siproxd::plugin::chain::OwnAddresses;
use siproxd::plugin::HostAction;
use siproxd::proxy::testnet::{interfaces, phone, registrar, remote};
use siproxd::proxy::{Interfaces, Transport};

/// alice's phone registers through the proxy; the snapshot plugins read is
/// refreshed, as the daemon does every second.
fn register(p: &mut PluginNet) {
    p.net.send(phone(), REGISTER);
    assert_eq!(p.net.one().to.to_string(), "example.test");
    let b = branch_for("z9hG4bK-reg-1");
    p.net.send(
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
    assert_eq!(p.net.one().to.to_string(), "10.99.0.10:5060");
    p.refresh();
}

/// A plugin net with alice registered.
fn registered(test: &str, conf: &str) -> PluginNet {
    let mut p = PluginNet::new(test, conf);
    register(&mut p);
    p
}

/// An INVITE from alice's phone.
fn invite(ruri: &str, to: &str, extra: &str) -> String {
    format!(
        "INVITE {ruri} SIP/2.0
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-inv-1
Max-Forwards: 70
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <{to}>
Call-ID: call1@10.99.0.10
CSeq: 1 INVITE
Contact: <sip:alice@10.99.0.10:5060>
{extra}Content-Type: application/sdp
Content-Length: *

{SDP}"
    )
}

/// The ACK alice sends for a final non-2xx answer to `invite`.
fn ack(ruri: &str, to: &str, to_tag: &str) -> String {
    format!(
        "ACK {ruri} SIP/2.0
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-inv-1
Max-Forwards: 70
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <{to}>;tag={to_tag}
Call-ID: call1@10.99.0.10
CSeq: 1 ACK
Content-Length: 0

"
    )
}

/// PCMA, G.729 (with fmtp), GSM and G.722 (static, no rtpmap), DTMF.
const SDP: &str = "v=0
o=alice 53655765 2353687637 IN IP4 10.99.0.10
s=-
c=IN IP4 10.99.0.10
t=0 0
m=audio 6000 RTP/AVP 8 18 3 9 101
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
";

/// `SDP` as the proxy sends it to the WAN (its address, its RTP port).
const SDP_OUT: &str = "v=0
o=alice 53655765 2353687637 IN IP4 198.51.100.1
s=-
c=IN IP4 198.51.100.1
t=0 0
m=audio 7070 RTP/AVP 8 18 3 9 101
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
";

/// An outgoing INVITE to bob as the proxy forwards it; `extra` after Contact.
fn invite_out(extra: &str, sdp: &str) -> String {
    let b = branch_for("z9hG4bK-inv-1");
    format!(
        "INVITE sip:bob@198.51.100.3:5060 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={b}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-inv-1
Max-Forwards: 69
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <sip:bob@198.51.100.3>
Call-ID: call1@10.99.0.10
CSeq: 1 INVITE
Contact: <sip:alice@198.51.100.1>
{extra}Content-Type: application/sdp
Content-Length: *

{sdp}"
    )
}

#[test]
fn shortdial_star01_is_redirected_to_entry_one() {
    let mut p = registered(
        "shortdial",
        "load_plugin = plugin_shortdial.la
plugin_shortdial_akey = *00
plugin_shortdial_entry = 17474743246
plugin_shortdial_entry = 17474745000
",
    );
    p.net.send(
        phone(),
        &invite("sip:*01@example.test", "sip:*01@example.test", ""),
    );
    p.net.expect(
        phone(),
        Transport::Udp,
        "SIP/2.0 302 Moved Temporarily
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-inv-1
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <sip:*01@example.test>;tag=05249f7473321ae3
Call-ID: call1@10.99.0.10
CSeq: 1 INVITE
Contact: <sip:17474743246@example.test>
Content-Length: 0

",
    );
    // The phone's ACK for the 302 ends there.
    p.net.send(
        phone(),
        &ack(
            "sip:*01@example.test",
            "sip:*01@example.test",
            "05249f7473321ae3",
        ),
    );
    p.net.expect_nothing();
    // *03: no third entry, so the call goes on to the registrar's domain unchanged.
    p.net.send(
        phone(),
        &invite("sip:*03@198.51.100.3", "sip:*03@198.51.100.3", ""),
    );
    let out = p.net.one();
    assert_eq!(out.to.to_string(), "198.51.100.3:5060");
    assert!(
        out.bytes
            .starts_with(b"INVITE sip:*03@198.51.100.3 SIP/2.0\r\n"),
        "{}",
        String::from_utf8_lossy(&out.bytes)
    );
}

#[test]
fn defaulttarget_redirects_a_call_for_nobody_registered() {
    let mut p = registered(
        "defaulttarget",
        "load_plugin = plugin_defaulttarget.la
plugin_defaulttarget_target = sip:operator@198.51.100.3:5060
plugin_defaulttarget_log = 1
",
    );
    p.net.send(
        remote(),
        "INVITE sip:nobody@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bK-in-1
Max-Forwards: 70
From: <sip:bob@198.51.100.3>;tag=b1
To: <sip:nobody@198.51.100.1>
Call-ID: in1@198.51.100.3
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.3:5060>
Content-Length: 0

",
    );
    p.net.expect(
        remote(),
        Transport::Udp,
        "SIP/2.0 302 Moved Temporarily
Via: SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bK-in-1
From: <sip:bob@198.51.100.3>;tag=b1
To: <sip:nobody@198.51.100.1>;tag=13086a9c403edc74
Call-ID: in1@198.51.100.3
CSeq: 1 INVITE
Contact: <sip:operator@198.51.100.3:5060>
Content-Length: 0

",
    );
    assert_eq!(
        p.take_log(),
        [
            "plugin_defaulttarget Info: Unknown Target [rcvd IP=198.51.100.3:5060], \
          From: bob@198.51.100.3, redirecting To: nobody@198.51.100.1 -> \
          sip:operator@198.51.100.3:5060"
        ]
    );
    // bob's ACK for the 302 ends there.
    p.net.send(
        remote(),
        "ACK sip:nobody@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bK-in-1
Max-Forwards: 70
From: <sip:bob@198.51.100.3>;tag=b1
To: <sip:nobody@198.51.100.1>;tag=13086a9c403edc74
Call-ID: in1@198.51.100.3
CSeq: 1 ACK
Content-Length: 0

",
    );
    p.net.expect_nothing();
    // A call for alice (registered) is not touched.
    p.net.send(
        remote(),
        "INVITE sip:alice@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bK-in-2
Max-Forwards: 70
From: <sip:bob@198.51.100.3>;tag=b2
To: <sip:alice@example.test>
Call-ID: in2@198.51.100.3
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.3:5060>
Content-Length: 0

",
    );
    let out = p.net.one();
    assert_eq!(out.to.to_string(), "10.99.0.10:5060");
    assert!(out
        .bytes
        .starts_with(b"INVITE sip:alice@10.99.0.10:5060 SIP/2.0\r\n"));
    assert!(p.take_log().is_empty());
}

/// An incoming INVITE for alice from 198.51.100.3:5062 whose Via says `via`.
fn incoming_from_nat(via: &str) -> String {
    format!(
        "INVITE sip:alice@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP {via};branch=z9hG4bK-in-1
Max-Forwards: 70
From: <sip:bob@198.51.100.3>;tag=b1
To: <sip:alice@example.test>
Call-ID: in1@198.51.100.3
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.3:5060>
Content-Length: 0

"
    )
}

fn incoming_forwarded(via: &str) -> String {
    let b = branch_for("z9hG4bK-in-1");
    format!(
        "INVITE sip:alice@10.99.0.10:5060 SIP/2.0
Via: SIP/2.0/UDP 10.99.0.1:5060;branch={b}
Via: SIP/2.0/UDP {via};branch=z9hG4bK-in-1;received=198.51.100.3
Record-Route: <sip:siproxd@10.99.0.1:5060;lr>
Max-Forwards: 69
From: <sip:bob@198.51.100.3>;tag=b1
To: <sip:alice@example.test>
Call-ID: in1@198.51.100.3
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.3:5060>
Content-Length: 0

"
    )
}

#[test]
fn fix_bogus_via_rewrites_a_private_via_from_the_listed_networks() {
    let nat: SocketAddr = "198.51.100.3:5062".parse().unwrap();
    let mut p = registered(
        "fix_bogus_via",
        "load_plugin = plugin_fix_bogus_via.la
plugin_fix_bogus_via_networks = 10.0.0.0/8,192.168.0.0/16
",
    );
    p.net.send(nat, &incoming_from_nat("192.168.1.20:5060"));
    p.net.expect(
        phone(),
        Transport::Udp,
        &incoming_forwarded("198.51.100.3:5062"),
    );
    // alice's 180 goes back to where the INVITE really came from.
    let b = branch_for("z9hG4bK-in-1");
    p.net.send(
        phone(),
        &format!(
            "SIP/2.0 180 Ringing
Via: SIP/2.0/UDP 10.99.0.1:5060;branch={b}
Via: SIP/2.0/UDP 198.51.100.3:5062;branch=z9hG4bK-in-1;received=198.51.100.3
Record-Route: <sip:siproxd@10.99.0.1:5060;lr>
From: <sip:bob@198.51.100.3>;tag=b1
To: <sip:alice@example.test>;tag=a1
Call-ID: in1@198.51.100.3
CSeq: 1 INVITE
Content-Length: 0

"
        ),
    );
    assert_eq!(p.net.one().to.to_string(), "198.51.100.3:5062");

    // 172.16.0.0/12 is private but not listed: the Via stays.
    let mut p = registered(
        "fix_bogus_via_unlisted",
        "load_plugin = plugin_fix_bogus_via.la
plugin_fix_bogus_via_networks = 10.0.0.0/8,192.168.0.0/16
",
    );
    p.net.send(nat, &incoming_from_nat("172.16.1.20:5060"));
    p.net.expect(
        phone(),
        Transport::Udp,
        &incoming_forwarded("172.16.1.20:5060"),
    );
}

#[test]
fn regex_redirects_with_back_references() {
    let mut p = registered(
        "regex",
        "load_plugin = plugin_regex.la
plugin_regex_desc    = not this one
plugin_regex_pattern = ^(sips?:)0049
plugin_regex_replace = \\1+49
plugin_regex_desc    = international
plugin_regex_pattern = ^(sips?:)00([0-9]+)@
plugin_regex_replace = \\1+\\2@
",
    );
    // The first rule does not match 0043…; the second does, \1 and \2 filled in.
    p.net.send(
        phone(),
        &invite(
            "sip:00431234567@example.test",
            "sip:00431234567@example.test",
            "",
        ),
    );
    p.net.expect(
        phone(),
        Transport::Udp,
        "SIP/2.0 302 Moved Temporarily
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-inv-1
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <sip:00431234567@example.test>;tag=05249f7473321ae3
Call-ID: call1@10.99.0.10
CSeq: 1 INVITE
Contact: <sip:+431234567@example.test;redirected=regex>
Content-Length: 0

",
    );
    assert_eq!(
        p.take_log(),
        [
            "plugin_regex Info: Matched rexec rule: international",
            "plugin_regex Info: redirecting sip:00431234567@example.test -> sip:+431234567@example.test",
        ]
    );
    p.net.send(
        phone(),
        &ack(
            "sip:00431234567@example.test",
            "sip:00431234567@example.test",
            "05249f7473321ae3",
        ),
    );
    p.net.expect_nothing();
}

#[test]
fn codecfilter_removes_the_listed_codecs_static_ones_included() {
    let mut p = registered(
        "codecfilter",
        "load_plugin = plugin_codecfilter.la
plugin_codecfilter_blacklist = G729
plugin_codecfilter_blacklist = GSM
",
    );
    p.net.send(
        phone(),
        &invite("sip:bob@198.51.100.3:5060", "sip:bob@198.51.100.3", ""),
    );
    // G.729 (18: m=, rtpmap, fmtp) and GSM (3: static, only on m=) are gone;
    // G.722 (9, static) and DTMF stay.
    p.net.expect(
        remote(),
        Transport::Udp,
        &invite_out(
            "",
            "v=0
o=alice 53655765 2353687637 IN IP4 198.51.100.1
s=-
c=IN IP4 198.51.100.1
t=0 0
m=audio 7070 RTP/AVP 8 9 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
",
        ),
    );
}

#[test]
fn stripheader_removes_a_header_and_one_value_of_a_list() {
    let mut p = registered(
        "stripheader",
        "load_plugin = plugin_stripheader.la
plugin_stripheader_remove = User-Agent
plugin_stripheader_remove = Supported:100rel
",
    );
    p.net.send(
        phone(),
        &invite(
            "sip:bob@198.51.100.3:5060",
            "sip:bob@198.51.100.3",
            "User-Agent: sipp-uac\nSupported: 100rel, timer\nAllow: INVITE, ACK, BYE\n",
        ),
    );
    p.net.expect(
        remote(),
        Transport::Udp,
        &invite_out("Supported: timer\nAllow: INVITE, ACK, BYE\n", SDP_OUT),
    );
}

/// An INVITE from the trunk provider for `number`.
fn trunk_invite(number: &str) -> String {
    format!(
        "INVITE sip:{number}@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.2:5060;branch=z9hG4bK-in-1
Max-Forwards: 70
From: <sip:bob@example.test>;tag=b1
To: <sip:{number}@example.test>
Call-ID: in1@198.51.100.2
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.2:5060>
Content-Length: 0

"
    )
}

#[test]
fn siptrunk_sends_a_number_of_the_block_to_the_accounts_phone() {
    let mut p = registered(
        "siptrunk",
        "load_plugin = plugin_siptrunk.la
plugin_siptrunk_name = Example Trunk
plugin_siptrunk_account = sip:alice@example.test
plugin_siptrunk_numbers_regex = ^555123[01][0-9][0-9]$
",
    );
    p.net.send(registrar(), &trunk_invite("555123105"));
    let b = branch_for("z9hG4bK-in-1");
    p.net.expect(
        phone(),
        Transport::Udp,
        &format!(
            "INVITE sip:555123105@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 10.99.0.1:5060;branch={b}
Via: SIP/2.0/UDP 198.51.100.2:5060;branch=z9hG4bK-in-1
Record-Route: <sip:siproxd@10.99.0.1:5060;lr>
Max-Forwards: 69
From: <sip:bob@example.test>;tag=b1
To: <sip:555123105@example.test>
Call-ID: in1@198.51.100.2
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.2:5060>
Content-Length: 0

"
        ),
    );
    assert_eq!(
        p.take_log(),
        ["plugin_siptrunk Debug: matched trunk [Example Trunk], account [sip:alice@example.test]"]
    );
    // A number outside the block is nobody's: the core's 404, not alice.
    p.net.send(registrar(), &trunk_invite("555124105"));
    p.net.expect(
        registrar(),
        Transport::Udp,
        "SIP/2.0 404 Not Found
Via: SIP/2.0/UDP 198.51.100.2:5060;branch=z9hG4bK-in-1
From: <sip:bob@example.test>;tag=b1
To: <sip:555124105@example.test>;tag=b88df24caa6514f8
Call-ID: in1@198.51.100.2
CSeq: 1 INVITE
Content-Length: 0

",
    );
    assert_eq!(p.take_log(), ["plugin_siptrunk Debug: no trunk matches"]);
}

#[test]
fn logcall_logs_an_outgoing_call() {
    let mut p = registered("logcall", "load_plugin = plugin_logcall.la\n");
    p.net.send(
        phone(),
        &invite("sip:bob@198.51.100.3:5060", "sip:bob@198.51.100.3", ""),
    );
    p.net
        .expect(remote(), Transport::Udp, &invite_out("", SDP_OUT));
    assert_eq!(
        p.take_log(),
        [
            "plugin_logcall Info: Outgoing (INVITE) Call: alice@example.test -> bob@198.51.100.3 \
          [Req: bob@198.51.100.3] [IP: 10.99.0.10:5060] [CID: call1@10.99.0.10]"
        ]
    );
}

#[test]
fn stats_writes_its_file_on_a_status_request() {
    let file = plugins_common::scratch("stats-file").join("stats.txt");
    let mut p = registered(
        "stats",
        &format!(
            "load_plugin = plugin_stats.la
plugin_stats_to_file = -1
plugin_stats_filename = {}
",
            file.display()
        ),
    );
    p.net.send(
        phone(),
        &invite("sip:bob@198.51.100.3:5060", "sip:bob@198.51.100.3", ""),
    );
    p.net
        .expect(remote(), Transport::Udp, &invite_out("", SDP_OUT));
    p.refresh();
    // -1: only on SIGUSR1.
    p.timer();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!file.exists(), "written without a status request");
    p.host.note_status_request();
    p.timer();
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&file).unwrap_or_default();
        if text.ends_with('\n') && text.contains("Data;") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("Date: "), "{text}");
    assert_eq!(
        lines.next().unwrap(),
        format!("PID:  {}", std::process::id())
    );
    assert_eq!(
        lines.collect::<Vec<_>>(),
        [
            "",
            "Summary",
            "-------",
            "registered Clients:      1",
            "active Clients:          1",
            "active Calls:            1",
            "active Streams:          1",
            "",
            "RTP-Details",
            "-----------",
            "Header; Client-Id; Call-Id; Call Direction; Stream Direction; local IP; remote IP",
            "Data;alice@example.test;call1@10.99.0.10;Outgoing;Incoming;198.51.100.1;10.99.0.10",
        ]
    );
    assert_eq!(
        p.take_log(),
        ["plugin_stats Info: plugin_stats is initialized and armed"]
    );
}

/// An authenticated REGISTER from alice's phone, attempt `n`.
fn auth_register(n: u32) -> String {
    format!(
        "REGISTER sip:198.51.100.2 SIP/2.0
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-bl-{n}
Max-Forwards: 70
From: <sip:alice@example.test>;tag=r{n}
To: <sip:alice@example.test>
Call-ID: bl1@10.99.0.10
CSeq: {n} REGISTER
Contact: <sip:alice@10.99.0.10:5060>
Authorization: Digest username=\"alice\", realm=\"example.test\", nonce=\"n1\", uri=\"sip:198.51.100.2\", response=\"00000000000000000000000000000000\"
Expires: 600
Content-Length: 0

"
    )
}

/// The registrar's `status` answer to `auth_register(n)`.
fn register_answer(n: u32, status: &str) -> String {
    let b = branch_for(&format!("z9hG4bK-bl-{n}"));
    format!(
        "SIP/2.0 {status}
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={b}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-bl-{n}
From: <sip:alice@example.test>;tag=r{n}
To: <sip:alice@example.test>;tag=srv{n}
Call-ID: bl1@10.99.0.10
CSeq: {n} REGISTER
Content-Length: 0

"
    )
}

/// Sends attempt `n` and asserts the proxy forwarded it to the registrar.
fn register_passes(p: &mut PluginNet, n: u32) {
    p.net.send(phone(), &auth_register(n));
    let out = p.net.one();
    assert_eq!(out.to.to_string(), "198.51.100.2:5060");
    assert!(out
        .bytes
        .starts_with(b"REGISTER sip:198.51.100.2 SIP/2.0\r\n"));
}

#[test]
fn blacklist_blocks_after_the_failures_and_unblocks_after_the_duration() {
    let db = plugins_common::scratch("blacklist-db").join("blacklist.sqlite");
    let mut p = PluginNet::new(
        "blacklist",
        &format!(
            "load_plugin = plugin_blacklist.la
plugin_blacklist_dbpath = {}
plugin_blacklist_hitcount = 2
plugin_blacklist_duration = 1
",
            db.display()
        ),
    );
    p.take_log();
    // Three refused registrations (failcount 3 > hitcount 2) …
    for n in 1..=3 {
        register_passes(&mut p, n);
        p.net
            .send(registrar(), &register_answer(n, "403 Forbidden"));
        assert_eq!(p.net.one().to.to_string(), "10.99.0.10:5060");
    }
    assert_eq!(p.take_log(), Vec::<String>::new());
    // … and the fourth goes nowhere.
    p.net.send(phone(), &auth_register(4));
    p.net.expect_nothing();
    assert_eq!(
        p.take_log(),
        ["plugin_blacklist Info: UAC with IP 10.99.0.10 [sip:alice@example.test] is blocked"]
    );
    // Other requests of that UA are blocked too; another UA is not.
    p.net.send(
        phone(),
        &invite("sip:bob@198.51.100.3:5060", "sip:bob@198.51.100.3", ""),
    );
    p.net.expect_nothing();
    p.take_log();

    // Expiry runs on every 12th TIMER tick; `lastseen` (unix seconds) must
    // be more than `duration` (1 s) old.
    std::thread::sleep(Duration::from_millis(2100));
    for _ in 0..11 {
        p.timer();
    }
    p.net.send(phone(), &auth_register(5));
    p.net.expect_nothing();
    p.take_log();
    std::thread::sleep(Duration::from_millis(2100));
    p.timer();
    register_passes(&mut p, 6);
    p.net.send(registrar(), &register_answer(6, "200 OK"));
    assert_eq!(p.net.one().to.to_string(), "10.99.0.10:5060");
    assert_eq!(p.take_log(), Vec::<String>::new());
}

/// A STUN Binding success response to `request` (RFC 5389) with an
/// XOR-MAPPED-ADDRESS of `mapped`, built by hand.
fn binding_success(request: &[u8], mapped: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(mapped) = mapped else {
        panic!("IPv4 only")
    };
    assert_eq!(request.len(), 20, "a Binding Request without attributes");
    assert_eq!(request[..2], [0x00, 0x01], "a Binding Request");
    let mut out = vec![0x01, 0x01, 0x00, 12];
    out.extend_from_slice(&request[4..20]); // magic cookie and transaction ID
    out.extend_from_slice(&[0x00, 0x20, 0x00, 8, 0x00, 0x01]);
    out.extend_from_slice(&(mapped.port() ^ 0x2112).to_be_bytes());
    out.extend_from_slice(&(u32::from(*mapped.ip()) ^ 0x2112_a442).to_be_bytes());
    out
}

/// A STUN server on loopback answering every Binding Request with `mapped`.
fn stun_server(mapped: SocketAddr) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&binding_success(&buf[..n], mapped), from);
        }
    });
    addr
}

/// The SendRaw datagrams among the chain's actions (and nothing else).
fn sent_raw(p: &PluginNet) -> Vec<(SocketAddr, Vec<u8>)> {
    p.take_actions()
        .into_iter()
        .map(|a| match a {
            HostAction::SendRaw { to, data } => (to, data),
            other => panic!("unexpected action {other:?}"),
        })
        .collect()
}

/// The REGISTER fixture as the proxy forwards it when it advertises `wan`.
fn register_out(wan: &str) -> String {
    let b = branch_for("z9hG4bK-reg-1");
    format!(
        "REGISTER sip:example.test SIP/2.0
Via: SIP/2.0/UDP {wan}:5060;branch={b}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-reg-1
Max-Forwards: 69
From: <sip:alice@example.test>;tag=r1
To: <sip:alice@example.test>
Call-ID: reg1@10.99.0.10
CSeq: 1 REGISTER
Contact: <sip:alice@{wan}>;+sip.instance=\"<urn:uuid:1>\"
Expires: 600
User-Agent: sipp-reg
Content-Length: 0

"
    )
}

fn example_test() -> siproxd::proxy::Destination {
    siproxd::proxy::Destination::Name {
        host: "example.test".into(),
        port: None,
    }
}

#[test]
fn stun_sets_the_advertised_address_from_the_servers_answer() {
    let public: SocketAddr = "203.0.113.77:40000".parse().unwrap();
    let server = stun_server(public);
    let mut p = PluginNet::new(
        "stun",
        &format!(
            "load_plugin = plugin_stun.la
plugin_stun_server = 127.0.0.1
plugin_stun_port = {}
plugin_stun_period = 300
",
            server.port()
        ),
    );
    p.timer();
    let sent = sent_raw(&p);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (to, request) = &sent[0];
    assert_eq!(*to, server);
    // The event loop would send it from the SIP socket; a loopback socket here.
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.send_to(request, server).unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = client.recv_from(&mut buf).unwrap();
    assert_eq!(from, server);
    // The answer arrives on the SIP socket: consumed at PROCESS_RAW.
    p.net.send_bytes(server, Transport::Udp, &buf[..n]);
    p.net.expect_nothing();
    assert_eq!(p.take_actions(), [HostAction::SetPublicAddr(public)]);
    assert_eq!(
        p.take_log(),
        [
            format!("plugin_stun Debug: STUN: Binding Request sent to {server}"),
            "plugin_stun Info: STUN: public IP has changed to 203.0.113.77".to_string(),
        ]
    );
    // What the event loop does with it.
    let ifaces = Interfaces {
        host_outbound: Some(public.ip()),
        ..interfaces()
    };
    p.net.proxy.set_interfaces(ifaces);
    p.chain.0.borrow_mut().set_own_addresses(OwnAddresses {
        inbound: ifaces.inbound,
        outbound: Some(public.ip()),
        listen_port: 5060,
    });
    p.net.send(phone(), REGISTER);
    p.net.expect_to(
        example_test(),
        Transport::Udp,
        &register_out("203.0.113.77"),
    );
    // Answered: nothing more until the period is over.
    p.timer();
    assert_eq!(sent_raw(&p), []);
}

#[test]
fn stun_retries_a_server_that_never_answers() {
    // Bound, never read: the requests go nowhere.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = silent.local_addr().unwrap();
    let mut p = PluginNet::new(
        "stun-silent",
        &format!(
            "load_plugin = plugin_stun.la
plugin_stun_server = 127.0.0.1
plugin_stun_port = {}
",
            server.port()
        ),
    );
    p.take_log();
    p.timer();
    let first = sent_raw(&p);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].0, server);
    // Not again before the retry interval (10 s on the plugin's clock, the
    // host's real `now_ms`: TestNet time does not reach plugins).
    p.timer();
    assert_eq!(sent_raw(&p), []);
    std::thread::sleep(Duration::from_millis(10_100));
    p.timer();
    let second = sent_raw(&p);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0].0, server);
    assert_ne!(second[0].1, first[0].1, "a new transaction ID");
    assert_eq!(
        p.take_log(),
        [
            format!("plugin_stun Debug: STUN: Binding Request sent to {server}"),
            format!(
                "plugin_stun Warn: STUN: no answer from server {server} ({server}); \
                 retrying every 10 s"
            ),
            format!("plugin_stun Debug: STUN: Binding Request sent to {server}"),
        ]
    );
    // SIP goes on with the configured address.
    p.net.send(phone(), REGISTER);
    p.net.expect_to(
        example_test(),
        Transport::Udp,
        &register_out("198.51.100.1"),
    );
    drop(silent);
}

#[test]
fn prefix_redirects_an_outgoing_call_to_the_prefixed_number() {
    let mut p = registered(
        "prefix",
        "load_plugin = plugin_prefix.la
plugin_prefix_akey = 0
",
    );
    p.net.send(
        phone(),
        &invite("sip:5551234@198.51.100.3", "sip:5551234@198.51.100.3", ""),
    );
    p.net.expect(
        phone(),
        Transport::Udp,
        "SIP/2.0 302 Moved Temporarily
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-inv-1
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <sip:5551234@198.51.100.3>;tag=05249f7473321ae3
Call-ID: call1@10.99.0.10
CSeq: 1 INVITE
Contact: <sip:05551234@198.51.100.3;redirected=prefix>
Content-Length: 0

",
    );
    assert_eq!(
        p.take_log(),
        ["plugin_prefix Info: redirecting 5551234 -> 05551234"]
    );
    // The phone's ACK for the 302 ends there.
    p.net.send(
        phone(),
        &ack(
            "sip:5551234@198.51.100.3",
            "sip:5551234@198.51.100.3",
            "05249f7473321ae3",
        ),
    );
    p.net.expect_nothing();
    // The phone follows the redirect: marked, so it goes out as it is.
    p.net.send(
        phone(),
        &invite(
            "sip:05551234@198.51.100.3;redirected=prefix",
            "sip:5551234@198.51.100.3",
            "",
        ),
    );
    let out = p.net.one();
    assert_eq!(out.to.to_string(), "198.51.100.3:5060");
    assert!(
        out.bytes
            .starts_with(b"INVITE sip:05551234@198.51.100.3;redirected=prefix SIP/2.0\r\n"),
        "{}",
        String::from_utf8_lossy(&out.bytes)
    );
    assert_eq!(p.take_log(), Vec::<String>::new());
}

#[test]
fn prefix_rewrite_mode_prefixes_the_request_uri_in_place() {
    let mut p = registered(
        "prefix-rewrite",
        "load_plugin = plugin_prefix.la
plugin_prefix_akey = 0
plugin_prefix_mode = rewrite
",
    );
    p.net.send(
        phone(),
        &invite("sip:bob@198.51.100.3:5060", "sip:bob@198.51.100.3", ""),
    );
    p.net.expect(
        remote(),
        Transport::Udp,
        &invite_out("", SDP_OUT).replacen("INVITE sip:bob@", "INVITE sip:0bob@", 1),
    );
    assert_eq!(
        p.take_log(),
        ["plugin_prefix Info: rewriting sip:bob@198.51.100.3:5060 -> sip:0bob@198.51.100.3:5060"]
    );
}

#[test]
fn regex_body_replaces_every_match_and_the_length_follows() {
    let mut p = registered(
        "regex_body",
        "load_plugin = plugin_regex_body.la
plugin_regex_body_desc    = Test Body Regex 1
plugin_regex_body_pattern = 1.2.3.4
plugin_regex_body_replace = host.domain.com
",
    );
    let sdp = |server: &str, addr: &str, port: &str| {
        format!(
            "v=0
o=alice 53655765 2353687637 IN IP4 {addr}
s=via {server}
i=relay {server}
c=IN IP4 {addr}
t=0 0
m=audio {port} RTP/AVP 8
a=rtpmap:8 PCMA/8000
"
        )
    };
    let sent = invite("sip:bob@198.51.100.3:5060", "sip:bob@198.51.100.3", "")
        .replace(SDP, &sdp("1.2.3.4", "10.99.0.10", "6000"));
    p.net.send(phone(), &sent);
    // Both matches replaced; Content-Length: * is the longer body's length.
    p.net.expect(
        remote(),
        Transport::Udp,
        &invite_out("", &sdp("host.domain.com", "198.51.100.1", "7070")),
    );
    assert_eq!(
        p.take_log(),
        ["plugin_regex_body Info: Matched rexec rule: Test Body Regex 1"]
    );
    // A body without a match passes unchanged, and nothing is logged.
    let b = branch_for("z9hG4bK-inv-1");
    p.net.send(
        remote(),
        &format!(
            "SIP/2.0 200 OK
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={b}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-inv-1
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <sip:bob@198.51.100.3>;tag=b1
Call-ID: call1@10.99.0.10
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.3:5060>
Content-Type: text/plain
Content-Length: *

nothing to see at 1.2.3.5
"
        ),
    );
    p.net.expect(
        phone(),
        Transport::Udp,
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-inv-1
Record-Route: <sip:siproxd@10.99.0.1:5060;lr>
From: \"alice\" <sip:alice@example.test>;tag=c1
To: <sip:bob@198.51.100.3>;tag=b1
Call-ID: call1@10.99.0.10
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.3:5060>
Content-Type: text/plain
Content-Length: 27

nothing to see at 1.2.3.5
",
    );
    assert_eq!(p.take_log(), Vec::<String>::new());
}

/// The registrar's 200 for the REGISTER fixture from `from`, whose top Via
/// is `top_via` instead of the proxy's own.
fn register_ok_with_via(top_via: &str) -> String {
    format!(
        "SIP/2.0 200 OK
Via: {top_via}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-reg-1
From: <sip:alice@example.test>;tag=r1
To: <sip:alice@example.test>;tag=srv1
Call-ID: reg1@10.99.0.10
CSeq: 1 REGISTER
Contact: <sip:alice@198.51.100.1>;expires=600
Content-Length: 0

"
    )
}

/// The phone's copy of the registrar's 200 (the proxy's Via gone, the
/// Contact back to the phone's).
const REGISTER_OK_TO_PHONE: &str = "SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-reg-1
From: <sip:alice@example.test>;tag=r1
To: <sip:alice@example.test>;tag=srv1
Call-ID: reg1@10.99.0.10
CSeq: 1 REGISTER
Contact: <sip:alice@10.99.0.10:5060>;expires=600
Content-Length: 0

";

const FIX_DTAG_CONF: &str = "load_plugin = plugin_fix_DTAG.la
plugin_fix_DTAG_networks = 198.51.100.2/32
";

#[test]
fn fix_dtag_repairs_a_foreign_top_via_from_the_listed_network() {
    let mut p = PluginNet::new("fix_DTAG", FIX_DTAG_CONF);
    p.take_log();
    p.net.send(phone(), REGISTER);
    p.net.expect_to(
        example_test(),
        Transport::Udp,
        &register_out("198.51.100.1"),
    );
    // The registrar (listed) answers with its own address in the top Via:
    // replaced by the proxy's, which the proxy then removes.
    p.net.send(
        registrar(),
        &register_ok_with_via("SIP/2.0/UDP 198.51.100.2:5060;branch=z9hG4bK-broken"),
    );
    p.net.expect(phone(), Transport::Udp, REGISTER_OK_TO_PHONE);
    assert_eq!(
        p.take_log(),
        ["plugin_fix_DTAG Debug: replacing a bogus via"]
    );
    // The same from 198.51.100.3 (not listed) is dropped, as without the plugin.
    p.net.send(
        remote(),
        &register_ok_with_via("SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bK-broken"),
    );
    p.net.expect_nothing();
    assert_eq!(p.take_log(), Vec::<String>::new());
}

#[test]
fn fix_dtag_leaves_a_response_with_the_proxys_via_alone() {
    let mut p = PluginNet::new("fix_DTAG-own", FIX_DTAG_CONF);
    assert_eq!(
        p.take_log(),
        ["plugin_fix_DTAG Info: plugin_fix_DTAG is initialized"]
    );
    p.net.send(phone(), REGISTER);
    p.net.expect_to(
        example_test(),
        Transport::Udp,
        &register_out("198.51.100.1"),
    );
    // From the listed network, but the top Via is the proxy's: untouched.
    let b = branch_for("z9hG4bK-reg-1");
    p.net.send(
        registrar(),
        &register_ok_with_via(&format!("SIP/2.0/UDP 198.51.100.1:5060;branch={b}")),
    );
    p.net.expect(phone(), Transport::Udp, REGISTER_OK_TO_PHONE);
    let log = p.log.clone();
    drop(p);
    assert_eq!(
        *log.lock().unwrap(),
        ["plugin_fix_DTAG Info: plugin_fix_DTAG ends here"]
    );
}

/// alice's phone answers bob's call with `contact`.
fn answer_with_contact(contact: &str) -> String {
    let b = branch_for("z9hG4bK-in-1");
    format!(
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.99.0.1:5060;branch={b}
Via: SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bK-in-1
Record-Route: <sip:siproxd@10.99.0.1:5060;lr>
From: <sip:bob@198.51.100.3>;tag=b1
To: <sip:alice@example.test>;tag=a1
Call-ID: in1@198.51.100.3
CSeq: 1 INVITE
Contact: {contact}
Content-Length: 0

"
    )
}

fn fbox(test: &str, networks: &str) -> PluginNet {
    let mut p = registered(
        test,
        &format!(
            "load_plugin = plugin_fix_fbox_anoncall.la
plugin_fix_fbox_anoncall_networks = {networks}
"
        ),
    );
    p.net
        .send(remote(), &incoming_from_nat("198.51.100.3:5060"));
    assert_eq!(p.net.one().to.to_string(), "10.99.0.10:5060");
    p
}

/// alice's 200 as it leaves for bob, with `contact`.
fn answer_out(contact: &str) -> String {
    format!(
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bK-in-1
From: <sip:bob@198.51.100.3>;tag=b1
To: <sip:alice@example.test>;tag=a1
Call-ID: in1@198.51.100.3
CSeq: 1 INVITE
Contact: {contact}
Content-Length: 0

"
    )
}

#[test]
fn fix_fbox_anoncall_gives_an_anonymous_contact_the_registered_user() {
    let mut p = fbox("fix_fbox_anoncall", "10.0.0.0/8");
    assert_eq!(
        p.take_log(),
        ["plugin_fix_fbox_anoncall Info: plugin_fix_fbox_anoncall is initialized"]
    );
    // The Contact host is alice's registered one, the user is not: the To
    // user (alice) is registered there, so the Contact becomes hers and is
    // masqueraded as her registration.
    p.net.send(
        phone(),
        &answer_with_contact("<sip:anonymous@10.99.0.10:5060>"),
    );
    p.net.expect(
        remote(),
        Transport::Udp,
        &answer_out("<sip:alice@198.51.100.1>"),
    );
    assert_eq!(
        p.take_log(),
        ["plugin_fix_fbox_anoncall Debug: sanitized Contact \
             sip:anonymous@10.99.0.10:5060 -> sip:alice@10.99.0.10:5060"]
    );
    let log = p.log.clone();
    drop(p);
    assert_eq!(
        *log.lock().unwrap(),
        ["plugin_fix_fbox_anoncall Info: plugin_fix_fbox_anoncall ends here"]
    );

    // The phone is not in the listed networks: the Contact keeps its user.
    let mut p = fbox("fix_fbox_anoncall-unlisted", "192.168.0.0/16");
    p.take_log();
    p.net.send(
        phone(),
        &answer_with_contact("<sip:anonymous@10.99.0.10:5060>"),
    );
    p.net.expect(
        remote(),
        Transport::Udp,
        &answer_out("<sip:anonymous@198.51.100.1:5060>"),
    );
    assert_eq!(p.take_log(), Vec::<String>::new());
}

#[test]
fn demo_logs_the_string_and_its_two_stages() {
    let mut p = PluginNet::new(
        "demo",
        "load_plugin = plugin_demo.la
plugin_demo_string = This_is_a_string
",
    );
    assert_eq!(
        p.take_log(),
        [
            "plugin_demo Debug: plugin_demo_string = This_is_a_string",
            "plugin_demo Info: plugin_demo is initialized",
        ]
    );
    let stages = [
        "plugin_demo Info: plugin_demo: processing - stage 32",
        "plugin_demo Info: plugin_demo: processing - stage 64",
    ];
    // A request and a response each pass DETERMINE_TARGET and PRE_PROXY once.
    register(&mut p);
    assert_eq!(p.take_log(), [stages, stages].concat());
    // It only logs: the INVITE goes out as without it.
    p.net.send(
        phone(),
        &invite("sip:bob@198.51.100.3:5060", "sip:bob@198.51.100.3", ""),
    );
    p.net
        .expect(remote(), Transport::Udp, &invite_out("", SDP_OUT));
    assert_eq!(p.take_log(), stages);
    let log = p.log.clone();
    drop(p);
    assert_eq!(
        *log.lock().unwrap(),
        ["plugin_demo Info: plugin_demo ends here"]
    );
}

#[test]
fn fix_fbox_anoncall_finds_the_user_by_the_uniq_parameter() {
    let mut p = PluginNet::new(
        "fix_fbox_anoncall-uniq",
        "load_plugin = plugin_fix_fbox_anoncall.la
plugin_fix_fbox_anoncall_networks = 10.0.0.0/8
",
    );
    p.take_log();
    // alice registers a Contact with a uniq= parameter.
    p.net.send(
        phone(),
        &REGISTER.replace(
            "Contact: <sip:alice@10.99.0.10:5060>",
            "Contact: <sip:alice@10.99.0.10:5060;uniq=ABC123>",
        ),
    );
    assert_eq!(p.net.one().to.to_string(), "example.test");
    let b = branch_for("z9hG4bK-reg-1");
    p.net.send(
        registrar(),
        &register_ok_with_via(&format!("SIP/2.0/UDP 198.51.100.1:5060;branch={b}")),
    );
    assert_eq!(p.net.one().to.to_string(), "10.99.0.10:5060");
    p.refresh();
    // Her anonymous call to bob: the To user says nothing, uniq= does.
    p.net.send(
        phone(),
        &invite("sip:bob@198.51.100.3:5060", "sip:bob@198.51.100.3", "").replace(
            "Contact: <sip:alice@10.99.0.10:5060>",
            "Contact: <sip:anonymous@10.99.0.10:5060;uniq=abc123>",
        ),
    );
    // Forwarded as her own call would be: her masqueraded Contact.
    p.net
        .expect(remote(), Transport::Udp, &invite_out("", SDP_OUT));
    assert_eq!(
        p.take_log(),
        ["plugin_fix_fbox_anoncall Debug: sanitized Contact \
             sip:anonymous@10.99.0.10:5060;uniq=abc123 -> sip:alice@10.99.0.10:5060;uniq=abc123"]
    );
}
