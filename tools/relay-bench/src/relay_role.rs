//! The router-namespace role: the real relay engine, driven through `RtpTable` and
//! `RtpRelay::apply` exactly as the proxy will drive it (the documented test hook: each
//! benchmark call is one relay session whose offer comes from the LAN peer and whose answer
//! comes from the WAN peer; RTP flows both ways through it).
//!
//! Control protocol on stdin/stdout, one line each:
//! `open N` → `ports L1/W1,L2/W2,…` per call: L the LAN-side relay RTP port (where the LAN
//! peer sends), W the WAN-side relay RTP port (where the WAN peer sends) · `close` → `closed` ·
//! `stats` → `cpu_ns C rss_kb R rcvbuf_errors E send_errors S nofile N` · `quit`.
//! `open-floor epoll|uring N` → `ports …` as `open`, but the calls run through a floor relay
//! (see `floor.rs`) instead of the engine, or `unavailable REASON`; `close` stops it.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use siproxd::net::rtp_relay::{RelayConfig, RelayEvent, RtpRelay};
use siproxd::proxy::rtp_table::*;

use crate::sys;
use crate::{GEN_IP, GEN_PORT, LAN_RELAY_IP, SINK_IP, SINK_PORT, WAN_RELAY_IP};

pub fn run(threads: usize) {
    sys::raise_nofile(1 << 20);
    let mut cfg = RelayConfig {
        threads,
        ..RelayConfig::default()
    };
    // Experiment knob for A/B runs: RELAY_COALESCE_US overrides RelayConfig::coalesce.
    if let Some(us) = std::env::var("RELAY_COALESCE_US")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.coalesce = Duration::from_micros(us);
    }
    // Experiment knob: RELAY_NO_RT=1 keeps the engine's and the floors' threads at normal
    // priority (RelayConfig::realtime off).
    if std::env::var_os("RELAY_NO_RT").is_some() {
        cfg.realtime = false;
    }
    eprintln!(
        "relay: coalesce {:?}, SCHED_RR {}",
        cfg.coalesce, cfg.realtime
    );
    let (relay, events) = RtpRelay::start(cfg).expect("start relay");
    let table_cfg = RtpTableConfig {
        port_low: 10_000,
        port_high: 59_998,
        rtp_timeout: Duration::ZERO,
        ..RtpTableConfig::default()
    };
    let mut table = RtpTable::new(table_cfg).expect("table");
    let (closed_rx, send_errors) = drain_events(events);
    let mut calls = 0u64;
    let mut open_ids: Vec<String> = Vec::new();
    let mut floor: Option<crate::floor::Floor> = None;
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line.unwrap_or_default();
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("open-floor"), Some(kind)) => {
                let kind = crate::floor::Kind::parse(kind).expect("open-floor epoll|uring N");
                let n: usize = words
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("open-floor KIND N");
                let ready = match kind {
                    crate::floor::Kind::Uring => crate::floor::uring_available(),
                    crate::floor::Kind::Epoll => Ok(()),
                };
                match ready.and_then(|()| crate::floor::start(kind, n).map_err(|e| e.to_string())) {
                    Ok((f, ports)) => {
                        floor = Some(f);
                        let list: Vec<String> =
                            ports.iter().map(|(l, w)| format!("{l}/{w}")).collect();
                        writeln!(out, "ports {}", list.join(",")).ok();
                    }
                    Err(e) => {
                        writeln!(out, "unavailable {e}").ok();
                    }
                }
            }
            (Some("close"), _) if floor.is_some() => {
                if let Some(f) = floor.take() {
                    f.stop();
                }
                writeln!(out, "closed").ok();
            }
            (Some("open"), Some(n)) => {
                let n: usize = n.parse().expect("open N");
                let ports = open(&mut table, &relay, n, &mut calls, &mut open_ids);
                let list: Vec<String> = ports.iter().map(|(l, w)| format!("{l}/{w}")).collect();
                writeln!(out, "ports {}", list.join(",")).ok();
            }
            (Some("close"), _) => {
                close_all(&mut table, &relay, &mut open_ids, &closed_rx);
                writeln!(out, "closed").ok();
            }
            (Some("stats"), _) => {
                let errs: u64 = send_errors.lock().map(|m| m.values().sum()).unwrap_or(0);
                writeln!(
                    out,
                    "cpu_ns {} rss_kb {} rcvbuf_errors {} send_errors {} nofile {}",
                    sys::thread_cpu_ns("rtp-relay"),
                    sys::rss_kb(),
                    sys::udp_rcvbuf_errors(),
                    errs,
                    sys::nofile()
                )
                .ok();
            }
            (Some("quit"), _) | (None, _) => break,
            _ => {
                writeln!(out, "error unknown command {line}").ok();
            }
        }
        out.flush().ok();
    }
    relay.shutdown();
}

/// Set up `n` calls; returns the (LAN-side, WAN-side) relay RTP ports of each.
fn open(
    table: &mut RtpTable,
    relay: &RtpRelay,
    n: usize,
    calls: &mut u64,
    open_ids: &mut Vec<String>,
) -> Vec<(u16, u16)> {
    let now = Instant::now();
    let mut ports = Vec::with_capacity(n);
    for _ in 0..n {
        *calls += 1;
        let call_id = format!("bench-{calls}@192.0.2.2");
        let key = StreamKey {
            call_id: call_id.clone(),
            call_direction: CallDirection::Outgoing,
            client_id: format!("peer{calls}@192.0.2.2"),
            media_stream_no: 0,
        };
        let offer = MediaDescription {
            key,
            txn: Txn {
                cseq: 1,
                requested_by: Leg::Inbound,
            },
            from: Leg::Inbound,
            bind_ip: IpAddr::V4(WAN_RELAY_IP),
            addr: IpAddr::V4(GEN_IP),
            port: GEN_PORT,
            rtcp_port: None,
            mode: MediaMode::SendRecv,
        };
        let answer = MediaDescription {
            from: Leg::Outbound,
            bind_ip: IpAddr::V4(LAN_RELAY_IP),
            addr: IpAddr::V4(SINK_IP),
            port: SINK_PORT,
            ..offer.clone()
        };
        // The offer (from the LAN leg) allocates the WAN-side port, advertised to the WAN
        // peer; the answer (from the WAN leg) the LAN-side port, advertised to the LAN peer.
        let o = table.media(now, &offer).expect("offer");
        apply(relay, table, o.commands);
        let a = table.media(now, &answer).expect("answer");
        apply(relay, table, a.commands);
        table.final_response(
            &call_id,
            Txn {
                cseq: 1,
                requested_by: Leg::Inbound,
            },
            200,
        );
        ports.push((a.port, o.port));
        open_ids.push(call_id);
    }
    ports
}

fn apply(relay: &RtpRelay, table: &mut RtpTable, cmds: Vec<RtpCommand>) {
    siproxd::net::rtp_relay::apply_commands(relay, table, cmds).expect("relay apply");
}

fn close_all(
    table: &mut RtpTable,
    relay: &RtpRelay,
    open_ids: &mut Vec<String>,
    closed_rx: &Receiver<()>,
) {
    let mut expect = 0;
    for call_id in open_ids.drain(..) {
        let cmds = table.close_call(&call_id);
        expect += cmds.len();
        apply(relay, table, cmds);
    }
    for _ in 0..expect {
        if closed_rx.recv_timeout(Duration::from_secs(5)).is_err() {
            eprintln!("relay: Close not acknowledged in 5 s");
            break;
        }
    }
    assert_eq!(table.pairs_in_use(), 0, "ports leaked");
}

type SendErrors = Arc<Mutex<HashMap<StreamId, u64>>>;

/// Consume relay events off-thread (as the daemon's event loop will): Closed acks are
/// forwarded, send-error counters are kept per stream.
fn drain_events(events: Receiver<RelayEvent>) -> (Receiver<()>, SendErrors) {
    let (tx, rx) = mpsc::channel();
    let errs: SendErrors = Arc::default();
    let e2 = errs.clone();
    std::thread::spawn(move || {
        for ev in events {
            match ev {
                RelayEvent::Closed { .. } => {
                    let _ = tx.send(());
                }
                RelayEvent::Report { streams } => {
                    if let Ok(mut m) = e2.lock() {
                        for r in streams {
                            m.insert(r.id, r.outbound.send_errors + r.inbound.send_errors);
                        }
                    }
                }
                _ => {}
            }
        }
    });
    (rx, errs)
}
