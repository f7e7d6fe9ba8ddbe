//! SIP over TCP: accepted and outgoing connections, one per peer, framed by
//! Content-Length.
//!
//! Layer: shell. Mirrors upstream `sock.c` (a table of cached connections
//! keyed by peer, idle close after `tcp_timeout`, CRLF keepalives every
//! `tcp_keepalive` seconds) and fixes it (inventory §5.7, on-the-wire §7–§9):
//! - frames are cut by Content-Length ([`crate::sip::framing`]), not by
//!   "the read ended in CRLF", so two messages in one segment or a body
//!   without a final CRLF work;
//! - connects are non-blocking and bounded by `tcp_connect_timeout`; SIP
//!   processing never waits for one (upstream blocks everything);
//! - `tcp_keepalive = 0` means off (upstream sends CRLF every tick), and the
//!   keepalive is RFC 5626's CRLFCRLF ping; a received ping gets a CRLF pong;
//! - TCP_NODELAY is set, DSCP too;
//! - a framing error or an over-long message closes only that connection;
//!   a full table or an over-full send buffer is logged, not silent.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::net::sockets;
use crate::sip::framing::{Frame, StreamFramer};

/// RFC 5626 §4.4.1 keepalive ping and pong.
const PING: &[u8] = b"\r\n\r\n";
const PONG: &[u8] = b"\r\n";
/// Bytes we are willing to hold for a peer that does not read.
const MAX_PENDING: usize = 1 << 20;

/// Limits and timers, from siproxd.conf.
#[derive(Debug, Clone)]
pub struct TcpSettings {
    /// `tcp_connect_timeout` (ms in the file).
    pub connect_timeout: Duration,
    /// `tcp_timeout`: idle time before a connection is closed.
    pub idle_timeout: Duration,
    /// `tcp_keepalive`; `None` is off.
    pub keepalive: Option<Duration>,
    /// How many connections at once.
    pub max_connections: usize,
    /// The largest SIP message accepted on a stream.
    pub max_message: usize,
    /// `sip_dscp` for outgoing connections.
    pub dscp: u8,
}

/// What happened on a connection, for the event loop to act on.
#[derive(Debug, PartialEq, Eq)]
pub enum TcpEvent {
    /// One complete SIP message from `peer`.
    Message { peer: SocketAddr, bytes: Vec<u8> },
    /// The connection to `peer` is gone (with the reason, for the log).
    Closed { peer: SocketAddr, reason: String },
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    framer: StreamFramer,
    pending: Vec<u8>,
    /// Until when a non-blocking connect may take.
    connecting: Option<Instant>,
    last_activity: Instant,
    last_keepalive: Instant,
    wants_write: bool,
}

/// Every SIP TCP connection, keyed by mio token and by peer.
pub struct TcpConnections {
    settings: TcpSettings,
    conns: HashMap<Token, Conn>,
    by_peer: HashMap<SocketAddr, Token>,
    first_token: usize,
    next_token: usize,
}

impl TcpConnections {
    /// Connections get tokens from `first_token` upward; the event loop
    /// keeps the tokens below for its own sources.
    pub fn new(settings: TcpSettings, first_token: usize) -> TcpConnections {
        TcpConnections {
            settings,
            conns: HashMap::new(),
            by_peer: HashMap::new(),
            first_token,
            next_token: first_token,
        }
    }

    /// Applies new settings (SIGHUP); existing connections keep running.
    pub fn set_settings(&mut self, settings: TcpSettings) {
        self.settings = settings;
    }

    /// Whether `token` is one of ours.
    pub fn owns(&self, token: Token) -> bool {
        token.0 >= self.first_token
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Accepts every pending connection on `listener`.
    pub fn accept(&mut self, listener: &TcpListener, registry: &Registry, now: Instant) {
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    self.insert(stream, peer, None, registry, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("TCP accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn insert(
        &mut self,
        mut stream: TcpStream,
        peer: SocketAddr,
        connecting: Option<Instant>,
        registry: &Registry,
        now: Instant,
    ) -> Option<Token> {
        if self.conns.len() >= self.settings.max_connections {
            log::error!(
                "TCP connection table full ({} connections): refusing {peer}",
                self.settings.max_connections
            );
            return None;
        }
        let token = self.fresh_token();
        let interest = if connecting.is_some() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if let Err(e) = registry.register(&mut stream, token, interest) {
            log::error!("TCP {peer}: cannot watch the connection: {e}");
            return None;
        }
        if let Some(old) = self.by_peer.insert(peer, token) {
            // A peer reconnected from the same address: the newer wins.
            self.conns.remove(&old);
        }
        self.conns.insert(
            token,
            Conn {
                stream,
                peer,
                framer: StreamFramer::new(self.settings.max_message),
                pending: Vec::new(),
                connecting,
                last_activity: now,
                last_keepalive: now,
                wants_write: connecting.is_some(),
            },
        );
        Some(token)
    }

    fn fresh_token(&mut self) -> Token {
        while self.conns.contains_key(&Token(self.next_token)) {
            self.next_token = self.next_token.wrapping_add(1).max(self.first_token);
        }
        let token = Token(self.next_token);
        self.next_token = self.next_token.wrapping_add(1).max(self.first_token);
        token
    }

    /// Sends `bytes` to `peer` over its connection, connecting first if
    /// there is none. Bytes are queued while a connect is in progress.
    pub fn send(
        &mut self,
        peer: SocketAddr,
        bytes: &[u8],
        registry: &Registry,
        now: Instant,
    ) -> io::Result<()> {
        let token = match self.by_peer.get(&peer) {
            Some(token) => *token,
            None => {
                let stream = sockets::connect_tcp(peer, self.settings.dscp)?;
                let deadline = now + self.settings.connect_timeout;
                self.insert(stream, peer, Some(deadline), registry, now)
                    .ok_or_else(|| io::Error::other("TCP connection table full"))?
            }
        };
        let Some(conn) = self.conns.get_mut(&token) else {
            return Err(io::Error::other("connection vanished"));
        };
        if conn.pending.len() + bytes.len() > MAX_PENDING {
            let reason = format!(
                "peer does not read: {} bytes already waiting",
                conn.pending.len()
            );
            self.close(token, registry, &reason);
            return Err(io::Error::other(reason));
        }
        conn.pending.extend_from_slice(bytes);
        conn.last_activity = now;
        if conn.connecting.is_none() {
            self.flush(token, registry);
        }
        Ok(())
    }

    /// Handles readiness of connection `token`; complete messages and
    /// closures are appended to `out`.
    pub fn ready(
        &mut self,
        token: Token,
        event: &mio::event::Event,
        registry: &Registry,
        now: Instant,
        out: &mut Vec<TcpEvent>,
    ) {
        if event.is_writable() {
            self.on_writable(token, registry, out);
        }
        if event.is_readable() || event.is_read_closed() {
            self.on_readable(token, registry, now, out);
        }
    }

    fn on_writable(&mut self, token: Token, registry: &Registry, out: &mut Vec<TcpEvent>) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        if conn.connecting.is_some() {
            match conn.stream.take_error() {
                Ok(None) if conn.stream.peer_addr().is_ok() => conn.connecting = None,
                Ok(None) => return, // spurious wake-up: still connecting
                Ok(Some(e)) | Err(e) => {
                    let peer = conn.peer;
                    let reason = format!("connect failed: {e}");
                    self.close(token, registry, &reason);
                    out.push(TcpEvent::Closed { peer, reason });
                    return;
                }
            }
        }
        self.flush(token, registry);
    }

    /// Writes what is pending; watches for writability while some is left.
    fn flush(&mut self, token: Token, registry: &Registry) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        while !conn.pending.is_empty() {
            match conn.stream.write(&conn.pending) {
                Ok(0) => break,
                Ok(n) => {
                    conn.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let reason = format!("write failed: {e}");
                    self.close(token, registry, &reason);
                    return;
                }
            }
        }
        let wants_write = !conn.pending.is_empty();
        if wants_write != conn.wants_write {
            conn.wants_write = wants_write;
            let interest = if wants_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let _ = registry.reregister(&mut conn.stream, token, interest);
        }
    }

    fn on_readable(
        &mut self,
        token: Token,
        registry: &Registry,
        now: Instant,
        out: &mut Vec<TcpEvent>,
    ) {
        let mut frames = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        let closed = loop {
            let Some(conn) = self.conns.get_mut(&token) else {
                return;
            };
            match conn.stream.read(&mut buf) {
                Ok(0) => break Some("closed by peer".to_string()),
                Ok(n) => {
                    conn.last_activity = now;
                    let data = buf.get(..n).unwrap_or_default();
                    if let Err(e) = conn.framer.push(data, &mut frames) {
                        break Some(format!("framing error, closing: {e}"));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Some(format!("read failed: {e}")),
            }
        };
        let Some(peer) = self.conns.get(&token).map(|c| c.peer) else {
            return;
        };
        for frame in frames {
            match frame {
                Frame::Message(bytes) => out.push(TcpEvent::Message { peer, bytes }),
                Frame::Ping => {
                    let _ = self.send(peer, PONG, registry, now);
                }
                Frame::Pong => {}
            }
        }
        if let Some(reason) = closed {
            self.close(token, registry, &reason);
            out.push(TcpEvent::Closed { peer, reason });
        }
    }

    fn close(&mut self, token: Token, registry: &Registry, reason: &str) {
        if let Some(mut conn) = self.conns.remove(&token) {
            let _ = registry.deregister(&mut conn.stream);
            if self.by_peer.get(&conn.peer) == Some(&token) {
                self.by_peer.remove(&conn.peer);
            }
            log::debug!(target: "net", "TCP {}: {reason}", conn.peer);
        }
    }

    /// Expires connects that took too long and idle connections, and sends
    /// keepalive pings that are due.
    pub fn tick(&mut self, now: Instant, registry: &Registry, out: &mut Vec<TcpEvent>) {
        let mut expired = Vec::new();
        let mut pings = Vec::new();
        for (token, conn) in &self.conns {
            if conn.connecting.is_some_and(|deadline| now >= deadline) {
                expired.push((*token, conn.peer, "connect timed out (tcp_connect_timeout)"));
            } else if now.duration_since(conn.last_activity) >= self.settings.idle_timeout {
                expired.push((*token, conn.peer, "idle (tcp_timeout)"));
            } else if let Some(every) = self.settings.keepalive {
                if conn.connecting.is_none() && now.duration_since(conn.last_keepalive) >= every {
                    pings.push(*token);
                }
            }
        }
        for (token, peer, reason) in expired {
            self.close(token, registry, reason);
            out.push(TcpEvent::Closed {
                peer,
                reason: reason.to_string(),
            });
        }
        for token in pings {
            if let Some(conn) = self.conns.get_mut(&token) {
                conn.last_keepalive = now;
                conn.pending.extend_from_slice(PING);
            }
            self.flush(token, registry);
        }
    }

    /// When [`TcpConnections::tick`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let s = &self.settings;
        self.conns
            .values()
            .flat_map(|c| {
                let keepalive = s.keepalive.map(|k| c.last_keepalive + k);
                [
                    c.connecting,
                    Some(c.last_activity + s.idle_timeout),
                    keepalive,
                ]
            })
            .flatten()
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TcpSettings {
        TcpSettings {
            connect_timeout: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(600),
            keepalive: None,
            max_connections: 4,
            max_message: 64 * 1024,
            dscp: 0,
        }
    }

    /// Runs the poll loop until `until` says stop or 2 s pass.
    fn pump(
        poll: &mut mio::Poll,
        tcp: &mut TcpConnections,
        listener: Option<&TcpListener>,
        out: &mut Vec<TcpEvent>,
        until: impl Fn(&[TcpEvent]) -> bool,
    ) {
        let mut events = mio::Events::with_capacity(16);
        let deadline = Instant::now() + Duration::from_secs(2);
        while !until(out) && Instant::now() < deadline {
            poll.poll(&mut events, Some(Duration::from_millis(20)))
                .unwrap();
            let now = Instant::now();
            for e in events.iter() {
                if e.token() == Token(0) {
                    if let Some(l) = listener {
                        tcp.accept(l, poll.registry(), now);
                    }
                } else {
                    tcp.ready(e.token(), e, poll.registry(), now, out);
                }
            }
            tcp.tick(now, poll.registry(), out);
        }
    }

    const INVITE: &[u8] = b"OPTIONS sip:x@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.2;branch=z9hG4bK1\r\nContent-Length: 4\r\n\r\nabcd";

    #[test]
    fn two_messages_in_one_segment_and_a_ping_are_framed() {
        let mut poll = mio::Poll::new().unwrap();
        let mut listener = sockets::bind_tcp(0, 0).unwrap();
        poll.registry()
            .register(&mut listener, Token(0), Interest::READABLE)
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut tcp = TcpConnections::new(settings(), 100);
        let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut segment = INVITE.to_vec();
        segment.extend_from_slice(PING);
        segment.extend_from_slice(INVITE);
        client.write_all(&segment).unwrap();
        let mut out = Vec::new();
        pump(&mut poll, &mut tcp, Some(&listener), &mut out, |o| {
            o.len() >= 2
        });
        let peer = client.local_addr().unwrap();
        assert_eq!(
            out,
            vec![
                TcpEvent::Message {
                    peer,
                    bytes: INVITE.to_vec()
                },
                TcpEvent::Message {
                    peer,
                    bytes: INVITE.to_vec()
                },
            ]
        );
        // The ping was answered with a pong.
        client
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut pong = [0u8; 2];
        client.read_exact(&mut pong).unwrap();
        assert_eq!(&pong, PONG);
    }

    #[test]
    fn a_framing_error_closes_only_that_connection() {
        let mut poll = mio::Poll::new().unwrap();
        let mut listener = sockets::bind_tcp(0, 0).unwrap();
        poll.registry()
            .register(&mut listener, Token(0), Interest::READABLE)
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut tcp = TcpConnections::new(settings(), 100);
        let mut bad = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut good = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        bad.write_all(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n")
            .unwrap();
        good.write_all(INVITE).unwrap();
        let mut out = Vec::new();
        pump(&mut poll, &mut tcp, Some(&listener), &mut out, |o| {
            o.len() >= 2
        });
        let bad_peer = bad.local_addr().unwrap();
        assert!(out.contains(&TcpEvent::Message {
            peer: good.local_addr().unwrap(),
            bytes: INVITE.to_vec()
        }));
        assert!(
            out.iter().any(|e| matches!(e, TcpEvent::Closed { peer, reason } if *peer == bad_peer && reason.starts_with("framing error"))),
            "{out:?}"
        );
        assert_eq!(tcp.len(), 1);
    }

    #[test]
    fn outgoing_connection_is_made_and_reused() {
        let mut poll = mio::Poll::new().unwrap();
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = server.local_addr().unwrap();
        let mut tcp = TcpConnections::new(settings(), 100);
        let now = Instant::now();
        tcp.send(peer, b"first", poll.registry(), now).unwrap();
        tcp.send(peer, b"second", poll.registry(), now).unwrap();
        let (mut accepted, _) = server.accept().unwrap();
        let mut out = Vec::new();
        pump(&mut poll, &mut tcp, None, &mut out, |_| false);
        accepted
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut got = [0u8; 11];
        accepted.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"firstsecond");
        assert_eq!(tcp.len(), 1, "one connection per peer");
    }

    #[test]
    fn a_connect_that_never_completes_times_out() {
        // A loopback listener whose accept queue is full drops further SYNs,
        // so a connect to it hangs: no traffic leaves the machine.
        let listener =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        listener
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        listener.listen(0).unwrap();
        let peer = listener.local_addr().unwrap().as_socket().unwrap();
        let fillers: Vec<_> = (0..4)
            .filter_map(|_| {
                std::net::TcpStream::connect_timeout(&peer, Duration::from_millis(100)).ok()
            })
            .collect();
        assert!(!fillers.is_empty());
        let mut poll = mio::Poll::new().unwrap();
        let mut s = settings();
        s.connect_timeout = Duration::from_millis(150);
        let mut tcp = TcpConnections::new(s, 100);
        let mut out = Vec::new();
        tcp.send(peer, b"x", poll.registry(), Instant::now())
            .unwrap();
        pump(&mut poll, &mut tcp, None, &mut out, |o| !o.is_empty());
        assert_eq!(
            out,
            vec![TcpEvent::Closed {
                peer,
                reason: "connect timed out (tcp_connect_timeout)".into()
            }]
        );
        assert_eq!(tcp.len(), 0);
    }

    #[test]
    fn keepalive_pings_when_configured_and_idle_connections_close() {
        let mut poll = mio::Poll::new().unwrap();
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = server.local_addr().unwrap();
        let mut s = settings();
        s.keepalive = Some(Duration::from_millis(50));
        s.idle_timeout = Duration::from_millis(400);
        let mut tcp = TcpConnections::new(s, 100);
        tcp.send(peer, b"hello", poll.registry(), Instant::now())
            .unwrap();
        let (mut accepted, _) = server.accept().unwrap();
        let mut out = Vec::new();
        pump(&mut poll, &mut tcp, None, &mut out, |o| !o.is_empty());
        assert!(
            matches!(&out[..], [TcpEvent::Closed { reason, .. }] if reason == "idle (tcp_timeout)"),
            "{out:?}"
        );
        accepted
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut got = Vec::new();
        let _ = accepted.read_to_end(&mut got);
        assert!(
            got.starts_with(b"hello\r\n\r\n"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
    }

    #[test]
    fn keepalive_off_sends_nothing() {
        let mut poll = mio::Poll::new().unwrap();
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = server.local_addr().unwrap();
        let mut s = settings();
        s.idle_timeout = Duration::from_millis(200);
        let mut tcp = TcpConnections::new(s, 100);
        tcp.send(peer, b"hello", poll.registry(), Instant::now())
            .unwrap();
        let (mut accepted, _) = server.accept().unwrap();
        let mut out = Vec::new();
        pump(&mut poll, &mut tcp, None, &mut out, |o| !o.is_empty());
        accepted
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut got = Vec::new();
        let _ = accepted.read_to_end(&mut got);
        assert_eq!(got, b"hello", "tcp_keepalive = 0 is off");
    }

    #[test]
    fn a_full_table_is_refused_with_an_error() {
        let poll = mio::Poll::new().unwrap();
        let mut s = settings();
        s.max_connections = 1;
        let mut tcp = TcpConnections::new(s, 100);
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        tcp.send(
            a.local_addr().unwrap(),
            b"x",
            poll.registry(),
            Instant::now(),
        )
        .unwrap();
        let err = tcp
            .send(
                b.local_addr().unwrap(),
                b"x",
                poll.registry(),
                Instant::now(),
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "TCP connection table full");
    }
}
