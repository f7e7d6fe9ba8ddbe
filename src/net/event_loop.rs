//! The SIP event loop: reads the sockets, feeds the proxy core, and carries
//! out what it says — transmissions, RTP relay commands, timers.
//!
//! Layer: shell. Mirrors upstream's main loop (`siproxd.c`, `sock.c`) minus
//! its decisions, which live in [`crate::proxy`]: a decision here is a bug.
//! Unlike upstream, timers are real (a `select()` timeout that only fires
//! after 5 s of silence starves aging on FreeBSD and musl, inventory §2.5),
//! name resolution runs on its own thread, TCP connects never block, and
//! interface addresses are re-read every second (PPPoE redials), and a
//! `host_outbound` name is looked up again every few seconds (dynamic DNS;
//! upstream re-resolves it when its 60 s DNS cache entry expires).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::{TcpListener, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::config::Config;
use crate::net::dns::{self, Query, Resolved, ResolverConfig, ResolverThread, SrvTransport};
use crate::net::rtp_relay::{RelayConfig, RelayEvent, RtpRelay};
use crate::net::tcp::{TcpConnections, TcpEvent, TcpSettings};
use crate::net::{iface, sockets};
use crate::plugin::chain::{OwnAddresses, SharedChain};
use crate::plugin::state::Snapshot;
use crate::plugin::HostAction;
use crate::proxy::{Destination, Interfaces, Now, Proxy, RtpCommand, Transmit, Transport};

const SIGNALS: Token = Token(0);
const UDP: Token = Token(1);
const TCP_LISTENER: Token = Token(2);
const WAKER: Token = Token(3);
const FIRST_TCP_CONNECTION: usize = 16;
/// How often interface addresses are re-read (the issue asks for 1 s).
const IFACE_CHECK: Duration = Duration::from_secs(1);
/// Upstream's 5 s main-loop tick (plugin TIMER stage, aging).
const TICK: Duration = Duration::from_secs(5);
/// How often a `host_outbound` name is looked up again (dynamic DNS). The
/// resolver answers from its cache until the record's TTL (at least 10 s)
/// runs out, so this bounds the delay after the TTL, not the DNS traffic.
/// Upstream re-resolves it once its 60 s DNS cache entry expires.
const HOST_OUTBOUND_CHECK: Duration = Duration::from_secs(5);

/// The current time for the core.
pub fn now() -> Now {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Now {
        mono: Instant::now(),
        wall,
    }
}

/// The SIP sockets, bound before the privilege drop (a port below 1024
/// then works) and before daemonizing (a bind error reaches the terminal).
pub struct SipSockets {
    pub udp: UdpSocket,
    pub tcp: TcpListener,
}

impl SipSockets {
    /// UDP and TCP on `sip_listen_port` on the wildcard address.
    pub fn bind(cfg: &Config) -> io::Result<SipSockets> {
        Ok(SipSockets {
            udp: sockets::bind_udp(cfg.sip_listen_port, cfg.sip_dscp)?,
            tcp: sockets::bind_tcp(cfg.sip_listen_port, cfg.sip_dscp)?,
        })
    }
}

/// TCP limits from siproxd.conf.
pub fn tcp_settings(cfg: &Config) -> TcpSettings {
    TcpSettings {
        connect_timeout: Duration::from_millis(u64::from(cfg.tcp_connect_timeout)),
        idle_timeout: Duration::from_secs(u64::from(cfg.tcp_timeout.max(1))),
        keepalive: (cfg.tcp_keepalive > 0)
            .then(|| Duration::from_secs(u64::from(cfg.tcp_keepalive))),
        max_connections: 1024,
        max_message: crate::sip::message::DEFAULT_MAX_MESSAGE,
        dscp: cfg.sip_dscp,
    }
}

/// Watches `if_inbound` / `if_outbound` for address changes, and a
/// `host_outbound` given as a name (dynamic DNS) for a new address.
pub struct InterfaceWatch {
    inbound: Option<String>,
    outbound: Option<String>,
    host_outbound: Option<IpAddr>,
    /// `host_outbound` when it is a name rather than an address.
    host_outbound_name: Option<String>,
    /// When the name is due to be looked up again; `None` while a lookup
    /// is under way.
    host_outbound_due: Option<Instant>,
    current: Interfaces,
    next_check: Instant,
}

impl InterfaceWatch {
    /// Looks the interfaces up once. `host_outbound` is the address the
    /// caller resolved before the chroot, or `None` when the configured
    /// name did not resolve (yet): then nothing is advertised on the WAN
    /// side until a later lookup of the name answers.
    pub fn new(cfg: &Config, host_outbound: Option<IpAddr>) -> InterfaceWatch {
        let host_outbound_name = cfg
            .host_outbound
            .clone()
            .filter(|h| h.parse::<IpAddr>().is_err());
        let mut watch = InterfaceWatch {
            inbound: cfg.if_inbound.clone(),
            outbound: cfg.if_outbound.clone(),
            host_outbound,
            host_outbound_due: host_outbound_name
                .as_ref()
                .map(|_| Instant::now() + HOST_OUTBOUND_CHECK),
            host_outbound_name,
            current: Interfaces::default(),
            next_check: Instant::now(),
        };
        watch.current = watch.read();
        watch.log_state();
        watch
    }

    /// The addresses now.
    pub fn interfaces(&self) -> Interfaces {
        self.current
    }

    fn read(&self) -> Interfaces {
        let lookup = |name: &Option<String>| name.as_deref().and_then(|n| iface::lookup(n).ok());
        Interfaces {
            inbound: lookup(&self.inbound),
            outbound: lookup(&self.outbound),
            host_outbound: self.host_outbound,
            host_outbound_pending: self.host_outbound.is_none()
                && self.host_outbound_name.is_some(),
        }
    }

    fn log_state(&self) {
        for (directive, name, addr) in [
            ("if_inbound", &self.inbound, self.current.inbound),
            ("if_outbound", &self.outbound, self.current.outbound),
        ] {
            match (name, addr) {
                (Some(n), Some(a)) => log::info!("{directive} {n}: address {a}"),
                (Some(n), None) => {
                    log::warn!("{directive} {n}: no usable address (down or not there yet)")
                }
                (None, _) => log::warn!("{directive} is not set"),
            }
        }
    }

    /// The `host_outbound` name to look up now, if it is a name and due;
    /// call [`InterfaceWatch::host_outbound_resolved`] with the answer.
    pub fn host_outbound_query(&mut self, now: Instant) -> Option<String> {
        match self.host_outbound_due {
            Some(due) if due <= now => {
                self.host_outbound_due = None;
                self.host_outbound_name.clone()
            }
            _ => None,
        }
    }

    /// The answer for the `host_outbound` name (`None`: it did not
    /// resolve, the last address stays); `Some` when the addresses changed.
    pub fn host_outbound_resolved(
        &mut self,
        ip: Option<IpAddr>,
        now: Instant,
    ) -> Option<Interfaces> {
        // A plugin set the address meanwhile: it wins.
        self.host_outbound_name.as_ref()?;
        self.host_outbound_due = Some(now + HOST_OUTBOUND_CHECK);
        let ip = ip?;
        if self.host_outbound == Some(ip) {
            return None;
        }
        self.host_outbound = Some(ip);
        self.current.host_outbound = Some(ip);
        self.current.host_outbound_pending = false;
        if let Some(name) = &self.host_outbound_name {
            log::info!("host_outbound {name}: address {ip}");
        }
        Some(self.current)
    }

    /// A plugin (stun) learnt the public address: it replaces
    /// `host_outbound` from now on. `Some` when that changed anything.
    pub fn set_host_outbound(&mut self, ip: IpAddr) -> Option<Interfaces> {
        // The plugin owns the address from now on: no more lookups of a
        // configured host_outbound name, which would undo what it learnt.
        self.host_outbound_name = None;
        self.host_outbound_due = None;
        if self.host_outbound == Some(ip) {
            return None;
        }
        log::info!("public address is now {ip} (advertised instead of if_outbound's)");
        self.host_outbound = Some(ip);
        self.current.host_outbound = Some(ip);
        self.current.host_outbound_pending = false;
        Some(self.current)
    }

    /// Re-reads the addresses when due; `Some` when they changed.
    pub fn check(&mut self, now: Instant) -> Option<Interfaces> {
        if now < self.next_check {
            return None;
        }
        self.next_check = now + IFACE_CHECK;
        let fresh = self.read();
        if fresh == self.current {
            return None;
        }
        self.current = fresh;
        self.log_state();
        Some(fresh)
    }
}

/// Counters of what the shell dropped, for the status line.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShellCounters {
    pub udp_received: u64,
    pub send_failures: u64,
    pub unresolved: u64,
}

/// Why the event loop asked the resolver thread.
enum Lookup {
    /// A message waiting for its next hop's address.
    Send(Transmit),
    /// The `host_outbound` name, looked up again (dynamic DNS).
    HostOutbound,
}

/// Everything the SIP side of the daemon runs on.
pub struct EventLoop {
    poll: Poll,
    events: Events,
    sockets: SipSockets,
    tcp: TcpConnections,
    proxy: Proxy,
    dns: ResolverThread<Lookup>,
    relay: Option<(RtpRelay, Receiver<RelayEvent>)>,
    ifaces: InterfaceWatch,
    registration_file: Option<PathBuf>,
    autosave: Option<(Duration, Instant)>,
    plugins: Option<SharedChain>,
    /// What plugins read of registrations and streams, and when it is next refreshed.
    plugin_state: Option<(Arc<Snapshot>, Instant)>,
    listen_port: u16,
    /// When the plugin TIMER stage runs next (every 5 s, or sooner on request).
    plugin_timer: Instant,
    counters: ShellCounters,
    buf: Vec<u8>,
}

impl EventLoop {
    /// Starts the resolver and relay threads and registers every source.
    /// Call after daemonizing and the privilege drop.
    pub fn new(
        cfg: &Config,
        mut sockets: SipSockets,
        signal_fd: RawFd,
        proxy: Proxy,
        ifaces: InterfaceWatch,
        resolver: ResolverConfig,
    ) -> io::Result<EventLoop> {
        let poll = Poll::new()?;
        let registry = poll.registry();
        registry.register(
            &mut mio::unix::SourceFd(&signal_fd),
            SIGNALS,
            Interest::READABLE,
        )?;
        registry.register(&mut sockets.udp, UDP, Interest::READABLE)?;
        registry.register(&mut sockets.tcp, TCP_LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(registry, WAKER)?);
        let dns_waker = waker.clone();
        let dns = dns::spawn(dns::Resolver::new(resolver), move || {
            let _ = dns_waker.wake();
        })?;
        let relay = start_relay(cfg, waker);
        let now = Instant::now();
        Ok(EventLoop {
            poll,
            events: Events::with_capacity(256),
            sockets,
            tcp: TcpConnections::new(tcp_settings(cfg), FIRST_TCP_CONNECTION),
            proxy,
            dns,
            relay,
            ifaces,
            registration_file: cfg.registration_file.clone(),
            autosave: (cfg.autosave_registrations > 0).then(|| {
                let every = Duration::from_secs(u64::from(cfg.autosave_registrations));
                (every, now + every)
            }),
            plugins: None,
            plugin_state: None,
            listen_port: cfg.sip_listen_port,
            plugin_timer: now + TICK,
            counters: ShellCounters::default(),
            buf: vec![0; 65536],
        })
    }

    /// Installs the loaded plugins as the core's stage hooks, with the
    /// snapshot of state they may read.
    pub fn set_plugins(&mut self, chain: SharedChain, state: Arc<Snapshot>) {
        self.proxy.set_hooks(Box::new(chain.clone()));
        state.refresh(&self.proxy, now());
        self.plugin_state = Some((state, Instant::now() + IFACE_CHECK));
        self.plugins = Some(chain);
        self.tell_plugins_addresses();
    }

    /// The chain's copy of our addresses, for plugins adding our Via.
    fn tell_plugins_addresses(&self) {
        if let Some(chain) = &self.plugins {
            let ifaces = self.ifaces.interfaces();
            chain.0.borrow_mut().set_own_addresses(OwnAddresses {
                inbound: ifaces.inbound,
                outbound: ifaces.advertised_outbound(),
                listen_port: self.listen_port,
            });
        }
    }

    /// The proxy core, for status and reconfiguration.
    pub fn proxy(&mut self) -> &mut Proxy {
        &mut self.proxy
    }

    /// What the shell counted.
    pub fn counters(&self) -> ShellCounters {
        self.counters
    }

    /// TCP connections open now.
    pub fn tcp_connections(&self) -> usize {
        self.tcp.len()
    }

    /// Applies reloadable settings (SIGHUP).
    pub fn reconfigure_shell(&mut self, cfg: &Config) {
        self.tcp.set_settings(tcp_settings(cfg));
        self.autosave = (cfg.autosave_registrations > 0).then(|| {
            let every = Duration::from_secs(u64::from(cfg.autosave_registrations));
            (every, Instant::now() + every)
        });
    }

    /// Waits for and handles one round of events. Returns true when the
    /// signal pipe is readable (the caller drains it).
    pub fn poll_once(&mut self) -> io::Result<bool> {
        let timeout = self
            .next_deadline()
            .map(|d| d.saturating_duration_since(Instant::now()));
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let mut signalled = false;
        let ready: Vec<mio::event::Event> = self.events.iter().cloned().collect();
        for event in &ready {
            match event.token() {
                SIGNALS => signalled = true,
                UDP => self.read_udp(),
                TCP_LISTENER => {
                    self.tcp
                        .accept(&self.sockets.tcp, self.poll.registry(), Instant::now())
                }
                WAKER => {}
                t if self.tcp.owns(t) => self.on_tcp(t, event),
                _ => {}
            }
        }
        self.drain_background();
        self.on_timers();
        Ok(signalled)
    }

    fn next_deadline(&self) -> Option<Instant> {
        let tick = Instant::now() + IFACE_CHECK.min(TICK);
        [
            self.proxy.poll_timeout(),
            self.tcp.next_deadline(),
            self.autosave.map(|(_, at)| at),
            self.plugins.as_ref().map(|_| self.plugin_timer),
            Some(tick),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn read_udp(&mut self) {
        loop {
            match self.sockets.udp.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    self.counters.udp_received += 1;
                    let data = self.buf.get(..n).unwrap_or_default();
                    self.proxy.handle(now(), from, Transport::Udp, data);
                    self.flush();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP errors of earlier sends surface here on Linux.
                Err(e) => log::debug!(target: "net", "UDP receive: {e}"),
            }
        }
    }

    fn on_tcp(&mut self, token: Token, event: &mio::event::Event) {
        let mut out = Vec::new();
        self.tcp
            .ready(token, event, self.poll.registry(), Instant::now(), &mut out);
        self.on_tcp_events(out);
    }

    fn on_tcp_events(&mut self, events: Vec<TcpEvent>) {
        for event in events {
            match event {
                TcpEvent::Message { peer, bytes } => {
                    self.proxy.handle(now(), peer, Transport::Tcp, &bytes);
                    self.flush();
                }
                TcpEvent::Closed { peer, reason } => {
                    log::debug!(target: "net", "TCP {peer} closed: {reason}")
                }
            }
        }
    }

    /// Carries out what plugins asked for: raw sends from the SIP socket,
    /// a new public address, an early TIMER call.
    fn plugin_actions(&mut self) {
        let Some(chain) = &self.plugins else { return };
        let actions = chain.0.borrow_mut().take_actions();
        for action in actions {
            match action {
                HostAction::SendRaw { to, data } => self.send(to, Transport::Udp, &data),
                HostAction::SetPublicAddr(addr) => {
                    if let Some(fresh) = self.ifaces.set_host_outbound(addr.ip()) {
                        self.proxy.set_interfaces(fresh);
                        self.tell_plugins_addresses();
                    }
                }
                HostAction::Timer { after_ms } => {
                    let at = Instant::now() + Duration::from_millis(u64::from(after_ms));
                    self.plugin_timer = self.plugin_timer.min(at);
                }
            }
        }
    }

    /// Carries out everything the core queued.
    fn flush(&mut self) {
        self.plugin_actions();
        while let Some(t) = self.proxy.poll_transmit() {
            self.transmit(t);
        }
        while let Some(cmd) = self.proxy.poll_rtp_command() {
            let Some((relay, _)) = &self.relay else {
                log::debug!(target: "rtp", "RTP relay not running; dropped {cmd:?}");
                continue;
            };
            let opening = match &cmd {
                RtpCommand::Open { id, .. } => Some(*id),
                _ => None,
            };
            if let Err(e) = relay.apply(cmd) {
                log::error!("RTP relay: {e}");
                if let Some(id) = opening {
                    self.proxy.rtp_failed(id);
                }
            }
        }
    }

    fn transmit(&mut self, t: Transmit) {
        match &t.to {
            Destination::Addr(addr) => {
                let addr = *addr;
                self.send(addr, t.transport, &t.bytes);
            }
            Destination::Name { host, port } => {
                let query = Query {
                    host: host.clone(),
                    port: *port,
                    transport: match t.transport {
                        Transport::Udp => SrvTransport::Udp,
                        Transport::Tcp => SrvTransport::Tcp,
                    },
                };
                if self
                    .dns
                    .requests
                    .send(dns::Request {
                        tag: Lookup::Send(t),
                        query,
                    })
                    .is_err()
                {
                    log::error!("the resolver thread has stopped");
                }
            }
        }
    }

    fn send(&mut self, to: SocketAddr, transport: Transport, bytes: &[u8]) {
        let result = match transport {
            Transport::Udp => self.sockets.udp.send_to(bytes, to).map(|_| ()),
            Transport::Tcp => self
                .tcp
                .send(to, bytes, self.poll.registry(), Instant::now()),
        };
        if let Err(e) = result {
            self.counters.send_failures += 1;
            // ECONNREFUSED from an earlier ICMP and ENOBUFS are routine on UDP.
            log::debug!(target: "net", "send to {to} ({transport:?}) failed: {e}");
        }
    }

    /// Answers from the resolver thread and reports from the relay.
    fn drain_background(&mut self) {
        while let Ok(Resolved { tag, query, result }) = self.dns.answers.try_recv() {
            let tag = match tag {
                Lookup::Send(t) => t,
                Lookup::HostOutbound => {
                    let ip = match result.as_deref() {
                        Ok([first, ..]) => Some(first.ip()),
                        _ => {
                            log::debug!(target: "net", "host_outbound {}: {result:?}", query.host);
                            None
                        }
                    };
                    if let Some(fresh) = self.ifaces.host_outbound_resolved(ip, Instant::now()) {
                        self.proxy.set_interfaces(fresh);
                    }
                    continue;
                }
            };
            match result.as_deref() {
                Ok([first, ..]) => {
                    let first = *first;
                    self.send(first, tag.transport, &tag.bytes);
                }
                Ok([]) | Err(_) => {
                    self.counters.unresolved += 1;
                    let why = result
                        .err()
                        .map_or_else(|| "no address".to_string(), |e| e.to_string());
                    log::warn!("next hop {}: {why}; message dropped", query.host);
                }
            }
        }
        let reports: Vec<RelayEvent> = match &self.relay {
            Some((_, events)) => events.try_iter().collect(),
            None => Vec::new(),
        };
        for event in reports {
            if let RelayEvent::Report { streams } = event {
                for s in streams {
                    if let Some(at) = s.last_rtp {
                        self.proxy.rtp_activity(s.id, at);
                    }
                }
            }
        }
        self.flush();
    }

    fn on_timers(&mut self) {
        let instant = Instant::now();
        if self.proxy.poll_timeout().is_some_and(|t| t <= instant) {
            self.proxy.handle_timeout(now());
        }
        let mut out = Vec::new();
        self.tcp.tick(instant, self.poll.registry(), &mut out);
        self.on_tcp_events(out);
        if let Some(fresh) = self.ifaces.check(instant) {
            self.proxy.set_interfaces(fresh);
            self.tell_plugins_addresses();
        }
        if let Some((state, due)) = &mut self.plugin_state {
            if *due <= instant {
                *due = instant + IFACE_CHECK;
                state.refresh(&self.proxy, now());
            }
        }
        if let Some(host) = self.ifaces.host_outbound_query(instant) {
            // A port skips SRV: only the name's A/AAAA records matter here.
            let query = Query {
                host,
                port: Some(0),
                transport: SrvTransport::Udp,
            };
            let request = dns::Request {
                tag: Lookup::HostOutbound,
                query,
            };
            if self.dns.requests.send(request).is_err() {
                log::error!("the resolver thread has stopped");
            }
        }
        if self.plugins.is_some() && self.plugin_timer <= instant {
            self.plugin_timer = instant + TICK;
            if let Some(chain) = &self.plugins {
                chain.0.borrow_mut().timer();
            }
        }
        if let Some((every, at)) = self.autosave {
            if at <= instant {
                self.autosave = Some((every, instant + every));
                self.save_registrations();
            }
        }
        self.flush();
    }

    /// Writes the registration file now (autosave, shutdown).
    pub fn save_registrations(&self) {
        let Some(path) = &self.registration_file else {
            return;
        };
        let text = self.proxy.registrations_file(now());
        match crate::proxy::regfile::write_atomically(path, &text) {
            Ok(()) => log::debug!(target: "reg", "registrations saved to {}", path.display()),
            Err(e) => log::error!("cannot write registration_file {}: {e}", path.display()),
        }
    }

    /// Stops the relay threads (closing every RTP socket) and calls the
    /// plugins' `fini` in reverse load order.
    pub fn shutdown(self) {
        if let Some(chain) = &self.plugins {
            chain.0.borrow_mut().shutdown();
        }
        if let Some((relay, _)) = self.relay {
            relay.shutdown();
        }
    }
}

fn start_relay(cfg: &Config, waker: Arc<Waker>) -> Option<(RtpRelay, Receiver<RelayEvent>)> {
    if !cfg.rtp_proxy_enable {
        return None;
    }
    let relay_cfg = RelayConfig {
        threads: usize::try_from(cfg.rtp_relay_threads).unwrap_or(1).max(1),
        report_waker: Some(waker),
        ..RelayConfig::default()
    };
    match RtpRelay::start(relay_cfg) {
        Ok(relay) => Some(relay),
        Err(e) => {
            log::error!("cannot start the RTP relay: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(host_outbound: &str, resolved: Option<IpAddr>) -> InterfaceWatch {
        let cfg = Config {
            host_outbound: Some(host_outbound.to_string()),
            ..Config::default()
        };
        InterfaceWatch::new(&cfg, resolved)
    }

    #[test]
    fn a_host_outbound_name_is_looked_up_again_and_a_new_address_used() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let mut w = watch("home.example.test", ip("203.0.113.5"));
        let start = Instant::now();
        assert_eq!(w.interfaces().host_outbound, ip("203.0.113.5"));
        assert_eq!(w.host_outbound_query(start), None, "not due yet");
        let due = start + HOST_OUTBOUND_CHECK;
        assert_eq!(
            w.host_outbound_query(due).as_deref(),
            Some("home.example.test")
        );
        assert_eq!(w.host_outbound_query(due), None, "one lookup at a time");

        // Same address: nothing changes; the next lookup is due later.
        assert_eq!(w.host_outbound_resolved(ip("203.0.113.5"), due), None);
        assert_eq!(w.host_outbound_query(due), None);
        let due = due + HOST_OUTBOUND_CHECK;
        assert!(w.host_outbound_query(due).is_some());

        // A failed lookup keeps the last address.
        assert_eq!(w.host_outbound_resolved(None, due), None);
        assert_eq!(w.interfaces().host_outbound, ip("203.0.113.5"));

        // A new address is used at once, and survives the interface re-read.
        let due = due + HOST_OUTBOUND_CHECK;
        assert!(w.host_outbound_query(due).is_some());
        let fresh = w.host_outbound_resolved(ip("203.0.113.6"), due).unwrap();
        assert_eq!(fresh.host_outbound, ip("203.0.113.6"));
        assert_eq!(fresh.advertised_outbound(), ip("203.0.113.6"));
        w.next_check = due;
        w.check(due);
        assert_eq!(w.interfaces().host_outbound, ip("203.0.113.6"));
    }

    #[test]
    fn a_name_that_does_not_resolve_at_start_advertises_nothing_until_it_does() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let mut w = watch("home.example.test", None);
        let now = w.interfaces();
        assert!(now.host_outbound_pending);
        assert_eq!(now.advertised_outbound(), None, "{now:?}");
        // Still pending after the interfaces are read again.
        w.next_check = Instant::now();
        w.check(Instant::now());
        assert_eq!(w.interfaces().advertised_outbound(), None);
        // A lookup that fails changes nothing; one that answers ends the wait.
        let due = Instant::now() + HOST_OUTBOUND_CHECK;
        assert!(w.host_outbound_query(due).is_some());
        assert_eq!(w.host_outbound_resolved(None, due), None);
        assert_eq!(w.interfaces().advertised_outbound(), None);
        let due = due + HOST_OUTBOUND_CHECK;
        assert!(w.host_outbound_query(due).is_some());
        let fresh = w.host_outbound_resolved(ip("203.0.113.5"), due).unwrap();
        assert!(!fresh.host_outbound_pending);
        assert_eq!(fresh.advertised_outbound(), ip("203.0.113.5"));
        w.next_check = due;
        w.check(due);
        assert_eq!(w.interfaces().advertised_outbound(), ip("203.0.113.5"));
    }

    #[test]
    fn an_address_from_a_plugin_stops_the_lookups_of_the_name() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let mut w = watch("home.example.test", ip("203.0.113.5"));
        let due = Instant::now() + HOST_OUTBOUND_CHECK;
        assert!(w.host_outbound_query(due).is_some());
        assert!(w.set_host_outbound("192.0.2.99".parse().unwrap()).is_some());
        // The answer of the lookup under way does not undo it, and none follows.
        assert_eq!(w.host_outbound_resolved(ip("203.0.113.6"), due), None);
        assert_eq!(w.interfaces().host_outbound, ip("192.0.2.99"));
        assert_eq!(w.host_outbound_query(due + HOST_OUTBOUND_CHECK * 10), None);
    }

    #[test]
    fn a_host_outbound_address_is_never_looked_up() {
        let mut w = watch("203.0.113.5", "203.0.113.5".parse().ok());
        let later = Instant::now() + HOST_OUTBOUND_CHECK * 10;
        assert_eq!(w.host_outbound_query(later), None);
    }
}
