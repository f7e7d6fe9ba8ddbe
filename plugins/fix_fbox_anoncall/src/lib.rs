//! plugin_fix_fbox_anoncall: works around AVM Fritz!Box devices that put a
//! wrong user into the Contact of anonymous calls, which confuses siproxd's
//! registration matching.
//!
//! Mirrors plugin_fix_fbox_anoncall.c: stage PRE_PROXY; key
//! `plugin_fix_fbox_anoncall_networks` (CSV `ip/mask`). For outgoing
//! requests and responses from a source inside the networks, the first
//! Contact is compared with the active registrations: if one has the same
//! Contact host and user, all is well; otherwise, if the Contact host
//! matches a registration's Contact (`true_url`) and its `uniq=` parameter
//! equals (case-insensitive), the Contact user is replaced with that
//! registration's user. INFO `plugin_fix_fbox_anoncall is initialized` /
//! `plugin_fix_fbox_anoncall ends here`.
//!
//! Extension (as the inventory describes newer upstream behaviour): without
//! a `uniq=` match, a registration on that host whose user equals the To
//! user is used. Needs ABI 1.1 (`registration_get`).

use spx::{Direction, Host, Msg, Plugin, Registration, Stage, Verdict};
use spxutil::{name_addr_uri, replace_name_addr_uri, Networks, SipUri};
use std::ffi::CStr;

pub struct FixFboxAnoncall {
    networks: Networks,
}

impl Plugin for FixFboxAnoncall {
    const NAME: &'static CStr = c"plugin_fix_fbox_anoncall";
    const DESCRIPTION: &'static CStr = c"Repairs the Contact user of Fritz!Box anonymous calls";
    const STAGES: u32 = Stage::PreProxy.bit();
    const ABI_MINOR: u16 = 1;

    fn init(host: &Host) -> Result<Self, String> {
        let (networks, problems) =
            Networks::parse(&host.plugin_config("networks").unwrap_or_default());
        for problem in problems {
            host.warn(&format!("plugin_fix_fbox_anoncall_networks: {problem}"));
        }
        host.info("plugin_fix_fbox_anoncall is initialized");
        Ok(FixFboxAnoncall { networks })
    }

    fn process(&mut self, host: &Host, _stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
        if let Some(msg) = msg {
            let outgoing = matches!(
                msg.direction(),
                Direction::RequestOutgoing | Direction::ResponseOutgoing
            );
            let from_networks = msg.source().is_ok_and(|s| self.networks.contains(s.ip()));
            if outgoing && from_networks {
                fix_contact(host, msg);
            }
        }
        Verdict::Continue
    }

    fn fini(&mut self, host: &Host) {
        host.info("plugin_fix_fbox_anoncall ends here");
    }
}

/// Byte length of the first value of a comma list (outside quotes and `<…>`).
fn first_value_len(line: &str) -> usize {
    let (mut quoted, mut angle) = (false, false);
    for (i, b) in line.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' if !quoted && !angle => return i,
            _ => {}
        }
    }
    line.len()
}

fn same_host(a: &SipUri, b: &SipUri) -> bool {
    a.host.eq_ignore_ascii_case(&b.host)
}

fn same_user(a: Option<&str>, b: Option<&str>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

/// The registration whose user the Contact should carry, or `None` if the
/// Contact is fine or cannot be sanitised.
fn pick(contact: &SipUri, to_user: Option<&str>, regs: &[(SipUri, SipUri)]) -> Option<String> {
    let on_host: Vec<&(SipUri, SipUri)> = regs
        .iter()
        .filter(|(_, url)| same_host(contact, url))
        .collect();
    if on_host
        .iter()
        .any(|(_, url)| same_user(contact.user.as_deref(), url.user.as_deref()))
    {
        return None;
    }
    let by_uniq = on_host.iter().find(|(_, url)| {
        matches!((contact.param("uniq"), url.param("uniq")),
            (Some(a), Some(b)) if !a.is_empty() && a.eq_ignore_ascii_case(b))
    });
    let by_to = || {
        on_host.iter().find(|(aor, url)| {
            same_user(to_user, url.user.as_deref()) || same_user(to_user, aor.user.as_deref())
        })
    };
    by_uniq.or_else(by_to).and_then(|(_, url)| url.user.clone())
}

fn fix_contact(host: &Host, msg: &mut Msg<'_>) {
    let Ok(line) = msg
        .header("Contact", 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
    else {
        host.debug("no Contact header found in SIP message");
        return;
    };
    let first_len = first_value_len(&line);
    let (Some(first), Some(rest)) = (line.get(..first_len), line.get(first_len..)) else {
        return;
    };
    let Some(contact) = name_addr_uri(first).and_then(SipUri::parse) else {
        return;
    };
    let to_user = msg
        .header("To", 0)
        .ok()
        .map(|to| String::from_utf8_lossy(to).into_owned())
        .and_then(|to| name_addr_uri(&to).and_then(SipUri::parse))
        .and_then(|u| u.user);
    let now = host.now_ms();
    let regs: Vec<(SipUri, SipUri)> = host
        .registrations()
        .into_iter()
        .filter(|r: &Registration| r.expires_ms > now)
        .filter_map(|r| Some((SipUri::parse(&r.aor)?, SipUri::parse(&r.contact)?)))
        .collect();
    let Some(user) = pick(&contact, to_user.as_deref(), &regs) else {
        return;
    };
    let mut fixed = contact.clone();
    fixed.user = Some(user);
    let Some(first) = replace_name_addr_uri(first, &fixed.to_string()) else {
        return;
    };
    match msg.set_header("Contact", 0, format!("{first}{rest}").as_bytes()) {
        Ok(()) => host.debug(&format!("sanitized Contact {contact} -> {fixed}")),
        Err(e) => host.warn(&format!("cannot fix the Contact: {e}")),
    }
}

spx::declare_plugin!(FixFboxAnoncall);

#[cfg(test)]
mod tests {
    use super::*;
    use spx::testing::{FakeMsg, Harness};

    fn plugin() -> Harness<FixFboxAnoncall> {
        let plugin = Harness::<FixFboxAnoncall>::init(&[(
            "plugin_fix_fbox_anoncall_networks",
            "192.168.0.0/16,10.0.0.0/8,172.16.0.0/20",
        )])
        .unwrap();
        for (aor, contact) in [
            (
                "sip:4711@provider.example",
                "sip:4711@192.168.178.1:5060;uniq=ABC123",
            ),
            (
                "sip:4712@provider.example",
                "sip:4712@192.168.178.1:5060;uniq=DEF456",
            ),
        ] {
            plugin.host().registrations.borrow_mut().push(Registration {
                aor: aor.into(),
                contact: contact.into(),
                masq: String::new(),
                expires_ms: 60_000,
            });
        }
        plugin
    }

    fn response(contact: &str, to_user: &str) -> FakeMsg {
        FakeMsg::parse(&format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK1\r\n\
             From: <sip:anonymous@anonymous.invalid>;tag=1\r\nTo: <sip:{to_user}@provider.example>;tag=2\r\n\
             Call-ID: x\r\nCSeq: 1 INVITE\r\nContact: {contact}\r\n\r\n"
        ))
        .with_source("192.168.178.1:5060")
        .with_direction(Direction::ResponseOutgoing)
    }

    #[test]
    fn a_wrong_user_is_replaced_by_the_uniq_match() {
        let mut plugin = plugin();
        let mut msg = response(
            "\"Box\" <sip:anonymous@192.168.178.1:5060;uniq=DEF456>;expires=60",
            "x",
        );
        assert_eq!(
            plugin.process(Stage::PreProxy, Some(&mut msg)),
            Verdict::Continue
        );
        assert_eq!(
            msg.header("Contact", 0),
            Some("\"Box\" <sip:4712@192.168.178.1:5060;uniq=DEF456>;expires=60")
        );
    }

    #[test]
    fn without_uniq_the_to_user_decides() {
        let mut plugin = plugin();
        let mut msg = response(
            "<sip:anonymous@192.168.178.1:5060>, <sip:other@10.0.0.1>",
            "4711",
        );
        plugin.process(Stage::PreProxy, Some(&mut msg));
        assert_eq!(
            msg.header("Contact", 0),
            Some("<sip:4711@192.168.178.1:5060>, <sip:other@10.0.0.1>")
        );
    }

    #[test]
    fn correct_unknown_incoming_and_foreign_contacts_are_left_alone() {
        let mut plugin = plugin();
        for (contact, to, dir, source) in [
            (
                "<sip:4711@192.168.178.1:5060;uniq=DEF456>",
                "x",
                Direction::ResponseOutgoing,
                "192.168.178.1:5060",
            ),
            (
                "<sip:anonymous@192.168.178.9>",
                "4711",
                Direction::ResponseOutgoing,
                "192.168.178.1:5060",
            ),
            (
                "<sip:anonymous@192.168.178.1;uniq=ABC123>",
                "x",
                Direction::ResponseIncoming,
                "192.168.178.1:5060",
            ),
            (
                "<sip:anonymous@192.168.178.1;uniq=ABC123>",
                "x",
                Direction::RequestOutgoing,
                "203.0.113.5:5060",
            ),
        ] {
            let mut msg = response(contact, to)
                .with_direction(dir)
                .with_source(source);
            plugin.process(Stage::PreProxy, Some(&mut msg));
            assert_eq!(msg.header("Contact", 0), Some(contact));
        }
    }

    #[test]
    fn logs_like_upstream() {
        let plugin = plugin();
        assert_eq!(
            plugin.logs(),
            ["INFO plugin_fix_fbox_anoncall is initialized"]
        );
        assert_eq!(plugin.fini(), ["INFO plugin_fix_fbox_anoncall ends here"]);
    }
}
