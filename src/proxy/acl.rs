//! Source-address access control: `hosts_allow_reg`, `hosts_allow_sip`,
//! `hosts_deny_sip`.
//!
//! Layer: pure (name resolution is injected). Mirrors upstream
//! `accessctl.c:accesslist_check` (inventory §5.9), deny first:
//!
//! | step | outcome |
//! | --- | --- |
//! | source in `hosts_deny_sip` | no access: the message is dropped |
//! | `hosts_allow_sip` empty, or the source in it | SIP |
//! | `hosts_allow_reg` empty | REGISTER |
//! | source in a non-empty `hosts_allow_reg` | REGISTER and SIP |
//!
//! Differences: IPv6 works; an entry without `/mask` is one host (upstream
//! rejects the whole list, which silently turns an allow list into "deny
//! everybody"); a hostname entry resolves to all of its addresses.

#![forbid(unsafe_code)]

use std::net::IpAddr;

use ipnetwork::IpNetwork;

/// What a source may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access {
    /// Any SIP request or response other than REGISTER.
    pub sip: bool,
    /// REGISTER requests.
    pub register: bool,
}

/// The three lists, resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Acl {
    allow_reg: Vec<IpNetwork>,
    allow_sip: Vec<IpNetwork>,
    deny_sip: Vec<IpNetwork>,
}

/// An ACL entry that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AclError {
    #[error("{directive}: entry {entry:?}: mask {mask} is out of range (0..={max})")]
    MaskRange {
        directive: &'static str,
        entry: String,
        mask: u32,
        max: u8,
    },
    #[error("{directive}: entry {entry:?}: mask {mask:?} is not a number")]
    MaskSyntax {
        directive: &'static str,
        entry: String,
        mask: String,
    },
    #[error("{directive}: entry {entry:?}: host {host:?} does not resolve")]
    Unresolved {
        directive: &'static str,
        entry: String,
        host: String,
    },
}

impl Acl {
    /// Builds the lists from the configuration's comma-separated entries.
    /// `resolve` maps a hostname to its addresses (empty: unresolvable).
    pub fn new(
        allow_reg: &[String],
        allow_sip: &[String],
        deny_sip: &[String],
        resolve: &dyn Fn(&str) -> Vec<IpAddr>,
    ) -> Result<Acl, AclError> {
        Ok(Acl {
            allow_reg: networks("hosts_allow_reg", allow_reg, resolve)?,
            allow_sip: networks("hosts_allow_sip", allow_sip, resolve)?,
            deny_sip: networks("hosts_deny_sip", deny_sip, resolve)?,
        })
    }

    /// What `source` may send.
    pub fn check(&self, source: IpAddr) -> Access {
        let source = source.to_canonical();
        let inside = |list: &[IpNetwork]| list.iter().any(|net| net.contains(source));
        if inside(&self.deny_sip) {
            return Access::default();
        }
        let reg_listed = !self.allow_reg.is_empty() && inside(&self.allow_reg);
        Access {
            sip: self.allow_sip.is_empty() || inside(&self.allow_sip) || reg_listed,
            register: self.allow_reg.is_empty() || reg_listed,
        }
    }
}

fn networks(
    directive: &'static str,
    entries: &[String],
    resolve: &dyn Fn(&str) -> Vec<IpAddr>,
) -> Result<Vec<IpNetwork>, AclError> {
    let mut out = Vec::new();
    for entry in entries
        .iter()
        .flat_map(|e| e.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        out.extend(entry_networks(directive, entry, resolve)?);
    }
    Ok(out)
}

/// One `host[/mask]` entry → its networks.
fn entry_networks(
    directive: &'static str,
    entry: &str,
    resolve: &dyn Fn(&str) -> Vec<IpAddr>,
) -> Result<Vec<IpNetwork>, AclError> {
    let (host, mask) = match entry.split_once('/') {
        Some((host, mask)) => (host.trim(), Some(mask.trim())),
        None => (entry, None),
    };
    let addrs = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => resolve(host),
    };
    if addrs.is_empty() {
        return Err(AclError::Unresolved {
            directive,
            entry: entry.to_string(),
            host: host.to_string(),
        });
    }
    addrs
        .into_iter()
        .map(|ip| network(directive, entry, ip.to_canonical(), mask))
        .collect()
}

fn network(
    directive: &'static str,
    entry: &str,
    ip: IpAddr,
    mask: Option<&str>,
) -> Result<IpNetwork, AclError> {
    let max: u8 = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match mask {
        None => max,
        Some(m) => {
            let n: u32 = m.parse().map_err(|_| AclError::MaskSyntax {
                directive,
                entry: entry.to_string(),
                mask: m.to_string(),
            })?;
            u8::try_from(n)
                .ok()
                .filter(|p| *p <= max)
                .ok_or(AclError::MaskRange {
                    directive,
                    entry: entry.to_string(),
                    mask: n,
                    max,
                })?
        }
    };
    // The prefix is in range for the address family, so this cannot fail;
    // report it as a range error rather than panic if it ever did.
    IpNetwork::new(ip, prefix).map_err(|_| AclError::MaskRange {
        directive,
        entry: entry.to_string(),
        mask: u32::from(prefix),
        max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_dns(_: &str) -> Vec<IpAddr> {
        Vec::new()
    }

    fn acl(reg: &str, sip: &str, deny: &str) -> Acl {
        let v = |s: &str| {
            if s.is_empty() {
                vec![]
            } else {
                vec![s.to_string()]
            }
        };
        Acl::new(&v(reg), &v(sip), &v(deny), &no_dns).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn empty_lists_allow_everything() {
        assert_eq!(
            acl("", "", "").check(ip("203.0.113.9")),
            Access {
                sip: true,
                register: true
            }
        );
    }

    #[test]
    fn deny_wins_over_allow() {
        let a = acl("192.168.1.0/24", "", "192.168.1.66/32");
        assert_eq!(a.check(ip("192.168.1.66")), Access::default());
        assert_eq!(
            a.check(ip("192.168.1.65")),
            Access {
                sip: true,
                register: true
            }
        );
    }

    #[test]
    fn allow_reg_restricts_register_and_grants_sip() {
        let a = acl("192.168.1.0/24", "10.0.0.0/8", "");
        assert_eq!(
            a.check(ip("192.168.1.5")),
            Access {
                sip: true,
                register: true
            }
        );
        assert_eq!(
            a.check(ip("10.1.2.3")),
            Access {
                sip: true,
                register: false
            }
        );
        assert_eq!(
            a.check(ip("203.0.113.1")),
            Access {
                sip: false,
                register: false
            }
        );
    }

    #[test]
    fn lists_are_comma_separated_and_a_bare_host_is_slash_32() {
        let a = Acl::new(&[], &["192.0.2.1, 198.51.100.0/24".into()], &[], &no_dns).unwrap();
        assert!(a.check(ip("192.0.2.1")).sip);
        assert!(!a.check(ip("192.0.2.2")).sip);
        assert!(a.check(ip("198.51.100.200")).sip);
    }

    #[test]
    fn ipv6_and_mapped_sources() {
        let a = acl("", "2001:db8::/32,192.0.2.0/24", "");
        assert!(a.check(ip("2001:db8::5")).sip);
        assert!(a.check(ip("::ffff:192.0.2.7")).sip);
        assert!(!a.check(ip("2001:db9::5")).sip);
    }

    #[test]
    fn hostnames_resolve_through_the_injected_resolver() {
        let dns = |h: &str| {
            if h == "pbx.lan" {
                vec![ip("192.0.2.10"), ip("192.0.2.11")]
            } else {
                vec![]
            }
        };
        let a = Acl::new(&[], &["pbx.lan".into()], &[], &dns).unwrap();
        assert!(a.check(ip("192.0.2.11")).sip);
        let err = Acl::new(&[], &["nowhere.lan/24".into()], &[], &dns).unwrap_err();
        assert_eq!(
            err.to_string(),
            "hosts_allow_sip: entry \"nowhere.lan/24\": host \"nowhere.lan\" does not resolve"
        );
    }

    #[test]
    fn bad_masks_are_named() {
        let err = Acl::new(&["10.0.0.0/33".into()], &[], &[], &no_dns).unwrap_err();
        assert_eq!(
            err.to_string(),
            "hosts_allow_reg: entry \"10.0.0.0/33\": mask 33 is out of range (0..=32)"
        );
        let err = Acl::new(&[], &[], &["10.0.0.0/x".into()], &no_dns).unwrap_err();
        assert_eq!(
            err.to_string(),
            "hosts_deny_sip: entry \"10.0.0.0/x\": mask \"x\" is not a number"
        );
    }
}
