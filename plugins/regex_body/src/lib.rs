//! plugin_regex_body: search and replace in message bodies (e.g. a wrong
//! address inside the SDP).
//!
//! Mirrors plugin_regex_body.c: stage DETERMINE_TARGET (so before siproxd's
//! own SDP rewrite); repeatable keys `plugin_regex_body_desc`, `_pattern`,
//! `_replace` (the counts must match, else init fails; dialect in
//! `spxutil::rules`). Every message with a body, requests and responses in
//! both directions: every rule that matches is applied (INFO `Matched rexec
//! rule: <desc>`), each on the result of the previous one, and the body is
//! replaced with Content-Length updated.
//!
//! Differs: a rule is applied in one pass: a pattern without groups replaces
//! every match, a pattern with groups its first 8 matches, each with its own
//! back-references. Upstream re-ran the substitution 8 times
//! (`sizeof(pmatch)`, a pointer) on its own output with the back-references
//! of the first match only, cut bodies at 1024 bytes, and rewrote the body
//! even without a match. A body that is not UTF-8 is left alone.

use spx::{Host, Msg, Plugin, Stage, Verdict};
use spxutil::rules::{compile_rules, Rule};
use std::ffi::CStr;

/// The number of replacement passes upstream made (`sizeof(pmatch)` on LP64):
/// how many matches of a grouped pattern are replaced.
const PASSES: usize = 8;

pub struct RegexBody {
    rules: Vec<Rule>,
}

impl Plugin for RegexBody {
    const NAME: &'static CStr = c"plugin_regex_body";
    const DESCRIPTION: &'static CStr = c"Rewrites message bodies by regular expressions";
    const STAGES: u32 = Stage::DetermineTarget.bit();

    fn init(host: &Host) -> Result<Self, String> {
        let rules = compile_rules(
            "plugin_regex_body",
            &host.plugin_config_all("desc"),
            &host.plugin_config_all("pattern"),
            &host.plugin_config_all("replace"),
        )?;
        Ok(RegexBody { rules })
    }

    fn process(&mut self, host: &Host, _stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
        if let Some(msg) = msg {
            if !self.rules.is_empty() {
                self.rewrite_body(host, msg);
            }
        }
        Verdict::Continue
    }
}

impl RegexBody {
    fn rewrite_body(&self, host: &Host, msg: &mut Msg<'_>) {
        let body = match msg.body() {
            Ok(body) if !body.is_empty() => body,
            _ => return,
        };
        let Ok(original) = std::str::from_utf8(body).map(str::to_string) else {
            host.debug("body is not UTF-8: left alone");
            return;
        };
        let mut body = original.clone();
        for rule in &self.rules {
            if rule.is_match(&body) {
                host.info(&format!("Matched rexec rule: {}", rule.desc));
                body = rule.replace(&body, PASSES);
            }
        }
        if body != original {
            if let Err(e) = msg.set_body(body.as_bytes()) {
                host.error(&format!("cannot replace the body: {e}"));
            }
        }
    }
}

spx::declare_plugin!(RegexBody);

#[cfg(test)]
mod tests {
    use super::*;
    use spx::testing::{FakeMsg, Harness};

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n\
                       m=audio 7070 RTP/AVP 0 8\r\n";

    fn message(first_line: &str, body: &str) -> FakeMsg {
        FakeMsg::parse(&format!(
            "{first_line}\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nCall-ID: c\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ))
    }

    fn example() -> Harness<RegexBody> {
        Harness::init(&[
            ("plugin_regex_body_desc", "Test Body Regex 1"),
            ("plugin_regex_body_pattern", "1.2.3.4"),
            ("plugin_regex_body_replace", "host.domain.com"),
        ])
        .unwrap()
    }

    #[test]
    fn every_match_in_a_request_body_is_replaced_and_content_length_follows() {
        let mut plugin = example();
        let mut msg = message("INVITE sip:a@b SIP/2.0", SDP);
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut msg)),
            Verdict::Continue
        );
        let expected = "v=0\r\no=- 1 1 IN IP4 host.domain.com\r\ns=-\r\n\
                        c=IN IP4 host.domain.com\r\nt=0 0\r\nm=audio 7070 RTP/AVP 0 8\r\n";
        assert_eq!(msg.body_text(), expected);
        assert_eq!(
            msg.header("Content-Length", 0),
            Some(expected.len().to_string().as_str())
        );
        assert_eq!(
            plugin.logs(),
            ["INFO Matched rexec rule: Test Body Regex 1"]
        );
    }

    #[test]
    fn responses_are_rewritten_too_and_rules_chain() {
        let mut plugin = Harness::<RegexBody>::init(&[
            ("plugin_regex_body_desc", "ip"),
            ("plugin_regex_body_pattern", "IN IP4 1\\.2\\.3\\.4"),
            ("plugin_regex_body_replace", "IN IP4 10.0.0.9"),
            ("plugin_regex_body_desc", "port"),
            ("plugin_regex_body_pattern", "(m=audio) 7070"),
            ("plugin_regex_body_replace", "\\1 7080"),
            ("plugin_regex_body_desc", "never"),
            ("plugin_regex_body_pattern", "m=video"),
            ("plugin_regex_body_replace", "x"),
        ])
        .unwrap();
        let mut msg = message("SIP/2.0 200 OK", SDP);
        plugin.process(Stage::DetermineTarget, Some(&mut msg));
        assert_eq!(
            msg.body_text(),
            "v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n\
             m=audio 7080 RTP/AVP 0 8\r\n"
        );
        assert_eq!(
            plugin.logs(),
            [
                "INFO Matched rexec rule: ip",
                "INFO Matched rexec rule: port"
            ]
        );
    }

    #[test]
    fn messages_without_body_or_match_are_untouched() {
        let mut plugin = example();
        let mut empty = message("BYE sip:a@b SIP/2.0", "");
        plugin.process(Stage::DetermineTarget, Some(&mut empty));
        assert_eq!(empty.header("Content-Length", 0), Some("0"));
        let other = "v=0\r\nc=IN IP4 5.6.7.8\r\n";
        let mut msg = message("INVITE sip:a@b SIP/2.0", other);
        plugin.process(Stage::DetermineTarget, Some(&mut msg));
        assert_eq!(msg.body_text(), other);
        assert_eq!(plugin.logs(), Vec::<String>::new());
    }

    #[test]
    fn init_fails_when_the_counts_differ() {
        let logs = Harness::<RegexBody>::init(&[("plugin_regex_body_pattern", "x")])
            .err()
            .unwrap();
        assert_eq!(
            logs,
            [
                "ERROR init failed: Plugin 'plugin_regex_body': number of search patterns (1) \
              and number of replacement patterns (0) differ!"
            ]
        );
    }
}
