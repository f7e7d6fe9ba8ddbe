//! The per-message pipeline: upstream's main loop body (siproxd.c:356-671, inventory §3),
//! stage by stage, with the plugin hooks where upstream calls its plugins.

use std::net::SocketAddr;

use crate::sip::message::DEFAULT_MAX_MESSAGE;
use crate::sip::Message;

use super::acl::Access;
use super::action::{Direction, Now, Ticket, Transport, Verdict};
use super::direction;
use super::{registrar, request, response, Proxy};

/// Runs one message through every stage.
pub(super) fn run(p: &mut Proxy, now: Now, from: SocketAddr, transport: Transport, bytes: &[u8]) {
    let mut raw = bytes.to_vec();
    if p.hooks.process_raw(&mut raw, from, transport) == Verdict::Drop {
        p.counters.plugin_dropped += 1;
        return;
    }
    let access = p.acl.check(from.ip());
    if !access.sip && !access.register {
        p.counters.acl_denied += 1;
        log::debug!("access list: dropped message from {from}");
        return;
    }
    let Some(msg) = parse(p, now, from, transport, &raw) else {
        return;
    };
    let mut ticket = Ticket {
        msg,
        from,
        transport,
        direction: Direction::Unknown,
        next_hop: None,
        transport_out: None,
        sent: Vec::new(),
    };
    dispatch(p, now, &mut ticket, access);
    p.transmits.extend(ticket.sent.drain(..));
}

/// Parses and checks the message (upstream's security_check_raw/sip), counting failures.
fn parse(
    p: &mut Proxy,
    now: Now,
    from: SocketAddr,
    transport: Transport,
    raw: &[u8],
) -> Option<Message> {
    let framing = match transport {
        Transport::Udp => crate::sip::Transport::Datagram,
        Transport::Tcp => crate::sip::Transport::Stream,
    };
    let checked =
        Message::parse(raw, framing, DEFAULT_MAX_MESSAGE).and_then(|m| m.check().map(|()| m));
    match checked {
        Ok(m) => Some(m),
        Err(e) => {
            p.note_malformed(now, from, &e);
            None
        }
    }
}

/// VALIDATE, the hop checks, DETERMINE_TARGET, then registrar, proxy request or response.
fn dispatch(p: &mut Proxy, now: Now, ticket: &mut Ticket, access: Access) {
    if p.hooks.validate(ticket) == Verdict::Drop {
        p.counters.plugin_dropped += 1;
        return;
    }
    if ticket.msg.is_request() && !hop_checks(p, ticket) {
        return;
    }
    // Upstream's DETERMINE_TARGET plugins find the direction themselves
    // (sip_find_direction); we find it for them, so that shortdial and
    // defaulttarget can tell an outgoing call from an unknown one.
    if p.hooks.wants_direction_at_target() {
        ticket.direction =
            direction::find(&p.regs, &p.ifaces, &ticket.msg, ticket.from, now.wall).direction;
    }
    if p.hooks.determine_target(ticket) == Verdict::Sent {
        return;
    }
    let is_register = ticket.msg.method() == Some(b"REGISTER".as_slice());
    match (ticket.msg.is_request(), is_register) {
        (true, true) if !access.register => deny(p, ticket, "REGISTER"),
        (_, false) if !access.sip => deny(p, ticket, "SIP"),
        (true, true) if registrar::is_for_us(p, &ticket.msg) => registrar::handle(p, now, ticket),
        (true, _) if p.ifaces.advertised_outbound().is_none() => {
            if p.ifaces.host_outbound_pending {
                log::warn!("host_outbound has not resolved yet: answering 408");
            } else {
                log::warn!("no address on the outbound interface: answering 408");
            }
            response::reply(p, ticket, 408, "Request Timeout", &[]);
        }
        (true, true) if !lan_allowed(p, now, ticket) => {}
        (true, true) => match registrar::record(p, now, ticket) {
            Ok(true) => request::proxy_request(p, now, ticket),
            Ok(false) => {}
            Err(e) => p.note_malformed(now, ticket.from, &e),
        },
        (true, false) => request::proxy_request(p, now, ticket),
        (false, _) => response::proxy_response(p, now, ticket),
    }
}

/// `proxy_auth_lan` for a REGISTER on its way to the provider (only LAN
/// phones send those).
fn lan_allowed(p: &mut Proxy, now: Now, ticket: &mut Ticket) -> bool {
    match registrar::lan_request_allowed(p, now, ticket) {
        Ok(allowed) => allowed,
        Err(e) => {
            p.note_malformed(now, ticket.from, &e);
            false
        }
    }
}

fn deny(p: &mut Proxy, ticket: &Ticket, what: &str) {
    p.counters.acl_denied += 1;
    log::warn!(
        "access list: {} has no {what} permission, dropped",
        ticket.from
    );
}

/// Max-Forwards and loop detection (siproxd.c:480-507, sip_utils.c:check_vialoop).
/// Returns false when the request was answered.
fn hop_checks(p: &mut Proxy, ticket: &mut Ticket) -> bool {
    if let Ok(Some(0)) = ticket.msg.max_forwards() {
        p.counters.too_many_hops += 1;
        if ticket.msg.method() == Some(b"OPTIONS".as_slice()) {
            response::reply(p, ticket, 200, "OK", &[]);
        } else {
            response::reply(p, ticket, 483, "Too Many Hops", &[]);
        }
        return false;
    }
    if own_vias_below_top(p, &ticket.msg) > 2 {
        p.counters.loops += 1;
        log::warn!("loop detected: own Via found more than twice, answering 482");
        response::reply(p, ticket, 482, "Loop Detected", &[]);
        return false;
    }
    true
}

/// How many Vias other than the top one are ours.
fn own_vias_below_top(p: &Proxy, msg: &Message) -> usize {
    let Ok(vias) = msg.vias() else {
        return 0;
    };
    vias.iter()
        .skip(1)
        .filter(|v| response::is_own_via(p, v))
        .count()
}
