//! Which way a message travels, from the registration table. PURE.
//!
//! Mirrors sip_utils.c:sip_find_direction (inventory §5.1), rules in upstream's order; the
//! first that matches wins:
//! 1. the source IP is the host of a registered phone contact → outgoing;
//! 2. live bindings: a request's To equals a masqueraded URI (or, not for REGISTER, an
//!    AOR) → incoming request; a response's From equals an AOR or masqueraded URI →
//!    incoming response;
//! 3. a request's Request-URI equals a masqueraded URI (or, not for REGISTER, an AOR);
//! 4. the same pairs as rule 2 on scheme and user only, expiry ignored;
//! 5. a response whose second Via is a registered contact's host and port → incoming;
//! 6. the source is 127.0.0.1 or one of the proxy's own addresses (pfSense's loopback
//!    redirect, a DNATed UA) → outgoing;
//! 7. otherwise unknown.
//!
//! URIs compare as upstream's `compare_url`: scheme, user, host; port and parameters
//! ignored. Hosts compare as strings (no DNS in the core).

use std::net::{IpAddr, SocketAddr};

use crate::sip::{Message, Uri};

use super::action::{Direction, Interfaces};
use super::register::{matches, same_user, same_user_host, Binding, Registrations};

/// The direction and, for an incoming request, the binding it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub direction: Direction,
    pub binding: Option<usize>,
}

fn found(request: bool, outgoing: bool, binding: Option<usize>) -> Found {
    let direction = match (request, outgoing) {
        (true, true) => Direction::OutgoingRequest,
        (true, false) => Direction::IncomingRequest,
        (false, true) => Direction::OutgoingResponse,
        (false, false) => Direction::IncomingResponse,
    };
    Found { direction, binding }
}

/// Host of a stored contact URI as an IP, if it is one.
fn contact_ip(b: &Binding) -> Option<IpAddr> {
    Uri::parse(b.contact.as_bytes()).ok()?.host_ip()
}

/// Rule 1: the source is a registered phone (expiry ignored, as upstream).
fn from_registered_phone(regs: &Registrations, from: SocketAddr) -> Option<usize> {
    let ip = from.ip().to_canonical();
    regs.newest_any(|b| contact_ip(b).is_some_and(|c| c.to_canonical() == ip))
}

/// Rules 2–4 for one URI against the bindings: `masq` always, `aor` when allowed.
fn match_uri(
    regs: &Registrations,
    uri: &Uri<'_>,
    with_aor: bool,
    cmp: fn(&Uri<'_>, &Uri<'_>) -> bool,
    live_at: Option<u64>,
) -> Option<usize> {
    let pred = |b: &Binding| matches(&b.masq, uri, cmp) || (with_aor && matches(&b.aor, uri, cmp));
    match live_at {
        Some(now) => regs.newest_live(now, pred),
        None => regs.newest_any(pred),
    }
}

/// Rule 5: the second Via names a registered contact's host and port.
fn second_via_registered(regs: &Registrations, msg: &Message) -> Option<usize> {
    let vias = msg.vias().ok()?;
    let via = vias.get(1)?;
    let port = via.port().unwrap_or(5060);
    regs.newest_any(|b| {
        Uri::parse(b.contact.as_bytes()).is_ok_and(|c| {
            c.host().eq_ignore_ascii_case(via.host()) && c.port().unwrap_or(5060) == port
        })
    })
}

/// Rule 6: loopback or one of our own addresses.
fn from_local(ifaces: &Interfaces, from: SocketAddr) -> bool {
    let ip = from.ip().to_canonical();
    ip.is_loopback() || ifaces.is_mine(ip)
}

/// sip_find_direction, see the module doc.
pub fn find(
    regs: &Registrations,
    ifaces: &Interfaces,
    msg: &Message,
    from: SocketAddr,
    now: u64,
) -> Found {
    let request = msg.is_request();
    if let Some(i) = from_registered_phone(regs, from) {
        return found(request, true, Some(i));
    }
    let is_register = msg.method() == Some(b"REGISTER".as_slice());
    let with_aor = !is_register;
    let party = if request { msg.to() } else { msg.from() };
    let party_uri = party
        .ok()
        .and_then(|p| p.uri().ok().map(|u| u.as_bytes().to_vec()));
    let party_uri = party_uri.as_deref().and_then(|u| Uri::parse(u).ok());
    let (aor_ok_2, aor_ok_4) = if request {
        (with_aor, with_aor)
    } else {
        (true, true)
    };
    if let Some(u) = &party_uri {
        if let Some(i) = match_uri(regs, u, aor_ok_2, same_user_host, Some(now)) {
            return found(request, false, Some(i));
        }
    }
    if let Some(Ok(ruri)) = msg.request_uri() {
        if let Some(i) = match_uri(regs, &ruri, with_aor, same_user_host, Some(now)) {
            return found(true, false, Some(i));
        }
    }
    if let Some(u) = &party_uri {
        if let Some(i) = match_uri(regs, u, aor_ok_4, same_user, None) {
            return found(request, false, Some(i));
        }
    }
    if !request {
        if let Some(i) = second_via_registered(regs, msg) {
            return found(false, false, Some(i));
        }
    }
    if from_local(ifaces, from) {
        return found(request, true, None);
    }
    Found {
        direction: Direction::Unknown,
        binding: None,
    }
}
