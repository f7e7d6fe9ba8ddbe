//! siproxd's network lists (`plugin_fix_bogus_via_networks = 10.0.0.0/8,…`).

use std::net::{IpAddr, ToSocketAddrs};

/// A list of `address/mask` entries.
/// Mirrors accessctl.c `process_aclist`: comma-separated `a.b.c.d/n`, a mask
/// above the address width is clamped to the full width, hostnames are
/// resolved (here once, at parse time: plugins parse in `init`).
/// Differs: a bare address without `/n` is taken as a single host (upstream
/// rejects the whole list with an error); IPv6 entries are accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Networks {
    entries: Vec<(IpAddr, u8)>,
}

impl Networks {
    /// Parses a list; entries that cannot be used are returned as messages.
    pub fn parse(list: &str) -> (Networks, Vec<String>) {
        let mut networks = Networks::default();
        let mut problems = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (addr, mask) = match entry.split_once('/') {
                Some((a, m)) => (a.trim(), Some(m.trim())),
                None => (entry, None),
            };
            let ip = match addr.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => match (addr, 0).to_socket_addrs().ok().and_then(|mut a| a.next()) {
                    Some(sa) => sa.ip(),
                    None => {
                        problems.push(format!("cannot resolve network address '{addr}'"));
                        continue;
                    }
                },
            };
            let width: u8 = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match mask.map(str::parse::<u32>) {
                None => width,
                Some(Ok(n)) => u8::try_from(n.min(u32::from(width))).unwrap_or(width),
                Some(Err(_)) => {
                    problems.push(format!("invalid mask in network entry '{entry}'"));
                    continue;
                }
            };
            networks.entries.push((ip, bits));
        }
        (networks, problems)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True if `ip` is inside one of the entries (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.entries.iter().any(|&(net, bits)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        })
    }

    /// `contains` for text that may not be an IP literal (then: false).
    pub fn contains_text(&self, host: &str) -> bool {
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        host.parse().is_ok_and(|ip| self.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_list_matches_private_ranges() {
        let (n, problems) = Networks::parse("10.0.0.0/8,172.16.0.0/12, 192.168.0.0/16");
        assert!(problems.is_empty());
        assert!(n.contains_text("10.1.2.3"));
        assert!(n.contains_text("172.31.255.255"));
        assert!(!n.contains_text("172.32.0.1"));
        assert!(n.contains_text("192.168.7.7"));
        assert!(!n.contains_text("193.168.7.7"));
        assert!(!n.contains_text("not-an-ip"));
    }

    #[test]
    fn masks_clamp_and_bare_hosts_are_single_addresses() {
        let (n, problems) = Networks::parse("217.0.23.100/40,198.51.100.7,0.0.0.0/0x");
        assert_eq!(problems, ["invalid mask in network entry '0.0.0.0/0x'"]);
        assert!(n.contains_text("217.0.23.100"));
        assert!(!n.contains_text("217.0.23.101"));
        assert!(n.contains_text("198.51.100.7"));
        let (all, _) = Networks::parse("0.0.0.0/0");
        assert!(all.contains_text("203.0.113.9"));
    }
}
