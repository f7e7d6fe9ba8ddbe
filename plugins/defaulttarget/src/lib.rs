//! plugin_defaulttarget: calls for nobody registered are redirected to a
//! default target.
//!
//! Mirrors plugin_defaulttarget.c: stage DETERMINE_TARGET; keys
//! `plugin_defaulttarget_target` (a Contact, parsed once in init; unset or
//! unparsable makes init fail) and `plugin_defaulttarget_log` (INT, 0 = off).
//! An INVITE request whose direction is unknown is answered with
//! `302 Moved Temporarily` carrying the target as its only Contact (to the
//! sender, the top Via); with `log` ≠ 0 it logs
//! `Unknown Target [rcvd IP=ip:port], From: u@h, redirecting To: u@h -> target`.
//! Every ACK with unknown direction is swallowed (no Call-ID cache, as upstream).
//!
//! Differs: the target's port must be numeric (`sip:internal@dddd:port`, the
//! placeholder of the example config, is refused at init, where libosip2
//! would have accepted it and sent callers to an unusable Contact).

use spx::{Direction, Host, Msg, Plugin, Stage, Verdict};
use spxutil::{config_int, name_addr_uri, SipUri};
use std::ffi::CStr;

pub struct DefaultTarget {
    /// As configured (the log line shows it verbatim).
    target: String,
    /// The Contact value of the 302.
    contact: String,
    log: bool,
}

/// The 302 Contact for a configured target, or why it is unusable.
fn contact_of(target: &str) -> Result<String, String> {
    let uri = name_addr_uri(target)
        .and_then(SipUri::parse)
        .ok_or_else(|| format!("Illegal default target [{target}] - cannot parse!"))?;
    if let Some(port) = &uri.port {
        if port.parse::<u16>().is_err() {
            return Err(format!(
                "Illegal default target [{target}] - port '{port}' is not a number"
            ));
        }
    }
    Ok(if target.contains('<') {
        target.to_string()
    } else {
        format!("<{uri}>")
    })
}

impl Plugin for DefaultTarget {
    const NAME: &'static CStr = c"plugin_defaulttarget";
    const DESCRIPTION: &'static CStr = c"Default target for unknown calls";
    const STAGES: u32 = Stage::DetermineTarget.bit();

    fn init(host: &Host) -> Result<Self, String> {
        let target = host
            .plugin_config("target")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or("plugin_defaulttarget_target is not set")?;
        let contact = contact_of(&target)?;
        Ok(DefaultTarget {
            target,
            contact,
            log: config_int(host.plugin_config("log").as_deref(), 0) != 0,
        })
    }

    fn process(&mut self, host: &Host, _stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
        let Some(msg) = msg else {
            return Verdict::Continue;
        };
        if msg.is_request() != Some(true) || msg.direction() != Direction::Unknown {
            return Verdict::Continue;
        }
        match msg.method() {
            Ok(b"INVITE") => self.redirect(host, msg),
            Ok(b"ACK") => Verdict::SipSent,
            _ => Verdict::Continue,
        }
    }
}

fn user_host(msg: &Msg<'_>, header: &str) -> String {
    let uri = msg
        .header(header, 0)
        .ok()
        .map(String::from_utf8_lossy)
        .and_then(|v| name_addr_uri(&v).and_then(SipUri::parse));
    let (user, host) = match uri {
        Some(uri) => (uri.user, Some(uri.host)),
        None => (None, None),
    };
    format!(
        "{}@{}",
        user.as_deref().unwrap_or("*NULL*"),
        host.as_deref().unwrap_or("*NULL*")
    )
}

impl DefaultTarget {
    fn redirect(&self, host: &Host, msg: &mut Msg<'_>) -> Verdict {
        if self.log {
            let source = msg.source().map_or_else(
                |_| "*NULL*:0".to_string(),
                |s| format!("{}:{}", s.ip(), s.port()),
            );
            host.info(&format!(
                "Unknown Target [rcvd IP={source}], From: {}, redirecting To: {} -> {}",
                user_host(msg, "From"),
                user_host(msg, "To"),
                self.target
            ));
        }
        match msg.reply(302, None, &[("Contact", self.contact.as_bytes())]) {
            Ok(verdict) => verdict,
            Err(e) => {
                host.warn(&format!("cannot send 302: {e}"));
                Verdict::Continue
            }
        }
    }
}

spx::declare_plugin!(DefaultTarget);

#[cfg(test)]
mod tests {
    use super::*;
    use spx::testing::{FakeMsg, FakeReply, Harness};

    fn request(method: &str) -> FakeMsg {
        FakeMsg::parse(&format!(
            "{method} sip:4711@198.51.100.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK7\r\n\
             From: <sip:caller@203.0.113.9>;tag=9\r\n\
             To: <sip:4711@198.51.100.1>\r\n\
             Contact: <sip:caller@203.0.113.9>\r\n\
             Call-ID: x@203.0.113.9\r\nCSeq: 1 {method}\r\n\r\n"
        ))
        .with_source("203.0.113.9:5060")
    }

    fn plugin(target: &str, log: &str) -> Harness<DefaultTarget> {
        Harness::init(&[
            ("plugin_defaulttarget_log", log),
            ("plugin_defaulttarget_target", target),
        ])
        .unwrap()
    }

    #[test]
    fn an_invite_with_unknown_direction_is_redirected_and_logged() {
        let mut plugin = plugin("sip:internal@192.168.1.10:5060", "1");
        let mut msg = request("INVITE");
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut msg)),
            Verdict::SipSent
        );
        assert_eq!(
            msg.reply,
            Some(FakeReply {
                code: 302,
                reason: None,
                extra: vec![("Contact".into(), "<sip:internal@192.168.1.10:5060>".into())],
            })
        );
        assert_eq!(
            plugin.logs(),
            [
                "INFO Unknown Target [rcvd IP=203.0.113.9:5060], From: caller@203.0.113.9, \
              redirecting To: 4711@198.51.100.1 -> sip:internal@192.168.1.10:5060"
            ]
        );
    }

    #[test]
    fn a_name_addr_target_is_used_verbatim_and_log_0_is_quiet() {
        let mut plugin = plugin("\"Front desk\" <sip:100@192.168.1.10>", "0");
        let mut msg = request("INVITE");
        plugin.process(Stage::DetermineTarget, Some(&mut msg));
        assert_eq!(
            msg.reply.map(|r| r.extra),
            Some(vec![(
                "Contact".into(),
                "\"Front desk\" <sip:100@192.168.1.10>".into()
            )])
        );
        assert_eq!(plugin.logs(), Vec::<String>::new());
    }

    #[test]
    fn acks_with_unknown_direction_are_swallowed_known_directions_pass() {
        let mut plugin = plugin("sip:internal@192.168.1.10", "0");
        let mut ack = request("ACK");
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut ack)),
            Verdict::SipSent
        );
        let mut bye = request("BYE");
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut bye)),
            Verdict::Continue
        );
        let mut known = request("INVITE").with_direction(Direction::RequestIncoming);
        assert_eq!(
            plugin.process(Stage::DetermineTarget, Some(&mut known)),
            Verdict::Continue
        );
        assert_eq!(known.reply, None);
    }

    #[test]
    fn init_fails_without_or_with_an_unusable_target() {
        let missing = Harness::<DefaultTarget>::init(&[]).err().unwrap();
        assert_eq!(
            missing,
            ["ERROR init failed: plugin_defaulttarget_target is not set"]
        );
        let placeholder = Harness::<DefaultTarget>::init(&[(
            "plugin_defaulttarget_target",
            "sip:internal@dddd:port",
        )])
        .err()
        .unwrap();
        assert_eq!(
            placeholder,
            ["ERROR init failed: Illegal default target [sip:internal@dddd:port] - port 'port' is not a number"]
        );
        let garbage = Harness::<DefaultTarget>::init(&[("plugin_defaulttarget_target", "crap")])
            .err()
            .unwrap();
        assert_eq!(
            garbage,
            ["ERROR init failed: Illegal default target [crap] - cannot parse!"]
        );
    }
}
