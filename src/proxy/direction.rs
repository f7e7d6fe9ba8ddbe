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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::action::Transport;
    use crate::proxy::register::RegisterRequest;

    const PHONE: &str = "10.99.0.10:5062";

    fn table() -> Registrations {
        let mut regs = Registrations::new(8);
        let req = RegisterRequest {
            aor: "sip:alice@example.test",
            contact: "sip:a1@10.99.0.10:5062",
            masq: "sip:alice@198.51.100.1".into(),
            expires: 600,
            call_id: "r",
            source: PHONE.parse().unwrap(),
            transport: Transport::Udp,
            confirmed: true,
        };
        regs.register(&req, 1000);
        regs
    }

    fn ifaces() -> Interfaces {
        Interfaces {
            inbound: "10.99.0.1".parse().ok(),
            outbound: "198.51.100.1".parse().ok(),
            host_outbound: None,
            host_outbound_pending: false,
        }
    }

    fn dir(text: &str, from: &str) -> Direction {
        let msg = Message::parse_datagram(text.replace('\n', "\r\n").as_bytes()).unwrap();
        find(&table(), &ifaces(), &msg, from.parse().unwrap(), 1001).direction
    }

    fn request(ruri: &str, to: &str) -> String {
        format!("OPTIONS {ruri} SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.5\nFrom: <sip:x@203.0.113.5>;tag=1\nTo: <{to}>\nCall-ID: d\nCSeq: 1 OPTIONS\n\n")
    }

    fn response(from: &str, second_via: &str) -> String {
        format!("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKx\nVia: SIP/2.0/UDP {second_via};branch=z9hG4bKy\nFrom: <{from}>;tag=1\nTo: <sip:b@203.0.113.5>;tag=2\nCall-ID: d\nCSeq: 1 OPTIONS\n\n")
    }

    #[test]
    fn rule_1_source_is_a_registered_phone() {
        assert_eq!(
            dir(
                &request("sip:b@203.0.113.5", "sip:b@203.0.113.5"),
                "10.99.0.10:9"
            ),
            Direction::OutgoingRequest
        );
    }

    #[test]
    fn rule_2_and_3_to_or_request_uri_match_a_binding() {
        let wan = "203.0.113.5:5060";
        assert_eq!(
            dir(&request("sip:q@203.0.113.5", "sip:alice@example.test"), wan),
            Direction::IncomingRequest
        );
        assert_eq!(
            dir(
                &request("sip:alice@198.51.100.1:5060", "sip:other@x.test"),
                wan
            ),
            Direction::IncomingRequest
        );
        // Rule 3 matches the AOR for other methods, never for a REGISTER.
        let by_aor = request("sip:alice@example.test", "sip:carol@example.test");
        assert_eq!(dir(&by_aor, wan), Direction::IncomingRequest);
        let reg = by_aor.replace("OPTIONS", "REGISTER");
        assert_eq!(dir(&reg, wan), Direction::Unknown);
    }

    #[test]
    fn rule_4_user_only_and_rule_5_second_via() {
        let wan = "203.0.113.5:5060";
        assert_eq!(
            dir(
                &request("sip:q@203.0.113.5", "sip:alice@other-host.test"),
                wan
            ),
            Direction::IncomingRequest
        );
        assert_eq!(
            dir(&response("sip:z@y.test", "10.99.0.10:5062"), wan),
            Direction::IncomingResponse
        );
        assert_eq!(
            dir(&response("sip:z@y.test", "10.99.0.10:5063"), wan),
            Direction::Unknown
        );
    }

    #[test]
    fn rule_6_loopback_and_own_addresses_are_lan() {
        let text = request("sip:b@203.0.113.5", "sip:b@203.0.113.5");
        assert_eq!(dir(&text, "127.0.0.1:5070"), Direction::OutgoingRequest);
        assert_eq!(dir(&text, "10.99.0.1:5070"), Direction::OutgoingRequest);
        assert_eq!(dir(&text, "203.0.113.5:5060"), Direction::Unknown);
    }
}
