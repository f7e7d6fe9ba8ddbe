//! Digest authentication (RFC 2617 / RFC 3261 §22) with nonces the proxy
//! can verify without storing them, and the password file.
//!
//! Layer: pure: the secret and the clock are injected. Mirrors upstream
//! `auth.c` for the challenge (`407` with `Proxy-Authenticate: Digest
//! realm=…, nonce=…`) and the password file format (`user password` lines,
//! `#` comments), and fixes what upstream gets wrong (inventory §5.8): its
//! nonces are never checked (replay works for ever), the client's realm is
//! not compared, and the method in HA2 is always `REGISTER`.
//!
//! A nonce is `<expiry time, 8 hex>` followed by an HMAC-MD5 over that time
//! and the client's address under a secret drawn at start-up, so only this
//! process issued it, only for that client, and only until it expires; an
//! expired but genuine nonce gets a new challenge with `stale=true`, which
//! makes the phone retry without asking its user again.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::net::IpAddr;

use md5::{Digest, Md5};

/// How long a nonce stays good, in seconds.
pub const NONCE_LIFETIME: u64 = 300;

/// The secret nonces are signed with; draw it from the OS at start-up.
#[derive(Clone)]
pub struct NonceKey(pub [u8; 16]);

/// The parameters of an Authorization / Proxy-Authorization header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
}

/// Why credentials were not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFailure {
    #[error("nonce was not issued by this proxy for {0}")]
    ForeignNonce(IpAddr),
    #[error("nonce expired {0} s ago")]
    StaleNonce(u64),
    #[error("realm {got:?} is not ours ({want:?})")]
    WrongRealm { got: String, want: String },
    #[error("algorithm {0:?} is not supported (only MD5)")]
    Algorithm(String),
    #[error("qop {0:?} is not supported (only auth)")]
    Qop(String),
    #[error("qop=auth without nc and cnonce")]
    MissingNcCnonce,
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("wrong password for user {0:?}")]
    WrongResponse(String),
}

impl AuthFailure {
    /// A stale nonce is answered with a fresh challenge marked
    /// `stale=true`, not with a refusal.
    pub fn is_stale(&self) -> bool {
        matches!(self, AuthFailure::StaleNonce(_))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn md5_hex(parts: &[&str]) -> String {
    let mut h = Md5::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p.as_bytes());
    }
    hex(&h.finalize())
}

/// HMAC-MD5 (RFC 2104) of `msg` under `key`.
fn hmac_md5(key: &[u8; 16], msg: &[u8]) -> [u8; 16] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        if let (Some(a), Some(b)) = (ipad.get_mut(i), opad.get_mut(i)) {
            *a ^= k;
            *b ^= k;
        }
    }
    let inner = Md5::new().chain_update(ipad).chain_update(msg).finalize();
    Md5::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .into()
}

fn nonce_mac(key: &NonceKey, expiry: u64, client: IpAddr) -> String {
    let mut msg = expiry.to_be_bytes().to_vec();
    match client.to_canonical() {
        IpAddr::V4(v4) => msg.extend_from_slice(&v4.octets()),
        IpAddr::V6(v6) => msg.extend_from_slice(&v6.octets()),
    }
    hex(&hmac_md5(&key.0, &msg))
}

/// A fresh nonce for `client`, good for [`NONCE_LIFETIME`] seconds from `now`.
pub fn issue_nonce(key: &NonceKey, now: u64, client: IpAddr) -> String {
    let expiry = now + NONCE_LIFETIME;
    format!(
        "{:08x}{}",
        expiry & 0xffff_ffff,
        nonce_mac(key, expiry & 0xffff_ffff, client)
    )
}

/// Checks that `nonce` is ours, for `client`, and not expired at `now`.
pub fn check_nonce(
    key: &NonceKey,
    nonce: &str,
    now: u64,
    client: IpAddr,
) -> Result<(), AuthFailure> {
    let foreign = || AuthFailure::ForeignNonce(client);
    let expiry_hex = nonce.get(..8).ok_or_else(foreign)?;
    let expiry = u64::from_str_radix(expiry_hex, 16).map_err(|_| foreign())?;
    let mac = nonce.get(8..).ok_or_else(foreign)?;
    if !constant_time_eq(mac.as_bytes(), nonce_mac(key, expiry, client).as_bytes()) {
        return Err(foreign());
    }
    if now > expiry {
        return Err(AuthFailure::StaleNonce(now - expiry));
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of a `Proxy-Authenticate` (or `WWW-Authenticate`) header.
pub fn challenge(realm: &str, nonce: &str, stale: bool) -> String {
    let stale = if stale { ", stale=true" } else { "" };
    format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\"{stale}")
}

/// The request-digest of RFC 2617 §3.2.2.1 for `method` and `password`.
pub fn expected_response(creds: &Credentials, method: &str, password: &str) -> String {
    let ha1 = md5_hex(&[&creds.username, &creds.realm, password]);
    let ha2 = md5_hex(&[method, &creds.uri]);
    match (&creds.qop, &creds.nc, &creds.cnonce) {
        (Some(qop), Some(nc), Some(cnonce)) => {
            md5_hex(&[&ha1, &creds.nonce, nc, cnonce, qop, &ha2])
        }
        _ => md5_hex(&[&ha1, &creds.nonce, &ha2]),
    }
}

/// Verifies `creds` sent with a `method` request from `client`.
pub fn verify(
    creds: &Credentials,
    method: &str,
    realm: &str,
    passwords: &Passwords,
    key: &NonceKey,
    now: u64,
    client: IpAddr,
) -> Result<(), AuthFailure> {
    check_nonce(key, &creds.nonce, now, client)?;
    if creds.realm != realm {
        return Err(AuthFailure::WrongRealm {
            got: creds.realm.clone(),
            want: realm.to_string(),
        });
    }
    check_params(creds)?;
    let password = passwords
        .lookup(&creds.username)
        .ok_or_else(|| AuthFailure::UnknownUser(creds.username.clone()))?;
    let want = expected_response(creds, method, password);
    if constant_time_eq(
        want.as_bytes(),
        creds.response.to_ascii_lowercase().as_bytes(),
    ) {
        Ok(())
    } else {
        Err(AuthFailure::WrongResponse(creds.username.clone()))
    }
}

fn check_params(creds: &Credentials) -> Result<(), AuthFailure> {
    if let Some(alg) = creds
        .algorithm
        .as_deref()
        .filter(|a| !a.eq_ignore_ascii_case("MD5"))
    {
        return Err(AuthFailure::Algorithm(alg.to_string()));
    }
    match creds.qop.as_deref() {
        None => Ok(()),
        Some(q) if !q.eq_ignore_ascii_case("auth") => Err(AuthFailure::Qop(q.to_string())),
        Some(_) if creds.nc.is_none() || creds.cnonce.is_none() => {
            Err(AuthFailure::MissingNcCnonce)
        }
        Some(_) => Ok(()),
    }
}

/// Where passwords come from: `proxy_auth_pwfile` (which wins, as upstream)
/// or the single `proxy_auth_passwd`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Passwords {
    file: Option<Vec<(String, String)>>,
    global: Option<String>,
}

impl Passwords {
    /// `pwfile_text` is the content of `proxy_auth_pwfile`, if configured.
    pub fn new(pwfile_text: Option<&str>, global: Option<&str>) -> Passwords {
        Passwords {
            file: pwfile_text.map(parse_pwfile),
            global: global.map(str::to_string),
        }
    }

    /// The password of `user`: the first matching line of the file, or,
    /// without a file, the global password.
    pub fn lookup(&self, user: &str) -> Option<&str> {
        match &self.file {
            Some(lines) => lines
                .iter()
                .find(|(u, _)| u == user)
                .map(|(_, p)| p.as_str()),
            None => self.global.as_deref(),
        }
    }
}

/// `username password` per line; blank lines and `#` comments skipped.
fn parse_pwfile(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: NonceKey = NonceKey(*b"0123456789abcdef");

    fn phone() -> IpAddr {
        "192.0.2.10".parse().unwrap()
    }

    #[test]
    fn hmac_md5_matches_rfc_2202_vector() {
        // RFC 2202 test case 2 uses a 4-byte key; case 1 has 16 bytes of 0x0b.
        let mac = hmac_md5(&[0x0b; 16], b"Hi There");
        assert_eq!(hex(&mac), "9294727a3638bb1c13f48ef8158bfc9d");
    }

    #[test]
    fn rfc_2617_example_response() {
        // RFC 2617 §3.5, with qop=auth.
        let creds = Credentials {
            username: "Mufasa".into(),
            realm: "testrealm@host.com".into(),
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            uri: "/dir/index.html".into(),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("0a4f113b".into()),
            ..Credentials::default()
        };
        assert_eq!(
            expected_response(&creds, "GET", "Circle Of Life"),
            "6629fae49393a05397450978507c4ef1"
        );
    }

    #[test]
    fn nonce_is_ours_for_this_client_until_it_expires() {
        let n = issue_nonce(&KEY, 1000, phone());
        assert_eq!(n.len(), 40);
        assert_eq!(check_nonce(&KEY, &n, 1000, phone()), Ok(()));
        assert_eq!(
            check_nonce(&KEY, &n, 1000 + NONCE_LIFETIME, phone()),
            Ok(())
        );
        assert_eq!(
            check_nonce(&KEY, &n, 1000 + NONCE_LIFETIME + 7, phone()),
            Err(AuthFailure::StaleNonce(7))
        );
        let other: IpAddr = "192.0.2.11".parse().unwrap();
        assert_eq!(
            check_nonce(&KEY, &n, 1000, other),
            Err(AuthFailure::ForeignNonce(other))
        );
        let mut forged = n.clone();
        forged.replace_range(0..8, "ffffffff");
        assert_eq!(
            check_nonce(&KEY, &forged, 1000, phone()),
            Err(AuthFailure::ForeignNonce(phone()))
        );
        assert_eq!(
            check_nonce(&KEY, "abc", 1000, phone()),
            Err(AuthFailure::ForeignNonce(phone()))
        );
    }

    fn signed(method: &str, password: &str, now: u64) -> Credentials {
        let mut c = Credentials {
            username: "alice".into(),
            realm: "home".into(),
            nonce: issue_nonce(&KEY, now, phone()),
            uri: "sip:192.0.2.1".into(),
            ..Credentials::default()
        };
        c.response = expected_response(&c, method, password);
        c
    }

    #[test]
    fn verify_accepts_the_right_password_and_method_only() {
        let pw = Passwords::new(Some("# users\nalice secret\nbob other\n"), Some("ignored"));
        let c = signed("REGISTER", "secret", 50);
        assert_eq!(
            verify(&c, "REGISTER", "home", &pw, &KEY, 60, phone()),
            Ok(())
        );
        // The method is part of HA2: an INVITE cannot reuse a REGISTER's digest.
        assert_eq!(
            verify(&c, "INVITE", "home", &pw, &KEY, 60, phone()),
            Err(AuthFailure::WrongResponse("alice".into()))
        );
        assert_eq!(
            verify(&c, "REGISTER", "office", &pw, &KEY, 60, phone()),
            Err(AuthFailure::WrongRealm {
                got: "home".into(),
                want: "office".into()
            })
        );
        let wrong = signed("REGISTER", "guess", 50);
        assert_eq!(
            verify(&wrong, "REGISTER", "home", &pw, &KEY, 60, phone()),
            Err(AuthFailure::WrongResponse("alice".into()))
        );
        let late = verify(
            &c,
            "REGISTER",
            "home",
            &pw,
            &KEY,
            50 + NONCE_LIFETIME + 1,
            phone(),
        );
        assert!(late.unwrap_err().is_stale());
    }

    #[test]
    fn password_file_wins_over_the_global_password() {
        let pw = Passwords::new(Some("alice secret\n"), Some("global"));
        assert_eq!(pw.lookup("alice"), Some("secret"));
        assert_eq!(pw.lookup("carol"), None);
        let global = Passwords::new(None, Some("global"));
        assert_eq!(global.lookup("anyone"), Some("global"));
    }

    #[test]
    fn challenge_header_value() {
        assert_eq!(
            challenge("home", "n1", true),
            "Digest realm=\"home\", nonce=\"n1\", algorithm=MD5, qop=\"auth\", stale=true"
        );
    }

    #[test]
    fn upstream_password_file_fixture_parses() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/compat/siproxd_passwd.cfg"
        ))
        .unwrap();
        assert_eq!(
            Passwords::new(Some(&text), None).lookup("user"),
            Some("password")
        );
    }
}
