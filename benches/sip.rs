//! `cargo bench --bench sip`: signalling cost per message on one core, with rsip 0.4 parsing
//! and printing the same bytes as the baseline measured in the same run (DESIGN.md §6).
//!
//! Messages: a 907-byte Polycom INVITE with SDP and a 463-byte sipp REGISTER
//! (tests/fixtures/sip/vendors). "rewrite" = the outgoing-INVITE work of the proxy: parse,
//! add Via, rewrite Contact, decrement Max-Forwards, rewrite SDP o=/c=/m=, set body, serialize.

use siproxd::sip::{Message, Sdp};
use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

const VIA: &[u8] = b"SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK7636b3ef1cc90c987bd98bbf185e8754";

/// Runs `f` in batches for about `budget` and returns the best batch's nanoseconds per call:
/// the machine is shared (other builds run on both cores), and interference only ever adds
/// time, so the minimum is the figure closest to the code's own cost.
fn measure(budget: Duration, mut f: impl FnMut() -> usize) -> f64 {
    let mut sink = 0usize;
    for _ in 0..1000 {
        sink = sink.wrapping_add(f()); // warm-up
    }
    let (start, mut best) = (Instant::now(), f64::MAX);
    while start.elapsed() < budget {
        let batch = Instant::now();
        for _ in 0..2000 {
            sink = sink.wrapping_add(f());
        }
        best = best.min(batch.elapsed().as_nanos() as f64 / 2000.0);
    }
    black_box(sink);
    best
}

fn parse_serialize(bytes: &[u8]) -> usize {
    let m = Message::parse_datagram(black_box(bytes)).unwrap();
    m.into_bytes().len()
}

fn rsip_parse_serialize(bytes: &[u8]) -> usize {
    let m = rsip::SipMessage::try_from(black_box(bytes)).unwrap();
    m.to_string().len()
}

fn outgoing_invite(bytes: &[u8], wan: IpAddr) -> usize {
    let mut m = Message::parse_datagram(black_box(bytes)).unwrap();
    m.add_via_top(VIA);
    m.set_contact_uri(0, b"sip:2278@198.51.100.1").unwrap();
    m.decrement_max_forwards().unwrap();
    let body = {
        let sdp = Sdp::parse(m.body()).unwrap();
        let mut r = sdp.rewriter();
        r.set_origin_address(wan)
            .set_connection_addresses(wan)
            .set_media_port(0, 7070);
        r.to_bytes()
    };
    m.set_body(&body);
    m.into_bytes().len()
}

fn outgoing_register(bytes: &[u8]) -> usize {
    let mut m = Message::parse_datagram(black_box(bytes)).unwrap();
    m.add_via_top(VIA);
    m.set_contact_uri(0, b"sip:alice@198.51.100.1").unwrap();
    m.decrement_max_forwards().unwrap();
    m.into_bytes().len()
}

fn report(name: &str, ns: f64) {
    println!("{name:<46} {ns:>9.0} ns/msg {:>12.0} msg/s", 1e9 / ns);
}

/// Cost of each step of the INVITE rewrite, measured on a pre-parsed message clone.
fn breakdown(invite: &[u8], wan: IpAddr) {
    let budget = Duration::from_millis(300);
    let m = Message::parse_datagram(invite).unwrap();
    let base = measure(budget, || black_box(m.clone()).as_bytes().len());
    let step = |name: &str, ns: f64| println!("  step {name:<40} {:>7.0} ns", ns - base);
    step(
        "parse",
        measure(budget, || {
            Message::parse_datagram(black_box(invite))
                .unwrap()
                .as_bytes()
                .len()
        }) + base,
    );
    step(
        "add_via_top",
        measure(budget, || {
            let mut c = m.clone();
            c.add_via_top(VIA);
            c.as_bytes().len()
        }),
    );
    step(
        "set_contact_uri",
        measure(budget, || {
            let mut c = m.clone();
            c.set_contact_uri(0, b"sip:2278@198.51.100.1").unwrap();
            c.as_bytes().len()
        }),
    );
    step(
        "decrement_max_forwards",
        measure(budget, || {
            let mut c = m.clone();
            c.decrement_max_forwards().unwrap();
            c.as_bytes().len()
        }),
    );
    let body = m.body().to_vec();
    step(
        "Sdp::parse",
        measure(budget, || Sdp::parse(black_box(&body)).unwrap().media.len()) + base,
    );
    step(
        "Sdp rewrite o=/c=/m= to_bytes",
        measure(budget, || {
            let sdp = Sdp::parse(black_box(&body)).unwrap();
            let mut r = sdp.rewriter();
            r.set_origin_address(wan)
                .set_connection_addresses(wan)
                .set_media_port(0, 7070);
            r.to_bytes().len()
        }) + base,
    );
    step(
        "set_body",
        measure(budget, || {
            let mut c = m.clone();
            c.set_body(&body);
            c.as_bytes().len()
        }),
    );
}

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sip/vendors");
    let invite = std::fs::read(dir.join("polycom-spip650-invite-1.sip")).unwrap();
    let register = std::fs::read(dir.join("sipp-register-lan-siproxd-wire.sip")).unwrap();
    let wan: IpAddr = "198.51.100.1".parse().unwrap();
    let budget = Duration::from_millis(1500);
    println!("INVITE {} bytes, REGISTER {} bytes; one core, best 2000-call batch within {budget:?} per line", invite.len(), register.len());
    let inv_ours = measure(budget, || parse_serialize(&invite));
    let inv_rsip = measure(budget, || rsip_parse_serialize(&invite));
    let inv_rewrite = measure(budget, || outgoing_invite(&invite, wan));
    let reg_ours = measure(budget, || parse_serialize(&register));
    let reg_rsip = measure(budget, || rsip_parse_serialize(&register));
    let reg_rewrite = measure(budget, || outgoing_register(&register));
    report("INVITE parse+serialize (siproxd::sip)", inv_ours);
    report("INVITE parse+serialize (rsip 0.4 baseline)", inv_rsip);
    report("INVITE parse+Via+Contact+MF+SDP+serialize", inv_rewrite);
    report("REGISTER parse+serialize (siproxd::sip)", reg_ours);
    report("REGISTER parse+serialize (rsip 0.4 baseline)", reg_rsip);
    report("REGISTER parse+Via+Contact+MF+serialize", reg_rewrite);
    breakdown(&invite, wan);
    println!(
        "ratio rsip/ours parse+serialize: INVITE {:.1}x, REGISTER {:.1}x",
        inv_rsip / inv_ours,
        reg_rsip / reg_ours
    );
    println!(
        "ratio rsip parse+serialize / ours full INVITE rewrite: {:.1}x",
        inv_rsip / inv_rewrite
    );
}
