//! plugin_shortdial: short dial numbers (`*01` … `*99`) redirected to the
//! configured `plugin_shortdial_entry` lines.
//!
//! Mirrors plugin_shortdial.c: stage DETERMINE_TARGET; keys
//! `plugin_shortdial_akey` and `plugin_shortdial_entry` (repeatable, entry
//! *n* is the *n*th line); nothing happens unless both are set. A request
//! acts only if it is outgoing, an INVITE or ACK, and its Request-URI user is
//! exactly as long as the akey and starts with the akey's first character;
//! `n = atoi(user[1..])` must be 1 ≤ n ≤ entries. An INVITE is answered with
//! `302 Moved Temporarily` whose Contact is the To URI with the user replaced
//! by entry *n* (and the host too if the entry is `user@host`; `user@` keeps
//! it); the matching ACK (for that 302) is swallowed.
//!
//! Extension (inventory §12): `plugin_shortdial_mode = rewrite` rewrites the
//! Request-URI in place instead (user, and host for `user@host` entries) and
//! lets INVITE, ACK and CANCEL go on; no 302 is sent. The default mode,
//! `redirect`, is upstream's.

use spx::{Direction, Host, Msg, Plugin, Stage, Verdict};
use spxutil::{config_int, name_addr_uri, SipUri};
use std::ffi::CStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Redirect,
    Rewrite,
}

pub struct ShortDial {
    akey: Option<String>,
    entries: Vec<String>,
    mode: Mode,
}

impl Plugin for ShortDial {
    const NAME: &'static CStr = c"plugin_shortdial";
    const DESCRIPTION: &'static CStr = c"Short dial numbers (akey + entries)";
    const STAGES: u32 = Stage::DetermineTarget.bit();

    fn init(host: &Host) -> Result<Self, String> {
        let mode = match host.plugin_config("mode").as_deref().map(str::trim) {
            None | Some("") | Some("redirect") => Mode::Redirect,
            Some("rewrite") => Mode::Rewrite,
            Some(other) => {
                return Err(format!(
                    "plugin_shortdial_mode must be 'redirect' or 'rewrite', not '{other}'"
                ))
            }
        };
        let akey = host
            .plugin_config("akey")
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty());
        let entries = host.plugin_config_all("entry");
        if akey.is_none() || entries.is_empty() {
            host.info("plugin_shortdial_akey or plugin_shortdial_entry not set: inactive");
        }
        Ok(ShortDial {
            akey,
            entries,
            mode,
        })
    }

    fn process(&mut self, host: &Host, _stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
        match msg {
            Some(msg) => self.determine_target(host, msg),
            None => Verdict::Continue,
        }
    }
}

/// The URI with its user replaced by `entry`, and its host too when the
/// entry is `user@host` (`user@` keeps the host).
fn retarget(mut uri: SipUri, entry: &str) -> SipUri {
    match entry.split_once('@') {
        Some((user, host)) => {
            uri.user = Some(user.to_string());
            if !host.is_empty() {
                uri.host = host.to_string();
            }
        }
        None => uri.user = Some(entry.to_string()),
    }
    uri.password = None;
    uri
}

impl ShortDial {
    /// The entry selected by the Request-URI user, if the rules match.
    fn entry_for(&self, ruri_user: &str) -> Option<&str> {
        let akey = self.akey.as_deref()?;
        if ruri_user.len() != akey.len() || ruri_user.as_bytes().first() != akey.as_bytes().first()
        {
            return None;
        }
        let n = config_int(ruri_user.get(1..), 0);
        let index = usize::try_from(n).ok()?.checked_sub(1)?;
        self.entries.get(index).map(String::as_str)
    }

    fn determine_target(&mut self, host: &Host, msg: &mut Msg<'_>) -> Verdict {
        if msg.is_request() != Some(true) {
            return Verdict::Continue;
        }
        let method = match msg.method() {
            Ok(b"INVITE") => "INVITE",
            Ok(b"ACK") => "ACK",
            Ok(b"CANCEL") if self.mode == Mode::Rewrite => "CANCEL",
            _ => return Verdict::Continue,
        };
        if msg.direction() != Direction::RequestOutgoing {
            return Verdict::Continue;
        }
        let Some(ruri) = msg
            .request_uri()
            .ok()
            .and_then(|u| SipUri::parse(&String::from_utf8_lossy(u)))
        else {
            return Verdict::Continue;
        };
        let Some(entry) = ruri.user.as_deref().and_then(|u| self.entry_for(u)) else {
            return Verdict::Continue;
        };
        let entry = entry.to_string();
        match self.mode {
            Mode::Rewrite => {
                let new_uri = retarget(ruri.clone(), &entry).to_string();
                if let Err(e) = msg.set_request_uri(new_uri.as_bytes()) {
                    host.warn(&format!("cannot rewrite Request-URI: {e}"));
                    return Verdict::Continue;
                }
                host.debug(&format!("{method}: rewrote {ruri} -> {new_uri}"));
                Verdict::Continue
            }
            Mode::Redirect if method == "ACK" => Verdict::SipSent,
            Mode::Redirect => redirect(host, msg, &entry),
        }
    }
}

/// Mirrors plugin_shortdial.c `plugin_shortdial_redirect`: a 302 whose one
/// Contact is the To URI with the user (and host) of the entry.
fn redirect(host: &Host, msg: &mut Msg<'_>, entry: &str) -> Verdict {
    let to_uri = msg
        .header("To", 0)
        .ok()
        .map(String::from_utf8_lossy)
        .and_then(|to| name_addr_uri(&to).and_then(SipUri::parse));
    let Some(to_uri) = to_uri else {
        host.warn("INVITE without a usable To URI: not redirected");
        return Verdict::Continue;
    };
    let contact = format!("<{}>", retarget(to_uri, entry));
    match msg.reply(302, None, &[("Contact", contact.as_bytes())]) {
        Ok(verdict) => verdict,
        Err(e) => {
            host.warn(&format!("cannot send 302: {e}"));
            Verdict::Continue
        }
    }
}

spx::declare_plugin!(ShortDial);

#[cfg(test)]
mod tests {
    use super::*;
    use spx::testing::{FakeMsg, FakeReply, Harness};

    const CONFIG: [(&str, &str); 4] = [
        ("plugin_shortdial_akey", "*00"),
        ("plugin_shortdial_entry", "17474743246"),
        ("plugin_shortdial_entry", "17474745000@pstn.example.net"),
        ("plugin_shortdial_entry", "600@"),
    ];

    fn request(method: &str, user: &str) -> FakeMsg {
        FakeMsg::parse(&format!(
            "{method} sip:{user}@sip.example.org SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1\r\n\
             From: <sip:alice@sip.example.org>;tag=1\r\n\
             To: \"Dial\" <sip:{user}@sip.example.org:5070;user=phone>\r\n\
             Contact: <sip:alice@192.168.1.10>\r\n\
             Call-ID: c1@192.168.1.10\r\nCSeq: 1 {method}\r\n\r\n"
        ))
        .with_direction(Direction::RequestOutgoing)
    }

    fn redirected_to(plugin: &mut Harness<ShortDial>, user: &str) -> Option<FakeReply> {
        let mut msg = request("INVITE", user);
        let verdict = plugin.process(Stage::DetermineTarget, Some(&mut msg));
        assert_eq!(verdict == Verdict::SipSent, msg.reply.is_some(), "{user}");
        msg.reply
    }

    fn contact(reply: Option<FakeReply>) -> Option<String> {
        let reply = reply?;
        assert_eq!((reply.code, reply.reason.as_deref()), (302, None));
        assert_eq!(reply.extra.len(), 1);
        let (name, value) = reply.extra.into_iter().next()?;
        assert_eq!(name, "Contact");
        Some(value)
    }

    #[test]
    fn an_invite_to_a_short_number_gets_a_302_to_the_entry() {
        let mut plugin = Harness::<ShortDial>::init(&CONFIG).unwrap();
        assert_eq!(
            contact(redirected_to(&mut plugin, "*01")).as_deref(),
            Some("<sip:17474743246@sip.example.org:5070;user=phone>")
        );
        assert_eq!(
            contact(redirected_to(&mut plugin, "*02")).as_deref(),
            Some("<sip:17474745000@pstn.example.net:5070;user=phone>")
        );
        assert_eq!(
            contact(redirected_to(&mut plugin, "*03")).as_deref(),
            Some("<sip:600@sip.example.org:5070;user=phone>")
        );
        // atoi("1x") == 1
        assert_eq!(
            contact(redirected_to(&mut plugin, "*1x")).as_deref(),
            Some("<sip:17474743246@sip.example.org:5070;user=phone>")
        );
    }

    #[test]
    fn numbers_outside_the_rules_pass_through() {
        let mut plugin = Harness::<ShortDial>::init(&CONFIG).unwrap();
        for user in ["*00", "*04", "*100", "**1", "#01", "123", "*-1"] {
            assert_eq!(redirected_to(&mut plugin, user), None, "{user}");
        }
    }

    #[test]
    fn the_ack_of_the_302_is_swallowed_and_other_methods_pass() {
        let mut plugin = Harness::<ShortDial>::init(&CONFIG).unwrap();
        let mut ack = request("ACK", "*01");
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut ack)),
            Verdict::SipSent
        );
        assert_eq!(ack.reply, None);
        let mut bye = request("BYE", "*01");
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut bye)),
            Verdict::Continue
        );
    }

    #[test]
    fn only_outgoing_requests_are_redirected() {
        let mut plugin = Harness::<ShortDial>::init(&CONFIG).unwrap();
        let mut msg = request("INVITE", "*01").with_direction(Direction::RequestIncoming);
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut msg)),
            Verdict::Continue
        );
        assert_eq!(msg.reply, None);
    }

    #[test]
    fn without_akey_or_entries_it_does_nothing() {
        let mut plugin = Harness::<ShortDial>::init(&[("plugin_shortdial_entry", "600")]).unwrap();
        assert_eq!(
            plugin.logs(),
            ["INFO plugin_shortdial_akey or plugin_shortdial_entry not set: inactive"]
        );
        assert_eq!(redirected_to(&mut plugin, "*1"), None);
    }

    #[test]
    fn rewrite_mode_changes_the_request_uri_in_place() {
        let mut config = CONFIG.to_vec();
        config.push(("plugin_shortdial_mode", "rewrite"));
        let mut plugin = Harness::<ShortDial>::init(&config).unwrap();
        for (method, user, uri) in [
            ("INVITE", "*01", "sip:17474743246@sip.example.org"),
            ("ACK", "*02", "sip:17474745000@pstn.example.net"),
            ("CANCEL", "*03", "sip:600@sip.example.org"),
        ] {
            let mut msg = request(method, user);
            assert_eq!(
                plugin.process(Stage::DetermineTarget, Some(&mut msg)),
                Verdict::Continue
            );
            assert_eq!(msg.reply, None);
            assert_eq!(String::from_utf8_lossy(&msg.uri), uri, "{method}");
            assert_eq!(msg.header("Contact", 0), Some("<sip:alice@192.168.1.10>"));
        }
    }

    #[test]
    fn an_unknown_mode_fails_init() {
        let logs = Harness::<ShortDial>::init(&[("plugin_shortdial_mode", "302")])
            .err()
            .unwrap();
        assert_eq!(
            logs,
            ["ERROR init failed: plugin_shortdial_mode must be 'redirect' or 'rewrite', not '302'"]
        );
    }

    #[test]
    fn the_number_is_read_like_atoi() {
        let atoi = |s| config_int(Some(s), 0);
        assert_eq!(
            [atoi("01"), atoi("1x"), atoi("x"), atoi(" 7"), atoi("-2")],
            [1, 1, 0, 7, -2]
        );
    }
}
