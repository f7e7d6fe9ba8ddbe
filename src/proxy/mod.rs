//! The proxy core: pure, sans-IO (DESIGN.md §1). Input is one datagram or
//! TCP frame with `now`; output is queued transmissions, RTP commands and the
//! next deadline. No sockets, no clock, no files in here.
//!
//! Module map, in pipeline order (upstream file in brackets): [`action`] (the types the shell
//! and plugin host see), [`acl`] (accessctl.c), [`direction`] (sip_utils.c
//! sip_find_direction), [`register`] (register.c), [`request`] (proxy.c proxy_request),
//! [`media`] (the RTP side of both), [`callid`] (obscure_loops),
//! [`response`] (proxy.c proxy_response, sip_utils.c sip_gen_response), [`route`]
//! (route_processing.c, next hop), [`sdp_media`] (proxy.c proxy_rewrite_invitation_body),
//! [`rtp_table`] (rtpproxy_relay.c bookkeeping), [`auth`] (auth.c), [`regfile`] (the
//! registration file), [`testnet`] (the in-memory
//! harness for scenario tests).
//!
//! # Deliberate differences from upstream (each documented where it is made)
//! - Messages are edited in place; every byte the proxy does not change leaves as it came
//!   (upstream re-encodes through libosip2, on-the-wire §5).
//! - Several bindings per AOR; the registrar's 2xx is matched leniently and its Expires
//!   header is honoured; no silent expiry ~10 s after registering ([`register`]).
//! - A full registration table answers 503; registrar-mode bad credentials answer 403
//!   (registrar.rs).
//! - Unknown targets: 404 for an unknown user at our address, 403 for a relay attempt from
//!   a public address, 408 (as upstream) for an unregistered private source; members of a
//!   non-empty `hosts_allow_reg` are proxied unregistered ([`request`]).
//! - Responses follow `received`/`rport` for UDP too (RFC 3581); UDP `;rport` requests are
//!   filled in ([`response`], [`request`]).
//! - The transport follows the next hop, bridging UDP and TCP ([`request`]).
//! - A rejected re-INVITE keeps the established media; port exhaustion answers 503
//!   ([`rtp_table`], [`request`]).
//! - No Record-Route on REGISTER requests and responses (meaningless there, RFC 3261 §10.3).
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

pub mod acl;
pub mod action;
pub mod auth;
pub mod callid;
pub mod direction;
pub mod media;
mod pipeline;
pub mod regfile;
pub mod register;
mod registrar;
pub mod request;
pub mod response;
pub mod route;
pub mod rtp_table;
pub mod sdp_media;
pub mod testnet;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub use action::{
    Destination, Direction, Interfaces, NoHooks, Now, StageHooks, Ticket, Transmit, Transport,
    Verdict,
};
pub use rtp_table::{RtpCommand, StreamId};

use crate::config::{Config, OutboundDomain};
use register::Registrations;
use rtp_table::{CallDirection, RtpTable, RtpTableConfig};

/// Why a proxy could not be built from a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    #[error("access list: {0}")]
    Acl(#[from] acl::AclError),
    #[error("RTP relay table: {0}")]
    Rtp(#[from] rtp_table::RtpTableError),
}

/// What the shell reads before chroot and hands over: secrets and files.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Key for the digest nonces (drawn from the OS at start-up).
    pub nonce_key: [u8; 16],
    /// The text of `proxy_auth_pwfile`, if configured.
    pub pwfile_text: Option<String>,
    /// Seed for the To tags of locally generated responses.
    pub tag_seed: u64,
    /// Addresses of host names used in the access lists, resolved by the shell.
    pub acl_hosts: Vec<(String, Vec<IpAddr>)>,
}

/// Counters of everything the proxy refused or could not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub requests_forwarded: u64,
    pub responses_forwarded: u64,
    pub local_responses: u64,
    /// Unparseable or incomplete messages dropped.
    pub malformed: u64,
    /// Messages dropped by the access lists.
    pub acl_denied: u64,
    /// Requests from outside for someone who is neither us nor registered (403).
    pub relay_refused: u64,
    /// Requests for an unknown user or from an unregistered LAN host (404/408).
    pub unknown_target: u64,
    /// REGISTERs refused because the registration table was full.
    pub registrations_full: u64,
    /// Responses whose top Via is not ours.
    pub foreign_via: u64,
    pub loops: u64,
    pub too_many_hops: u64,
    /// INVITEs answered 503 because no relay port was free.
    pub rtp_ports_exhausted: u64,
    pub plugin_dropped: u64,
    pub auth_challenges: u64,
    pub auth_failures: u64,
}

/// A summary for the status page and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyStatus {
    pub registrations: usize,
    /// Calls with relayed media.
    pub calls: usize,
    pub rtp_streams: usize,
    pub counters: Counters,
}

/// The per-message settings taken from siproxd.conf.
#[derive(Debug, Clone)]
struct Settings {
    listen_port: u16,
    default_expires: u32,
    ua_string: Option<String>,
    use_rport: u8,
    obscure_loops: bool,
    outbound_proxy: Option<(String, u16)>,
    outbound_domains: Vec<OutboundDomain>,
    mask: Vec<(String, String)>,
    realm: Option<String>,
    /// `proxy_auth_lan`: every LAN request must authenticate (with a realm).
    auth_lan: bool,
    rtp_enabled: bool,
    /// `hosts_allow_reg` is not empty: its members are LAN hosts.
    allow_reg_listed: bool,
}

impl Settings {
    fn from_config(cfg: &Config) -> Settings {
        let mask = if cfg.mask_host.len() == cfg.masked_host.len() {
            cfg.mask_host
                .iter()
                .cloned()
                .zip(cfg.masked_host.iter().cloned())
                .collect()
        } else {
            Vec::new()
        };
        Settings {
            listen_port: cfg.sip_listen_port,
            default_expires: cfg.default_expires,
            ua_string: cfg.ua_string.clone(),
            use_rport: cfg.use_rport,
            obscure_loops: cfg.obscure_loops,
            outbound_proxy: cfg
                .outbound_proxy_host
                .clone()
                .map(|h| (h, cfg.outbound_proxy_port)),
            outbound_domains: cfg.outbound_domains.clone(),
            mask,
            realm: cfg.proxy_auth_realm.clone(),
            auth_lan: cfg.proxy_auth_lan,
            rtp_enabled: cfg.rtp_proxy_enable,
            allow_reg_listed: !cfg.hosts_allow_reg.is_empty(),
        }
    }
}

/// One call leg with relayed media.
#[derive(Debug, Clone, Default)]
struct CallRecord {
    direction: Option<CallDirection>,
    streams: Vec<StreamId>,
}

/// Malformed input and refusals are logged at most once per this interval (with a count
/// of the rest).
const MALFORMED_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The proxy state machine. See the module doc and DESIGN.md §1.
pub struct Proxy {
    settings: Settings,
    ifaces: Interfaces,
    acl: acl::Acl,
    passwords: auth::Passwords,
    nonce_key: auth::NonceKey,
    tag_seed: u64,
    regs: Registrations,
    rtp: RtpTable,
    /// (Call-ID, LAN party) → who placed the call and its streams, for the stream keys.
    calls: HashMap<(String, String), CallRecord>,
    transmits: VecDeque<Transmit>,
    rtp_commands: VecDeque<RtpCommand>,
    counters: Counters,
    hooks: Box<dyn StageHooks>,
    last_now: Now,
    malformed_log: LogLimiter,
    refused_log: LogLimiter,
}

fn build_acl(cfg: &Config, secrets: &Secrets) -> Result<acl::Acl, acl::AclError> {
    let strings =
        |l: &[crate::config::AclEntry]| l.iter().map(ToString::to_string).collect::<Vec<_>>();
    let resolve = |name: &str| {
        secrets
            .acl_hosts
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, a)| a.clone())
            .unwrap_or_default()
    };
    acl::Acl::new(
        &strings(&cfg.hosts_allow_reg),
        &strings(&cfg.hosts_allow_sip),
        &strings(&cfg.hosts_deny_sip),
        &resolve,
    )
}

fn rtp_config(cfg: &Config) -> RtpTableConfig {
    RtpTableConfig {
        port_low: cfg.rtp_port_low,
        port_high: cfg.rtp_port_high,
        rtp_timeout: Duration::from_secs(cfg.rtp_timeout.into()),
        dscp: cfg.rtp_dscp,
        input_dejitter_us: cfg.rtp_input_dejitter,
        output_dejitter_us: cfg.rtp_output_dejitter,
        ..RtpTableConfig::default()
    }
}

impl Proxy {
    /// Builds the core from the configuration. The registration table holds
    /// [`register::DEFAULT_MAX_BINDINGS`] bindings (siproxd.conf has no directive for it).
    pub fn new(
        cfg: &Config,
        ifaces: Interfaces,
        secrets: Secrets,
        now: Now,
    ) -> Result<Proxy, ProxyError> {
        Ok(Proxy {
            settings: Settings::from_config(cfg),
            ifaces,
            acl: build_acl(cfg, &secrets)?,
            passwords: auth::Passwords::new(
                secrets.pwfile_text.as_deref(),
                cfg.proxy_auth_passwd.as_deref(),
            ),
            nonce_key: auth::NonceKey(secrets.nonce_key),
            tag_seed: secrets.tag_seed,
            regs: Registrations::new(register::DEFAULT_MAX_BINDINGS),
            rtp: RtpTable::new(rtp_config(cfg))?,
            calls: HashMap::new(),
            transmits: VecDeque::new(),
            rtp_commands: VecDeque::new(),
            counters: Counters::default(),
            hooks: Box::new(NoHooks),
            last_now: now,
            malformed_log: LogLimiter::default(),
            refused_log: LogLimiter::default(),
        })
    }

    /// Installs the plugin host (or a test fake).
    pub fn set_hooks(&mut self, hooks: Box<dyn StageHooks>) {
        self.hooks = hooks;
    }

    /// Changes the size of the registration table; existing bindings stay.
    pub fn set_registration_limit(&mut self, limit: usize) {
        self.regs.set_limit(limit);
    }

    /// One UDP datagram or one framed TCP message from `from`.
    pub fn handle(&mut self, now: Now, from: SocketAddr, transport: Transport, bytes: &[u8]) {
        self.last_now = now;
        self.expire(now);
        pipeline::run(self, now, from, transport, bytes);
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_rtp_command(&mut self) -> Option<RtpCommand> {
        self.rtp_commands.pop_front()
    }

    /// The next registration expiry or RTP timeout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let reg = self.regs.next_expiry().map(|at| {
            let secs = at.saturating_sub(self.last_now.wall);
            self.last_now.mono + Duration::from_secs(secs)
        });
        [reg, self.rtp.poll_timeout()].into_iter().flatten().min()
    }

    pub fn handle_timeout(&mut self, now: Now) {
        self.last_now = now;
        self.expire(now);
        let closed = self.rtp.handle_timeout(now.mono);
        self.rtp_commands.extend(closed);
        self.forget_finished_calls();
    }

    fn expire(&mut self, now: Now) {
        for b in self.regs.expire(now.wall) {
            log::info!("registration of {} at {} expired", b.aor, b.contact);
        }
    }

    /// Drops call records whose streams are all gone.
    pub(crate) fn forget_finished_calls(&mut self) {
        let rtp = &self.rtp;
        self.calls
            .retain(|_, c| c.streams.iter().any(|id| rtp.stream(*id).is_some()));
    }

    /// New interface addresses (PPPoE redial, STUN). Bindings keep their masqueraded URIs
    /// until the phones re-register.
    pub fn set_interfaces(&mut self, ifaces: Interfaces) {
        self.ifaces = ifaces;
    }

    /// SIGHUP: access lists, passwords and per-message settings. Registrations and media
    /// stay; a changed RTP port range applies to new streams only after a restart.
    pub fn reconfigure(&mut self, cfg: &Config, secrets: Secrets) {
        match build_acl(cfg, &secrets) {
            Ok(acl) => self.acl = acl,
            Err(e) => log::error!("reload: access lists kept as they were: {e}"),
        }
        self.passwords = auth::Passwords::new(
            secrets.pwfile_text.as_deref(),
            cfg.proxy_auth_passwd.as_deref(),
        );
        self.nonce_key = auth::NonceKey(secrets.nonce_key);
        self.tag_seed = secrets.tag_seed;
        self.settings = Settings::from_config(cfg);
    }

    /// The live bindings in upstream's registration-file format.
    pub fn registrations_file(&self, now: Now) -> String {
        regfile::render(&self.regs.records(now.wall))
    }

    /// Restores bindings from a registration file; damaged records are reported.
    pub fn load_registrations(&mut self, text: &str, now: Now) -> Vec<regfile::Damage> {
        let (records, damage) = regfile::parse(text);
        let restored = records
            .iter()
            .filter(|r| self.regs.restore(r, now.wall))
            .count();
        log::info!("restored {restored} of {} registrations", records.len());
        damage
    }

    /// The relay saw traffic on `stream` (for rtp_timeout).
    pub fn rtp_activity(&mut self, stream: StreamId, at: Instant) {
        self.rtp.record_activity(stream, at);
    }

    /// The RTP table, read-only (plugin status, tests).
    pub fn rtp_table(&self) -> &RtpTable {
        &self.rtp
    }

    /// The relay could not open `stream` (its port is taken by another
    /// process): release the stream's ports here and close it in the relay.
    /// The call already carries our SDP, so its media is lost; the log
    /// line says which stream.
    pub fn rtp_failed(&mut self, stream: StreamId) {
        log::error!("rtp stream {stream}: the relay could not open it; closing it");
        if let Some(close) = self.rtp.close_stream(stream) {
            self.rtp_commands.push_back(close);
        }
    }

    pub fn status(&self) -> ProxyStatus {
        ProxyStatus {
            registrations: self.regs.len(),
            calls: self.calls.len(),
            rtp_streams: self.rtp.stream_count(),
            counters: self.counters,
        }
    }

    /// The registration table, for status pages and tests.
    pub fn registrations(&self) -> &Registrations {
        &self.regs
    }

    /// Logs a malformed message, at most once per [`MALFORMED_LOG_INTERVAL`].
    fn note_malformed(&mut self, now: Now, from: SocketAddr, what: &dyn std::fmt::Display) {
        self.counters.malformed += 1;
        if let Some(suppressed) = self.malformed_log.allow(now.mono) {
            log::warn!(
                "dropped malformed message from {from}: {what} ({suppressed} more not logged)"
            );
        }
    }

    /// Logs a refused request (scanners send many), at most once per interval.
    fn note_refused(&mut self, now: Now, what: &dyn std::fmt::Display) {
        if let Some(suppressed) = self.refused_log.allow(now.mono) {
            log::warn!("{what} ({suppressed} more refusals not logged)");
        }
    }
}

/// At most one log line per [`MALFORMED_LOG_INTERVAL`], counting the ones left out.
#[derive(Debug, Clone, Copy, Default)]
struct LogLimiter {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    /// `Some(suppressed since the last line)` when a line may be written now.
    fn allow(&mut self, now: Instant) -> Option<u64> {
        let due = self
            .last
            .is_none_or(|t| now.saturating_duration_since(t) >= MALFORMED_LOG_INTERVAL);
        if !due {
            self.suppressed += 1;
            return None;
        }
        let suppressed = std::mem::take(&mut self.suppressed);
        self.last = Some(now);
        Some(suppressed)
    }
}
