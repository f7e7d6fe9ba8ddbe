//! Responses: the ones passing through (proxy.c:proxy_response, inventory §5.4) and the
//! ones the proxy answers itself (sip_utils.c:sip_gen_response).
//!
//! Differences from upstream: responses are routed by the Via with `received`/`rport`
//! honoured for UDP too (RFC 3581 §4; upstream ignores them), outgoing responses follow the
//! Via instead of the outbound proxy (RFC 3261 §18.2.2), and a response with nothing left
//! after our Via is dropped instead of crashing (on-the-wire §8).

use std::net::IpAddr;

use crate::sip::{build_response, Message, Position, Via};

use super::action::{Destination, Direction, Now, Ticket, Transmit, Transport};
use super::rtp_table::Leg;
use super::{callid, direction, media, request, route, Proxy};

/// True when a Via value is one this proxy wrote: one of its addresses and its listen port.
pub fn is_own_via(p: &Proxy, via: &Via<'_>) -> bool {
    via.host_ip().is_some_and(|ip| p.ifaces.is_mine(ip))
        && via.port().unwrap_or(5060) == p.settings.listen_port
}

/// Where a response goes: the top Via's `received` (else host) and `rport` (else port),
/// RFC 3261 §18.2.2 with RFC 3581 §4. A host name without a port is left to the shell's
/// RFC 3263 §5 lookup (SRV first).
pub fn via_destination(via: &Via<'_>) -> Destination {
    let rport = via
        .rport()
        .flatten()
        .and_then(|r| std::str::from_utf8(r).ok()?.parse().ok());
    let port = rport.or(via.port());
    match via.received().and_then(crate::sip::uri::parse_ip) {
        Some(ip) => Destination::Addr(std::net::SocketAddr::new(ip, port.unwrap_or(5060))),
        None => route::destination(via.host(), port),
    }
}

/// The transport named by a Via (`SIP/2.0/TCP` → TCP, anything else UDP).
pub fn via_transport(via: &Via<'_>) -> Transport {
    if via.transport().eq_ignore_ascii_case(b"TCP") {
        Transport::Tcp
    } else {
        Transport::Udp
    }
}

/// A To tag for a locally generated response: stable for retransmissions.
fn local_tag(p: &Proxy, msg: &Message) -> String {
    let call_id = msg.call_id().unwrap_or_default();
    let from_tag = msg
        .from()
        .ok()
        .and_then(|f| f.tag().map(<[u8]>::to_vec))
        .unwrap_or_default();
    let hex = request::md5_hex(&[&p.tag_seed.to_be_bytes(), call_id, &from_tag]);
    hex.get(..16).unwrap_or_default().to_string()
}

/// Builds a response to `req` (sip_gen_response) with the SIP core's builder: every Via,
/// From, To (with our tag when it had none), Call-ID, CSeq, then `extra` headers.
pub fn build(
    p: &Proxy,
    req: &Message,
    code: u16,
    reason: &str,
    extra: &[(&str, String)],
) -> Result<Vec<u8>, crate::sip::Error> {
    let tag = local_tag(p, req);
    let extra: Vec<(&[u8], &[u8])> = extra
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    build_response(
        req,
        code,
        Some(reason.as_bytes()),
        Some(tag.as_bytes()),
        &extra,
    )
}

/// Answers the ticket's request ourselves, to its top Via (received/rport honoured), on
/// the transport it came in on.
pub fn reply(p: &mut Proxy, ticket: &Ticket, code: u16, reason: &str, extra: &[(&str, String)]) {
    let bytes = match build(p, &ticket.msg, code, reason, extra) {
        Ok(bytes) => bytes,
        Err(e) => {
            log::warn!("cannot answer {code} to {}: {e}", ticket.from);
            return;
        }
    };
    let to = match ticket.msg.top_via() {
        Ok(via) => via_destination(&via),
        Err(_) => Destination::Addr(ticket.from),
    };
    let to = match (ticket.transport, to) {
        // A TCP reply goes back on the connection it came from.
        (Transport::Tcp, _) => Destination::Addr(ticket.from),
        (Transport::Udp, to) => to,
    };
    p.counters.local_responses += 1;
    p.transmits.push_back(Transmit {
        to,
        transport: ticket.transport,
        bytes,
    });
}

/// proxy.c:proxy_response. See the module doc.
pub fn proxy_response(p: &mut Proxy, now: Now, ticket: &mut Ticket) {
    // Upstream's order (proxy.c, inventory §5.4 step 1): direction, then
    // PRE_PROXY, then "is the top Via ours?" — a plugin such as fix_DTAG
    // repairs a broken top Via in PRE_PROXY, so the check must come after.
    let found = direction::find(&p.regs, &p.ifaces, &ticket.msg, ticket.from, now.wall);
    ticket.direction = match own_top_via(p, ticket) {
        Some(own_ip) => fallback_direction(p, found.direction, own_ip),
        None => found.direction,
    };
    p.hooks.pre_proxy(ticket);
    let Some(own_ip) = own_top_via(p, ticket) else {
        p.counters.foreign_via += 1;
        log::info!(
            "response from {} does not carry our Via on top, dropped",
            ticket.from
        );
        return;
    };
    ticket.direction = fallback_direction(p, ticket.direction, own_ip);
    if ticket.msg.remove_top_via().is_err() || ticket.msg.vias().map_or(true, |v| v.is_empty()) {
        p.note_malformed(now, ticket.from, &"response with no Via below ours");
        return;
    }
    let done = match ticket.direction {
        Direction::IncomingResponse => incoming(p, now, ticket),
        Direction::OutgoingResponse => outgoing(p, now, ticket),
        _ => {
            p.hooks.proxy_unknown(ticket);
            log::info!("response from {}: direction unknown, dropped", ticket.from);
            return;
        }
    };
    if let Err(e) = done {
        p.note_malformed(now, ticket.from, &e);
        return;
    }
    send(p, ticket);
}

/// The address of the top Via when it is ours.
fn own_top_via(p: &Proxy, ticket: &Ticket) -> Option<IpAddr> {
    ticket
        .msg
        .top_via()
        .ok()
        .filter(|v| is_own_via(p, v))
        .and_then(|v| v.host_ip())
}

/// When the table cannot tell, the address of our own Via can: a Via with the inbound
/// address went to the LAN, so its response comes from there.
fn fallback_direction(p: &Proxy, found: Direction, own_ip: IpAddr) -> Direction {
    let distinct = p.ifaces.inbound != p.ifaces.advertised_outbound();
    match found {
        Direction::Unknown if distinct && p.ifaces.inbound == Some(own_ip) => {
            Direction::OutgoingResponse
        }
        Direction::Unknown if distinct => Direction::IncomingResponse,
        d => d,
    }
}

/// WAN → LAN: SDP to the inbound side, REGISTER bookkeeping, own Record-Route at the end.
fn incoming(p: &mut Proxy, now: Now, ticket: &mut Ticket) -> Result<(), crate::sip::Error> {
    callid::unobscure(p, &mut ticket.msg)?;
    let method = ticket.msg.cseq()?.method.to_vec();
    if method == b"REGISTER" {
        super::registrar::register_response(p, now, &mut ticket.msg)?;
        return Ok(());
    }
    grandstream_subscribe_hack(&mut ticket.msg)?;
    media::process(p, now, ticket, Leg::Outbound)?;
    if let Some(inbound) = p.ifaces.inbound {
        let rr = route::own_record_route(inbound, p.settings.listen_port);
        ticket.msg.add_record_route(rr.as_bytes(), Position::Bottom);
    }
    Ok(())
}

/// Upstream's Grandstream hack (proxy.c, proxy_response; inventory §5.4): a Grandstream
/// phone registered with siproxd that subscribes to its own AOR gets its own SUBSCRIBE
/// back, answers it 202, receives that 202 and subscribes again, forever. Upstream breaks
/// the loop by turning a 202 to SUBSCRIBE whose User-Agent starts with "grandstream" (any
/// case) into a 404 on its way to the LAN, and so do we (upstream kept the reason phrase
/// "Accepted"; we write "Not Found").
fn grandstream_subscribe_hack(msg: &mut crate::sip::Message) -> Result<(), crate::sip::Error> {
    let from_grandstream = msg.header_values(b"User-Agent").next().is_some_and(|ua| {
        ua.get(..11)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"grandstream"))
    });
    if from_grandstream && msg.status_code() == Some(202) && msg.cseq()?.method == b"SUBSCRIBE" {
        log::debug!("Grandstream hack: 202 to SUBSCRIBE sent on as 404");
        msg.set_status(404, b"Not Found")?;
    }
    Ok(())
}

/// LAN → WAN: Call-ID obscured (BYE answers), Contact masqueraded, User-Agent, SDP to the
/// WAN side, own Record-Route gone.
fn outgoing(p: &mut Proxy, now: Now, ticket: &mut Ticket) -> Result<(), crate::sip::Error> {
    callid::obscure(p, &mut ticket.msg)?;
    // The response leaves on the transport of the Via now on top (see `send`).
    let leaves_on = ticket
        .msg
        .top_via()
        .map_or(ticket.transport, |v| via_transport(&v));
    request::masquerade_contacts(p, ticket, leaves_on)?;
    request::apply_ua_string(p, &mut ticket.msg)?;
    media::process(p, now, ticket, Leg::Inbound)?;
    route::purge_own_record_routes(&mut ticket.msg, &p.ifaces, p.settings.listen_port)?;
    Ok(())
}

/// POST_PROXY, then out to the next Via.
fn send(p: &mut Proxy, ticket: &mut Ticket) {
    let Ok(via) = ticket.msg.top_via() else {
        return;
    };
    let (to, transport) = (via_destination(&via), via_transport(&via));
    ticket.next_hop = Some(to);
    ticket.transport_out = Some(transport);
    p.hooks.post_proxy(ticket);
    let to = ticket
        .next_hop
        .clone()
        .unwrap_or(Destination::Addr(ticket.from));
    p.counters.responses_forwarded += 1;
    p.transmits.push_back(Transmit {
        to,
        transport: ticket.transport_out.unwrap_or(transport),
        bytes: ticket.msg.as_bytes().to_vec(),
    });
}
