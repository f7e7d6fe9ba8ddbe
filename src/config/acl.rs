//! Access lists: `hosts_allow_reg`, `hosts_allow_sip`, `hosts_deny_sip`.
//!
//! Mirrors accessctl.c's list format: comma-separated `address/mask` entries. Upstream is
//! IPv4-only and drops the whole list on an entry without `/mask`; we accept IPv4 and IPv6
//! CIDRs and hostnames with `/n` (resolved later by the shell), and read an entry without a
//! mask as a single host, with a warning.
#![forbid(unsafe_code)]

use std::fmt;
use std::net::IpAddr;

use ipnetwork::IpNetwork;

/// One access-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclEntry {
    /// An address literal with its prefix length.
    Net(IpNetwork),
    /// A hostname with a prefix length, resolved when the list is used.
    Host { name: String, prefix: u8 },
}

impl fmt::Display for AclEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AclEntry::Net(net) => write!(f, "{}/{}", net.ip(), net.prefix()),
            AclEntry::Host { name, prefix } => write!(f, "{name}/{prefix}"),
        }
    }
}

/// What reading one list produced: the entries, plus warnings and errors (messages only; the
/// caller adds file, line and directive).
#[derive(Debug, Default)]
pub struct AclRead {
    pub entries: Vec<AclEntry>,
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
}

/// Reads a comma-separated list. Blanks around entries are ignored; empty entries warn.
pub fn parse_list(text: &str) -> AclRead {
    let mut read = AclRead::default();
    for raw in text.split(',') {
        let entry = raw.trim_matches([' ', '\t']);
        if entry.is_empty() {
            read.warnings
                .push(format!("empty entry in \"{text}\" ignored"));
            continue;
        }
        match parse_entry(entry) {
            Ok((e, None)) => read.entries.push(e),
            Ok((e, Some(w))) => {
                read.entries.push(e);
                read.warnings.push(w);
            }
            Err(msg) => read.errors.push(msg),
        }
    }
    read
}

/// Reads one `address/mask` entry; the second value is a warning when the mask is missing.
fn parse_entry(entry: &str) -> Result<(AclEntry, Option<String>), String> {
    let (addr, mask) = match entry.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (entry, None),
    };
    if let Ok(ip) = addr.parse::<IpAddr>() {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match mask {
            Some(m) => parse_mask(entry, m, max)?,
            None => max,
        };
        let net = IpNetwork::new(ip, prefix).map_err(|_| {
            format!("entry \"{entry}\": mask /{prefix} is out of range (expected 0..{max})")
        })?;
        return Ok((
            AclEntry::Net(net),
            mask.is_none().then(|| no_mask_warning(entry, prefix)),
        ));
    }
    if !is_hostname(addr) {
        return Err(format!(
            "entry \"{entry}\" is not an address/mask (expected e.g. 192.168.1.0/24, fd00::/8 or host.example.org/32)"
        ));
    }
    let prefix = match mask {
        Some(m) => parse_mask(entry, m, 128)?,
        None => 32,
    };
    let host = AclEntry::Host {
        name: addr.to_string(),
        prefix,
    };
    Ok((host, mask.is_none().then(|| no_mask_warning(entry, prefix))))
}

fn parse_mask(entry: &str, mask: &str, max: u8) -> Result<u8, String> {
    match mask.parse::<u8>() {
        Ok(p) if p <= max && !mask.starts_with('+') => Ok(p),
        _ => Err(format!(
            "entry \"{entry}\": mask /{mask} is out of range (expected 0..{max})"
        )),
    }
}

fn no_mask_warning(entry: &str, prefix: u8) -> String {
    format!(
        "entry \"{entry}\" has no /mask: taken as a single host (/{prefix}); siproxd would have ignored the whole list"
    )
}

/// A DNS name: labels of letters, digits and `-`, not all digits (so `300.1.1.1` is refused).
fn is_hostname(name: &str) -> bool {
    let labels_ok = name.split('.').all(|l| {
        !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    let numeric = name.chars().all(|c| c.is_ascii_digit() || c == '.');
    !name.is_empty() && name.len() <= 253 && labels_ok && !numeric
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries() {
        let r = parse_list("10.0.0.0/8,fd00::/8,gw.example.org/32");
        assert_eq!(r.entries.len(), 3);
        assert!(r.errors.is_empty() && r.warnings.is_empty());
        let r = parse_list("10.0.0.1");
        assert_eq!(
            r.entries.first().map(ToString::to_string),
            Some("10.0.0.1/32".into())
        );
        assert_eq!(r.warnings.len(), 1);
        assert_eq!(
            parse_list("10.0.0.0/33").errors,
            vec!["entry \"10.0.0.0/33\": mask /33 is out of range (expected 0..32)".to_string()]
        );
        assert_eq!(parse_list("300.1.1.1/8").errors.len(), 1);
        assert_eq!(parse_list("a b/8").errors.len(), 1);
    }
}
