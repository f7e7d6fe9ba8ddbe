//! plugin_prefix: every outgoing call gets a prefix (e.g. `0` for an outside
//! line) in front of the dialled number.
//!
//! Mirrors plugin_prefix.c: stage DETERMINE_TARGET; key `plugin_prefix_akey`
//! (nothing happens without it). Only outgoing INVITE and ACK requests whose
//! Request-URI has a user and where neither the Request-URI nor the To URI
//! carries `redirected=prefix` (loop avoidance). An INVITE is answered with
//! `302 Moved Temporarily` whose Contact is the To URI with the user
//! `akey + user` and the parameter `;redirected=prefix` appended
//! (INFO `redirecting <user> -> <akey+user>`); its Call-ID goes into a
//! 20 s redirect cache, and an ACK whose Call-ID is in the cache is swallowed
//! (once: the entry is removed, as `is_in_redirected_cache` does).
//!
//! Differs: an INVITE with a To tag (a re-INVITE inside a dialog) is left
//! alone; upstream would answer it with a 302 too and break the call.
//!
//! Extension (inventory §12): `plugin_prefix_mode = rewrite` prefixes the
//! Request-URI user of the initial INVITE in place (no 302, no loop
//! parameter); its CANCEL and the ACK of a non-2xx answer get the same
//! rewrite, found by Call-ID and original Request-URI.

use spx::{Direction, Host, Msg, Plugin, Stage, Verdict};
use spxutil::{has_to_tag, name_addr_uri, RedirectCache, RedirectMode, RewriteCache, SipUri};
use std::ffi::CStr;

const REDIRECTED_TAG: &str = "redirected";
const REDIRECTED_VAL: &str = "prefix";

pub struct Prefix {
    akey: Option<String>,
    mode: RedirectMode,
    redirected: RedirectCache,
    rewritten: RewriteCache,
}

impl Plugin for Prefix {
    const NAME: &'static CStr = c"plugin_prefix";
    const DESCRIPTION: &'static CStr = c"Prefixes outgoing calls with akey";
    const STAGES: u32 = Stage::DetermineTarget.bit();

    fn init(host: &Host) -> Result<Self, String> {
        let mode = RedirectMode::parse("plugin_prefix", host.plugin_config("mode").as_deref())?;
        Ok(Prefix {
            akey: host.plugin_config("akey").filter(|a| !a.is_empty()),
            mode,
            redirected: RedirectCache::default(),
            rewritten: RewriteCache::default(),
        })
    }

    fn process(&mut self, host: &Host, _stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
        match (msg, self.akey.clone()) {
            (Some(msg), Some(akey)) => self.determine_target(host, msg, &akey),
            _ => Verdict::Continue,
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn is_redirected(uri: &SipUri) -> bool {
    uri.param(REDIRECTED_TAG) == Some(REDIRECTED_VAL)
}

impl Prefix {
    fn determine_target(&mut self, host: &Host, msg: &mut Msg<'_>, akey: &str) -> Verdict {
        if msg.is_request() != Some(true) || msg.direction() != Direction::RequestOutgoing {
            return Verdict::Continue;
        }
        let method = msg.method().map(<[u8]>::to_vec).unwrap_or_default();
        let call_id = msg.header("Call-ID", 0).map(text).unwrap_or_default();
        let now = host.now_ms();
        let Some(ruri_text) = msg.request_uri().ok().map(text) else {
            return Verdict::Continue;
        };
        if self.mode == RedirectMode::Rewrite {
            return self.rewrite(host, msg, &method, &call_id, &ruri_text, akey, now);
        }
        if method != b"INVITE" && method != b"ACK" {
            return Verdict::Continue;
        }
        let Some(ruri) = SipUri::parse(&ruri_text).filter(|u| u.user.is_some()) else {
            return Verdict::Continue;
        };
        let to = msg.header("To", 0).map(text).unwrap_or_default();
        let to_uri = name_addr_uri(&to).and_then(SipUri::parse);
        if is_redirected(&ruri) || to_uri.as_ref().is_some_and(is_redirected) {
            return Verdict::Continue;
        }
        if method == b"ACK" {
            return if self.redirected.take(&call_id, now) {
                Verdict::SipSent
            } else {
                Verdict::Continue
            };
        }
        if has_to_tag(&to) {
            return Verdict::Continue;
        }
        let Some(mut contact) = to_uri.filter(|u| u.user.is_some()) else {
            return Verdict::Continue;
        };
        let user = contact.user.clone().unwrap_or_default();
        let new_user = format!("{akey}{user}");
        contact.user = Some(new_user.clone());
        contact
            .params
            .push_str(&format!(";{REDIRECTED_TAG}={REDIRECTED_VAL}"));
        let contact = format!("<{contact}>");
        match msg.reply(302, None, &[("Contact", contact.as_bytes())]) {
            Ok(verdict) => {
                self.redirected.add(&call_id, "", now);
                host.info(&format!("redirecting {user} -> {new_user}"));
                verdict
            }
            Err(e) => {
                host.warn(&format!("cannot send 302: {e}"));
                Verdict::Continue
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn rewrite(
        &mut self,
        host: &Host,
        msg: &mut Msg<'_>,
        method: &[u8],
        call_id: &str,
        ruri_text: &str,
        akey: &str,
        now: u64,
    ) -> Verdict {
        let new_uri = match method {
            b"INVITE" => {
                let to = msg.header("To", 0).map(text).unwrap_or_default();
                if has_to_tag(&to) {
                    return Verdict::Continue;
                }
                let Some(mut uri) = SipUri::parse(ruri_text) else {
                    return Verdict::Continue;
                };
                let Some(user) = uri.user.take() else {
                    return Verdict::Continue;
                };
                uri.user = Some(format!("{akey}{user}"));
                let new_uri = uri.to_string();
                self.rewritten.remember(call_id, ruri_text, &new_uri, now);
                host.info(&format!("rewriting {ruri_text} -> {new_uri}"));
                new_uri
            }
            b"ACK" | b"CANCEL" => match self.rewritten.lookup(call_id, ruri_text, now) {
                Some(new_uri) => new_uri,
                None => return Verdict::Continue,
            },
            _ => return Verdict::Continue,
        };
        if let Err(e) = msg.set_request_uri(new_uri.as_bytes()) {
            host.warn(&format!("cannot rewrite the Request-URI: {e}"));
        }
        Verdict::Continue
    }
}

spx::declare_plugin!(Prefix);

#[cfg(test)]
mod tests {
    use super::*;
    use spx::testing::{FakeMsg, Harness};

    fn request(method: &str, ruri: &str, to: &str, call_id: &str) -> FakeMsg {
        FakeMsg::parse(&format!(
            "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10;branch=z9hG4bK1\r\n\
             From: <sip:alice@sip.example.org>;tag=a\r\nTo: {to}\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 {method}\r\n\r\n"
        ))
        .with_direction(Direction::RequestOutgoing)
    }

    fn invite(user: &str, call_id: &str) -> FakeMsg {
        request(
            "INVITE",
            &format!("sip:{user}@sip.example.org"),
            &format!("<sip:{user}@sip.example.org;user=phone>"),
            call_id,
        )
    }

    fn plugin(extra: &[(&str, &str)]) -> Harness<Prefix> {
        let mut config = vec![("plugin_prefix_akey", "0")];
        config.extend_from_slice(extra);
        Harness::init(&config).unwrap()
    }

    #[test]
    fn an_outgoing_invite_gets_a_302_with_the_prefixed_to_uri() {
        let mut plugin = plugin(&[]);
        let mut msg = invite("5551234", "c1@h");
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut msg)),
            Verdict::SipSent
        );
        let reply = msg.reply.unwrap();
        assert_eq!(reply.code, 302);
        assert_eq!(
            reply.extra,
            [(
                "Contact".to_string(),
                "<sip:05551234@sip.example.org;user=phone;redirected=prefix>".to_string()
            )]
        );
        assert_eq!(plugin.logs(), ["INFO redirecting 5551234 -> 05551234"]);
    }

    #[test]
    fn the_ack_of_the_302_is_swallowed_once_within_20_s() {
        let mut plugin = plugin(&[]);
        plugin.host().now_ms.set(1_000);
        plugin.process(Stage::DetermineTarget, Some(&mut invite("5551234", "c1@h")));
        let ack = || {
            request(
                "ACK",
                "sip:5551234@sip.example.org",
                "<sip:5551234@sip.example.org;user=phone>;tag=x",
                "c1@h",
            )
        };
        let mut other = request("ACK", "sip:1@sip.example.org", "<sip:1@x>;tag=y", "c2@h");
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut other)),
            Verdict::Continue
        );
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut ack())),
            Verdict::SipSent
        );
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut ack())),
            Verdict::Continue
        );
        // a second call: its ACK comes too late
        plugin.process(Stage::DetermineTarget, Some(&mut invite("5551234", "c1@h")));
        plugin.host().now_ms.set(21_001);
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut ack())),
            Verdict::Continue
        );
    }

    #[test]
    fn the_redirected_invite_and_other_requests_pass() {
        let mut plugin = plugin(&[]);
        let mut again = request(
            "INVITE",
            "sip:05551234@sip.example.org;user=phone;redirected=prefix",
            "<sip:5551234@sip.example.org;user=phone>",
            "c3@h",
        );
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut again)),
            Verdict::Continue
        );
        let mut reinvite = request(
            "INVITE",
            "sip:05551234@gw.example.org",
            "<sip:5551234@sip.example.org>;tag=remote",
            "c4@h",
        );
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut reinvite)),
            Verdict::Continue
        );
        let mut bye = request("BYE", "sip:5@x", "<sip:5@x>", "c5@h");
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut bye)),
            Verdict::Continue
        );
        let mut incoming = invite("5551234", "c6@h").with_direction(Direction::RequestIncoming);
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut incoming)),
            Verdict::Continue
        );
        let mut no_user = request("INVITE", "sip:sip.example.org", "<sip:x@y>", "c7@h");
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut no_user)),
            Verdict::Continue
        );
        assert_eq!(plugin.logs(), Vec::<String>::new());
    }

    #[test]
    fn without_akey_nothing_happens() {
        let mut plugin = Harness::<Prefix>::init(&[]).unwrap();
        let mut msg = invite("5551234", "c1@h");
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut msg)),
            Verdict::Continue
        );
        assert_eq!(msg.reply, None);
    }

    #[test]
    fn rewrite_mode_prefixes_the_request_uri_and_its_cancel() {
        let mut plugin = plugin(&[("plugin_prefix_mode", "rewrite")]);
        let mut msg = invite("5551234", "c1@h");
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut msg)),
            Verdict::Continue
        );
        assert_eq!(msg.reply, None);
        assert_eq!(text(&msg.uri), "sip:05551234@sip.example.org");
        assert_eq!(
            plugin.logs(),
            ["INFO rewriting sip:5551234@sip.example.org -> sip:05551234@sip.example.org"]
        );
        let mut cancel = request(
            "CANCEL",
            "sip:5551234@sip.example.org",
            "<sip:5551234@sip.example.org;user=phone>",
            "c1@h",
        );
        plugin.process(Stage::DetermineTarget, Some(&mut cancel));
        assert_eq!(text(&cancel.uri), "sip:05551234@sip.example.org");
        // the ACK of a 2xx goes to the remote target: untouched
        let mut ack = request(
            "ACK",
            "sip:05551234@gw.example.org",
            "<sip:5551234@sip.example.org;user=phone>;tag=r",
            "c1@h",
        );
        plugin.process(Stage::DetermineTarget, Some(&mut ack));
        assert_eq!(text(&ack.uri), "sip:05551234@gw.example.org");
    }
}
