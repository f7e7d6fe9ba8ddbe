//! REGISTER handling: recording bindings in proxy mode, answering in registrar mode, and the
//! registrar's 2xx on its way back. Mirrors register.c (register_client, register_response,
//! register_set_expire) and siproxd.c:576-612 (inventory §5.3).
//!
//! Decisions:
//! - a full table answers the phone **503** (with a log line naming the limit) instead of
//!   upstream's silent drop, so the phone retries later rather than timing out;
//! - registrar mode answers wrong credentials **403** (upstream: 503, which phones read as
//!   "try another server"); an expired but genuine nonce gets a fresh 407 with
//!   `stale=true`;
//! - a `Contact: *` or Contact-less REGISTER from an unknown phone is answered 200 by the
//!   proxy (upstream's "fake OK" for Grandstream's boot-time unregister); upstream's extra
//!   503 after it in registrar mode is not reproduced.

use crate::sip::{Contact, HeaderName, Message, Uri};

use super::action::{Now, Ticket};
use super::auth::{self, Credentials};
use super::register::{same_user_host, RegisterRequest, Registered};
use super::route::{self, host_of};
use super::{response, Proxy};

/// True when a REGISTER's Request-URI names this proxy (one of its addresses and the
/// listen port): registrar mode.
pub(super) fn is_for_us(p: &Proxy, msg: &Message) -> bool {
    matches!(msg.request_uri(), Some(Ok(u)) if route::is_me(&p.ifaces, p.settings.listen_port, &u))
}

/// The facts of a REGISTER: AOR, first Contact (None for `*`), expiry in effect, and
/// whether the Expires header must be added (neither the Contact nor the header had one).
struct Facts {
    aor: String,
    aor_user: Vec<u8>,
    aor_host: Vec<u8>,
    contact: Option<Option<String>>,
    expires: u32,
    add_expires: bool,
    call_id: String,
}

fn facts(p: &Proxy, msg: &Message) -> Result<Facts, crate::sip::Error> {
    let to = msg.to()?;
    let aor_uri = to.uri().map_err(|e| e.in_header("To", 0))?;
    let contacts = msg.contacts()?;
    let first = contacts.first();
    let contact = first.map(|c| match c {
        Contact::Star => None,
        Contact::Addr(a) => Some(String::from_utf8_lossy(a.uri_bytes()).into_owned()),
    });
    let param = first
        .and_then(Contact::addr)
        .and_then(|a| a.expires())
        .and_then(Result::ok);
    let header = msg.expires()?;
    Ok(Facts {
        aor: String::from_utf8_lossy(aor_uri.as_bytes()).into_owned(),
        aor_user: aor_uri.user().unwrap_or_default().to_vec(),
        aor_host: aor_uri.host().to_vec(),
        contact,
        expires: param.or(header).unwrap_or(p.settings.default_expires),
        add_expires: param.is_none() && header.is_none(),
        call_id: String::from_utf8_lossy(msg.call_id()?).into_owned(),
    })
}

/// The URI the provider sees in proxy mode: `sip:<AOR user>@<WAN>[:port]`.
fn masq_url(p: &Proxy, f: &Facts) -> Option<String> {
    let wan = p.ifaces.advertised_outbound()?;
    let user = String::from_utf8_lossy(&f.aor_user);
    let port = match p.settings.listen_port {
        5060 => String::new(),
        n => format!(":{n}"),
    };
    let at = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    Some(format!("sip:{at}{}{port}", host_of(wan)))
}

/// Registrar mode: the To URI, with `mask_host` → `masked_host` applied to its host.
fn registrar_masq(p: &Proxy, f: &Facts) -> String {
    let masked = p
        .settings
        .mask
        .iter()
        .find(|(from, _)| from.as_bytes().eq_ignore_ascii_case(&f.aor_host))
        .map(|(_, to)| to.clone());
    match (masked, Uri::parse(f.aor.as_bytes())) {
        (Some(host), Ok(u)) => {
            String::from_utf8_lossy(&u.with_user_host_port(None, host.as_bytes(), u.port()))
                .into_owned()
        }
        _ => f.aor.clone(),
    }
}

/// Proxy mode, before the REGISTER is forwarded (register_client with force_lcl_masq).
/// Returns false when the REGISTER was answered instead of forwarded.
pub(super) fn record(
    p: &mut Proxy,
    now: Now,
    ticket: &mut Ticket,
) -> Result<bool, crate::sip::Error> {
    let f = facts(p, &ticket.msg)?;
    if f.add_expires {
        let expires = f.expires.to_string();
        ticket.msg.add_header(b"Expires", expires.as_bytes());
    }
    let known = p
        .regs
        .newest_any(|b| b.source.ip() == ticket.from.ip())
        .is_some();
    let contact = match f.contact.clone() {
        Some(Some(c)) => c,
        Some(None) => {
            p.regs.unregister(&f.aor, None, now.wall);
            return Ok(known || fake_ok(p, ticket));
        }
        None => return Ok(known || fake_ok(p, ticket)),
    };
    if f.expires == 0 {
        p.regs.unregister(&f.aor, Some(&contact), now.wall);
        return Ok(true);
    }
    let Some(masq) = masq_url(p, &f) else {
        return Ok(true);
    };
    bind(p, now, ticket, &f, &contact, masq, false)
}

/// Records the binding; a full table answers 503. Returns false when answered.
fn bind(
    p: &mut Proxy,
    now: Now,
    ticket: &Ticket,
    f: &Facts,
    contact: &str,
    masq: String,
    confirmed: bool,
) -> Result<bool, crate::sip::Error> {
    let req = RegisterRequest {
        aor: &f.aor,
        contact,
        masq,
        expires: f.expires,
        call_id: &f.call_id,
        source: ticket.from,
        transport: ticket.transport,
        confirmed,
    };
    match p.regs.register(&req, now.wall) {
        Registered::TableFull => {
            p.counters.registrations_full += 1;
            log::error!(
                "registration table full ({} bindings): REGISTER of {} from {} answered 503",
                p.regs.len(),
                f.aor,
                ticket.from
            );
            response::reply(p, ticket, 503, "Service Unavailable", &[]);
            Ok(false)
        }
        _ => Ok(true),
    }
}

/// Upstream's fake 200 for an unregister or query from a phone we do not know.
fn fake_ok(p: &mut Proxy, ticket: &Ticket) -> bool {
    response::reply(p, ticket, 200, "OK", &[]);
    false
}

/// Registrar mode (siproxd.c:591-596): authenticate, record, answer.
pub(super) fn handle(p: &mut Proxy, now: Now, ticket: &mut Ticket) {
    if let Err(e) = answer(p, now, ticket) {
        p.note_malformed(now, ticket.from, &e);
    }
}

fn answer(p: &mut Proxy, now: Now, ticket: &mut Ticket) -> Result<(), crate::sip::Error> {
    if !authenticated(p, now, ticket)? {
        return Ok(());
    }
    let f = facts(p, &ticket.msg)?;
    let contact = match f.contact.clone() {
        Some(Some(c)) if f.expires > 0 => c,
        Some(Some(c)) => {
            p.regs.unregister(&f.aor, Some(&c), now.wall);
            response::reply(p, ticket, 200, "OK", &[]);
            return Ok(());
        }
        Some(None) => {
            p.regs.unregister(&f.aor, None, now.wall);
            response::reply(p, ticket, 200, "OK", &[]);
            return Ok(());
        }
        None => {
            response::reply(p, ticket, 200, "OK", &[]);
            return Ok(());
        }
    };
    let masq = registrar_masq(p, &f);
    if bind(p, now, ticket, &f, &contact, masq, true)? {
        let extra = [
            ("Contact", format!("<{contact}>;expires={}", f.expires)),
            ("Expires", f.expires.to_string()),
        ];
        response::reply(p, ticket, 200, "OK", &extra);
    }
    Ok(())
}

/// The credentials of a Proxy-Authorization header.
fn credentials(msg: &Message) -> Result<Option<Credentials>, crate::sip::Error> {
    let all = msg.auth(HeaderName::ProxyAuthorization)?;
    let Some(a) = all.first() else {
        return Ok(None);
    };
    let get = |n: &[u8]| a.get(n).map(|v| String::from_utf8_lossy(&v).into_owned());
    Ok(Some(Credentials {
        username: get(b"username").unwrap_or_default(),
        realm: get(b"realm").unwrap_or_default(),
        nonce: get(b"nonce").unwrap_or_default(),
        uri: get(b"uri").unwrap_or_default(),
        response: get(b"response").unwrap_or_default(),
        algorithm: get(b"algorithm"),
        qop: get(b"qop"),
        nc: get(b"nc"),
        cnonce: get(b"cnonce"),
    }))
}

/// auth.c:authenticate_proxy: 407 without or with stale credentials, 403 with wrong ones.
/// Returns true when the request may proceed.
fn authenticated(p: &mut Proxy, now: Now, ticket: &Ticket) -> Result<bool, crate::sip::Error> {
    let Some(realm) = p.settings.realm.clone() else {
        return Ok(true);
    };
    let client = ticket.from.ip();
    let verdict = match credentials(&ticket.msg)? {
        None => Err(true),
        Some(c) => auth::verify(
            &c,
            "REGISTER",
            &realm,
            &p.passwords,
            &p.nonce_key,
            now.wall,
            client,
        )
        .map_err(|e| {
            log::info!("registrar: credentials from {client} refused: {e}");
            e.is_stale()
        }),
    };
    match verdict {
        Ok(()) => Ok(true),
        Err(stale) if stale || credentials(&ticket.msg)?.is_none() => {
            p.counters.auth_challenges += 1;
            let nonce = auth::issue_nonce(&p.nonce_key, now.wall, client);
            let value =
                auth::challenge(&realm, &nonce, stale && credentials(&ticket.msg)?.is_some());
            response::reply(
                p,
                ticket,
                407,
                "Proxy Authentication Required",
                &[("Proxy-Authenticate", value)],
            );
            Ok(false)
        }
        Err(_) => {
            p.counters.auth_failures += 1;
            response::reply(p, ticket, 403, "Forbidden", &[]);
            Ok(false)
        }
    }
}

/// The contact of a 2xx that stands for binding `b`: exactly its masqueraded URI, else the
/// same user and host, else the only Contact when the AOR has one binding.
fn matching_contact(uris: &[Option<Vec<u8>>], masq: &str, sole: bool) -> Option<usize> {
    let parsed: Vec<Option<Uri<'_>>> = uris
        .iter()
        .map(|u| u.as_deref().and_then(|u| Uri::parse(u).ok()))
        .collect();
    let masq = Uri::parse(masq.as_bytes()).ok()?;
    let exact = parsed
        .iter()
        .position(|u| u.as_ref().is_some_and(|u| u.same_address(&masq)));
    let loose = || {
        parsed
            .iter()
            .position(|u| u.as_ref().is_some_and(|u| same_user_host(u, &masq)))
    };
    exact
        .or_else(loose)
        .or_else(|| (sole && uris.len() == 1).then_some(0))
}

/// The registrar's response to a proxied REGISTER (proxy.c:579-589,
/// register.c:register_set_expire): expiry from the 2xx, Contact back to the phone's.
pub(super) fn register_response(
    p: &mut Proxy,
    now: Now,
    msg: &mut Message,
) -> Result<(), crate::sip::Error> {
    let code = msg.status_code().unwrap_or(0);
    if !(200..300).contains(&code) {
        return Ok(());
    }
    let call_id = String::from_utf8_lossy(msg.call_id()?).into_owned();
    let Some(index) = p.regs.by_call_id(&call_id) else {
        return Ok(());
    };
    let Some(b) = p.regs.get(index).cloned() else {
        return Ok(());
    };
    let contacts = msg.contacts()?;
    let uris: Vec<Option<Vec<u8>>> = contacts
        .iter()
        .map(|c| c.addr().map(|a| a.uri_bytes().to_vec()))
        .collect();
    let expiries: Vec<Option<u32>> = contacts
        .iter()
        .map(|c| c.addr().and_then(|a| a.expires()).and_then(Result::ok))
        .collect();
    let sole = p.regs.iter().filter(|(_, x)| x.aor == b.aor).count() == 1;
    let ci = matching_contact(&uris, &b.masq, sole);
    let expires = ci
        .and_then(|i| expiries.get(i).copied().flatten())
        .or(msg.expires()?);
    let expires = expires.unwrap_or(p.settings.default_expires);
    p.regs.confirm(index, expires, now.wall);
    log::info!(
        "registration of {} at {} confirmed for {expires} s",
        b.aor,
        b.contact
    );
    if let Some(ci) = ci {
        msg.set_contact_uri(ci, b.contact.as_bytes())?;
    }
    Ok(())
}
