//! The RTP stream table: which media streams are relayed, on which local ports, to which
//! peers, and when they end. PURE: no sockets, no clock (every method that needs the time
//! takes `now`), no I/O. Its output is [`RtpCommand`]s that the shell hands to
//! `net::rtp_relay` over a channel, and its input is the SDP facts the proxy extracts plus the
//! activity the relay reports back.
//!
//! Corresponds to the bookkeeping half of upstream's `rtpproxy_relay.c` (`rtp_proxytable[]`,
//! `rtp_start_fwd`, `rtp_stop_fwd`, `rtp_recreate_fwd`, the aging loop); the packet half is
//! `net::rtp_relay`.
//!
//! # Model
//! Upstream keeps one table entry per *direction* and pairs them by Call-ID and
//! `media_stream_no`. Here one [`StreamId`] is one bidirectional media stream (one `m=` line
//! of one call leg) with two [`Leg`]s:
//! - the **inbound** leg faces the LAN UA: its relay socket is on the inbound address and its
//!   peer is the LAN phone;
//! - the **outbound** leg faces the WAN party: its relay socket is on the outbound address and
//!   its peer is the provider or remote phone.
//!
//! An SDP written by one leg's peer sets that leg's peer address and is rewritten to advertise
//! the *other* leg's relay port, which is allocated at that moment (so an outgoing call takes
//! the WAN port with the INVITE and the LAN port with the answer, like upstream).
//!
//! # How the proxy drives it
//! 1. For each `m=` with a non-zero port in an SDP it forwards (INVITE, 183, 200, re-INVITE,
//!    UPDATE, ACK with an answer), the proxy calls [`RtpTable::media`], writes
//!    [`MediaOutcome::port`] into the `m=` line (and its address into `c=`/`o=`), and hands
//!    [`MediaOutcome::commands`] to the relay *in order, before* sending the message.
//!    `Err(PortsExhausted)` on a request becomes a 503 with the error's text in the log. If
//!    the relay cannot bind an `Open` (`RelayError::Bind`), the stream must be closed in the
//!    table and the relay and the request answered 503; the shell's
//!    `net::rtp_relay::apply_commands` does the closing and returns the error.
//! 2. Final responses to INVITE/UPDATE: [`RtpTable::final_response`]; CANCEL:
//!    [`RtpTable::cancel`]; BYE or dialog end: [`RtpTable::close_call`]. Apply what they
//!    return.
//! 3. Timers: [`RtpTable::poll_timeout`] / [`RtpTable::handle_timeout`]; every relay report
//!    entry with `last_rtp = Some(t)` becomes [`RtpTable::record_activity`]`(id, t)`
//!    (`net::rtp_relay::record_report`).
//!
//! # Deliberate differences from upstream (each one a fix users asked for)
//! - A 4xx/5xx/6xx to a re-INVITE keeps the established media: only streams *created* by the
//!   failed transaction close, and streams it changed get their previous peers back
//!   (inventory §12). Transactions are identified by CSeq *and* the leg that sent the request,
//!   because the two ends of a dialog number their CSeqs independently.
//! - Hold (`c=0.0.0.0`, or any `a=sendonly|recvonly|inactive`) suspends the normal
//!   `rtp_timeout`: a held stream only times out after [`HOLD_TIMEOUT_FACTOR`] × `rtp_timeout`
//!   (upstream kills held calls after `rtp_timeout`, see `siproxd.conf.example` "Be aware").
//!   The relay does not send to `0.0.0.0` (upstream does, then stops the stream on the error).
//! - `rtp_timeout = 0` means "never time out" instead of "die within ~1 s".
//! - New SDP for a stream (re-INVITE, UPDATE) restarts its timeout clock, as RTP does.
//! - CANCEL closes the streams created by the cancelled INVITE (all of them for an initial
//!   INVITE, as upstream); it does not tear down a call whose re-INVITE was cancelled.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod pool;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub use pool::PortPool;

/// A held stream times out after this many `rtp_timeout`s without packets.
pub const HOLD_TIMEOUT_FACTOR: u32 = 12;
/// Longest Call-ID accepted; upstream allows 255 (number) + 127 (host) characters.
pub const MAX_CALL_ID_LEN: usize = 383;
/// Longest client id accepted (upstream's `client_id` is a user@host or Contact string).
pub const MAX_CLIENT_ID_LEN: usize = 512;

/// Errors of the stream table. Exhaustion is the one a proxy turns into a 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpTableError {
    #[error("invalid RTP port range {low}-{high}: {reason}")]
    InvalidRange {
        low: u16,
        high: u16,
        reason: &'static str,
    },
    #[error("no free RTP port pair on {ip} in rtp_port_low..rtp_port_high {low}-{high} (all {pairs} pairs in use)")]
    PortsExhausted {
        ip: IpAddr,
        low: u16,
        high: u16,
        pairs: u32,
    },
    #[error("RTP port {port} on {ip} released but not allocated")]
    NotAllocated { ip: IpAddr, port: u16 },
    #[error("Call-ID of {len} bytes is longer than the {max} accepted")]
    CallIdTooLong { len: usize, max: usize },
    #[error("client id of {len} bytes is longer than the {max} accepted")]
    ClientIdTooLong { len: usize, max: usize },
    #[error("m= port 0 is a disabled stream and is not relayed")]
    PortZero,
    #[error("no RTP stream {id}")]
    NoSuchStream { id: u64 },
}

/// Identifies one relayed media stream for its whole life; never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One side of a relayed stream (upstream's `rtp_direction`, seen from where the peer is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// Faces the LAN UA: relay socket on the inbound address.
    Inbound,
    /// Faces the WAN party: relay socket on the outbound address.
    Outbound,
}

impl Leg {
    /// The other leg: where packets received on this leg are sent out.
    pub fn opposite(self) -> Leg {
        match self {
            Leg::Inbound => Leg::Outbound,
            Leg::Outbound => Leg::Inbound,
        }
    }
}

/// Upstream's `call_direction`: who placed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallDirection {
    /// From the WAN to a LAN UA.
    Incoming,
    /// From a LAN UA to the WAN.
    Outgoing,
}

/// The key of a stream. Mirrors rtpproxy_relay.c's match on Call-ID + `media_stream_no` +
/// `client_id` (proxy.c:1015-1096): `client_id` is the From user@host for an outgoing call,
/// the To user@host for an incoming one, so the two legs of a LAN→provider→LAN call that
/// share one Call-ID are two different streams. `call_direction` is part of the key for the
/// same reason (upstream pairs entries by it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub call_id: String,
    pub call_direction: CallDirection,
    pub client_id: String,
    /// 0-based index of the `m=` line.
    pub media_stream_no: u16,
}

/// A SIP transaction that carries or answers SDP: its CSeq number and the leg whose UA sent
/// the request (the two ends of a dialog count CSeq independently).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Txn {
    pub cseq: u32,
    pub requested_by: Leg,
}

/// The `a=` direction attribute of an `m=` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaMode {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

/// Where a leg's peer wants to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// `c=0.0.0.0` (RFC 2543 hold): send nothing to this leg.
    Hold,
    /// RTP to `rtp`, RTCP to `rtcp` (`port + 1` or `a=rtcp`).
    Media { rtp: SocketAddr, rtcp: SocketAddr },
}

/// The facts of one `m=` section the proxy is about to rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    pub key: StreamKey,
    /// The transaction this SDP belongs to (offer in a request, answer in its response).
    pub txn: Txn,
    /// The leg whose peer wrote this SDP (LAN phone → `Inbound`).
    pub from: Leg,
    /// The local address the *other* leg binds: the address this SDP will advertise
    /// (the real `if_outbound` address even when `host_outbound` is written into the SDP).
    pub bind_ip: IpAddr,
    /// The `c=` address in effect for this `m=` (media-level, else session-level).
    pub addr: IpAddr,
    /// The `m=` port (must not be 0: disabled streams are not relayed).
    pub port: u16,
    /// `a=rtcp:` port if present (RFC 3605), else RTCP is on `port + 1`.
    pub rtcp_port: Option<u16>,
    pub mode: MediaMode,
}

/// What the proxy needs back from [`RtpTable::media`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaOutcome {
    pub id: StreamId,
    /// The relay port to write into the `m=` line (RTCP is `port + 1`).
    pub port: u16,
    /// Commands for the relay, to be applied before the rewritten message is sent.
    pub commands: Vec<RtpCommand>,
}

/// Instructions from the core to the relay, in the order they must be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtpCommand {
    /// Bind `leg`'s sockets: RTP on `local`, RTCP on `local.port() + 1`. Creates the stream in
    /// the relay if it does not exist yet.
    Open {
        id: StreamId,
        leg: Leg,
        local: SocketAddr,
        options: LegOptions,
    },
    /// `leg`'s peer (from its latest SDP). A changed peer restarts latching on that leg.
    Update { id: StreamId, leg: Leg, peer: Peer },
    /// Stop relaying and close all sockets of the stream at once.
    Close { id: StreamId },
}

/// Per-leg relay options the table derives from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegOptions {
    /// DSCP (0..=63) for RTP *and* RTCP sent from this leg's sockets (IP_TOS = dscp << 2).
    pub dscp: u8,
    /// Learn the peer's real source address (symmetric latching) and then drop other sources.
    pub latch: bool,
    /// Playout delay in µs for RTP *sent out of* this leg (0 = none). RTCP is never delayed.
    pub dejitter_us: u32,
}

/// Table configuration (siproxd.conf's rtp_* directives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpTableConfig {
    pub port_low: u16,
    pub port_high: u16,
    /// Zero means streams never time out.
    pub rtp_timeout: Duration,
    /// 0..=63; larger values disable marking (as upstream).
    pub dscp: u8,
    /// Latching on the WAN-facing leg (default on).
    pub latch_outbound: bool,
    /// Latching on the LAN-facing leg (default off: LAN phones are trusted, like upstream).
    pub latch_inbound: bool,
    /// `rtp_input_dejitter`: µs of playout delay WAN→LAN.
    pub input_dejitter_us: u32,
    /// `rtp_output_dejitter`: µs of playout delay LAN→WAN.
    pub output_dejitter_us: u32,
}

impl Default for RtpTableConfig {
    /// The values of siproxd.conf.example (inventory §12: example-file defaults).
    fn default() -> Self {
        Self {
            port_low: 7070,
            port_high: 7088,
            rtp_timeout: Duration::from_secs(300),
            dscp: 46,
            latch_outbound: true,
            latch_inbound: false,
            input_dejitter_us: 0,
            output_dejitter_us: 0,
        }
    }
}

/// A read-only view of one stream, for the status summary and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub key: StreamKey,
    pub created_by: Txn,
    pub inbound_local: Option<SocketAddr>,
    pub outbound_local: Option<SocketAddr>,
    pub inbound_peer: Option<Peer>,
    pub outbound_peer: Option<Peer>,
    pub held: bool,
    pub last_activity: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LegSdp {
    peer: Peer,
    mode: MediaMode,
}

#[derive(Debug, Clone, Copy, Default)]
struct LegState {
    local: Option<SocketAddr>,
    sdp: Option<LegSdp>,
}

/// The state a re-INVITE replaced, kept until its final response.
#[derive(Debug, Clone, Copy)]
struct Pending {
    txn: Txn,
    inbound: Option<LegSdp>,
    outbound: Option<LegSdp>,
}

#[derive(Debug, Clone)]
struct Stream {
    key: StreamKey,
    created_by: Txn,
    inbound: LegState,
    outbound: LegState,
    pending: Option<Pending>,
    last_activity: Instant,
}

impl Stream {
    fn leg(&self, leg: Leg) -> &LegState {
        match leg {
            Leg::Inbound => &self.inbound,
            Leg::Outbound => &self.outbound,
        }
    }

    fn leg_mut(&mut self, leg: Leg) -> &mut LegState {
        match leg {
            Leg::Inbound => &mut self.inbound,
            Leg::Outbound => &mut self.outbound,
        }
    }

    fn held(&self) -> bool {
        [self.inbound.sdp, self.outbound.sdp]
            .iter()
            .flatten()
            .any(|s| s.peer == Peer::Hold || s.mode != MediaMode::SendRecv)
    }

    fn locals(&self) -> impl Iterator<Item = SocketAddr> {
        [self.inbound.local, self.outbound.local]
            .into_iter()
            .flatten()
    }
}

/// The stream table and port pool. See the module docs for the model.
#[derive(Debug)]
pub struct RtpTable {
    cfg: RtpTableConfig,
    pool: PortPool,
    streams: HashMap<StreamId, Stream>,
    by_key: HashMap<StreamKey, StreamId>,
    next_id: u64,
    /// Ports whose release the pool refused (a double release); must stay 0.
    release_errors: u64,
}

impl RtpTable {
    pub fn new(cfg: RtpTableConfig) -> Result<Self, RtpTableError> {
        let pool = PortPool::new(cfg.port_low, cfg.port_high)?;
        Ok(Self {
            cfg,
            pool,
            streams: HashMap::new(),
            by_key: HashMap::new(),
            next_id: 1,
            release_errors: 0,
        })
    }

    /// Number of open streams.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Port pairs allocated over all local addresses.
    pub fn pairs_in_use(&self) -> usize {
        self.pool.allocated()
    }

    /// Relay ports held by open streams (equals [`RtpTable::pairs_in_use`] unless a port
    /// leaked).
    pub fn locals_in_use(&self) -> usize {
        self.streams.values().map(|s| s.locals().count()).sum()
    }

    /// Releases the pool refused (double releases): 0 unless there is a bug.
    pub fn release_errors(&self) -> u64 {
        self.release_errors
    }

    /// The stream with this key, if open.
    pub fn lookup(&self, key: &StreamKey) -> Option<StreamId> {
        self.by_key.get(key).copied()
    }

    pub fn stream(&self, id: StreamId) -> Option<StreamInfo> {
        let s = self.streams.get(&id)?;
        Some(StreamInfo {
            key: s.key.clone(),
            created_by: s.created_by,
            inbound_local: s.inbound.local,
            outbound_local: s.outbound.local,
            inbound_peer: s.inbound.sdp.map(|d| d.peer),
            outbound_peer: s.outbound.sdp.map(|d| d.peer),
            held: s.held(),
            last_activity: s.last_activity,
        })
    }

    /// Every open stream, in id order (for the status of plugins, e.g. plugin_stats).
    pub fn streams(&self) -> Vec<(StreamId, StreamInfo)> {
        let mut ids: Vec<StreamId> = self.streams.keys().copied().collect();
        ids.sort_by_key(|id| id.0);
        ids.into_iter()
            .filter_map(|id| Some((id, self.stream(id)?)))
            .collect()
    }

    /// An SDP `m=` section passing through (offer, answer, early media, re-INVITE).
    /// Opens the stream on first sight, allocates the other leg's relay port if needed,
    /// records this leg's peer. Mirrors proxy.c:proxy_rewrite_invitation_body → rtp_start_fwd.
    pub fn media(
        &mut self,
        now: Instant,
        desc: &MediaDescription,
    ) -> Result<MediaOutcome, RtpTableError> {
        validate(desc)?;
        let mut commands = Vec::new();
        let id = match self.by_key.get(&desc.key) {
            Some(id) => *id,
            None => self.create(now, desc),
        };
        let local = self.ensure_local(id, desc, &mut commands)?;
        self.set_peer(id, desc, &mut commands);
        // New SDP shows the dialog is alive (e.g. session-timer re-INVITEs during a long
        // hold): restart the timeout clock. Upstream only counts RTP.
        self.record_activity(id, now);
        Ok(MediaOutcome {
            id,
            port: local.port(),
            commands,
        })
    }

    fn create(&mut self, now: Instant, desc: &MediaDescription) -> StreamId {
        let id = StreamId(self.next_id);
        self.next_id += 1;
        let stream = Stream {
            key: desc.key.clone(),
            created_by: desc.txn,
            inbound: LegState::default(),
            outbound: LegState::default(),
            pending: None,
            last_activity: now,
        };
        self.streams.insert(id, stream);
        self.by_key.insert(desc.key.clone(), id);
        id
    }

    /// The relay port advertised to the peer on the far side of `desc.from`; allocated once.
    fn ensure_local(
        &mut self,
        id: StreamId,
        desc: &MediaDescription,
        commands: &mut Vec<RtpCommand>,
    ) -> Result<SocketAddr, RtpTableError> {
        let leg = desc.from.opposite();
        let stream = self
            .streams
            .get(&id)
            .ok_or(RtpTableError::NoSuchStream { id: id.0 })?;
        if let Some(local) = stream.leg(leg).local {
            return Ok(local);
        }
        let port = match self.pool.allocate(desc.bind_ip) {
            Ok(port) => port,
            Err(e) => {
                self.forget_if_empty(id);
                return Err(e);
            }
        };
        let local = SocketAddr::new(desc.bind_ip, port);
        if let Some(stream) = self.streams.get_mut(&id) {
            stream.leg_mut(leg).local = Some(local);
        }
        let options = self.leg_options(leg);
        commands.push(RtpCommand::Open {
            id,
            leg,
            local,
            options,
        });
        Ok(local)
    }

    /// A stream whose first port allocation failed holds nothing: drop it again.
    fn forget_if_empty(&mut self, id: StreamId) {
        let empty = self
            .streams
            .get(&id)
            .is_some_and(|s| s.locals().next().is_none());
        if empty {
            if let Some(s) = self.streams.remove(&id) {
                self.by_key.remove(&s.key);
            }
        }
    }

    fn leg_options(&self, leg: Leg) -> LegOptions {
        let (latch, dejitter_us) = match leg {
            // Sent out of the inbound leg = WAN→LAN = rtp_input_dejitter.
            Leg::Inbound => (self.cfg.latch_inbound, self.cfg.input_dejitter_us),
            Leg::Outbound => (self.cfg.latch_outbound, self.cfg.output_dejitter_us),
        };
        let dscp = if self.cfg.dscp > 63 { 0 } else { self.cfg.dscp };
        LegOptions {
            dscp,
            latch,
            dejitter_us,
        }
    }

    /// Record `desc.from`'s peer; remember the previous state when a new transaction changes
    /// an established stream (re-INVITE) so a failure can restore it.
    fn set_peer(&mut self, id: StreamId, desc: &MediaDescription, commands: &mut Vec<RtpCommand>) {
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        let new = LegSdp {
            peer: peer_of(desc),
            mode: desc.mode,
        };
        let is_new_txn =
            desc.txn != stream.created_by && stream.pending.is_none_or(|p| p.txn != desc.txn);
        if is_new_txn {
            stream.pending = Some(Pending {
                txn: desc.txn,
                inbound: stream.inbound.sdp,
                outbound: stream.outbound.sdp,
            });
        }
        let state = stream.leg_mut(desc.from);
        let old_peer = state.sdp.map(|s| s.peer);
        state.sdp = Some(new);
        if old_peer != Some(new.peer) {
            commands.push(RtpCommand::Update {
                id,
                leg: desc.from,
                peer: new.peer,
            });
        }
    }

    /// A final response to an INVITE or UPDATE. 2xx commits a re-INVITE's changes; 3xx–6xx
    /// closes the streams that transaction created and restores those it changed.
    /// Differs from upstream (proxy.c:557-568), which closed every stream with CSeq ≤ the
    /// response's and so killed established calls on a 488 or 491 to a re-INVITE.
    pub fn final_response(&mut self, call_id: &str, txn: Txn, status: u16) -> Vec<RtpCommand> {
        match status {
            200..=299 => {
                self.commit(call_id, txn);
                Vec::new()
            }
            300..=699 => self.roll_back(call_id, txn),
            _ => Vec::new(),
        }
    }

    /// A CANCEL for the INVITE `txn`: as a failure of that transaction.
    pub fn cancel(&mut self, call_id: &str, txn: Txn) -> Vec<RtpCommand> {
        self.roll_back(call_id, txn)
    }

    /// BYE (either way) or dialog end: close every stream of the Call-ID, both legs of a
    /// LAN→LAN call included. Mirrors proxy.c's rtp_stop_fwd(callid, DIR_INCOMING|OUTGOING).
    pub fn close_call(&mut self, call_id: &str) -> Vec<RtpCommand> {
        let ids: Vec<StreamId> = self.ids_of_call(call_id).collect();
        ids.into_iter()
            .filter_map(|id| self.close_stream(id))
            .collect()
    }

    /// Close one stream (e.g. the relay could not bind its port); `None` if not open.
    pub fn close_stream(&mut self, id: StreamId) -> Option<RtpCommand> {
        let stream = self.streams.remove(&id)?;
        self.by_key.remove(&stream.key);
        for local in stream.locals() {
            if let Err(e) = self.pool.release(local.ip(), local.port()) {
                self.release_errors += 1;
                log::error!("rtp stream {id}: {e}");
            }
        }
        Some(RtpCommand::Close { id })
    }

    fn ids_of_call<'a>(&'a self, call_id: &'a str) -> impl Iterator<Item = StreamId> + 'a {
        self.streams
            .iter()
            .filter(move |(_, s)| s.key.call_id == call_id)
            .map(|(id, _)| *id)
    }

    fn commit(&mut self, call_id: &str, txn: Txn) {
        for stream in self.streams.values_mut() {
            if stream.key.call_id == call_id && stream.pending.is_some_and(|p| p.txn == txn) {
                stream.pending = None;
            }
        }
    }

    fn roll_back(&mut self, call_id: &str, txn: Txn) -> Vec<RtpCommand> {
        let ids: Vec<StreamId> = self.ids_of_call(call_id).collect();
        let mut commands = Vec::new();
        for id in ids {
            let Some(stream) = self.streams.get_mut(&id) else {
                continue;
            };
            if stream.created_by == txn {
                commands.extend(self.close_stream(id));
            } else if let Some(p) = stream.pending.filter(|p| p.txn == txn) {
                stream.pending = None;
                restore(id, stream, Leg::Inbound, p.inbound, &mut commands);
                restore(id, stream, Leg::Outbound, p.outbound, &mut commands);
            }
        }
        commands
    }

    /// The relay saw RTP on the stream at `at` (from its periodic report).
    pub fn record_activity(&mut self, id: StreamId, at: Instant) {
        if let Some(stream) = self.streams.get_mut(&id) {
            stream.last_activity = stream.last_activity.max(at);
        }
    }

    /// When [`RtpTable::handle_timeout`] next has work, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.streams.values().filter_map(|s| self.deadline(s)).min()
    }

    /// Close streams without RTP for `rtp_timeout` (or the hold timeout). Mirrors
    /// rtpproxy_relay.c's aging (`timestamp + rtp_timeout < now`), one stream at a time.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<RtpCommand> {
        let expired: Vec<StreamId> = self
            .streams
            .iter()
            .filter(|(_, s)| self.deadline(s).is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            log::info!(
                "rtp stream {id}: no RTP for {:?}, closing",
                self.cfg.rtp_timeout
            );
        }
        expired
            .into_iter()
            .filter_map(|id| self.close_stream(id))
            .collect()
    }

    fn deadline(&self, stream: &Stream) -> Option<Instant> {
        if self.cfg.rtp_timeout.is_zero() {
            return None;
        }
        let timeout = if stream.held() {
            self.cfg.rtp_timeout.saturating_mul(HOLD_TIMEOUT_FACTOR)
        } else {
            self.cfg.rtp_timeout
        };
        stream.last_activity.checked_add(timeout)
    }
}

fn restore(
    id: StreamId,
    stream: &mut Stream,
    leg: Leg,
    saved: Option<LegSdp>,
    commands: &mut Vec<RtpCommand>,
) {
    let state = stream.leg_mut(leg);
    let changed = state.sdp.map(|s| s.peer) != saved.map(|s| s.peer);
    state.sdp = saved;
    if let (true, Some(sdp)) = (changed, saved) {
        commands.push(RtpCommand::Update {
            id,
            leg,
            peer: sdp.peer,
        });
    }
}

fn validate(desc: &MediaDescription) -> Result<(), RtpTableError> {
    let key = &desc.key;
    if key.call_id.len() > MAX_CALL_ID_LEN {
        return Err(RtpTableError::CallIdTooLong {
            len: key.call_id.len(),
            max: MAX_CALL_ID_LEN,
        });
    }
    if key.client_id.len() > MAX_CLIENT_ID_LEN {
        let len = key.client_id.len();
        return Err(RtpTableError::ClientIdTooLong {
            len,
            max: MAX_CLIENT_ID_LEN,
        });
    }
    if desc.port == 0 {
        return Err(RtpTableError::PortZero);
    }
    Ok(())
}

/// `c=0.0.0.0` is hold; otherwise RTCP is on `a=rtcp`'s port or `port + 1`.
fn peer_of(desc: &MediaDescription) -> Peer {
    if desc.addr.is_unspecified() {
        return Peer::Hold;
    }
    let rtcp_port = desc.rtcp_port.unwrap_or(desc.port.saturating_add(1));
    Peer::Media {
        rtp: SocketAddr::new(desc.addr, desc.port),
        rtcp: SocketAddr::new(desc.addr, rtcp_port),
    }
}

#[cfg(test)]
mod tests;
