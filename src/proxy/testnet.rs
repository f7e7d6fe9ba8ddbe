//! TestNet: one [`Proxy`] between a fake LAN and a fake WAN, in memory, for scenario tests
//! (DESIGN.md §1, §5 "Tests in three rings"). Time only moves when a test says so; every
//! transmission and RTP command is taken and compared byte for byte.
//!
//! The addresses are those of the on-the-wire captures: LAN phone 10.99.0.10, proxy
//! inbound 10.99.0.1 / outbound 198.51.100.1, registrar 198.51.100.2, remote party
//! 198.51.100.3.
//!
//! Test support, not used by the daemon: its assertions panic by design.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::config::Config;

use super::action::{Destination, Interfaces, Now, Transmit, Transport};
use super::rtp_table::RtpCommand;
use super::{Proxy, Secrets};

pub const PHONE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 10));
pub const PHONE2_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11));
pub const INBOUND_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1));
pub const OUTBOUND_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
pub const REGISTRAR_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));
pub const REMOTE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 3));
/// Wall-clock start of every TestNet (2026-01-01T00:00:00Z).
pub const START_WALL: u64 = 1_767_225_600;

pub fn phone() -> SocketAddr {
    SocketAddr::new(PHONE_IP, 5060)
}
pub fn phone2() -> SocketAddr {
    SocketAddr::new(PHONE2_IP, 5060)
}
pub fn registrar() -> SocketAddr {
    SocketAddr::new(REGISTRAR_IP, 5060)
}
pub fn remote() -> SocketAddr {
    SocketAddr::new(REMOTE_IP, 5060)
}

/// Turns test text into wire bytes: `\n` → CRLF in the headers and body, and a
/// `Content-Length: *` header filled in with the body's length.
pub fn wire(text: &str) -> Vec<u8> {
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let body_len = crlf.find("\r\n\r\n").map_or(0, |i| crlf.len() - i - 4);
    crlf.replace("Content-Length: *", &format!("Content-Length: {body_len}"))
        .into_bytes()
}

/// The default interfaces of a TestNet.
pub fn interfaces() -> Interfaces {
    Interfaces {
        inbound: Some(INBOUND_IP),
        outbound: Some(OUTBOUND_IP),
        host_outbound: None,
        host_outbound_pending: false,
    }
}

/// A configuration read from siproxd.conf text.
pub fn config(text: &str) -> Config {
    crate::config::parse_str(text, std::path::Path::new("test.conf"))
        .unwrap_or_else(|e| panic!("test configuration: {e}"))
        .config
}

/// The harness.
pub struct TestNet {
    pub proxy: Proxy,
    pub now: Now,
}

impl TestNet {
    /// A proxy built from siproxd.conf text (empty: every default).
    pub fn new(conf: &str) -> TestNet {
        Self::with(config(conf), interfaces(), Secrets::default())
    }

    pub fn with(cfg: Config, ifaces: Interfaces, secrets: Secrets) -> TestNet {
        let now = Now {
            mono: Instant::now(),
            wall: START_WALL,
        };
        let proxy = Proxy::new(&cfg, ifaces, secrets, now).unwrap();
        TestNet { proxy, now }
    }

    /// Delivers `text` (see [`wire`]) from `from` over UDP.
    pub fn send(&mut self, from: SocketAddr, text: &str) {
        self.send_on(from, Transport::Udp, text);
    }

    pub fn send_on(&mut self, from: SocketAddr, transport: Transport, text: &str) {
        self.proxy.handle(self.now, from, transport, &wire(text));
    }

    pub fn send_bytes(&mut self, from: SocketAddr, transport: Transport, bytes: &[u8]) {
        self.proxy.handle(self.now, from, transport, bytes);
    }

    /// Every transmission queued so far.
    pub fn take(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.proxy.poll_transmit()).collect()
    }

    /// Every RTP command queued so far.
    pub fn rtp(&mut self) -> Vec<RtpCommand> {
        std::iter::from_fn(|| self.proxy.poll_rtp_command()).collect()
    }

    /// Exactly one transmission, to `to` over `transport`, with exactly `expected` bytes.
    pub fn expect(&mut self, to: SocketAddr, transport: Transport, expected: &str) {
        self.expect_to(Destination::Addr(to), transport, expected);
    }

    pub fn expect_to(&mut self, to: Destination, transport: Transport, expected: &str) {
        let out = self.take();
        assert_eq!(
            out.len(),
            1,
            "expected one transmission, got {}: {out:#?}",
            out.len()
        );
        let t = &out[0];
        assert_eq!(
            String::from_utf8_lossy(&t.bytes),
            String::from_utf8_lossy(&wire(expected)),
            "bytes sent to {}",
            t.to
        );
        assert_eq!((&t.to, t.transport), (&to, transport));
    }

    /// Exactly one transmission; returns it for a test that only checks a part.
    pub fn one(&mut self) -> Transmit {
        let mut out = self.take();
        assert_eq!(out.len(), 1, "expected one transmission, got {out:#?}");
        out.remove(0)
    }

    /// Nothing was sent.
    pub fn expect_nothing(&mut self) {
        let out = self.take();
        assert!(out.is_empty(), "expected no transmission, got {out:#?}");
    }

    /// Moves the clocks on and runs the timers that are due, as the shell does.
    pub fn advance(&mut self, secs: u64) {
        let target = self.now.mono + Duration::from_secs(secs);
        let wall_target = self.now.wall + secs;
        for _ in 0..100_000 {
            let Some(at) = self.proxy.poll_timeout().filter(|at| *at <= target) else {
                break;
            };
            let step = at.saturating_duration_since(self.now.mono).as_secs();
            self.now = Now {
                mono: at.max(self.now.mono),
                wall: self.now.wall + step,
            };
            self.proxy.handle_timeout(self.now);
        }
        self.now = Now {
            mono: target,
            wall: wall_target,
        };
    }
}
