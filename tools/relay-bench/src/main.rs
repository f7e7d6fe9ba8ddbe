//! relay-bench: the siproxd-rs RTP relay against kernel IP forwarding, in network namespaces.
//!
//! Run it with `sudo tools/relay-bench/run.sh` (builds, creates the namespaces, always deletes
//! them). Roles of this binary:
//! - `run` (orchestrator, root namespace): drives the others and prints the results;
//! - `relay` (router namespace): the real `RtpRelay`, streams opened through `RtpTable` →
//!   `RtpCommand` → `RtpRelay::apply`, the path the proxy uses;
//! - `gen` (LAN namespace): the load generator; `sink` (WAN namespace): the measuring sink.
//!
//! Addresses are TEST-NET only: LAN 192.0.2.0/24 (generator .2, router .1),
//! WAN 198.51.100.0/24 (router .1, sink .2).

mod gen;
mod orchestrate;
mod relay_role;
mod sink;
mod sys;

use std::net::Ipv4Addr;

pub const GEN_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const GEN_PORT: u16 = 30_000;
pub const LAN_RELAY_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const WAN_RELAY_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
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
        Some("sink") => sink::run(),
        Some("gen") => gen::run(gen::GenArgs {
            dst: sys::ip(&opt("--dst").unwrap_or_else(|| LAN_RELAY_IP.to_string())),
            rate: num("--rate", 50),
            millis: num("--millis", 3000),
        }),
        Some("run") => orchestrate::run(orchestrate::Namespaces {
            lan: opt("--ns-lan").expect("--ns-lan"),
            router: opt("--ns-router").expect("--ns-router"),
            wan: opt("--ns-wan").expect("--ns-wan"),
            threads: num("--threads", 1) as usize,
            quick: args.iter().any(|a| a == "--quick"),
        }),
        _ => {
            eprintln!("usage: relay-bench run --ns-lan L --ns-router R --ns-wan W [--threads N] [--quick]");
            eprintln!("       relay-bench relay|sink|gen …  (roles started by `run`)");
            std::process::exit(2);
        }
    }
}
