//! The plugin chain: the proxy core's stage hooks carried out by the loaded
//! plugins, in load order.
//!
//! Mirrors upstream `plugins.c:call_plugins` (inventory §4.2): every plugin
//! that asked for a stage is called in load order; at PROCESS_RAW and
//! VALIDATE a `DROP` stops the chain and drops the message; at
//! DETERMINE_TARGET a `SIP_SENT` stops the chain and ends processing (the
//! plugin answered); other verdicts are ignored there. Differs: at PROXY_UNK
//! a `SIP_SENT` also stops the chain — the core then sends no 408, which
//! upstream's own TODO asks for. A plugin that fails is disabled by the host
//! and skipped from then on.
//!
//! This file is no FFI: it adapts the core's [`crate::proxy::Ticket`] to the
//! host's [`Ticket`] trait, and the host does the C calls.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use spx::{HostError, Stage, Verdict as PluginVerdict};

use super::{HostAction, Interface, LoadedPlugin, Ticket};
use crate::proxy::{self, Destination, StageHooks, Transmit, Verdict};
use crate::sip::Message;

/// The proxy's own addresses, for a plugin that adds the proxy's Via
/// (ABI 1.1 `via_add_own`, upstream's `sip_add_myvia`; plugin_fix_DTAG).
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnAddresses {
    pub inbound: Option<std::net::IpAddr>,
    /// The advertised WAN address (`host_outbound` or the interface's).
    pub outbound: Option<std::net::IpAddr>,
    pub listen_port: u16,
}

/// The loaded plugins, and what they asked the daemon to do.
pub struct PluginChain {
    plugins: Vec<LoadedPlugin>,
    actions: Vec<HostAction>,
    own: OwnAddresses,
}

impl PluginChain {
    pub fn new(plugins: Vec<LoadedPlugin>) -> PluginChain {
        PluginChain {
            plugins,
            actions: Vec::new(),
            own: OwnAddresses::default(),
        }
    }

    /// The proxy's addresses changed (start, PPPoE redial, STUN).
    pub fn set_own_addresses(&mut self, own: OwnAddresses) {
        self.own = own;
    }

    /// How many plugins are loaded.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// True when no plugin is loaded.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// The TIMER stage: upstream calls it on every 5 s tick.
    pub fn timer(&mut self) {
        for plugin in &mut self.plugins {
            plugin.process(Stage::Timer, None);
        }
        self.collect_actions();
    }

    /// What plugins asked for since the last call (sends, the public
    /// address, extra timers), for the event loop to carry out.
    pub fn take_actions(&mut self) -> Vec<HostAction> {
        self.collect_actions();
        std::mem::take(&mut self.actions)
    }

    fn collect_actions(&mut self) {
        for plugin in &mut self.plugins {
            self.actions.extend(plugin.take_actions());
        }
    }

    /// Calls every plugin that asked for `stage`, in load order, until one
    /// returns a verdict in `stops_on`; returns that verdict.
    fn run(
        &mut self,
        stage: Stage,
        ticket: &mut dyn Ticket,
        stops_on: &[PluginVerdict],
    ) -> PluginVerdict {
        Self::run_plugins(&mut self.plugins, stage, ticket, stops_on)
    }

    /// [`PluginChain::run`] for a parsed message.
    fn run_msg(
        &mut self,
        stage: Stage,
        ticket: &mut proxy::Ticket,
        stops_on: &[PluginVerdict],
    ) -> PluginVerdict {
        let mut msg = MsgTicket(ticket, self.own);
        Self::run_plugins(&mut self.plugins, stage, &mut msg, stops_on)
    }

    fn run_plugins(
        plugins: &mut [LoadedPlugin],
        stage: Stage,
        ticket: &mut dyn Ticket,
        stops_on: &[PluginVerdict],
    ) -> PluginVerdict {
        for plugin in plugins {
            let verdict = plugin.process(stage, Some(&mut *ticket));
            if stops_on.contains(&verdict) {
                return verdict;
            }
        }
        PluginVerdict::Continue
    }

    /// `fini` in reverse load order, at shutdown; the chain is empty after.
    pub fn shutdown(&mut self) {
        super::fini_all(std::mem::take(&mut self.plugins));
    }
}

/// The chain as the proxy core sees it: shared with the event loop, which
/// runs the TIMER stage and carries out the plugins' actions.
#[derive(Clone)]
pub struct SharedChain(pub Rc<RefCell<PluginChain>>);

impl StageHooks for SharedChain {
    fn wants_direction_at_target(&self) -> bool {
        let bit = Stage::DetermineTarget.bit();
        self.0
            .borrow()
            .plugins
            .iter()
            .any(|p| !p.is_disabled() && p.stages() & bit != 0)
    }

    fn process_raw(
        &mut self,
        raw: &mut Vec<u8>,
        from: SocketAddr,
        transport: proxy::Transport,
    ) -> Verdict {
        let mut ticket = RawTicket {
            raw,
            from,
            transport,
        };
        let verdict =
            self.0
                .borrow_mut()
                .run(Stage::ProcessRaw, &mut ticket, &[PluginVerdict::Drop]);
        core_verdict(verdict)
    }

    fn validate(&mut self, ticket: &mut proxy::Ticket) -> Verdict {
        let stops = [PluginVerdict::Drop];
        core_verdict(self.0.borrow_mut().run_msg(Stage::Validate, ticket, &stops))
    }

    fn determine_target(&mut self, ticket: &mut proxy::Ticket) -> Verdict {
        let stops = [PluginVerdict::SipSent];
        core_verdict(
            self.0
                .borrow_mut()
                .run_msg(Stage::DetermineTarget, ticket, &stops),
        )
    }

    fn pre_proxy(&mut self, ticket: &mut proxy::Ticket) {
        self.0.borrow_mut().run_msg(Stage::PreProxy, ticket, &[]);
    }

    fn proxy_unknown(&mut self, ticket: &mut proxy::Ticket) {
        self.0
            .borrow_mut()
            .run_msg(Stage::ProxyUnk, ticket, &[PluginVerdict::SipSent]);
    }

    fn post_proxy(&mut self, ticket: &mut proxy::Ticket) {
        self.0.borrow_mut().run_msg(Stage::PostProxy, ticket, &[]);
    }
}

fn core_verdict(v: PluginVerdict) -> Verdict {
    match v {
        PluginVerdict::Drop => Verdict::Drop,
        PluginVerdict::SipSent => Verdict::Sent,
        PluginVerdict::Continue | PluginVerdict::Error => Verdict::Continue,
    }
}

fn spx_transport(t: proxy::Transport) -> spx::Transport {
    match t {
        proxy::Transport::Udp => spx::Transport::Udp,
        proxy::Transport::Tcp => spx::Transport::Tcp,
    }
}

fn spx_direction(d: proxy::Direction) -> spx::Direction {
    match d {
        proxy::Direction::Unknown => spx::Direction::Unknown,
        proxy::Direction::IncomingRequest => spx::Direction::RequestIncoming,
        proxy::Direction::OutgoingRequest => spx::Direction::RequestOutgoing,
        proxy::Direction::IncomingResponse => spx::Direction::ResponseIncoming,
        proxy::Direction::OutgoingResponse => spx::Direction::ResponseOutgoing,
    }
}

fn core_direction(d: spx::Direction) -> proxy::Direction {
    match d {
        spx::Direction::Unknown => proxy::Direction::Unknown,
        spx::Direction::RequestIncoming => proxy::Direction::IncomingRequest,
        spx::Direction::RequestOutgoing => proxy::Direction::OutgoingRequest,
        spx::Direction::ResponseIncoming => proxy::Direction::IncomingResponse,
        spx::Direction::ResponseOutgoing => proxy::Direction::OutgoingResponse,
    }
}

/// PROCESS_RAW: the datagram before parsing (upstream's ticket with only
/// `raw_buffer`). Message calls are refused by the host's stage rules
/// before they get here; these answers are the fallback.
struct RawTicket<'a> {
    raw: &'a mut Vec<u8>,
    from: SocketAddr,
    transport: proxy::Transport,
}

impl Ticket for RawTicket<'_> {
    fn is_request(&self) -> Option<bool> {
        None
    }
    fn method(&self) -> Result<&[u8], HostError> {
        Err(HostError::WrongStage)
    }
    fn status(&self) -> u16 {
        0
    }
    fn direction(&self) -> spx::Direction {
        spx::Direction::Unknown
    }
    fn transport(&self) -> spx::Transport {
        spx_transport(self.transport)
    }
    fn source(&self) -> SocketAddr {
        self.from
    }
    fn raw(&self) -> &[u8] {
        self.raw
    }
    fn request_uri(&self) -> Result<&[u8], HostError> {
        Err(HostError::WrongStage)
    }
    fn header_count(&self, _name: &[u8]) -> usize {
        0
    }
    fn header(&self, _name: &[u8], _index: usize) -> Result<&[u8], HostError> {
        Err(HostError::WrongStage)
    }
    fn body(&self) -> &[u8] {
        &[]
    }
    fn set_request_uri(&mut self, _uri: &[u8]) -> Result<(), HostError> {
        Err(HostError::WrongStage)
    }
    fn set_header(&mut self, _name: &[u8], _index: usize, _value: &[u8]) -> Result<(), HostError> {
        Err(HostError::WrongStage)
    }
    fn insert_header(
        &mut self,
        _name: &[u8],
        _before: usize,
        _value: &[u8],
    ) -> Result<(), HostError> {
        Err(HostError::WrongStage)
    }
    fn remove_header(&mut self, _name: &[u8], _index: usize) -> Result<(), HostError> {
        Err(HostError::WrongStage)
    }
    fn set_body(&mut self, _body: &[u8]) -> Result<(), HostError> {
        Err(HostError::WrongStage)
    }
    fn set_next_hop(&mut self, _to: SocketAddr) -> Result<(), HostError> {
        Err(HostError::WrongStage)
    }
    fn set_direction(&mut self, _direction: spx::Direction) -> Result<(), HostError> {
        Err(HostError::WrongStage)
    }
    fn reply(
        &mut self,
        _code: u16,
        _reason: Option<&[u8]>,
        _extra: &[(&[u8], &[u8])],
    ) -> Result<(), HostError> {
        Err(HostError::WrongStage)
    }
}

/// A parsed message on its way through the core, and the proxy's addresses.
struct MsgTicket<'a>(&'a mut proxy::Ticket, OwnAddresses);

impl MsgTicket<'_> {
    fn msg(&self) -> &Message {
        &self.0.msg
    }
}

/// `SPX_INDEX_END` / `SPX_INDEX_ALL` (both `(size_t)-1`) mean "no index".
fn index(i: usize) -> Option<usize> {
    (i != usize::MAX).then_some(i)
}

impl Ticket for MsgTicket<'_> {
    fn is_request(&self) -> Option<bool> {
        Some(self.msg().is_request())
    }
    fn method(&self) -> Result<&[u8], HostError> {
        self.msg().method().ok_or(HostError::WrongStage)
    }
    fn status(&self) -> u16 {
        self.msg().status_code().unwrap_or(0)
    }
    fn direction(&self) -> spx::Direction {
        spx_direction(self.0.direction)
    }
    fn transport(&self) -> spx::Transport {
        spx_transport(self.0.transport)
    }
    fn source(&self) -> SocketAddr {
        self.0.from
    }
    fn raw(&self) -> &[u8] {
        self.msg().as_bytes()
    }
    fn request_uri(&self) -> Result<&[u8], HostError> {
        self.msg().request_uri_bytes().ok_or(HostError::WrongStage)
    }
    fn header_count(&self, name: &[u8]) -> usize {
        self.msg().header_values(name).count()
    }
    fn header(&self, name: &[u8], index: usize) -> Result<&[u8], HostError> {
        self.msg()
            .line_value(name, index)
            .ok_or(HostError::NotFound)
    }
    fn body(&self) -> &[u8] {
        self.msg().body()
    }
    fn set_request_uri(&mut self, uri: &[u8]) -> Result<(), HostError> {
        self.0
            .msg
            .set_request_uri(uri)
            .map_err(|_| HostError::Invalid)
    }
    fn set_header(&mut self, name: &[u8], index: usize, value: &[u8]) -> Result<(), HostError> {
        match self.0.msg.set_line_value(name, index, value) {
            true => Ok(()),
            false => Err(HostError::NotFound),
        }
    }
    fn insert_header(&mut self, name: &[u8], before: usize, value: &[u8]) -> Result<(), HostError> {
        self.0.msg.insert_line(name, index(before), value);
        Ok(())
    }
    fn remove_header(&mut self, name: &[u8], which: usize) -> Result<(), HostError> {
        match self.0.msg.remove_lines(name, index(which)) {
            0 => Err(HostError::NotFound),
            _ => Ok(()),
        }
    }
    fn set_body(&mut self, body: &[u8]) -> Result<(), HostError> {
        self.0.msg.set_body(body);
        Ok(())
    }
    fn set_next_hop(&mut self, to: SocketAddr) -> Result<(), HostError> {
        self.0.next_hop = Some(Destination::Addr(to));
        Ok(())
    }
    fn set_direction(&mut self, direction: spx::Direction) -> Result<(), HostError> {
        self.0.direction = core_direction(direction);
        Ok(())
    }
    fn add_own_via(&mut self, interface: Interface) -> Result<(), HostError> {
        let ip = match interface {
            Interface::Outbound => self.1.outbound,
            Interface::Inbound => self.1.inbound,
        }
        .ok_or(HostError::NotFound)?;
        let transport = match self.0.transport {
            proxy::Transport::Udp => "UDP",
            proxy::Transport::Tcp => "TCP",
        };
        let branch = reply_tag(self.msg());
        let via = format!(
            "SIP/2.0/{transport} {}:{};branch=z9hG4bK{branch}",
            crate::proxy::route::host_of(ip),
            self.1.listen_port
        );
        self.0.msg.add_via_top(via.as_bytes());
        Ok(())
    }

    fn reply(
        &mut self,
        code: u16,
        reason: Option<&[u8]>,
        extra: &[(&[u8], &[u8])],
    ) -> Result<(), HostError> {
        let to_tag = reply_tag(self.msg());
        let bytes =
            crate::sip::build_response(self.msg(), code, reason, Some(to_tag.as_bytes()), extra)
                .map_err(|_| HostError::Invalid)?;
        let to = match (self.0.transport, self.msg().top_via()) {
            // A TCP reply goes back on the connection it came from.
            (proxy::Transport::Tcp, _) | (_, Err(_)) => Destination::Addr(self.0.from),
            (proxy::Transport::Udp, Ok(via)) => proxy::response::via_destination(&via),
        };
        self.0.sent.push(Transmit {
            to,
            transport: self.0.transport,
            bytes,
        });
        Ok(())
    }
}

/// A To tag for a plugin's answer that is the same for a retransmission.
fn reply_tag(msg: &Message) -> String {
    let call_id = msg.call_id().unwrap_or_default();
    let from_tag = msg
        .from()
        .ok()
        .and_then(|f| f.tag().map(<[u8]>::to_vec))
        .unwrap_or_default();
    let hex = crate::proxy::request::md5_hex(&[b"plugin", call_id, &from_tag]);
    hex.get(..16).unwrap_or_default().to_string()
}
