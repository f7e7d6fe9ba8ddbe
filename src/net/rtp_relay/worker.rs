//! One relay thread: its poll loop, its streams and their sockets.
//!
//! Mirrors rtpproxy_relay.c:rtpproxy_main (wait for readiness, read, forward to the opposite
//! socket), with epoll/kqueue instead of `select()` (no FD_SETSIZE ceiling), batches instead
//! of one syscall per packet, and no shared table or mutex: the thread owns its streams.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};

use super::dejitter::{DelayQueue, Playout};
use super::io::{RecvBatch, BATCH};
use super::stream::{rtp_timing, Admit, LegState, StreamReport};
use super::{RelayConfig, RelayError, RelayEvent, Thread, WorkerCmd};
use crate::proxy::rtp_table::{Leg, StreamId};

const WAKER: Token = Token(usize::MAX);
/// Socket slots per stream: inbound RTP, inbound RTCP, outbound RTP, outbound RTCP.
const SOCKETS: usize = 4;
/// Batches one socket may relay per turn before the others get theirs: a flood on one
/// port must not starve the other calls of the thread (the thread runs SCHED_RR).
const MAX_BATCHES_PER_TURN: usize = 4;

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
    delayed: DelayQueue,
    /// Sockets left readable after their turn; served again before the next wait.
    backlog: Vec<Token>,
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
            delayed: DelayQueue::default(),
            backlog: Vec::new(),
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
            let wake_at = self
                .delayed
                .next_due()
                .map_or(next_report, |d| d.min(next_report));
            let mut timeout = wake_at.saturating_duration_since(Instant::now());
            if !self.backlog.is_empty() {
                timeout = Duration::ZERO;
            }
            let carried = std::mem::take(&mut self.backlog);
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
            for token in carried {
                self.relay_ready(token, now, &mut batch);
            }
            if self.delayed.len() > 0 {
                self.flush_delayed(Instant::now());
            }
            if now >= next_report {
                self.publish();
                next_report = now + self.cfg.report_interval;
            }
            self.coalesce(now, &mut last_wake);
        }
    }

    /// Under load, wake at most once per `coalesce` interval so one epoll_wait and one
    /// context switch serve many sockets. Idle or lightly loaded threads are woken by each
    /// packet as before: no delay is added unless the previous wake was less than
    /// `coalesce` ago (see `RelayConfig::coalesce` for the measured trade).
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
                let slot = self.slot_for(id);
                if let Err(e) = self.open_leg(slot, leg, rtp, rtcp) {
                    log::error!("rtp stream {id}: cannot watch {leg:?} sockets: {e}");
                }
                if let Some(Some(s)) = self.slots.get_mut(slot) {
                    let state = s.leg_mut(leg);
                    state.options = Some(options);
                    state.playout =
                        (options.dejitter_us > 0).then(|| Playout::new(options.dejitter_us));
                }
            }
            // The table always opens a stream before updating it, so an Update for an
            // unknown stream is a leftover (its Open failed or it was closed): ignore it
            // rather than create a stream nothing would ever close.
            WorkerCmd::Update { id, leg, peer } => {
                let slot = self.index.get(&id).copied();
                if let Some(Some(s)) = slot.and_then(|n| self.slots.get_mut(n)) {
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

    /// Send the delayed packets that are due, each to its leg's current target.
    fn flush_delayed(&mut self, now: Instant) {
        while let Some(d) = self.delayed.pop_due(now) {
            if let Some(Some(s)) = self.slots.get_mut(d.slot) {
                if s.id == d.id {
                    send_delayed(s, d.out_k, self.delayed.bytes(&d));
                }
            }
            self.delayed.release(d);
        }
    }

    /// A socket is readable: relay batches until it is empty, or put it on the backlog after
    /// [`MAX_BATCHES_PER_TURN`] (edge-triggered readiness will not report it again).
    fn relay_ready(&mut self, token: Token, now: Instant, batch: &mut RecvBatch) {
        let (slot, k) = (token.0 / SOCKETS, token.0 % SOCKETS);
        let probation = self.cfg.probation_packets;
        let delayed = &mut self.delayed;
        let Some(Some(s)) = self.slots.get_mut(slot) else {
            return;
        };
        for _ in 0..MAX_BATCHES_PER_TURN {
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
            let ctx = BatchCtx {
                slot,
                k,
                now,
                probation,
            };
            relay_batch(s, &ctx, batch, delayed);
            // A short batch means the queue was empty; new datagrams raise a new event.
            if n < BATCH {
                return;
            }
        }
        self.backlog.push(token);
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

/// Where a batch came from and when.
struct BatchCtx {
    slot: usize,
    /// Socket index within the stream (see [`SOCKETS`]).
    k: usize,
    now: Instant,
    probation: u32,
}

/// Admit, count and forward one received batch from socket `ctx.k` of `s`.
fn relay_batch(s: &mut Slot, ctx: &BatchCtx, batch: &mut RecvBatch, delayed: &mut DelayQueue) {
    let is_rtp = ctx.k.is_multiple_of(2);
    let (rx_leg, tx_leg) = if ctx.k < 2 {
        (&mut s.inbound, &mut s.outbound)
    } else {
        (&mut s.outbound, &mut s.inbound)
    };
    // Drops are news too (counters changed), so any datagram makes the stream reportable.
    s.dirty = true;
    let mut keep = [false; BATCH];
    let kept = admit_batch(rx_leg, is_rtp, ctx.probation, batch, &mut keep);
    if kept == 0 {
        return;
    }
    if is_rtp {
        s.last_rtp = Some(ctx.now);
    }
    let out_k = (ctx.k + 2) % SOCKETS;
    let has_target = if is_rtp {
        tx_leg.rtp.target()
    } else {
        tx_leg.rtcp.target()
    }
    .is_some();
    if !has_target || s.sockets[out_k].is_none() {
        rx_leg.stats.dropped_no_peer += kept;
        return;
    }
    if is_rtp && tx_leg.playout.is_some() {
        let delay = DelayTarget {
            slot: ctx.slot,
            id: s.id,
            out_k,
            now: ctx.now,
        };
        if !delay_batch(tx_leg, &delay, batch, &mut keep, delayed) {
            return;
        }
    }
    let channel = if is_rtp { &tx_leg.rtp } else { &tx_leg.rtcp };
    let (Some(target), Some(out)) = (channel.target(), s.sockets[out_k].as_ref()) else {
        return;
    };
    let sent = batch.send(out, target, &keep);
    tx_leg.stats.tx_packets += sent.packets;
    tx_leg.stats.tx_bytes += sent.bytes;
    tx_leg.stats.send_errors += sent.errors;
}

/// Source checks and counters for a batch; sets `keep` for the datagrams to relay.
fn admit_batch(
    rx_leg: &mut LegState,
    is_rtp: bool,
    probation: u32,
    batch: &RecvBatch,
    keep: &mut [bool; BATCH],
) -> u64 {
    let latch = rx_leg.latch();
    let mut kept = 0;
    for (i, keep_i) in keep.iter_mut().enumerate().take(batch.len()) {
        let Some((pkt, src, truncated)) = batch.get(i) else {
            break;
        };
        if truncated {
            rx_leg.stats.truncated += 1;
            continue;
        }
        let Some(src) = src else { continue };
        if admit(rx_leg, is_rtp, src, latch, probation, pkt) {
            *keep_i = true;
            kept += 1;
        }
    }
    kept
}

struct DelayTarget {
    slot: usize,
    id: StreamId,
    out_k: usize,
    now: Instant,
}

/// Move the kept RTP datagrams into the delay queue at their playout time; those that do
/// not fit (queue full) or are not RTP stay in `keep` to be sent now. `true` if any stayed.
fn delay_batch(
    tx_leg: &mut LegState,
    to: &DelayTarget,
    batch: &RecvBatch,
    keep: &mut [bool; BATCH],
    delayed: &mut DelayQueue,
) -> bool {
    let Some(playout) = tx_leg.playout.as_mut() else {
        return true;
    };
    let mut any_now = false;
    for (i, keep_i) in keep.iter_mut().enumerate().take(batch.len()) {
        let Some((pkt, _, _)) = batch.get(i).filter(|_| *keep_i) else {
            continue;
        };
        let Some((ts, ssrc)) = rtp_timing(pkt) else {
            any_now = true;
            continue;
        };
        let due = playout.schedule(to.now, ts, ssrc);
        if delayed.push(due, to.slot, to.id, to.out_k, pkt) {
            *keep_i = false;
        } else {
            tx_leg.stats.dejitter_overflow += 1;
            any_now = true;
        }
    }
    any_now
}

/// Send one delayed RTP datagram from socket `out_k` of `s` (single `send_to`: delayed
/// packets leave one at a time by design).
fn send_delayed(s: &mut Slot, out_k: usize, pkt: &[u8]) {
    let leg = if out_k < 2 {
        &mut s.inbound
    } else {
        &mut s.outbound
    };
    let (Some(sock), Some(to)) = (
        s.sockets[out_k].as_ref(),
        leg.rtp.target().and_then(|t| t.as_socket()),
    ) else {
        leg.stats.send_errors += 1;
        return;
    };
    match sock.send_to(pkt, to) {
        Ok(n) => {
            leg.stats.tx_packets += 1;
            leg.stats.tx_bytes += n as u64;
        }
        Err(_) => leg.stats.send_errors += 1,
    }
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
    let (channel, trusted_ip) = if is_rtp {
        (&mut leg.rtp, None)
    } else {
        let rtp_ip = leg.rtp.latched().map(|a| a.ip());
        (&mut leg.rtcp, rtp_ip)
    };
    if channel.admit(src, latch, probation, trusted_ip) == Admit::ForeignSource {
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
