//! One relay thread: its poll loop, its streams and their sockets.
//!
//! Mirrors rtpproxy_relay.c:rtpproxy_main (wait for readiness, read, forward to the opposite
//! socket), with epoll/kqueue instead of `select()` (no FD_SETSIZE ceiling), batches instead
//! of one syscall per packet, and no shared table or mutex: the thread owns its streams.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};

use super::io::{RecvBatch, BATCH};
use super::stream::{Admit, LegState, StreamReport};
use super::{RelayConfig, RelayError, RelayEvent, Thread, WorkerCmd};
use crate::proxy::rtp_table::{Leg, StreamId};

const WAKER: Token = Token(usize::MAX);
/// Socket slots per stream: inbound RTP, inbound RTCP, outbound RTP, outbound RTCP.
const SOCKETS: usize = 4;

/// Spawn relay thread `n`.
pub(super) fn spawn(
    n: usize,
    cfg: &RelayConfig,
    events: Sender<RelayEvent>,
) -> Result<Thread, RelayError> {
    let spawn_err = |source| RelayError::Spawn { thread: n, source };
    let poll = Poll::new().map_err(spawn_err)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(spawn_err)?);
    let (tx, rx) = std::sync::mpsc::channel();
    let mut worker = Worker::new(poll, rx, events, cfg.clone());
    let join = std::thread::Builder::new()
        .name(format!("rtp-relay-{n}"))
        .spawn(move || worker.run())
        .map_err(spawn_err)?;
    Ok(Thread {
        tx,
        waker,
        join: Some(join),
    })
}

/// A stream as one relay thread holds it.
struct Slot {
    id: StreamId,
    inbound: LegState,
    outbound: LegState,
    sockets: [Option<UdpSocket>; SOCKETS],
    last_rtp: Option<Instant>,
    /// Traffic since the last report.
    dirty: bool,
}

impl Slot {
    fn new(id: StreamId) -> Self {
        Slot {
            id,
            inbound: LegState::default(),
            outbound: LegState::default(),
            sockets: [None, None, None, None],
            last_rtp: None,
            dirty: false,
        }
    }

    fn leg_mut(&mut self, leg: Leg) -> &mut LegState {
        match leg {
            Leg::Inbound => &mut self.inbound,
            Leg::Outbound => &mut self.outbound,
        }
    }

    fn report(&self) -> StreamReport {
        StreamReport {
            id: self.id,
            last_rtp: self.last_rtp,
            inbound: self.inbound.snapshot(),
            outbound: self.outbound.snapshot(),
        }
    }
}

struct Worker {
    poll: Poll,
    cmds: Receiver<WorkerCmd>,
    events: Sender<RelayEvent>,
    cfg: RelayConfig,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    index: HashMap<StreamId, usize>,
    warned_dejitter: bool,
}

impl Worker {
    fn new(
        poll: Poll,
        cmds: Receiver<WorkerCmd>,
        events: Sender<RelayEvent>,
        cfg: RelayConfig,
    ) -> Self {
        Worker {
            poll,
            cmds,
            events,
            cfg,
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::new(),
            warned_dejitter: false,
        }
    }

    fn run(&mut self) {
        if self.cfg.realtime {
            set_realtime_priority();
        }
        let mut events = Events::with_capacity(1024);
        let mut batch = RecvBatch::new();
        let mut next_report = Instant::now() + self.cfg.report_interval;
        let mut last_wake = Instant::now();
        loop {
            let timeout = next_report.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    log::error!("rtp relay: poll failed: {e}");
                    return;
                }
            }
            let now = Instant::now();
            for ev in events.iter() {
                if ev.token() == WAKER {
                    if !self.apply_commands() {
                        return;
                    }
                } else {
                    self.relay_ready(ev.token(), now, &mut batch);
                }
            }
            if now >= next_report {
                self.publish();
                next_report = now + self.cfg.report_interval;
            }
            self.coalesce(now, &mut last_wake);
        }
    }

    /// Under load, wake at most once per `coalesce` interval so one epoll_wait and one
    /// context switch serve many sockets (at 50 packets/s per socket each readable socket
    /// holds one datagram, so the wake-up, not the copy, is the cost per packet). Idle or
    /// lightly loaded threads are woken by each packet as before: no delay is added unless
    /// the previous wake was less than `coalesce` ago.
    fn coalesce(&self, woke: Instant, last_wake: &mut Instant) {
        let gap = woke.saturating_duration_since(*last_wake);
        *last_wake = woke;
        if self.cfg.coalesce.is_zero() || gap >= self.cfg.coalesce {
            return;
        }
        let spent = woke.elapsed();
        if let Some(rest) = self.cfg.coalesce.checked_sub(spent) {
            std::thread::sleep(rest);
        }
    }

    /// Apply queued commands; `false` on shutdown or when the handle is gone.
    fn apply_commands(&mut self) -> bool {
        loop {
            match self.cmds.try_recv() {
                Ok(WorkerCmd::Shutdown) | Err(TryRecvError::Disconnected) => return false,
                Ok(cmd) => self.apply(cmd),
                Err(TryRecvError::Empty) => return true,
            }
        }
    }

    fn apply(&mut self, cmd: WorkerCmd) {
        match cmd {
            WorkerCmd::Open {
                id,
                leg,
                rtp,
                rtcp,
                options,
            } => {
                if options.dejitter_us > 0 && !self.warned_dejitter {
                    log::warn!(
                        "rtp relay: dejitter is not implemented yet; relaying without delay"
                    );
                    self.warned_dejitter = true;
                }
                let slot = self.slot_for(id);
                if let Err(e) = self.open_leg(slot, leg, rtp, rtcp) {
                    log::error!("rtp stream {id}: cannot watch {leg:?} sockets: {e}");
                }
                if let Some(Some(s)) = self.slots.get_mut(slot) {
                    s.leg_mut(leg).options = Some(options);
                }
            }
            WorkerCmd::Update { id, leg, peer } => {
                let slot = self.slot_for(id);
                if let Some(Some(s)) = self.slots.get_mut(slot) {
                    s.leg_mut(leg).set_peer(peer);
                }
            }
            WorkerCmd::Close { id } => self.close(id),
            WorkerCmd::Shutdown => {}
        }
    }

    fn slot_for(&mut self, id: StreamId) -> usize {
        if let Some(&slot) = self.index.get(&id) {
            return slot;
        }
        let slot = self.free.pop().unwrap_or(self.slots.len());
        if slot == self.slots.len() {
            self.slots.push(None);
        }
        self.slots[slot] = Some(Slot::new(id));
        self.index.insert(id, slot);
        slot
    }

    fn open_leg(
        &mut self,
        slot: usize,
        leg: Leg,
        rtp: std::net::UdpSocket,
        rtcp: std::net::UdpSocket,
    ) -> std::io::Result<()> {
        let base = match leg {
            Leg::Inbound => 0,
            Leg::Outbound => 2,
        };
        let Some(Some(s)) = self.slots.get_mut(slot) else {
            return Ok(());
        };
        for (k, std_sock) in [(base, rtp), (base + 1, rtcp)] {
            let mut sock = UdpSocket::from_std(std_sock);
            self.poll.registry().register(
                &mut sock,
                Token(slot * SOCKETS + k),
                Interest::READABLE,
            )?;
            if let Some(mut old) = s.sockets[k].replace(sock) {
                let _ = self.poll.registry().deregister(&mut old);
            }
        }
        Ok(())
    }

    fn close(&mut self, id: StreamId) {
        if let Some(slot) = self.index.remove(&id) {
            if let Some(mut s) = self.slots.get_mut(slot).and_then(Option::take) {
                for sock in s.sockets.iter_mut().flatten() {
                    let _ = self.poll.registry().deregister(sock);
                }
                // Dropping `s` closes the sockets: the ports are free from here on.
                if s.dirty {
                    let _ = self.events.send(RelayEvent::Report {
                        streams: vec![s.report()],
                    });
                }
            }
            self.free.push(slot);
        }
        let _ = self.events.send(RelayEvent::Closed { id });
    }

    fn publish(&mut self) {
        let streams: Vec<StreamReport> = self
            .slots
            .iter_mut()
            .flatten()
            .filter(|s| s.dirty)
            .map(|s| {
                s.dirty = false;
                s.report()
            })
            .collect();
        if streams.is_empty() {
            return;
        }
        if self.events.send(RelayEvent::Report { streams }).is_ok() {
            if let Some(w) = &self.cfg.report_waker {
                let _ = w.wake();
            }
        }
    }

    /// A socket is readable: relay batches until it is empty.
    fn relay_ready(&mut self, token: Token, now: Instant, batch: &mut RecvBatch) {
        let (slot, k) = (token.0 / SOCKETS, token.0 % SOCKETS);
        let probation = self.cfg.probation_packets;
        let Some(Some(s)) = self.slots.get_mut(slot) else {
            return;
        };
        loop {
            let Some(sock) = s.sockets[k].as_ref() else {
                return;
            };
            let n = match batch.recv(sock) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::debug!("rtp stream {}: receive error: {e}", s.id);
                    return;
                }
            };
            relay_batch(s, k, now, probation, batch);
            // A short batch means the queue was empty; new datagrams raise a new event.
            if n < BATCH {
                return;
            }
        }
    }
}

/// Mirrors rtpproxy_relay.c's attempt to run the relay thread SCHED_RR at a third of the
/// priority range, so signalling bursts and other daemons do not delay audio. Failure
/// (no CAP_SYS_NICE) is logged and harmless.
fn set_realtime_priority() {
    // SAFETY: plain libc calls on the current thread with a sched_param we own.
    let rc = unsafe {
        let min = libc::sched_get_priority_min(libc::SCHED_RR);
        let max = libc::sched_get_priority_max(libc::SCHED_RR);
        let param = libc::sched_param {
            sched_priority: min + (max - min) / 3,
        };
        libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_RR, &param)
    };
    if rc != 0 {
        log::info!(
            "rtp relay: SCHED_RR not available ({}), running at normal priority",
            std::io::Error::from_raw_os_error(rc)
        );
    }
}

/// Admit, count and forward one received batch from socket `k` of `s`.
fn relay_batch(s: &mut Slot, k: usize, now: Instant, probation: u32, batch: &mut RecvBatch) {
    let is_rtp = k % 2 == 0;
    let (rx_leg, tx_leg) = if k < 2 {
        (&mut s.inbound, &mut s.outbound)
    } else {
        (&mut s.outbound, &mut s.inbound)
    };
    let mut keep = [false; BATCH];
    let mut kept = 0u64;
    // Drops are news too (counters changed), so any datagram makes the stream reportable.
    s.dirty = true;
    let latch = rx_leg.latch();
    for (i, keep_i) in keep.iter_mut().enumerate().take(batch.len()) {
        let Some((pkt, src, truncated)) = batch.get(i) else {
            break;
        };
        if truncated {
            rx_leg.stats.truncated += 1;
            continue;
        }
        let Some(src) = src else { continue };
        if !admit(rx_leg, is_rtp, src, latch, probation, pkt) {
            continue;
        }
        *keep_i = true;
        kept += 1;
    }
    if kept == 0 {
        return;
    }
    if is_rtp {
        s.last_rtp = Some(now);
    }
    let out_k = (k + 2) % SOCKETS;
    let channel = if is_rtp { &tx_leg.rtp } else { &tx_leg.rtcp };
    let (Some(target), Some(out)) = (channel.target(), s.sockets[out_k].as_ref()) else {
        rx_leg.stats.dropped_no_peer += kept;
        return;
    };
    let sent = batch.send(out, target, &keep);
    tx_leg.stats.tx_packets += sent.packets;
    tx_leg.stats.tx_bytes += sent.bytes;
    tx_leg.stats.send_errors += sent.errors;
}

/// Source check and receive counters for one datagram; `false` drops it.
fn admit(
    leg: &mut LegState,
    is_rtp: bool,
    src: SocketAddr,
    latch: bool,
    probation: u32,
    pkt: &[u8],
) -> bool {
    let channel = if is_rtp { &mut leg.rtp } else { &mut leg.rtcp };
    if channel.admit(src, latch, probation) == Admit::ForeignSource {
        leg.stats.dropped_foreign_source += 1;
        return false;
    }
    if is_rtp {
        leg.stats.rx_rtp_packets += 1;
        leg.stats.rx_rtp_bytes += pkt.len() as u64;
        leg.seq.observe(pkt);
    } else {
        leg.stats.rx_rtcp_packets += 1;
        leg.stats.rx_rtcp_bytes += pkt.len() as u64;
    }
    true
}
