//! Next-hop name resolution, off the event loop (DESIGN.md §6).
//!
//! Layer: shell. RFC 3263 §4.2 as far as a masquerading proxy needs it: an
//! IP literal is used as it is; a name with an explicit port is looked up as
//! A/AAAA; a name without a port is first looked up as SRV
//! (`_sip._udp.<name>` or `_sip._tcp.<name>`), its targets in priority order,
//! and only without SRV records as A/AAAA on port 5060. NAPTR is not
//! consulted (we always know the transport). `/etc/hosts` wins over DNS.
//!
//! Upstream resolves A records only, blocking the SIP thread, with
//! gethostbyname(3) (inventory §5.10). We speak DNS ourselves over UDP to the
//! `/etc/resolv.conf` servers, read once at start-up, because inside a
//! chroot jail (pfSense's /var/siproxd) libc's resolver has neither its
//! configuration nor its NSS modules. Answers are cached for their TTL
//! (bounded to 10 s .. 1 h); failures for 30 s.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The SIP default port (RFC 3261 §19.1.2).
pub const SIP_PORT: u16 = 5060;
const RR_A: u16 = 1;
const RR_AAAA: u16 = 28;
const RR_SRV: u16 = 33;
const MIN_TTL: u32 = 10;
const MAX_TTL: u32 = 3600;
const NEGATIVE_TTL: Duration = Duration::from_secs(30);

/// Which SRV service to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrvTransport {
    Udp,
    Tcp,
}

/// One question: where does a next hop `host[:port]` live?
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    pub host: String,
    pub port: Option<u16>,
    pub transport: SrvTransport,
}

/// Why a name did not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    #[error("{0}: no such host (no SRV, A or AAAA records)")]
    NoRecords(String),
    #[error("{0}: no DNS server answered")]
    NoAnswer(String),
    #[error("{0}: no DNS servers configured and not in /etc/hosts")]
    NoServers(String),
}

/// What the resolver knows from the host: `/etc/resolv.conf` servers and
/// `/etc/hosts` entries, read once (before a chroot).
#[derive(Debug, Clone, Default)]
pub struct ResolverConfig {
    pub servers: Vec<SocketAddr>,
    pub hosts: HashMap<String, Vec<IpAddr>>,
    pub timeout: Duration,
}

impl ResolverConfig {
    /// Reads `/etc/resolv.conf` and `/etc/hosts`. Missing files mean no
    /// servers / no entries, which is not an error.
    pub fn from_system() -> ResolverConfig {
        let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        ResolverConfig {
            servers: parse_resolv_conf(&resolv),
            hosts: parse_hosts(&hosts),
            timeout: Duration::from_secs(2),
        }
    }
}

/// `nameserver` lines of resolv.conf(5), port 53.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// hosts(5): address followed by names; names compared case-insensitively.
pub fn parse_hosts(text: &str) -> HashMap<String, Vec<IpAddr>> {
    let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) else {
            continue;
        };
        for name in words {
            map.entry(name.to_ascii_lowercase()).or_default().push(ip);
        }
    }
    map
}

/// A blocking resolver with a cache; run it on its own thread through
/// [`spawn`].
pub struct Resolver {
    cfg: ResolverConfig,
    cache: HashMap<Query, (Result<Vec<SocketAddr>, DnsError>, Instant)>,
    next_id: u16,
}

impl Resolver {
    pub fn new(cfg: ResolverConfig) -> Resolver {
        Resolver {
            cfg,
            cache: HashMap::new(),
            next_id: std::process::id() as u16,
        }
    }

    /// The addresses to try for `q`, best first.
    pub fn resolve(&mut self, q: &Query) -> Result<Vec<SocketAddr>, DnsError> {
        if let Some(ip) = literal(&q.host) {
            return Ok(vec![SocketAddr::new(ip, q.port.unwrap_or(SIP_PORT))]);
        }
        let now = Instant::now();
        if let Some((answer, until)) = self.cache.get(q) {
            if *until > now {
                return answer.clone();
            }
        }
        let (answer, ttl) = self.lookup(q);
        self.cache.insert(q.clone(), (answer.clone(), now + ttl));
        answer
    }

    fn lookup(&mut self, q: &Query) -> (Result<Vec<SocketAddr>, DnsError>, Duration) {
        let name = q.host.trim_end_matches('.').to_ascii_lowercase();
        if let Some(ips) = self.cfg.hosts.get(&name) {
            let port = q.port.unwrap_or(SIP_PORT);
            let addrs = ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
            return (Ok(addrs), Duration::from_secs(u64::from(MAX_TTL)));
        }
        if self.cfg.servers.is_empty() {
            return (Err(DnsError::NoServers(q.host.clone())), NEGATIVE_TTL);
        }
        match self.lookup_dns(&name, q) {
            Ok((addrs, ttl)) if !addrs.is_empty() => (Ok(addrs), ttl),
            Ok(_) => (Err(DnsError::NoRecords(q.host.clone())), NEGATIVE_TTL),
            Err(e) => (Err(e), NEGATIVE_TTL),
        }
    }

    /// SRV first (no port given), then A and AAAA.
    fn lookup_dns(
        &mut self,
        name: &str,
        q: &Query,
    ) -> Result<(Vec<SocketAddr>, Duration), DnsError> {
        if q.port.is_none() {
            let service = match q.transport {
                SrvTransport::Udp => format!("_sip._udp.{name}"),
                SrvTransport::Tcp => format!("_sip._tcp.{name}"),
            };
            let srv = self.ask(&service, RR_SRV, &q.host)?;
            if !srv.records.is_empty() {
                return self.srv_targets(srv, &q.host);
            }
        }
        let (ips, ttl) = self.addresses(name, &q.host)?;
        let port = q.port.unwrap_or(SIP_PORT);
        Ok((
            ips.into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
            ttl,
        ))
    }

    fn srv_targets(
        &mut self,
        mut srv: Answer,
        host: &str,
    ) -> Result<(Vec<SocketAddr>, Duration), DnsError> {
        // RFC 2782: lower priority first; among equals, heavier first (a
        // deterministic stand-in for the weighted random pick).
        srv.records.sort_by_key(|r| match r {
            Record::Srv {
                priority, weight, ..
            } => (*priority, u16::MAX - *weight),
            _ => (u16::MAX, 0),
        });
        let mut out = Vec::new();
        let mut ttl = srv.ttl;
        for record in &srv.records {
            if let Record::Srv { port, target, .. } = record {
                let (ips, t) = match self.cfg.hosts.get(target.as_str()) {
                    Some(ips) => (ips.clone(), MAX_TTL),
                    None => self
                        .addresses(target, host)
                        .map(|(a, d)| (a, d.as_secs() as u32))?,
                };
                ttl = ttl.min(t);
                out.extend(ips.into_iter().map(|ip| SocketAddr::new(ip, *port)));
            }
        }
        Ok((out, Duration::from_secs(u64::from(ttl))))
    }

    fn addresses(&mut self, name: &str, host: &str) -> Result<(Vec<IpAddr>, Duration), DnsError> {
        let a = self.ask(name, RR_A, host)?;
        let aaaa = self.ask(name, RR_AAAA, host)?;
        let ttl = a.ttl.min(aaaa.ttl);
        let ips = a
            .records
            .iter()
            .chain(aaaa.records.iter())
            .filter_map(|r| match r {
                Record::Ip(ip) => Some(*ip),
                Record::Srv { .. } => None,
            })
            .collect();
        Ok((ips, Duration::from_secs(u64::from(ttl))))
    }

    /// One question to the configured servers in turn, each tried twice.
    fn ask(&mut self, name: &str, rtype: u16, host: &str) -> Result<Answer, DnsError> {
        for _attempt in 0..2 {
            for server in self.cfg.servers.clone() {
                self.next_id = self.next_id.wrapping_add(1);
                let id = self.next_id;
                if let Some(answer) =
                    exchange(server, &build_query(id, name, rtype), id, self.cfg.timeout)
                {
                    return Ok(answer);
                }
            }
        }
        Err(DnsError::NoAnswer(host.to_string()))
    }
}

/// An IP literal, IPv6 with or without brackets.
fn literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Sends one query and waits for the matching answer.
fn exchange(server: SocketAddr, query: &[u8], id: u16, timeout: Duration) -> Option<Answer> {
    let bind: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(bind).ok()?;
    sock.connect(server).ok()?;
    sock.set_read_timeout(Some(timeout)).ok()?;
    sock.send(query).ok()?;
    let mut buf = [0u8; 1500];
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let n = sock.recv(&mut buf).ok()?;
        if let Some(answer) = buf.get(..n).and_then(|b| parse_answer(b, id)) {
            return Some(answer);
        }
    }
    None
}

/// A DNS query for `name`/`rtype`, recursion desired (RFC 1035 §4.1).
pub fn build_query(id: u16, name: &str, rtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len().min(63) as u8);
        q.extend(label.bytes().take(63));
    }
    q.push(0);
    q.extend_from_slice(&rtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// The useful records of an answer, and the smallest TTL among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub records: Vec<Record>,
    pub ttl: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Ip(IpAddr),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
}

/// Parses a response with our `id`. NXDOMAIN and empty answers are an
/// empty record list; a malformed packet is `None` (as if it never came).
pub fn parse_answer(msg: &[u8], id: u16) -> Option<Answer> {
    let mut r = Reader { msg, pos: 0 };
    if r.u16()? != id {
        return None;
    }
    let flags = r.u16()?;
    if flags & 0x8000 == 0 {
        return None; // not a response
    }
    let (qd, an) = (r.u16()?, r.u16()?);
    r.pos += 4; // NS and AR counts
    for _ in 0..qd {
        r.name()?;
        r.pos += 4;
    }
    let mut answer = Answer {
        records: Vec::new(),
        ttl: MAX_TTL,
    };
    for _ in 0..an {
        if let Some((record, ttl)) = r.record()? {
            answer.ttl = answer.ttl.min(ttl.clamp(MIN_TTL, MAX_TTL));
            answer.records.push(record);
        }
    }
    Some(answer)
}

struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let b = *self.msg.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from(self.u16()?) << 16 | u32::from(self.u16()?))
    }

    /// A domain name at the cursor, following compression pointers (with
    /// a hop limit, so a pointer loop cannot hang us).
    fn name(&mut self) -> Option<String> {
        let mut labels: Vec<String> = Vec::new();
        let mut at = self.pos;
        let mut jumped = false;
        for _hop in 0..64 {
            let len = *self.msg.get(at)?;
            if len & 0xc0 == 0xc0 {
                let low = *self.msg.get(at + 1)?;
                if !jumped {
                    self.pos = at + 2;
                }
                jumped = true;
                at = usize::from(len & 0x3f) << 8 | usize::from(low);
                continue;
            }
            if len == 0 {
                if !jumped {
                    self.pos = at + 1;
                }
                return Some(labels.join(".").to_ascii_lowercase());
            }
            let label = self.msg.get(at + 1..at + 1 + usize::from(len))?;
            labels.push(String::from_utf8_lossy(label).into_owned());
            at += 1 + usize::from(len);
        }
        None
    }

    /// One resource record: A, AAAA and SRV are kept; others skipped.
    fn record(&mut self) -> Option<Option<(Record, u32)>> {
        self.name()?;
        let (rtype, _class, ttl, len) = (
            self.u16()?,
            self.u16()?,
            self.u32()?,
            usize::from(self.u16()?),
        );
        let end = self.pos + len;
        let data = self.msg.get(self.pos..end)?;
        let record = match (rtype, data.len()) {
            (RR_A, 4) => Some(Record::Ip(IpAddr::from(<[u8; 4]>::try_from(data).ok()?))),
            (RR_AAAA, 16) => Some(Record::Ip(IpAddr::from(<[u8; 16]>::try_from(data).ok()?))),
            (RR_SRV, 7..) => {
                let (priority, weight, port) = (self.u16()?, self.u16()?, self.u16()?);
                let target = self.name()?;
                Some(Record::Srv {
                    priority,
                    weight,
                    port,
                    target,
                })
            }
            _ => None,
        };
        self.pos = end;
        Some(record.map(|r| (r, ttl)))
    }
}

/// A request to the resolver thread; `tag` comes back with the answer.
pub struct Request<T> {
    pub tag: T,
    pub query: Query,
}

/// An answer from the resolver thread.
pub struct Resolved<T> {
    pub tag: T,
    pub query: Query,
    pub result: Result<Vec<SocketAddr>, DnsError>,
}

/// The event loop's end of the resolver thread.
pub struct ResolverThread<T> {
    pub requests: mpsc::Sender<Request<T>>,
    pub answers: mpsc::Receiver<Resolved<T>>,
}

/// Runs `resolver` on its own thread. Answers go to `answers`; `wake` is
/// called after each one (the event loop's mio::Waker).
pub fn spawn<T: Send + 'static>(
    mut resolver: Resolver,
    wake: impl Fn() + Send + 'static,
) -> std::io::Result<ResolverThread<T>> {
    let (req_tx, req_rx) = mpsc::channel::<Request<T>>();
    let (ans_tx, ans_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("dns".into())
        .spawn(move || {
            for Request { tag, query } in req_rx {
                let result = resolver.resolve(&query);
                if ans_tx.send(Resolved { tag, query, result }).is_err() {
                    return;
                }
                wake();
            }
        })?;
    Ok(ResolverThread {
        requests: req_tx,
        answers: ans_rx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DNS server on loopback answering from a fixed table.
    fn fake_server(answers: Vec<(&'static str, u16, Vec<Vec<u8>>)>) -> SocketAddr {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                let q = &buf[..n];
                let mut r = Reader { msg: q, pos: 12 };
                let name = r.name().unwrap();
                let rtype = r.u16().unwrap();
                let rdatas = answers
                    .iter()
                    .find(|(n, t, _)| *n == name && *t == rtype)
                    .map(|(_, _, d)| d.clone())
                    .unwrap_or_default();
                let mut resp = q.to_vec();
                resp[2] = 0x81;
                resp[3] = 0x80;
                resp[6..8].copy_from_slice(&(rdatas.len() as u16).to_be_bytes());
                for rdata in rdatas {
                    resp.extend_from_slice(&[0xc0, 12]);
                    resp.extend_from_slice(&rtype.to_be_bytes());
                    resp.extend_from_slice(&[0, 1, 0, 0, 0, 120]);
                    resp.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                    resp.extend_from_slice(&rdata);
                }
                let _ = sock.send_to(&resp, from);
            }
        });
        addr
    }

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Vec<u8> {
        let mut d = Vec::new();
        for v in [priority, weight, port] {
            d.extend_from_slice(&v.to_be_bytes());
        }
        for label in target.split('.') {
            d.push(label.len() as u8);
            d.extend_from_slice(label.as_bytes());
        }
        d.push(0);
        d
    }

    fn resolver(servers: Vec<SocketAddr>, hosts: &str) -> Resolver {
        Resolver::new(ResolverConfig {
            servers,
            hosts: parse_hosts(hosts),
            timeout: Duration::from_millis(300),
        })
    }

    fn q(host: &str, port: Option<u16>) -> Query {
        Query {
            host: host.into(),
            port,
            transport: SrvTransport::Udp,
        }
    }

    #[test]
    fn srv_records_in_priority_order_then_their_addresses() {
        let server = fake_server(vec![
            (
                "_sip._udp.example.test",
                RR_SRV,
                vec![
                    srv(20, 0, 5080, "backup.example.test"),
                    srv(10, 5, 5070, "main.example.test"),
                ],
            ),
            ("main.example.test", RR_A, vec![vec![198, 51, 100, 10]]),
            ("backup.example.test", RR_A, vec![vec![198, 51, 100, 20]]),
        ]);
        let mut r = resolver(vec![server], "");
        assert_eq!(
            r.resolve(&q("example.test", None)),
            Ok(vec![
                "198.51.100.10:5070".parse().unwrap(),
                "198.51.100.20:5080".parse().unwrap()
            ])
        );
    }

    #[test]
    fn an_explicit_port_skips_srv_and_a_name_without_srv_gets_5060() {
        let server = fake_server(vec![
            (
                "_sip._udp.pbx.example.test",
                RR_SRV,
                vec![srv(1, 1, 9999, "elsewhere.example.test")],
            ),
            ("pbx.example.test", RR_A, vec![vec![203, 0, 113, 5]]),
            (
                "pbx.example.test",
                RR_AAAA,
                vec![[0x20, 1, 0x0d, 0xb8]
                    .iter()
                    .copied()
                    .chain([0; 11])
                    .chain([1])
                    .collect()],
            ),
            ("plain.example.test", RR_A, vec![vec![203, 0, 113, 6]]),
        ]);
        let mut r = resolver(vec![server], "");
        assert_eq!(
            r.resolve(&q("pbx.example.test", Some(5062))),
            Ok(vec![
                "203.0.113.5:5062".parse().unwrap(),
                "[2001:db8::1]:5062".parse().unwrap()
            ])
        );
        assert_eq!(
            r.resolve(&q("plain.example.test", None)),
            Ok(vec!["203.0.113.6:5060".parse().unwrap()])
        );
        assert_eq!(
            r.resolve(&q("nowhere.example.test", None)),
            Err(DnsError::NoRecords("nowhere.example.test".into()))
        );
    }

    #[test]
    fn etc_hosts_and_literals_need_no_server() {
        let mut r = resolver(vec![], "# test\n192.0.2.7 Provider.Test provider\n");
        assert_eq!(
            r.resolve(&q("provider.test", None)),
            Ok(vec!["192.0.2.7:5060".parse().unwrap()])
        );
        assert_eq!(
            r.resolve(&q("198.51.100.1", Some(5070))),
            Ok(vec!["198.51.100.1:5070".parse().unwrap()])
        );
        assert_eq!(
            r.resolve(&q("[2001:db8::2]", None)),
            Ok(vec!["[2001:db8::2]:5060".parse().unwrap()])
        );
        assert_eq!(
            r.resolve(&q("unknown.test", None)),
            Err(DnsError::NoServers("unknown.test".into()))
        );
    }

    #[test]
    fn a_silent_server_is_a_clear_error_and_is_cached() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut r = resolver(vec![silent.local_addr().unwrap()], "");
        let started = Instant::now();
        assert_eq!(
            r.resolve(&q("slow.test", Some(5060))),
            Err(DnsError::NoAnswer("slow.test".into()))
        );
        let first = started.elapsed();
        let again = Instant::now();
        assert_eq!(
            r.resolve(&q("slow.test", Some(5060))),
            Err(DnsError::NoAnswer("slow.test".into()))
        );
        assert!(again.elapsed() < first / 4, "the failure was cached");
    }

    #[test]
    fn malformed_answers_are_ignored() {
        assert_eq!(parse_answer(&[], 1), None);
        assert_eq!(parse_answer(&[0, 1, 0x81, 0x80, 0, 0, 0, 5], 1), None);
        // A compression pointer that points at itself.
        let mut looped = vec![0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0];
        looped.extend_from_slice(&[0xc0, 12]);
        assert_eq!(parse_answer(&looped, 1), None);
    }

    #[test]
    fn resolv_conf_servers() {
        let text = "search lan\nnameserver 192.0.2.53\nnameserver ::1\nnameserver bogus\n";
        assert_eq!(
            parse_resolv_conf(text),
            vec![
                "192.0.2.53:53".parse().unwrap(),
                "[::1]:53".parse::<SocketAddr>().unwrap()
            ]
        );
    }
}
