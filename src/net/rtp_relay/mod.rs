//! The RTP relay engine: the packet path of every relayed call, on its own thread(s).
//! Shell layer (does I/O). Corresponds to the forwarding half of upstream's `rtpproxy_relay.c`
//! (`rtpproxy_main`, the `select()` loop and `sendto`); the bookkeeping half is
//! `proxy::rtp_table`, which drives this engine with [`RtpCommand`]s.
//!
//! # Shape
//! [`RtpRelay::start`] spawns `threads` relay threads (call it after the daemon forks). Each
//! thread owns a mio `Poll` (epoll on Linux, kqueue on the BSDs), the sockets of the streams
//! assigned to it (`StreamId % threads`), one receive batch, and plain-integer counters.
//! [`RtpRelay::apply`] binds a leg's sockets *in the caller's thread* (so a bind failure is an
//! immediate error the proxy can turn into a 503) and hands them over a channel, waking the
//! thread; commands are applied between batches. Every `report_interval` each thread sends one
//! [`RelayEvent::Report`] with the counters of the streams that saw traffic, which the shell
//! feeds to `RtpTable::record_activity` for `rtp_timeout`.
//!
//! # Packet path (mirrors rtpproxy_relay.c, with the differences named)
//! - A datagram received on a leg's RTP (RTCP) socket is sent from the *other* leg's RTP
//!   (RTCP) socket to that leg's peer: we always send from the port we advertised to that
//!   peer (symmetric from our side), as upstream's `tx_sock = opposite rx socket`.
//! - RTCP goes to the peer's RTCP address: `port + 1` or its `a=rtcp` (upstream: always +1).
//! - Latching (upstream has none): on legs with `latch` on (the WAN leg by default) the peer's
//!   real source is learnt — at once if it equals the SDP address, else after
//!   `probation_packets` consecutive packets from one source — and used as the destination;
//!   afterwards other sources are dropped and counted (`dropped_foreign_source`). RTCP
//!   latches on its own, at once when it comes from the latched RTP source's address.
//! - Packets arriving before the other leg's peer is known, or while it is on hold, are
//!   dropped and counted (`dropped_no_peer`); upstream drops them silently, and sends to
//!   0.0.0.0 on hold.
//! - DSCP goes on RTP *and* RTCP sockets (upstream: RTP only), without root.
//! - One `recvmmsg` + one `sendmmsg` per batch of up to 32 datagrams on Linux; under load
//!   the thread polls at most every [`RelayConfig::coalesce`] so one wake-up serves many
//!   sockets; a socket gets at most 4 batches per turn, so a flood on one port cannot starve
//!   the other calls of its thread. The thread asks for SCHED_RR, as upstream does.
//! - Dejitter (`rtp_input_dejitter`/`rtp_output_dejitter`, see `dejitter.rs`) delays RTP
//!   sent out of a leg whose [`LegOptions::dejitter_us`] is set; RTCP never. Streams without
//!   it pay one branch per batch.
#![allow(clippy::module_name_repetitions)]

mod dejitter;
mod io;
mod stream;
mod worker;

use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mio::Waker;

use crate::proxy::rtp_table::{Leg, LegOptions, Peer, RtpCommand, RtpTable, StreamId};
pub use stream::{LegStats, StreamReport};

/// Errors of the relay's control path (the packet path counts, it does not fail).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    #[error("cannot bind RTP relay socket {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot set {option} on RTP relay socket {addr}: {source}")]
    SocketOption {
        addr: SocketAddr,
        option: &'static str,
        source: std::io::Error,
    },
    #[error("RTP port {port} has no RTCP port above it")]
    NoRtcpPort { port: u16 },
    #[error("cannot start RTP relay thread {thread}: {source}")]
    Spawn {
        thread: usize,
        source: std::io::Error,
    },
    #[error("RTP relay thread {thread} has stopped")]
    Stopped { thread: usize },
}

/// Relay engine settings.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Relay threads (default 1; one per core is the most that helps).
    pub threads: usize,
    /// Consecutive packets from one new source before a latching leg sends there (default 3:
    /// 60 ms of 20 ms audio, short enough to be inaudible, long enough that one spoofed
    /// packet cannot steal the stream).
    pub probation_packets: u32,
    /// How often each thread reports counters (default 1 s).
    pub report_interval: Duration,
    /// Woken after each report is queued, so a mio event loop can drain the channel at once.
    pub report_waker: Option<Arc<Waker>>,
    /// Under load, poll at most once per this interval (default 300 µs; zero: wake on every
    /// readiness). Measured with relay-bench at 20,000 pps on a 2-core VM, interleaved A/B,
    /// 6 runs each: relay CPU 32.8 % of a core without, 25.5 % with 300 µs (−22 %), for
    /// about +250 µs median latency. Idle and lightly loaded threads are not delayed.
    pub coalesce: Duration,
    /// Try SCHED_RR for the relay threads, as upstream does (default on).
    pub realtime: bool,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            threads: 1,
            probation_packets: 3,
            report_interval: Duration::from_secs(1),
            report_waker: None,
            coalesce: Duration::from_micros(300),
            realtime: true,
        }
    }
}

/// What the relay tells the core.
#[derive(Debug)]
#[non_exhaustive]
pub enum RelayEvent {
    /// Counters of the streams of one thread that saw traffic since its last report.
    Report { streams: Vec<StreamReport> },
    /// A `Close` was applied: the stream's sockets are closed and its ports are free.
    Closed { id: StreamId },
}

/// A command on its way to a relay thread, sockets already bound.
enum WorkerCmd {
    Open {
        id: StreamId,
        leg: Leg,
        rtp: std::net::UdpSocket,
        rtcp: std::net::UdpSocket,
        options: LegOptions,
    },
    Update {
        id: StreamId,
        leg: Leg,
        peer: Peer,
    },
    Close {
        id: StreamId,
    },
    Shutdown,
}

struct Thread {
    tx: Sender<WorkerCmd>,
    waker: Arc<Waker>,
    join: Option<JoinHandle<()>>,
}

/// Handle to the running relay. Dropping it stops and joins the threads.
pub struct RtpRelay {
    threads: Vec<Thread>,
}

impl RtpRelay {
    /// Spawn the relay threads. Returns the handle and the channel of [`RelayEvent`]s.
    /// Also raises the soft RLIMIT_NOFILE to the hard limit: every stream holds four sockets,
    /// so the usual soft limit of 1024 would cap the relay at about 250 streams.
    pub fn start(cfg: RelayConfig) -> Result<(RtpRelay, Receiver<RelayEvent>), RelayError> {
        match raise_fd_limit() {
            Ok(n) => log::info!(
                "rtp relay: {n} file descriptors, room for about {} streams",
                n / 4
            ),
            Err(e) => log::warn!("rtp relay: cannot raise RLIMIT_NOFILE: {e}"),
        }
        let (events_tx, events_rx) = mpsc::channel();
        let mut relay = RtpRelay {
            threads: Vec::new(),
        };
        for n in 0..cfg.threads.max(1) {
            relay
                .threads
                .push(worker::spawn(n, &cfg, events_tx.clone())?);
        }
        Ok((relay, events_rx))
    }

    /// Apply one command from the stream table. `Open` binds the leg's RTP and RTCP sockets
    /// here, so its error is synchronous; the others are queued to the stream's thread.
    pub fn apply(&self, cmd: RtpCommand) -> Result<(), RelayError> {
        let (id, wcmd) = match cmd {
            RtpCommand::Open {
                id,
                leg,
                local,
                options,
            } => {
                let (rtp, rtcp) = bind_pair(local, options.dscp)?;
                (
                    id,
                    WorkerCmd::Open {
                        id,
                        leg,
                        rtp,
                        rtcp,
                        options,
                    },
                )
            }
            RtpCommand::Update { id, leg, peer } => (id, WorkerCmd::Update { id, leg, peer }),
            RtpCommand::Close { id } => (id, WorkerCmd::Close { id }),
        };
        self.send(self.thread_of(id), wcmd)
    }

    fn thread_of(&self, id: StreamId) -> usize {
        let n = self.threads.len().max(1) as u64;
        (id.0 % n) as usize
    }

    fn send(&self, thread: usize, cmd: WorkerCmd) -> Result<(), RelayError> {
        let t = self
            .threads
            .get(thread)
            .ok_or(RelayError::Stopped { thread })?;
        t.tx.send(cmd).map_err(|_| RelayError::Stopped { thread })?;
        t.waker.wake().map_err(|_| RelayError::Stopped { thread })
    }

    /// Stop all relay threads, closing every socket. Also done on drop.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        for t in &self.threads {
            let _ = t.tx.send(WorkerCmd::Shutdown);
            let _ = t.waker.wake();
        }
        for t in &mut self.threads {
            if let Some(join) = t.join.take() {
                let _ = join.join();
            }
        }
    }
}

impl Drop for RtpRelay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Apply the table's commands in order. If an `Open` cannot bind, the stream is closed in the
/// table and the relay (nothing leaks) and the bind error is returned: the proxy answers 503
/// (or, for a response, forwards it with the error logged). Remaining commands of a closed
/// stream are skipped.
pub fn apply_commands(
    relay: &RtpRelay,
    table: &mut RtpTable,
    cmds: Vec<RtpCommand>,
) -> Result<(), RelayError> {
    let mut failed: Option<(StreamId, RelayError)> = None;
    for cmd in cmds {
        let id = cmd_stream(&cmd);
        if failed.as_ref().is_some_and(|(f, _)| *f == id) {
            continue;
        }
        if let Err(e) = relay.apply(cmd) {
            log::error!("rtp stream {id}: {e}");
            if let Some(close) = table.close_stream(id) {
                relay.apply(close)?;
            }
            failed.get_or_insert((id, e));
        }
    }
    failed.map_or(Ok(()), |(_, e)| Err(e))
}

fn cmd_stream(cmd: &RtpCommand) -> StreamId {
    match cmd {
        RtpCommand::Open { id, .. } | RtpCommand::Update { id, .. } | RtpCommand::Close { id } => {
            *id
        }
    }
}

/// Feed one relay report into the table's `rtp_timeout` bookkeeping.
pub fn record_report(table: &mut RtpTable, streams: &[StreamReport]) {
    for r in streams {
        if let Some(at) = r.last_rtp {
            table.record_activity(r.id, at);
        }
    }
}

/// Raise the soft fd limit to the hard one; returns the new soft limit.
#[allow(clippy::useless_conversion)] // rlim_t is i64 on FreeBSD
pub fn raise_fd_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct that we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: setrlimit reads one rlimit struct that we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(u64::try_from(lim.rlim_cur).unwrap_or(u64::MAX))
}

/// Bind the RTP socket on `local` and the RTCP socket on `local.port() + 1`.
/// Mirrors rtpproxy_relay.c:sockbind (SO_REUSEADDR, non-blocking) and its DSCP code, but
/// marks RTCP too and needs no root (IP_TOS/IPV6_TCLASS with normal values are unprivileged).
fn bind_pair(
    local: SocketAddr,
    dscp: u8,
) -> Result<(std::net::UdpSocket, std::net::UdpSocket), RelayError> {
    let rtcp_port = local
        .port()
        .checked_add(1)
        .ok_or(RelayError::NoRtcpPort { port: local.port() })?;
    let rtp = bind_one(local, dscp)?;
    let rtcp = bind_one(SocketAddr::new(local.ip(), rtcp_port), dscp)?;
    Ok((rtp, rtcp))
}

fn bind_one(addr: SocketAddr, dscp: u8) -> Result<std::net::UdpSocket, RelayError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let opt = |option| {
        move |source| RelayError::SocketOption {
            addr,
            option,
            source,
        }
    };
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(|source| RelayError::Bind { addr, source })?;
    sock.set_reuse_address(true).map_err(opt("SO_REUSEADDR"))?;
    sock.set_nonblocking(true).map_err(opt("O_NONBLOCK"))?;
    if dscp > 0 {
        let tos = u32::from(dscp) << 2;
        if addr.is_ipv4() {
            sock.set_tos_v4(tos).map_err(opt("IP_TOS"))?;
        } else {
            sock.set_tclass_v6(tos).map_err(opt("IPV6_TCLASS"))?;
        }
    }
    sock.bind(&addr.into())
        .map_err(|source| RelayError::Bind { addr, source })?;
    Ok(sock.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::SockRef;

    #[test]
    fn dscp_is_set_on_rtp_and_rtcp_sockets_without_root_privileges_needed() {
        let (rtp, rtcp) = bind_pair("127.0.0.1:21800".parse().unwrap(), 46).unwrap();
        assert_eq!(rtcp.local_addr().unwrap().port(), 21801);
        assert_eq!(SockRef::from(&rtp).tos_v4().unwrap(), 46 << 2);
        assert_eq!(SockRef::from(&rtcp).tos_v4().unwrap(), 46 << 2);
        match bind_pair("[::1]:21802".parse().unwrap(), 34) {
            Ok((rtp6, rtcp6)) => {
                assert_eq!(SockRef::from(&rtp6).tclass_v6().unwrap(), 34 << 2);
                assert_eq!(SockRef::from(&rtcp6).tclass_v6().unwrap(), 34 << 2);
            }
            Err(e) => eprintln!("no IPv6 loopback here, v6 part skipped: {e}"),
        }
    }

    #[test]
    fn the_top_port_has_no_rtcp_port_and_is_refused() {
        let err = bind_pair("127.0.0.1:65535".parse().unwrap(), 0).unwrap_err();
        assert!(
            matches!(err, RelayError::NoRtcpPort { port: 65535 }),
            "{err}"
        );
    }
}
