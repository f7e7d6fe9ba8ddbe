//! Interface addresses: `if_inbound` / `if_outbound` name → IP address.
//!
//! Layer: shell (asks the kernel via getifaddrs). Mirrors upstream
//! `utils.c:get_interface_ip`: the first IPv4 address of an interface that is
//! up. Unlike upstream, an IP literal is accepted as it is (the pfSense GUI
//! sometimes writes one), and a missing interface is told apart from one that
//! is down or has no address, because ppp0 may come up after boot.

use std::net::IpAddr;

/// Why an interface has no usable address right now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IfaceError {
    #[error("interface {0} does not exist")]
    NotFound(String),
    #[error("interface {0} is down")]
    Down(String),
    #[error("interface {0} has no IPv4 address")]
    NoAddress(String),
    #[error("cannot list interfaces: {0}")]
    Lookup(String),
}

/// The address to use for `name_or_ip`: the literal itself, or the first
/// IPv4 address of the named interface, which must be up.
pub fn lookup(name_or_ip: &str) -> Result<IpAddr, IfaceError> {
    if let Ok(ip) = name_or_ip.parse::<IpAddr>() {
        return Ok(ip);
    }
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| IfaceError::Lookup(e.to_string()))?;
    let mut seen = false;
    let mut up = false;
    for ifa in addrs.filter(|ifa| ifa.interface_name == name_or_ip) {
        seen = true;
        up |= ifa.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP);
        let v4 = ifa
            .address
            .as_ref()
            .and_then(|a| a.as_sockaddr_in())
            .map(|sin| sin.ip());
        if let (Some(ip), true) = (
            v4,
            ifa.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP),
        ) {
            return Ok(IpAddr::V4(ip));
        }
    }
    Err(match (seen, up) {
        (false, _) => IfaceError::NotFound(name_or_ip.to_string()),
        (true, false) => IfaceError::Down(name_or_ip.to_string()),
        (true, true) => IfaceError::NoAddress(name_or_ip.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_by_name_and_literal() {
        assert_eq!(lookup("lo"), Ok("127.0.0.1".parse().unwrap()));
        assert_eq!(lookup("198.51.100.7"), Ok("198.51.100.7".parse().unwrap()));
        assert_eq!(lookup("::1"), Ok("::1".parse().unwrap()));
    }

    #[test]
    fn a_missing_interface_is_named() {
        assert_eq!(
            lookup("nosuchif0"),
            Err(IfaceError::NotFound("nosuchif0".into()))
        );
        assert_eq!(
            lookup("nosuchif0").unwrap_err().to_string(),
            "interface nosuchif0 does not exist"
        );
    }
}
