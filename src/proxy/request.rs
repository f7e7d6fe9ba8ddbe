//! Requests passing through: proxy.c:proxy_request (inventory §5.2), plus the rewrites
//! requests and responses share (Contact masquerading, User-Agent); the media side is in
//! [`super::media`], Call-ID obscuring in [`super::callid`].
//!
//! Unknown targets (upstream answers 408 to all of them, after PROXY_UNK):
//! - a request whose Request-URI names this proxy but no registered user: **404**;
//! - from a source listed in a non-empty `hosts_allow_reg`: proxied as outgoing (such a
//!   host is a LAN UA by the admin's word, registered or not);
//! - from any other private, loopback or link-local source: **408** as upstream (a LAN
//!   phone that has not registered through us);
//! - from a public source: **403**, counted as a refused relay — a request from outside for
//!   a host that is neither us nor registered is never sent back out.
//!
//! An ACK is never answered: with an unknown target it is dropped.

use std::fmt::Write as _;
use std::net::IpAddr;

use md5::{Digest, Md5};

use crate::sip::{Contact, HeaderName, Message, Position, Uri};

use super::action::{Destination, Direction, Now, Ticket, Transmit, Transport};
use super::register::{same_user_host, Binding};
use super::rtp_table::Leg;
use super::{callid, direction, media, route, Proxy};

/// The magic cookie of RFC 3261 §8.1.1.7.
const MAGIC_COOKIE: &str = "z9hG4bK";

/// Lowercase hex MD5 over the parts, each followed by a 0 byte.
pub fn md5_hex(parts: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for part in parts {
        h.update(part);
        h.update([0u8]);
    }
    h.finalize()
        .iter()
        .fold(String::with_capacity(32), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Our branch for a request: a hash of the received branch when it is an RFC 3261 one,
/// else of the top Via, tags, Call-ID, CSeq number and Request-URI — the same for every
/// retransmission. Mirrors sip_utils.c:sip_calculate_branch_id.
pub fn branch(msg: &Message) -> String {
    let via = msg.top_via().ok();
    let received = via
        .as_ref()
        .and_then(|v| v.branch())
        .filter(|b| b.starts_with(MAGIC_COOKIE.as_bytes()));
    let hash = match received {
        Some(b) => md5_hex(&[b]),
        None => {
            let tag = |a: Result<crate::sip::NameAddr<'_>, _>| {
                a.ok()
                    .and_then(|a| a.tag().map(<[u8]>::to_vec))
                    .unwrap_or_default()
            };
            let cseq = msg.cseq().map(|c| c.seq.to_string()).unwrap_or_default();
            md5_hex(&[
                via.as_ref().map(|v| v.as_bytes()).unwrap_or_default(),
                &tag(msg.to()),
                &tag(msg.from()),
                msg.call_id().unwrap_or_default(),
                cseq.as_bytes(),
                msg.request_uri_bytes().unwrap_or_default(),
            ])
        }
    };
    format!("{MAGIC_COOKIE}{hash}")
}

/// RFC 3261 §18.2.1 / RFC 3581 §4 on the previous hop's Via: over TCP always
/// `;received=<ip>;rport=<port>` (as upstream); over UDP `received` when the sent-by host
/// differs from the source, and `rport` filled in when the phone asked for it.
fn mark_received(ticket: &mut Ticket) -> Result<(), crate::sip::Error> {
    let via = ticket.msg.top_via()?;
    let ip = ticket.from.ip().to_canonical().to_string();
    let port = ticket.from.port().to_string();
    let wants_rport = via.rport().is_some();
    let differs = via.host_ip().map(|h| h.to_canonical()) != Some(ticket.from.ip().to_canonical());
    let mut params: Vec<(&[u8], &[u8])> = Vec::new();
    if ticket.transport == Transport::Tcp || differs || wants_rport {
        params.push((b"received", ip.as_bytes()));
    }
    if ticket.transport == Transport::Tcp || wants_rport {
        params.push((b"rport", port.as_bytes()));
    }
    if params.is_empty() {
        return Ok(());
    }
    for (name, value) in params {
        ticket.msg.set_top_via_param(name, Some(value))?;
    }
    Ok(())
}

/// proxy.c:proxy_request. See the module doc.
pub fn proxy_request(p: &mut Proxy, now: Now, ticket: &mut Ticket) {
    if let Err(e) = prepare(p, ticket) {
        p.note_malformed(now, ticket.from, &e);
        return;
    }
    let found = direction::find(&p.regs, &p.ifaces, &ticket.msg, ticket.from, now.wall);
    ticket.direction = found.direction;
    p.hooks.pre_proxy(ticket);
    let done = match ticket.direction {
        Direction::IncomingRequest => incoming(p, now, ticket, found.binding),
        Direction::OutgoingRequest => outgoing(p, now, ticket),
        _ => {
            unknown(p, now, ticket);
            return;
        }
    };
    match done {
        Ok(true) => send(p, ticket),
        Ok(false) => {}
        Err(e) => p.note_malformed(now, ticket.from, &e),
    }
}

/// The common prefix: received/rport, then Route pre-processing.
fn prepare(p: &Proxy, ticket: &mut Ticket) -> Result<(), crate::sip::Error> {
    mark_received(ticket)?;
    route::preprocess(&mut ticket.msg, &p.ifaces, p.settings.listen_port)
}

/// True for a source an admin would call "inside": private, loopback, link-local, ULA.
fn is_private(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// PROXY_UNK, then the answers of the module doc.
fn unknown(p: &mut Proxy, now: Now, ticket: &mut Ticket) {
    p.hooks.proxy_unknown(ticket);
    if ticket.msg.method() == Some(b"ACK".as_slice()) {
        return;
    }
    let ruri_is_me = matches!(ticket.msg.request_uri(), Some(Ok(u)) if u.host_ip().is_some_and(|ip| p.ifaces.is_mine(ip)));
    let listed = p.settings.allow_reg_listed && p.acl.check(ticket.from.ip()).register;
    if ruri_is_me {
        p.counters.unknown_target += 1;
        p.note_refused(
            now,
            &format_args!("request from {} for an unknown user: 404", ticket.from),
        );
        super::response::reply(p, ticket, 404, "Not Found", &[]);
    } else if listed {
        ticket.direction = Direction::OutgoingRequest;
        match outgoing(p, now, ticket) {
            Ok(true) => send(p, ticket),
            Ok(false) => {}
            Err(e) => p.note_malformed(now, ticket.from, &e),
        }
    } else if is_private(ticket.from.ip()) {
        p.counters.unknown_target += 1;
        log::info!(
            "request from unregistered {}: 408 (register through the proxy first)",
            ticket.from
        );
        super::response::reply(p, ticket, 408, "Request Timeout", &[]);
    } else {
        p.counters.relay_refused += 1;
        let what = format!(
            "request from {} for a host that is neither us nor registered: 403",
            ticket.from
        );
        p.note_refused(now, &what);
        super::response::reply(p, ticket, 403, "Forbidden", &[]);
    }
}

fn method_of(msg: &Message) -> Vec<u8> {
    msg.method().map(<[u8]>::to_vec).unwrap_or_default()
}

/// WAN → LAN: Request-URI to the phone's contact, media, Call-ID, own Record-Route on top,
/// next hop the phone. Returns false when the request was answered instead.
fn incoming(
    p: &mut Proxy,
    now: Now,
    ticket: &mut Ticket,
    binding: Option<usize>,
) -> Result<bool, crate::sip::Error> {
    let bound = binding.and_then(|i| p.regs.get(i));
    let (contact, registered_over) = (bound.map(|b| b.contact.clone()), bound.map(|b| b.transport));
    if let Some(contact) = &contact {
        ticket.msg.set_request_uri(contact.as_bytes())?;
    }
    if !media::process(p, now, ticket, Leg::Outbound)? {
        return Ok(false);
    }
    callid::unobscure(p, &mut ticket.msg)?;
    if method_of(&ticket.msg) != b"REGISTER" {
        if let Some(inbound) = p.ifaces.inbound {
            let rr = route::own_record_route(inbound, p.settings.listen_port);
            ticket.msg.add_record_route(rr.as_bytes(), Position::Top);
        }
    }
    ticket.msg.decrement_max_forwards()?;
    route_to_phone(p, ticket, registered_over)
}

/// Next hop and own Via of an incoming request: the Request-URI (the phone's contact). The
/// transport is the contact's `;transport=`, else the one the phone registered over (so a
/// TCP call from the WAN reaches a UDP phone over UDP), else the one the request came in on.
fn route_to_phone(
    p: &Proxy,
    ticket: &mut Ticket,
    registered_over: Option<Transport>,
) -> Result<bool, crate::sip::Error> {
    let Some(Ok(ruri)) = ticket.msg.request_uri() else {
        return Ok(false);
    };
    let transport = route::uri_transport(&ruri)
        .or(registered_over)
        .unwrap_or(ticket.transport);
    let to = route::destination_of(&ruri);
    ticket.next_hop = ticket.next_hop.take().or(Some(to));
    let rport = p.settings.use_rport & 1 != 0;
    add_own_via(p, ticket, p.ifaces.inbound, transport, rport)?;
    Ok(true)
}

/// LAN → WAN: Contact masqueraded, User-Agent, media, Call-ID, own Record-Routes purged,
/// next hop by Route / outbound proxy / Request-URI.
fn outgoing(p: &mut Proxy, now: Now, ticket: &mut Ticket) -> Result<bool, crate::sip::Error> {
    let (to, transport) = outgoing_next_hop(p, ticket)?;
    if matches!(&to, Destination::Name { host, .. } if host.is_empty()) {
        log::info!("request from {}: no host to send it to (tel: or other URI without an outbound proxy): 416", ticket.from);
        super::response::reply(p, ticket, 416, "Unsupported URI Scheme", &[]);
        return Ok(false);
    }
    if is_self(p, &to) {
        answer_for_self(p, ticket);
        return Ok(false);
    }
    masquerade_contacts(p, ticket)?;
    apply_ua_string(p, &mut ticket.msg)?;
    if !media::process(p, now, ticket, Leg::Inbound)? {
        return Ok(false);
    }
    callid::obscure(p, &mut ticket.msg)?;
    route::purge_own_record_routes(&mut ticket.msg, &p.ifaces, p.settings.listen_port)?;
    ticket.msg.decrement_max_forwards()?;
    ticket.next_hop = ticket.next_hop.take().or(Some(to));
    let wan = p.ifaces.advertised_outbound();
    add_own_via(p, ticket, wan, transport, p.settings.use_rport & 2 != 0)?;
    Ok(true)
}

/// True when a next hop is this proxy itself (our address and listen port).
fn is_self(p: &Proxy, to: &Destination) -> bool {
    matches!(to, Destination::Addr(a) if p.ifaces.is_mine(a.ip()) && a.port() == p.settings.listen_port)
}

/// A LAN request whose next hop is the proxy itself would loop through us until
/// Max-Forwards runs out (upstream does that): an OPTIONS keepalive gets our 200, anything
/// else 482.
fn answer_for_self(p: &mut Proxy, ticket: &Ticket) {
    if ticket.msg.method() == Some(b"OPTIONS".as_slice()) {
        super::response::reply(p, ticket, 200, "OK", &[]);
    } else {
        p.counters.loops += 1;
        log::info!(
            "request from {} names the proxy itself as next hop: 482",
            ticket.from
        );
        super::response::reply(p, ticket, 482, "Loop Detected", &[]);
    }
}

/// Next hop of an outgoing request (proxy.c:proxy_request, inventory §5.2 step 7): the top
/// Route, else the outbound proxy for the From domain, else the Request-URI. The transport
/// is the target URI's `;transport=`, else the one the request came in on.
fn outgoing_next_hop(
    p: &Proxy,
    ticket: &Ticket,
) -> Result<(Destination, Transport), crate::sip::Error> {
    let msg = &ticket.msg;
    let target = match route::top_route(msg) {
        Some(r) => r,
        None => msg.request_uri_bytes().unwrap_or_default().to_vec(),
    };
    let target_uri = Uri::parse(&target).map_err(|e| e.in_header("Route", 0))?;
    let transport = route::uri_transport(&target_uri).unwrap_or(ticket.transport);
    if route::top_route(msg).is_none() {
        let from = msg.from()?;
        let from_host = from.uri().map(|u| u.host().to_vec()).unwrap_or_default();
        let global = p.settings.outbound_proxy.as_ref();
        if let Some(d) = route::outbound_proxy(&from_host, &p.settings.outbound_domains, global) {
            return Ok((d, transport));
        }
    }
    Ok((route::destination_of(&target_uri), transport))
}

/// RFC 3261 §16.6 step 8: `SIP/2.0/<T> <addr>:<listen port>;branch=z9hG4bK…[;rport]`.
fn add_own_via(
    p: &Proxy,
    ticket: &mut Ticket,
    addr: Option<IpAddr>,
    transport: Transport,
    rport: bool,
) -> Result<(), crate::sip::Error> {
    let Some(addr) = addr else {
        return Ok(());
    };
    let mut via = format!(
        "SIP/2.0/{} {}:{};branch={}",
        transport.via_token(),
        route::host_of(addr),
        p.settings.listen_port,
        branch(&ticket.msg)
    );
    if rport {
        via.push_str(";rport");
    }
    ticket.msg.add_via_top(via.as_bytes());
    ticket.transport_out = Some(transport);
    Ok(())
}

/// POST_PROXY, then the transmission.
fn send(p: &mut Proxy, ticket: &mut Ticket) {
    p.hooks.post_proxy(ticket);
    let Some(to) = ticket.next_hop.clone() else {
        return;
    };
    p.counters.requests_forwarded += 1;
    p.transmits.push_back(Transmit {
        to,
        transport: ticket.transport_out.unwrap_or(ticket.transport),
        bytes: ticket.msg.as_bytes().to_vec(),
    });
}

/// The masqueraded URI of a binding for this message's transport.
fn masq_for(b: &Binding, transport: Transport) -> String {
    match transport {
        Transport::Tcp => format!("{};transport=tcp", b.masq),
        Transport::Udp => b.masq.clone(),
    }
}

/// sip_utils.c:sip_rewrite_contact, outgoing: a Contact that is a registered phone's
/// contact becomes that binding's masqueraded URI (header params kept); any other gets the
/// WAN address and listen port, keeping user and params.
pub fn masquerade_contacts(p: &mut Proxy, ticket: &mut Ticket) -> Result<(), crate::sip::Error> {
    let Some(wan) = p.ifaces.advertised_outbound() else {
        return Ok(());
    };
    let contacts: Vec<Vec<u8>> = ticket
        .msg
        .contacts()?
        .iter()
        .map(|c| match c {
            Contact::Addr(a) => a.uri_bytes().to_vec(),
            Contact::Star => Vec::new(),
        })
        .collect();
    for (i, raw) in contacts.iter().enumerate() {
        let Ok(uri) = Uri::parse(raw) else {
            continue;
        };
        let bound = p.regs.newest_any(|b| {
            super::register::matches(&b.contact, &uri, same_user_host)
                && same_port(&b.contact, &uri)
        });
        let new = match bound.and_then(|i| p.regs.get(i)) {
            Some(b) => masq_for(b, ticket.transport).into_bytes(),
            None => uri.with_user_host_port(
                None,
                route::host_of(wan).as_bytes(),
                Some(p.settings.listen_port),
            ),
        };
        ticket.msg.set_contact_uri(i, &new)?;
    }
    Ok(())
}

fn same_port(stored: &str, uri: &Uri<'_>) -> bool {
    Uri::parse(stored.as_bytes())
        .is_ok_and(|s| s.port().unwrap_or(5060) == uri.port().unwrap_or(5060))
}

/// proxy.c:proxy_add_useragent: `ua_string` replaces or adds User-Agent.
pub fn apply_ua_string(p: &Proxy, msg: &mut Message) -> Result<(), crate::sip::Error> {
    match &p.settings.ua_string {
        Some(ua) => {
            msg.set_header(HeaderName::UserAgent, ua.as_bytes());
            Ok(())
        }
        None => Ok(()),
    }
}
