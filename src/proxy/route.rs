//! Route handling and the next hop. PURE.
//!
//! Mirrors route_processing.c (route_preprocess, route_add_recordroute,
//! route_purge_recordroute) and the next-hop choice of proxy.c:proxy_request /
//! sip_utils.c:sip_find_outbound_proxy (inventory §5.2).

use std::net::{IpAddr, SocketAddr};

use crate::sip::{HeaderName, Message, Uri};

use super::action::{Destination, Interfaces, Transport};

/// The user part of siproxd's own Record-Route (`sip:siproxd@<ip>:<port>;lr`).
pub const OWN_RR_USER: &[u8] = b"siproxd";

/// Formats an IP for a URI or Via (IPv6 in brackets).
pub fn host_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// True when `uri` names this proxy: one of its addresses and the listen port (default
/// 5060). Mirrors route_processing.c's "is it me" test.
pub fn is_me(ifaces: &Interfaces, listen_port: u16, uri: &Uri<'_>) -> bool {
    uri.host_ip().is_some_and(|ip| ifaces.is_mine(ip)) && uri.port().unwrap_or(5060) == listen_port
}

/// siproxd's own Record-Route value, with the inbound address (route_add_recordroute).
pub fn own_record_route(inbound: IpAddr, listen_port: u16) -> String {
    format!("<sip:siproxd@{}:{listen_port};lr>", host_of(inbound))
}

/// RFC 3261 §16.4 and route_processing.c:route_preprocess. A Request-URI `siproxd@<me>` is
/// what a strict router left: the last Route becomes the Request-URI. Then every Route on
/// top that names us is removed.
pub fn preprocess(
    msg: &mut Message,
    ifaces: &Interfaces,
    listen_port: u16,
) -> Result<(), crate::sip::Error> {
    let strict = match msg.request_uri() {
        Some(Ok(u)) => u.user() == Some(OWN_RR_USER) && is_me(ifaces, listen_port, &u),
        _ => false,
    };
    if strict && msg.count(HeaderName::Route) > 0 {
        let uri = pop_last_route(msg)?;
        msg.set_request_uri(&uri)?;
    }
    while top_route_is_me(msg, ifaces, listen_port) {
        remove_top_route(msg)?;
    }
    Ok(())
}

fn top_route_is_me(msg: &Message, ifaces: &Interfaces, listen_port: u16) -> bool {
    let Ok(routes) = msg.route_set(HeaderName::Route) else {
        return false;
    };
    routes
        .first()
        .and_then(|r| r.uri().ok())
        .is_some_and(|u| is_me(ifaces, listen_port, &u))
}

/// Removes the topmost Route value (RFC 3261 §16.4).
fn remove_top_route(msg: &mut Message) -> Result<usize, crate::sip::Error> {
    let mut seen = 0;
    msg.remove_route_values(HeaderName::Route, |_| {
        seen += 1;
        seen == 1
    })
}

/// Removes the last Route value and returns its URI: what a strict router left for the
/// Request-URI (RFC 3261 §16.4, route_processing.c:route_preprocess).
fn pop_last_route(msg: &mut Message) -> Result<Vec<u8>, crate::sip::Error> {
    let routes = msg.route_set(HeaderName::Route)?;
    let last = routes.len();
    let uri = routes
        .last()
        .map(|r| r.uri_bytes().to_vec())
        .ok_or(crate::sip::Error::NoSuchHeader { name: "Route" })?;
    let mut seen = 0;
    msg.remove_route_values(HeaderName::Route, |_| {
        seen += 1;
        seen == last
    })?;
    Ok(uri)
}

/// route_purge_recordroute: removes our own Record-Routes from a message going out.
pub fn purge_own_record_routes(
    msg: &mut Message,
    ifaces: &Interfaces,
    listen_port: u16,
) -> Result<usize, crate::sip::Error> {
    msg.remove_route_values(HeaderName::RecordRoute, |a| {
        a.uri().is_ok_and(|u| is_me(ifaces, listen_port, &u))
    })
}

/// Where a URI points: its host (IP → address, name → resolved by the shell) and port.
/// `maddr` wins over the host (RFC 3261 §16.5).
pub fn destination_of(uri: &Uri<'_>) -> Destination {
    let host = uri.param(b"maddr").flatten().unwrap_or(uri.host());
    destination(host, uri.port())
}

/// A host and optional port as a destination; IP literals default to port 5060.
pub fn destination(host: &[u8], port: Option<u16>) -> Destination {
    match crate::sip::uri::parse_ip(host) {
        Some(ip) => Destination::Addr(SocketAddr::new(ip, port.unwrap_or(5060))),
        None => Destination::Name {
            host: String::from_utf8_lossy(host).into_owned(),
            port,
        },
    }
}

/// The transport a URI asks for (`;transport=tcp|udp`), if any.
pub fn uri_transport(uri: &Uri<'_>) -> Option<Transport> {
    let t = uri.param(b"transport").flatten()?;
    if t.eq_ignore_ascii_case(b"tcp") {
        Some(Transport::Tcp)
    } else if t.eq_ignore_ascii_case(b"udp") {
        Some(Transport::Udp)
    } else {
        None
    }
}

/// The top Route's URI as bytes, if the message has one.
pub fn top_route(msg: &Message) -> Option<Vec<u8>> {
    let routes = msg.route_set(HeaderName::Route).ok()?;
    routes.first().map(|r| r.uri_bytes().to_vec())
}

/// The outbound proxy for a From host (sip_find_outbound_proxy): the first
/// `outbound_domain_name` equal to the From host (case-insensitive), else
/// `outbound_proxy_host`.
pub fn outbound_proxy(
    from_host: &[u8],
    domains: &[crate::config::OutboundDomain],
    global: Option<&(String, u16)>,
) -> Option<Destination> {
    let domain = domains
        .iter()
        .find(|d| d.name.as_bytes().eq_ignore_ascii_case(from_host))
        .map(|d| (d.host.as_str(), d.port));
    let (host, port) = domain.or(global.map(|(h, p)| (h.as_str(), *p)))?;
    Some(destination(host.as_bytes(), Some(port)))
}
