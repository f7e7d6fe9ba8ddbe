//! plugin_regex: rewrites the dialled URI of outgoing calls with regular
//! expressions (e.g. `00` → `+`).
//!
//! Mirrors plugin_regex.c: stage DETERMINE_TARGET; repeatable keys
//! `plugin_regex_desc`, `plugin_regex_pattern`, `plugin_regex_replace` (the
//! counts must match, else init fails; see `spxutil::rules` for the regex
//! dialect). Only outgoing INVITE and ACK requests whose Request-URI has a
//! user and where neither the Request-URI nor the To URI carries
//! `redirected=regex`. For an INVITE the rules are tried in order on the
//! full To-URI string; the first match wins (INFO `Matched rexec rule:
//! <desc>`), and the INVITE is answered with `302 Moved Temporarily` whose
//! Contact is the rewritten URI plus `;redirected=regex` (INFO `redirecting
//! <old> -> <new>`); its Call-ID goes into the 20 s redirect cache, and an
//! ACK whose Call-ID is there is swallowed once.
//!
//! Differs: an INVITE with a To tag (re-INVITE) is left alone, as in
//! plugin_prefix; a rewritten URI that does not parse is logged and the
//! INVITE goes on unchanged.
//!
//! Extension (inventory §12): `plugin_regex_mode = rewrite` applies the
//! rules to the Request-URI of the initial INVITE and replaces it in place
//! (no 302); its CANCEL and non-2xx ACK get the same rewrite.

use spx::{Direction, Host, Msg, Plugin, Stage, Verdict};
use spxutil::rules::{compile_rules, Rule};
use spxutil::{has_to_tag, name_addr_uri, RedirectCache, RedirectMode, RewriteCache, SipUri};
use std::ffi::CStr;

const REDIRECTED_TAG: &str = "redirected";
const REDIRECTED_VAL: &str = "regex";

pub struct RegexPlugin {
    rules: Vec<Rule>,
    mode: RedirectMode,
    redirected: RedirectCache,
    rewritten: RewriteCache,
}

impl Plugin for RegexPlugin {
    const NAME: &'static CStr = c"plugin_regex";
    const DESCRIPTION: &'static CStr = c"Rewrites dialled URIs by regular expressions";
    const STAGES: u32 = Stage::DetermineTarget.bit();

    fn init(host: &Host) -> Result<Self, String> {
        let mode = RedirectMode::parse("plugin_regex", host.plugin_config("mode").as_deref())?;
        let rules = compile_rules(
            "plugin_regex",
            &host.plugin_config_all("desc"),
            &host.plugin_config_all("pattern"),
            &host.plugin_config_all("replace"),
        )?;
        Ok(RegexPlugin {
            rules,
            mode,
            redirected: RedirectCache::default(),
            rewritten: RewriteCache::default(),
        })
    }

    fn process(&mut self, host: &Host, _stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
        match msg {
            Some(msg) if !self.rules.is_empty() => self.determine_target(host, msg),
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

impl RegexPlugin {
    /// The first matching rule's rewrite of `uri` (logging the match).
    fn apply(&self, host: &Host, uri: &str) -> Option<String> {
        let rule = self.rules.iter().find(|r| r.is_match(uri))?;
        host.info(&format!("Matched rexec rule: {}", rule.desc));
        Some(rule.replace(uri, 1))
    }

    fn determine_target(&mut self, host: &Host, msg: &mut Msg<'_>) -> Verdict {
        if msg.is_request() != Some(true) || msg.direction() != Direction::RequestOutgoing {
            return Verdict::Continue;
        }
        let method = msg.method().map(<[u8]>::to_vec).unwrap_or_default();
        let call_id = msg.header("Call-ID", 0).map(text).unwrap_or_default();
        let to = msg.header("To", 0).map(text).unwrap_or_default();
        let now = host.now_ms();
        let Some(ruri_text) = msg.request_uri().ok().map(text) else {
            return Verdict::Continue;
        };
        if self.mode == RedirectMode::Rewrite {
            let new_uri = match method.as_slice() {
                b"INVITE" if !has_to_tag(&to) => {
                    let Some(new_uri) = self.apply(host, &ruri_text) else {
                        return Verdict::Continue;
                    };
                    self.rewritten.remember(&call_id, &ruri_text, &new_uri, now);
                    host.info(&format!("rewriting {ruri_text} -> {new_uri}"));
                    new_uri
                }
                b"ACK" | b"CANCEL" => match self.rewritten.lookup(&call_id, &ruri_text, now) {
                    Some(new_uri) => new_uri,
                    None => return Verdict::Continue,
                },
                _ => return Verdict::Continue,
            };
            if let Err(e) = msg.set_request_uri(new_uri.as_bytes()) {
                host.warn(&format!("cannot rewrite the Request-URI: {e}"));
            }
            return Verdict::Continue;
        }
        if method != b"INVITE" && method != b"ACK" {
            return Verdict::Continue;
        }
        let Some(ruri) = SipUri::parse(&ruri_text).filter(|u| u.user.is_some()) else {
            return Verdict::Continue;
        };
        let to_uri_text = name_addr_uri(&to).unwrap_or_default().to_string();
        let to_uri = SipUri::parse(&to_uri_text);
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
        if has_to_tag(&to) || to_uri.is_none() {
            return Verdict::Continue;
        }
        let Some(new_uri) = self.apply(host, &to_uri_text) else {
            return Verdict::Continue;
        };
        let Some(mut contact) = SipUri::parse(&new_uri) else {
            host.error(&format!("Unable to parse To URI: {new_uri}"));
            return Verdict::Continue;
        };
        contact
            .params
            .push_str(&format!(";{REDIRECTED_TAG}={REDIRECTED_VAL}"));
        let contact = format!("<{contact}>");
        host.info(&format!("redirecting {to_uri_text} -> {new_uri}"));
        match msg.reply(302, None, &[("Contact", contact.as_bytes())]) {
            Ok(verdict) => {
                self.redirected.add(&call_id, "", now);
                verdict
            }
            Err(e) => {
                host.warn(&format!("cannot send 302: {e}"));
                Verdict::Continue
            }
        }
    }
}

spx::declare_plugin!(RegexPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use spx::testing::{FakeMsg, Harness};

    /// The rules of upstream's doc/siproxd.conf.example.
    const EXAMPLE: [(&str, &str); 9] = [
        ("plugin_regex_desc", "Test Regex 1"),
        ("plugin_regex_pattern", "^(sips?:)00"),
        ("plugin_regex_replace", "\\1+"),
        ("plugin_regex_desc", "Test Regex 2"),
        ("plugin_regex_pattern", "^(sips?:)01"),
        ("plugin_regex_replace", "\\1+a"),
        ("plugin_regex_desc", "Test Regex 3"),
        ("plugin_regex_pattern", "^(sips?:)01"),
        ("plugin_regex_replace", "\\1:001"),
    ];

    fn request(method: &str, ruri: &str, to: &str, call_id: &str) -> FakeMsg {
        FakeMsg::parse(&format!(
            "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10;branch=z9hG4bK1\r\n\
             From: <sip:alice@sip.example.org>;tag=a\r\nTo: {to}\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 {method}\r\n\r\n"
        ))
        .with_direction(Direction::RequestOutgoing)
    }

    fn invite(user: &str) -> FakeMsg {
        request(
            "INVITE",
            &format!("sip:{user}@sip.example.org"),
            &format!("\"Bob\" <sip:{user}@sip.example.org>"),
            "c1@h",
        )
    }

    #[test]
    fn the_first_matching_rule_gives_the_302_contact() {
        let mut plugin = Harness::<RegexPlugin>::init(&EXAMPLE).unwrap();
        let mut msg = invite("0041791234567");
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
                "<sip:+41791234567@sip.example.org;redirected=regex>".to_string()
            )]
        );
        assert_eq!(
            plugin.logs(),
            [
                "INFO Matched rexec rule: Test Regex 1",
                "INFO redirecting sip:0041791234567@sip.example.org -> sip:+41791234567@sip.example.org"
            ]
        );
        let mut second = invite("0123");
        plugin.process(Stage::DetermineTarget, Some(&mut second));
        assert_eq!(
            second.reply.unwrap().extra[0].1,
            "<sip:+a23@sip.example.org;redirected=regex>",
            "rule 2 wins over rule 3"
        );
    }

    #[test]
    fn no_match_redirected_and_incoming_requests_pass() {
        let mut plugin = Harness::<RegexPlugin>::init(&EXAMPLE).unwrap();
        let mut plain = invite("41791234567");
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut plain)),
            Verdict::Continue
        );
        let mut looped = request(
            "INVITE",
            "sip:+41791234567@sip.example.org;redirected=regex",
            "<sip:0041791234567@sip.example.org>",
            "c2@h",
        );
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut looped)),
            Verdict::Continue
        );
        let mut incoming = invite("0041").with_direction(Direction::RequestIncoming);
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut incoming)),
            Verdict::Continue
        );
        assert_eq!(plugin.logs(), Vec::<String>::new());
    }

    #[test]
    fn the_ack_of_the_302_is_swallowed_via_the_cache() {
        let mut plugin = Harness::<RegexPlugin>::init(&EXAMPLE).unwrap();
        plugin.process(Stage::DetermineTarget, Some(&mut invite("0041")));
        let ack = || {
            request(
                "ACK",
                "sip:0041@sip.example.org",
                "<sip:0041@sip.example.org>;tag=t",
                "c1@h",
            )
        };
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut ack())),
            Verdict::SipSent
        );
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut ack())),
            Verdict::Continue
        );
    }

    #[test]
    fn init_fails_when_the_counts_differ() {
        let logs = Harness::<RegexPlugin>::init(&EXAMPLE[..8]).err().unwrap();
        assert_eq!(
            logs,
            [
                "ERROR init failed: Plugin 'plugin_regex': number of search patterns (3) and \
              number of replacement patterns (2) differ!"
            ]
        );
    }

    #[test]
    fn rewrite_mode_rewrites_the_request_uri() {
        let mut config = EXAMPLE.to_vec();
        config.push(("plugin_regex_mode", "rewrite"));
        let mut plugin = Harness::<RegexPlugin>::init(&config).unwrap();
        let mut msg = invite("0041791234567");
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut msg)),
            Verdict::Continue
        );
        assert_eq!(msg.reply, None);
        assert_eq!(text(&msg.uri), "sip:+41791234567@sip.example.org");
        let mut cancel = request(
            "CANCEL",
            "sip:0041791234567@sip.example.org",
            "<sip:0041791234567@sip.example.org>",
            "c1@h",
        );
        plugin.process(Stage::DetermineTarget, Some(&mut cancel));
        assert_eq!(text(&cancel.uri), "sip:+41791234567@sip.example.org");
    }
}
