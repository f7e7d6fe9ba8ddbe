//! plugin_stun: learns the router's public IP address from a STUN server and
//! hands it to the daemon as the public (outbound) address.
//!
//! Mirrors plugin_stun.c: stages PROCESS_RAW and TIMER; keys
//! `plugin_stun_server` (no default: without it nothing is sent),
//! `plugin_stun_port` (3478), `plugin_stun_period` (300 s). On a timer tick
//! once the deadline has passed, a Binding Request goes from the SIP socket
//! to server:port; while no answer has come it is repeated every 10 s. In
//! PROCESS_RAW a Binding success response with one of our transaction IDs is
//! read (XOR-MAPPED-ADDRESS wins over MAPPED-ADDRESS), consumed (verdict
//! drop, so it is not parsed as SIP) and the next request is due after
//! `period`. A changed address is logged `STUN: public IP has changed` and
//! set with `set_public_addr`.
//!
//! Differs: the request is an RFC 5389 Binding Request (magic cookie, random
//! 96-bit transaction ID, no attributes); upstream sent an RFC 3489-style
//! request with an empty CHANGE-REQUEST, which RFC 5389 servers may answer
//! with 420. Both XOR-MAPPED-ADDRESS codes (0x0020 and the old 0x8020) and
//! IPv6 mapped addresses are understood. A server that does not answer is
//! logged (WARN once per outage, INFO when it answers again). The server
//! name is resolved in `init` (before chroot); if that fails, a helper
//! thread retries every 30 s, because DNS must not block the SIP thread.
//! The mapped address is handed over whole (IP and mapped port); upstream
//! used only the IP, which is what the daemon's `host_outbound` is.

use bytecodec::{DecodeExt, EncodeExt};
use spx::{Host, Logger, Msg, Plugin, Stage, Verdict};
use spxutil::config_int;
use std::collections::hash_map::RandomState;
use std::ffi::CStr;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use stun_codec::rfc5389::attributes::{MappedAddress, XorMappedAddress, XorMappedAddress2};
use stun_codec::rfc5389::{methods::BINDING, Attribute};
use stun_codec::{Message, MessageClass, MessageDecoder, MessageEncoder, TransactionId};

/// Retry interval while the server does not answer (plugin_stun.c: 10 s).
const RETRY_MS: u64 = 10_000;
/// How often the helper thread retries a failed name lookup.
const RESOLVE_RETRY: Duration = Duration::from_secs(30);
/// Transaction IDs kept while unanswered (one per retry).
const MAX_PENDING: usize = 8;

/// The server address: known at init, or filled in by the resolver thread.
type ServerSlot = Arc<Mutex<Option<SocketAddr>>>;

pub struct Stun {
    /// `name:port` for log lines; `None` when no server is configured.
    server_name: Option<String>,
    server: ServerSlot,
    period_ms: u64,
    /// `now_ms` at which the next request is due.
    next_due_ms: u64,
    /// Transaction IDs sent since the last answer.
    pending: Vec<[u8; 12]>,
    /// The server missed at least one answer since the last success.
    outage_logged: bool,
    public: Option<SocketAddr>,
    ids: RandomState,
    sent: u64,
    resolver: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

fn resolve(name: &str, port: u16) -> Option<SocketAddr> {
    let addrs: Vec<SocketAddr> = (name, port).to_socket_addrs().ok()?.collect();
    // The SIP socket is IPv4 in siproxd: prefer an IPv4 address.
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
}

/// Retries the lookup on its own thread until it succeeds or `stop` is set.
fn spawn_resolver(
    name: String,
    port: u16,
    slot: ServerSlot,
    log: Logger,
) -> Option<(Arc<AtomicBool>, JoinHandle<()>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name("plugin_stun-dns".into())
        .spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let mut waited = Duration::ZERO;
                while waited < RESOLVE_RETRY && !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    waited += Duration::from_millis(200);
                }
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                if let Some(addr) = resolve(&name, port) {
                    if let Ok(mut slot) = slot.lock() {
                        *slot = Some(addr);
                    }
                    log.info(&format!("STUN: server {name} resolved to {addr}"));
                    return;
                }
            }
        })
        .ok()?;
    Some((stop, handle))
}

impl Plugin for Stun {
    const NAME: &'static CStr = c"plugin_stun";
    const DESCRIPTION: &'static CStr = c"Learns the public IP address by STUN";
    const STAGES: u32 = Stage::ProcessRaw.bit() | Stage::Timer.bit();

    fn init(host: &Host) -> Result<Self, String> {
        let server = host
            .plugin_config("server")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let port = config_int(host.plugin_config("port").as_deref(), 3478);
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("plugin_stun_port {port} is not a port number"))?;
        let period = config_int(host.plugin_config("period").as_deref(), 300);
        let period_ms = u64::try_from(period)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("plugin_stun_period {period} must be positive"))?
            .saturating_mul(1000);
        let slot: ServerSlot = Arc::default();
        let mut resolver = None;
        if let Some(name) = &server {
            match resolve(name, port) {
                Some(addr) => {
                    if let Ok(mut s) = slot.lock() {
                        *s = Some(addr);
                    }
                }
                None => {
                    host.warn(&format!(
                        "STUN: cannot resolve server {name}; retrying every {} s",
                        RESOLVE_RETRY.as_secs()
                    ));
                    resolver = spawn_resolver(name.clone(), port, slot.clone(), host.logger());
                }
            }
        } else {
            host.info("plugin_stun_server is not set: no STUN requests are sent");
        }
        Ok(Stun {
            server_name: server.map(|s| format!("{s}:{port}")),
            server: slot,
            period_ms,
            next_due_ms: 0,
            pending: Vec::new(),
            outage_logged: false,
            public: None,
            ids: RandomState::new(),
            sent: 0,
            resolver,
        })
    }

    fn process(&mut self, host: &Host, stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
        match (stage, msg) {
            (Stage::Timer, _) => {
                self.tick(host);
                Verdict::Continue
            }
            (Stage::ProcessRaw, Some(msg)) => self.raw(host, msg),
            _ => Verdict::Continue,
        }
    }

    fn fini(&mut self, _host: &Host) {
        if let Some((stop, handle)) = self.resolver.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
    }
}

impl Stun {
    fn new_transaction_id(&mut self, now_ms: u64) -> [u8; 12] {
        self.sent += 1;
        let mut id = [0u8; 12];
        for (i, chunk) in id.chunks_mut(6).enumerate() {
            let mut h = self.ids.build_hasher();
            h.write_u64(now_ms);
            h.write_u64(self.sent);
            h.write_usize(i);
            chunk.copy_from_slice(&h.finish().to_be_bytes()[..6]);
        }
        id
    }

    /// Mirrors plugin_stun.c's timer: send when due; retry after 10 s.
    fn tick(&mut self, host: &Host) {
        let now = host.now_ms();
        if now < self.next_due_ms {
            return;
        }
        let Some(name) = self.server_name.clone() else {
            return;
        };
        let Some(server) = self.server.lock().ok().and_then(|s| *s) else {
            return;
        };
        if !self.pending.is_empty() && !self.outage_logged {
            host.warn(&format!(
                "STUN: no answer from server {name} ({server}); retrying every {} s",
                RETRY_MS / 1000
            ));
            self.outage_logged = true;
        }
        let id = self.new_transaction_id(now);
        let request =
            Message::<Attribute>::new(MessageClass::Request, BINDING, TransactionId::new(id));
        let bytes = match MessageEncoder::new().encode_into_bytes(request) {
            Ok(bytes) => bytes,
            Err(e) => {
                host.error(&format!("STUN: cannot encode a Binding Request: {e}"));
                return;
            }
        };
        if self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push(id);
        self.next_due_ms = now.saturating_add(RETRY_MS);
        match host.send_raw(server, &bytes) {
            Ok(()) => host.debug(&format!("STUN: Binding Request sent to {server}")),
            Err(e) => host.warn(&format!("STUN: cannot send to {server}: {e}")),
        }
    }

    /// A Binding success response to one of our requests, or `Continue`.
    fn raw(&mut self, host: &Host, msg: &mut Msg<'_>) -> Verdict {
        if self.pending.is_empty() {
            return Verdict::Continue;
        }
        let Ok(bytes) = msg.raw() else {
            return Verdict::Continue;
        };
        // Cheap pre-check before decoding: class/method 0x0101, cookie, our TID.
        let (Some(head), Some(tid)) = (bytes.get(..8), bytes.get(8..20)) else {
            return Verdict::Continue;
        };
        if !head.starts_with(&[0x01, 0x01]) || head.get(4..8) != Some(&[0x21, 0x12, 0xa4, 0x42][..])
        {
            return Verdict::Continue;
        }
        if !self.pending.iter().any(|id| id.as_slice() == tid) {
            return Verdict::Continue;
        }
        let decoded = MessageDecoder::<Attribute>::new().decode_from_bytes(bytes);
        let Ok(Ok(response)) = decoded else {
            host.warn("STUN: undecodable Binding Response from the server; dropped");
            return Verdict::Drop;
        };
        let mapped = response
            .get_attribute::<XorMappedAddress>()
            .map(XorMappedAddress::address)
            .or_else(|| {
                response
                    .get_attribute::<XorMappedAddress2>()
                    .map(XorMappedAddress2::address)
            })
            .or_else(|| {
                response
                    .get_attribute::<MappedAddress>()
                    .map(MappedAddress::address)
            });
        self.pending.clear();
        self.next_due_ms = host.now_ms().saturating_add(self.period_ms);
        if self.outage_logged {
            host.info("STUN: server answers again");
            self.outage_logged = false;
        }
        match mapped {
            Some(addr) => self.learned(host, addr),
            None => host.warn("STUN: Binding Response without a mapped address"),
        }
        Verdict::Drop
    }

    fn learned(&mut self, host: &Host, addr: SocketAddr) {
        let ip_changed = self.public.map(|p| p.ip()) != Some(addr.ip());
        if self.public == Some(addr) {
            return;
        }
        self.public = Some(addr);
        if ip_changed {
            let ip: IpAddr = addr.ip();
            host.info(&format!("STUN: public IP has changed to {ip}"));
        }
        if let Err(e) = host.set_public_addr(addr) {
            host.warn(&format!("STUN: cannot set the public address {addr}: {e}"));
        }
    }
}

spx::declare_plugin!(Stun);

#[cfg(test)]
mod tests {
    use super::*;
    use spx::testing::{FakeMsg, Harness};

    const SERVER: &str = "192.0.2.50:3478";

    fn plugin(extra: &[(&str, &str)]) -> Harness<Stun> {
        let mut config = vec![
            ("plugin_stun_server", "192.0.2.50"),
            ("plugin_stun_period", "300"),
        ];
        config.extend_from_slice(extra);
        Harness::init(&config).unwrap()
    }

    fn sent(plugin: &Harness<Stun>) -> Vec<(SocketAddr, Vec<u8>)> {
        plugin.host().sent.take()
    }

    fn response(tid: &[u8], attrs: Vec<Attribute>) -> Vec<u8> {
        let mut id = [0u8; 12];
        id.copy_from_slice(tid);
        let mut msg = Message::<Attribute>::new(
            MessageClass::SuccessResponse,
            BINDING,
            TransactionId::new(id),
        );
        for attr in attrs {
            msg.add_attribute(attr);
        }
        MessageEncoder::new().encode_into_bytes(msg).unwrap()
    }

    fn tick_at(plugin: &mut Harness<Stun>, now_ms: u64) {
        plugin.host().now_ms.set(now_ms);
        assert_eq!(plugin.process(Stage::Timer, None), Verdict::Continue);
    }

    #[test]
    fn the_first_tick_sends_an_rfc5389_binding_request_from_the_sip_socket() {
        let mut plugin = plugin(&[]);
        tick_at(&mut plugin, 1_000);
        let sent = sent(&plugin);
        assert_eq!(sent.len(), 1);
        let (to, bytes) = &sent[0];
        assert_eq!(to.to_string(), SERVER);
        assert_eq!(bytes.len(), 20);
        assert_eq!(bytes[..8], [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]);
    }

    #[test]
    fn an_unanswered_request_is_retried_every_10_s_and_logged_once() {
        let mut plugin = plugin(&[]);
        tick_at(&mut plugin, 1_000);
        tick_at(&mut plugin, 6_000);
        tick_at(&mut plugin, 10_999);
        assert_eq!(sent(&plugin).len(), 1);
        tick_at(&mut plugin, 11_000);
        tick_at(&mut plugin, 21_000);
        let sent = sent(&plugin);
        assert_eq!(sent.len(), 2);
        assert_ne!(sent[0].1[8..20], sent[1].1[8..20], "fresh transaction IDs");
        assert_eq!(
            plugin
                .logs()
                .into_iter()
                .filter(|l| !l.starts_with("DEBUG"))
                .collect::<Vec<_>>(),
            ["WARN STUN: no answer from server 192.0.2.50:3478 (192.0.2.50:3478); retrying every 10 s"]
        );
    }

    #[test]
    fn a_matching_response_sets_the_public_address_and_is_consumed() {
        let mut plugin = plugin(&[]);
        tick_at(&mut plugin, 1_000);
        let request = sent(&plugin).remove(0).1;
        let xor: SocketAddr = "198.51.100.7:40000".parse().unwrap();
        let plain: SocketAddr = "198.51.100.99:1".parse().unwrap();
        let bytes = response(
            &request[8..20],
            vec![
                MappedAddress::new(plain).into(),
                XorMappedAddress::new(xor).into(),
            ],
        );
        let mut datagram = FakeMsg::datagram(&bytes, SERVER.parse().unwrap());
        assert_eq!(
            plugin.process(Stage::ProcessRaw, Some(&mut datagram)),
            Verdict::Drop
        );
        assert_eq!(plugin.host().public_addr.get(), Some(xor));
        assert!(plugin
            .logs()
            .contains(&"INFO STUN: public IP has changed to 198.51.100.7".to_string()));
        // Answered: the next request is due after the period (300 s).
        plugin.host().now_ms.set(1_000 + 299_999);
        tick_at(&mut plugin, 1_000 + 299_999);
        assert!(sent(&plugin).is_empty());
        tick_at(&mut plugin, 1_000 + 300_000);
        assert_eq!(sent(&plugin).len(), 1);
    }

    #[test]
    fn mapped_address_is_used_when_there_is_no_xor_address_and_same_ip_is_not_relogged() {
        let mut plugin = plugin(&[]);
        tick_at(&mut plugin, 0);
        let request = sent(&plugin).remove(0).1;
        let plain: SocketAddr = "198.51.100.99:5060".parse().unwrap();
        let bytes = response(&request[8..20], vec![MappedAddress::new(plain).into()]);
        let mut datagram = FakeMsg::datagram(&bytes, SERVER.parse().unwrap());
        assert_eq!(
            plugin.process(Stage::ProcessRaw, Some(&mut datagram)),
            Verdict::Drop
        );
        assert_eq!(plugin.host().public_addr.get(), Some(plain));
        plugin.logs();
        tick_at(&mut plugin, 300_000);
        let request = sent(&plugin).remove(0).1;
        let bytes = response(&request[8..20], vec![MappedAddress::new(plain).into()]);
        let mut again = FakeMsg::datagram(&bytes, SERVER.parse().unwrap());
        assert_eq!(
            plugin.process(Stage::ProcessRaw, Some(&mut again)),
            Verdict::Drop
        );
        assert!(!plugin.logs().iter().any(|l| l.contains("has changed")));
    }

    #[test]
    fn the_pre_rfc5389_xor_mapped_address_code_is_understood() {
        let mut plugin = plugin(&[]);
        tick_at(&mut plugin, 0);
        let request = sent(&plugin).remove(0).1;
        let xor: SocketAddr = "198.51.100.8:1024".parse().unwrap();
        let plain: SocketAddr = "198.51.100.99:1".parse().unwrap();
        let bytes = response(
            &request[8..20],
            vec![
                MappedAddress::new(plain).into(),
                XorMappedAddress2::new(xor).into(),
            ],
        );
        assert_eq!(bytes[32..34], [0x80, 0x20], "attribute 0x8020 on the wire");
        let mut datagram = FakeMsg::datagram(&bytes, SERVER.parse().unwrap());
        assert_eq!(
            plugin.process(Stage::ProcessRaw, Some(&mut datagram)),
            Verdict::Drop
        );
        assert_eq!(plugin.host().public_addr.get(), Some(xor));
    }

    #[test]
    fn foreign_datagrams_and_stale_ids_pass_through() {
        let mut plugin = plugin(&[]);
        let mut sip = FakeMsg::datagram(b"OPTIONS sip:x SIP/2.0\r\n\r\n", SERVER.parse().unwrap());
        assert_eq!(
            plugin.process(Stage::ProcessRaw, Some(&mut sip)),
            Verdict::Continue
        );
        tick_at(&mut plugin, 0);
        let bytes = response(
            &[9; 12],
            vec![MappedAddress::new("198.51.100.1:1".parse().unwrap()).into()],
        );
        let mut other = FakeMsg::datagram(&bytes, SERVER.parse().unwrap());
        assert_eq!(
            plugin.process(Stage::ProcessRaw, Some(&mut other)),
            Verdict::Continue
        );
        assert_eq!(plugin.host().public_addr.get(), None);
        let mut short = FakeMsg::datagram(&[1, 1, 0], SERVER.parse().unwrap());
        assert_eq!(
            plugin.process(Stage::ProcessRaw, Some(&mut short)),
            Verdict::Continue
        );
    }

    #[test]
    fn without_a_server_nothing_is_sent() {
        let mut plugin = Harness::<Stun>::init(&[]).unwrap();
        assert_eq!(
            plugin.logs(),
            ["INFO plugin_stun_server is not set: no STUN requests are sent"]
        );
        tick_at(&mut plugin, 0);
        assert!(sent(&plugin).is_empty());
    }

    #[test]
    fn a_port_from_config_is_used_and_bad_values_fail_init() {
        let mut plugin = plugin(&[("plugin_stun_port", "3479")]);
        tick_at(&mut plugin, 0);
        assert_eq!(sent(&plugin)[0].0.to_string(), "192.0.2.50:3479");
        let bad = Harness::<Stun>::init(&[("plugin_stun_port", "70000")])
            .err()
            .unwrap();
        assert_eq!(
            bad,
            ["ERROR init failed: plugin_stun_port 70000 is not a port number"]
        );
    }
}
