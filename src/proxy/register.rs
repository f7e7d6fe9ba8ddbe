//! The registration table: which LAN UA is behind which address of record, and under which
//! masqueraded contact the provider knows it. PURE.
//!
//! Mirrors register.c (`urlmap[]`, `register_client`, `register_set_expire`, the aging in
//! `register_agemap`), with the fixes of inventory §12:
//! - several bindings per AOR: two phones registering the same AOR both stay registered
//!   (upstream overwrites the first). A binding is the pair (AOR, phone contact host:port);
//!   an incoming request for the AOR goes to the most recently refreshed live binding (a
//!   stateless proxy cannot fork);
//! - the 2xx from the registrar is matched to its binding by the REGISTER's Call-ID, and its
//!   Contact leniently (exact masqueraded URI, else same user and host, else the only binding
//!   of the AOR), falling back to the Expires header. Upstream needs an exact echo of the
//!   masqueraded URI and otherwise purges the binding ~10 s later;
//! - a binding not yet confirmed by a 2xx lives [`PROVISIONAL_SECS`] (a transaction's
//!   lifetime, RFC 3261 §17.1.1.2 64·T1) instead of upstream's 5 s, so a digest round trip
//!   to the registrar cannot lose it.

use std::net::SocketAddr;

use crate::sip::Uri;

use super::action::Transport;
use super::regfile::RegRecord;

/// How long an unconfirmed binding lives, in seconds (64·T1 = 32 s).
pub const PROVISIONAL_SECS: u64 = 32;
/// Seconds a binding outlives its expiry (upstream's `REGISTER_GRACE`), so the 2xx to an
/// unregister still finds it.
pub const GRACE_SECS: u64 = 5;
/// Default table size (upstream's `URLMAP_SIZE`).
pub const DEFAULT_MAX_BINDINGS: usize = 512;

/// One registered LAN UA (upstream's `urlmap` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The address of record, the To URI of the REGISTER (`reg_url`).
    pub aor: String,
    /// The phone's own Contact URI (`true_url`).
    pub contact: String,
    /// What the provider sees (`masq_url`): `sip:<AOR user>@<WAN>[:port]`.
    pub masq: String,
    /// Absolute expiry, Unix seconds.
    pub expires: u64,
    /// True once a 2xx from the registrar (or our own registrar) set the expiry.
    pub confirmed: bool,
    /// Call-ID of the latest REGISTER, to match its response.
    pub call_id: String,
    /// Where the REGISTER came from, and how.
    pub source: SocketAddr,
    pub transport: Transport,
    /// Order of the latest refresh (higher is newer).
    refreshed: u64,
}

/// The result of a REGISTER passing through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// Binding number `.0` recorded or refreshed.
    Bound(usize),
    /// The bindings of the AOR from this contact were marked for removal.
    Unbound,
    /// The table is full; nothing was recorded.
    TableFull,
}

/// What the proxy knows about an incoming REGISTER.
#[derive(Debug, Clone)]
pub struct RegisterRequest<'a> {
    pub aor: &'a str,
    pub contact: &'a str,
    pub masq: String,
    pub expires: u32,
    pub call_id: &'a str,
    pub source: SocketAddr,
    pub transport: Transport,
    /// Registrar mode answers the REGISTER itself: the binding is confirmed at once.
    pub confirmed: bool,
}

/// The table.
#[derive(Debug, Clone)]
pub struct Registrations {
    bindings: Vec<Binding>,
    limit: usize,
    seq: u64,
}

/// `compare_url` (sip_utils.c): scheme, user (case-sensitive) and host (case-insensitive);
/// port and parameters ignored.
pub fn same_user_host(a: &Uri<'_>, b: &Uri<'_>) -> bool {
    a.scheme == b.scheme
        && a.user_unescaped() == b.user_unescaped()
        && a.host().eq_ignore_ascii_case(b.host())
}

/// Scheme and user only (rule 4 of sip_find_direction).
pub fn same_user(a: &Uri<'_>, b: &Uri<'_>) -> bool {
    a.scheme == b.scheme && a.user().is_some() && a.user_unescaped() == b.user_unescaped()
}

/// Compares a stored URI string with a parsed one by `f`.
pub fn matches(stored: &str, other: &Uri<'_>, f: fn(&Uri<'_>, &Uri<'_>) -> bool) -> bool {
    Uri::parse(stored.as_bytes()).is_ok_and(|u| f(&u, other))
}

/// Same host and port (default 5060) of two URIs: the same device.
fn same_host_port(a: &str, b: &str) -> bool {
    match (Uri::parse(a.as_bytes()), Uri::parse(b.as_bytes())) {
        (Ok(a), Ok(b)) => {
            a.host().eq_ignore_ascii_case(b.host())
                && a.port().unwrap_or(5060) == b.port().unwrap_or(5060)
        }
        _ => a == b,
    }
}

impl Registrations {
    pub fn new(limit: usize) -> Registrations {
        Registrations {
            bindings: Vec::new(),
            limit,
            seq: 0,
        }
    }

    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&Binding> {
        self.bindings.get(index)
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, &Binding)> {
        self.bindings.iter().enumerate()
    }

    /// The binding of this AOR at this phone contact (host and port), if any.
    fn find(&self, aor: &str, contact: &str) -> Option<usize> {
        let aor_uri = Uri::parse(aor.as_bytes()).ok()?;
        self.bindings.iter().position(|b| {
            matches(&b.aor, &aor_uri, same_user_host) && same_host_port(&b.contact, contact)
        })
    }

    /// A REGISTER with expires > 0. Mirrors register.c:register_client's "expires > 0" path.
    pub fn register(&mut self, req: &RegisterRequest<'_>, now: u64) -> Registered {
        self.seq += 1;
        let expires = if req.confirmed {
            now + u64::from(req.expires)
        } else {
            now + PROVISIONAL_SECS.min(u64::from(req.expires).max(1))
        };
        if let Some(i) = self.find(req.aor, req.contact) {
            let seq = self.seq;
            if let Some(b) = self.bindings.get_mut(i) {
                b.contact = req.contact.to_string();
                b.masq.clone_from(&req.masq);
                b.call_id = req.call_id.to_string();
                b.source = req.source;
                b.transport = req.transport;
                b.refreshed = seq;
                if req.confirmed || !b.confirmed {
                    b.expires = expires;
                    b.confirmed = req.confirmed;
                }
            }
            return Registered::Bound(i);
        }
        if self.bindings.len() >= self.limit {
            return Registered::TableFull;
        }
        self.bindings.push(Binding {
            aor: req.aor.to_string(),
            contact: req.contact.to_string(),
            masq: req.masq.clone(),
            expires,
            confirmed: req.confirmed,
            call_id: req.call_id.to_string(),
            source: req.source,
            transport: req.transport,
            refreshed: self.seq,
        });
        Registered::Bound(self.bindings.len() - 1)
    }

    /// A REGISTER with expires 0 (or `Contact: *` when `contact` is `None`): the bindings
    /// expire now, kept [`GRACE_SECS`] so the response still finds its way.
    pub fn unregister(&mut self, aor: &str, contact: Option<&str>, now: u64) -> Registered {
        let Ok(aor_uri) = Uri::parse(aor.as_bytes()) else {
            return Registered::Unbound;
        };
        for b in &mut self.bindings {
            let this_contact = contact.is_none_or(|c| same_host_port(&b.contact, c));
            if matches(&b.aor, &aor_uri, same_user_host) && this_contact {
                b.expires = now;
                b.confirmed = true;
            }
        }
        Registered::Unbound
    }

    /// Sets the expiry of binding `index` from the registrar's 2xx.
    /// Mirrors register.c:register_set_expire (with the lenient matching of the module doc).
    pub fn confirm(&mut self, index: usize, expires: u32, now: u64) {
        if let Some(b) = self.bindings.get_mut(index) {
            b.expires = now + u64::from(expires);
            b.confirmed = true;
        }
    }

    /// The binding whose latest REGISTER had this Call-ID.
    pub fn by_call_id(&self, call_id: &str) -> Option<usize> {
        self.bindings.iter().position(|b| b.call_id == call_id)
    }

    /// Live bindings, newest refresh first, that satisfy `pred`.
    pub fn newest_live(&self, now: u64, pred: impl Fn(&Binding) -> bool) -> Option<usize> {
        self.bindings
            .iter()
            .enumerate()
            .filter(|(_, b)| b.expires + GRACE_SECS > now && pred(b))
            .max_by_key(|(_, b)| b.refreshed)
            .map(|(i, _)| i)
    }

    /// Any binding (expired or not) satisfying `pred`, newest first.
    pub fn newest_any(&self, pred: impl Fn(&Binding) -> bool) -> Option<usize> {
        self.bindings
            .iter()
            .enumerate()
            .filter(|(_, b)| pred(b))
            .max_by_key(|(_, b)| b.refreshed)
            .map(|(i, _)| i)
    }

    /// Removes bindings past expiry plus grace; returns them. Mirrors register_agemap.
    pub fn expire(&mut self, now: u64) -> Vec<Binding> {
        if self.next_expiry().is_none_or(|at| at > now) {
            return Vec::new();
        }
        let (gone, kept) = std::mem::take(&mut self.bindings)
            .into_iter()
            .partition(|b| b.expires + GRACE_SECS <= now);
        self.bindings = kept;
        gone
    }

    /// When the next binding goes (Unix seconds).
    pub fn next_expiry(&self) -> Option<u64> {
        self.bindings.iter().map(|b| b.expires + GRACE_SECS).min()
    }

    /// The live bindings as registration-file records.
    pub fn records(&self, now: u64) -> Vec<RegRecord> {
        self.bindings
            .iter()
            .filter(|b| b.expires > now)
            .map(|b| RegRecord {
                expires: i64::try_from(b.expires).unwrap_or(i64::MAX),
                true_url: b.contact.clone(),
                masq_url: b.masq.clone(),
                reg_url: b.aor.clone(),
            })
            .collect()
    }

    /// Restores a record read from the registration file (no source known: unspecified).
    pub fn restore(&mut self, r: &RegRecord, now: u64) -> bool {
        let expires = u64::try_from(r.expires).unwrap_or(0);
        if expires <= now || self.bindings.len() >= self.limit {
            return false;
        }
        self.seq += 1;
        self.bindings.push(Binding {
            aor: r.reg_url.clone(),
            contact: r.true_url.clone(),
            masq: r.masq_url.clone(),
            expires,
            confirmed: true,
            call_id: String::new(),
            source: SocketAddr::from(([0, 0, 0, 0], 0)),
            transport: Transport::Udp,
            refreshed: self.seq,
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(aor: &'a str, contact: &'a str, call_id: &'a str) -> RegisterRequest<'a> {
        RegisterRequest {
            aor,
            contact,
            masq: "sip:alice@198.51.100.1".into(),
            expires: 600,
            call_id,
            source: "10.0.0.10:5060".parse().unwrap(),
            transport: Transport::Udp,
            confirmed: false,
        }
    }

    #[test]
    fn two_phones_same_aor_two_bindings_and_full_table() {
        let mut r = Registrations::new(2);
        let a = req("sip:alice@example.test", "sip:alice@10.0.0.10:5060", "c1");
        let b = req("sip:alice@example.test", "sip:alice@10.0.0.11:5060", "c2");
        assert_eq!(r.register(&a, 1000), Registered::Bound(0));
        assert_eq!(r.register(&b, 1000), Registered::Bound(1));
        assert_eq!(r.register(&a, 1001), Registered::Bound(0));
        let c = req("sip:carol@example.test", "sip:c@10.0.0.12", "c3");
        assert_eq!(r.register(&c, 1001), Registered::TableFull);
        assert_eq!(r.get(0).unwrap().expires, 1001 + PROVISIONAL_SECS);
        r.confirm(0, 600, 1002);
        assert_eq!(r.get(0).unwrap().expires, 1602);
        assert_eq!(r.expire(1000 + PROVISIONAL_SECS + GRACE_SECS).len(), 1);
        assert_eq!(r.len(), 1);
        assert_eq!(r.next_expiry(), Some(1602 + GRACE_SECS));
    }
}
