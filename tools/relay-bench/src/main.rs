//! relay-bench: the siproxd-rs RTP relay against kernel IP forwarding, in network namespaces.
//!
//! Run it with `sudo tools/relay-bench/run.sh` (builds, creates the namespaces, always deletes
//! them). Roles of this binary:
//! - `run` (orchestrator, root namespace): drives the others and prints the results;
//! - `relay` (router namespace): the real `RtpRelay`, streams opened through `RtpTable` →
//!   `RtpCommand` → `RtpRelay::apply`, the path the proxy uses;
//! - `peer --side lan|wan` (LAN / WAN namespace): the two ends of every call, each sending
//!   its half of the streams and measuring what arrives from the other side.
//!
//! Addresses are TEST-NET only: LAN 192.0.2.0/24 (LAN peer .2, router .1),
//! WAN 198.51.100.0/24 (router .1, WAN peer .2).

mod floor;
mod orchestrate;
mod peer;
mod relay_role;
mod send;
mod sys;

use std::net::{Ipv4Addr, SocketAddrV4};

/// The LAN peer (the phones' side): the address of the offer.
pub const GEN_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const GEN_PORT: u16 = 30_000;
pub const LAN_RELAY_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const WAN_RELAY_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The WAN peer (the provider's side): the address of the answer.
pub const SINK_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
pub const SINK_PORT: u16 = 40_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| -> Option<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let num = |name: &str, default: u64| opt(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("relay") => relay_role::run(num("--threads", 1) as usize),
        Some("peer") => match opt("--side").as_deref() {
            Some("lan") => peer::run(SocketAddrV4::new(GEN_IP, GEN_PORT)),
            Some("wan") => peer::run(SocketAddrV4::new(SINK_IP, SINK_PORT)),
            _ => {
                eprintln!("usage: relay-bench peer --side lan|wan");
                std::process::exit(2);
            }
        },
        Some("run") => orchestrate::run(orchestrate::Namespaces {
            lan: opt("--ns-lan").expect("--ns-lan"),
            router: opt("--ns-router").expect("--ns-router"),
            wan: opt("--ns-wan").expect("--ns-wan"),
            threads: num("--threads", 1) as usize,
            quick: args.iter().any(|a| a == "--quick"),
        }),
        _ => {
            eprintln!("usage: relay-bench run --ns-lan L --ns-router R --ns-wan W [--threads N] [--quick]");
            eprintln!("       relay-bench relay|peer …  (roles started by `run`)");
            std::process::exit(2);
        }
    }
}
