//! The core never panics and stays bounded: every SIP fixture of the repository (RFC 4475 /
//! 5118 torture messages, vendor captures) and deterministic byte mutations of our own
//! scenario messages are fed from the LAN and the WAN, over UDP and TCP.

mod proxy_common;

use std::path::Path;

use proxy_common::{registered_with, REGISTER};
use siproxd::proxy::testnet::{phone, registrar, remote};
use siproxd::proxy::Transport;

fn fixtures(dir: &Path, out: &mut Vec<Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            fixtures(&path, out);
        } else {
            out.push(std::fs::read(&path).unwrap());
        }
    }
}

#[test]
fn every_fixture_from_every_side_without_panic() {
    let mut corpus = Vec::new();
    fixtures(Path::new("tests/fixtures/sip"), &mut corpus);
    assert!(corpus.len() > 50, "fixtures found: {}", corpus.len());
    let mut net = registered_with("");
    for bytes in &corpus {
        for from in [phone(), remote(), registrar()] {
            for transport in [Transport::Udp, Transport::Tcp] {
                net.send_bytes(from, transport, bytes);
                net.take();
                net.rtp();
            }
        }
    }
    assert!(net.proxy.status().registrations <= 512);
}

#[test]
fn mutated_messages_never_panic() {
    let mut net = registered_with("");
    let seeds = [
        proxy_common::REGISTER.to_string(),
        REGISTER.replace("REGISTER", "INVITE"),
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..3000 {
        let seed = siproxd::proxy::testnet::wire(&seeds[round % seeds.len()]);
        let mut bytes = seed.clone();
        for _ in 0..(1 + next() % 4) {
            let at = (next() as usize) % bytes.len();
            match next() % 3 {
                0 => bytes[at] = next() as u8,
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(
                    at,
                    b";,<>:@\r\n \""
                        .get((next() % 10) as usize)
                        .copied()
                        .unwrap(),
                ),
            }
        }
        let from = if round % 2 == 0 { phone() } else { remote() };
        net.send_bytes(from, Transport::Udp, &bytes);
        net.take();
        net.rtp();
    }
    let c = net.proxy.status().counters;
    assert!(net.proxy.status().registrations <= 512);
    // Both paths were exercised: mutations that still parse went through the whole core.
    assert!(
        c.malformed > 300 && c.requests_forwarded + c.local_responses > 300,
        "{c:?}"
    );
}
