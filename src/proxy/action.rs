//! What the core hands the shell and the plugin host: time, addresses, transmissions, the
//! per-message ticket and the stage hooks. PURE: plain data and a trait.
//!
//! The ticket mirrors upstream's `sip_ticket_t` (siproxd.h) and the stages upstream's
//! `PLUGIN_*` bits (plugins.h, inventory §4.2).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::sip::Message;

/// The time of an event: monotonic for timers, wall-clock seconds for registration expiry
/// and the registration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: Instant,
    /// Unix seconds.
    pub wall: u64,
}

/// The transport a message came in on or leaves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// The Via transport token (RFC 3261 §18.2.1).
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// The proxy's addresses, from the shell's interface watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interfaces {
    /// `if_inbound`'s address (LAN side).
    pub inbound: Option<IpAddr>,
    /// `if_outbound`'s real address (WAN side); RTP sockets bind here.
    pub outbound: Option<IpAddr>,
    /// The advertised WAN address (`host_outbound`, or learnt by STUN); written into Via,
    /// Contact and SDP instead of `outbound` when set.
    pub host_outbound: Option<IpAddr>,
    /// `host_outbound` is a name that has not resolved yet (dynamic DNS before the WAN link
    /// is up): there is no WAN address to advertise until it does, and the interface's own
    /// address must not stand in for it (behind another NAT it is not reachable).
    pub host_outbound_pending: bool,
}

impl Interfaces {
    /// The WAN address written into messages.
    pub fn advertised_outbound(&self) -> Option<IpAddr> {
        match self.host_outbound {
            Some(ip) => Some(ip),
            None if self.host_outbound_pending => None,
            None => self.outbound,
        }
    }

    /// True for any of the proxy's own addresses.
    pub fn is_mine(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        [self.inbound, self.outbound, self.host_outbound]
            .iter()
            .flatten()
            .any(|a| a.to_canonical() == ip)
    }
}

/// Where a message goes. Names are resolved by the shell (RFC 3263).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    Addr(SocketAddr),
    /// A host name; `port: None` lets the shell look up SRV records.
    Name {
        host: String,
        port: Option<u16>,
    },
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Addr(a) => write!(f, "{a}"),
            Destination::Name {
                host,
                port: Some(p),
            } => write!(f, "{host}:{p}"),
            Destination::Name { host, port: None } => write!(f, "{host}"),
        }
    }
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub to: Destination,
    pub transport: Transport,
    pub bytes: Vec<u8>,
}

/// Upstream's ticket direction (`DIRTYP_UNKNOWN`, `REQTYP_INCOMING`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Unknown,
    /// A request from the WAN to a LAN UA.
    IncomingRequest,
    /// A request from a LAN UA to the WAN.
    OutgoingRequest,
    /// A response from the WAN to a LAN UA.
    IncomingResponse,
    /// A response from a LAN UA to the WAN.
    OutgoingResponse,
}

impl Direction {
    /// True for both outgoing kinds (the message travels LAN → WAN).
    pub fn is_outgoing(self) -> bool {
        matches!(
            self,
            Direction::OutgoingRequest | Direction::OutgoingResponse
        )
    }
}

/// One message on its way through the pipeline (upstream's `sip_ticket_t`).
#[derive(Debug, Clone)]
pub struct Ticket {
    pub msg: Message,
    pub from: SocketAddr,
    pub transport: Transport,
    pub direction: Direction,
    /// Set by a plugin to override routing (upstream's `next_hop`).
    pub next_hop: Option<Destination>,
    /// The transport the message leaves on, once the core chose it.
    pub transport_out: Option<Transport>,
    /// Messages a plugin sends itself (e.g. a 302 from DETERMINE_TARGET).
    pub sent: Vec<Transmit>,
}

/// A stage's verdict where upstream looks at the return code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verdict {
    /// `STS_SUCCESS`: carry on.
    #[default]
    Continue,
    /// `STS_FAILURE` at PROCESS_RAW or VALIDATE: drop the message.
    Drop,
    /// `STS_SIP_SENT` at DETERMINE_TARGET: the plugin answered; stop processing.
    Sent,
}

/// The plugin stages, called by the core in upstream's order (inventory §3, §4.2). Every
/// method defaults to doing nothing, so a host implements only what its plugins use.
pub trait StageHooks {
    /// `PLUGIN_PROCESS_RAW`, before the ACL check; the bytes may be edited.
    fn process_raw(
        &mut self,
        _raw: &mut Vec<u8>,
        _from: SocketAddr,
        _transport: Transport,
    ) -> Verdict {
        Verdict::Continue
    }
    /// `PLUGIN_VALIDATE`, after parsing.
    fn validate(&mut self, _ticket: &mut Ticket) -> Verdict {
        Verdict::Continue
    }
    /// True when a DETERMINE_TARGET hook wants the direction found before it
    /// runs (upstream's plugins called sip_find_direction there themselves).
    /// Finding it costs a pass over the bindings, so the core does it only
    /// when asked.
    fn wants_direction_at_target(&self) -> bool {
        false
    }
    /// `PLUGIN_DETERMINE_TARGET`; the direction is set when
    /// [`StageHooks::wants_direction_at_target`] says so, else unknown.
    fn determine_target(&mut self, _ticket: &mut Ticket) -> Verdict {
        Verdict::Continue
    }
    /// `PLUGIN_PRE_PROXY`: direction set; a plugin may change it.
    fn pre_proxy(&mut self, _ticket: &mut Ticket) {}
    /// `PLUGIN_PROXY_UNK`: direction unknown; the core answers or drops afterwards.
    fn proxy_unknown(&mut self, _ticket: &mut Ticket) {}
    /// `PLUGIN_POST_PROXY`: rewritten, own Via added, next hop set; a plugin may change it.
    fn post_proxy(&mut self, _ticket: &mut Ticket) {}
}

/// The hooks used when no plugin host is installed.
#[derive(Debug, Default)]
pub struct NoHooks;

impl StageHooks for NoHooks {}
