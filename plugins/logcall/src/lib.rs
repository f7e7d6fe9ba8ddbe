//! plugin_logcall: one INFO line per call event (INVITE, ACK, BYE, CANCEL).
//!
//! Mirrors plugin_logcall.c: stage PRE_PROXY, no config keys; requests only;
//! the line is
//! `<type> Call: fromuser@fromhost -> touser@tohost [Req: ruriuser@rurihost] [IP: src:port] [CID: number@host]`
//! with `*NULL*` for every missing part. The From URI falls back to the first
//! Contact when the From header has none.

use spx::{Direction, Host, Msg, Plugin, Stage, Verdict};
use spxutil::{call_id_parts, name_addr_uri, SipUri};
use std::ffi::CStr;

pub struct LogCall;

const NULL: &str = "*NULL*";

impl Plugin for LogCall {
    const NAME: &'static CStr = c"plugin_logcall";
    const DESCRIPTION: &'static CStr = c"Logs calls to syslog";
    const STAGES: u32 = Stage::PreProxy.bit();

    fn init(_host: &Host) -> Result<Self, String> {
        Ok(LogCall)
    }

    fn process(&mut self, host: &Host, _stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
        if let Some(line) = msg.and_then(|msg| call_line(msg)) {
            host.info(&line);
        }
        Verdict::Continue
    }
}

/// `(user, host)` of the URI in a From/To/Contact value.
fn user_host(value: Option<&[u8]>) -> (Option<String>, Option<String>) {
    let uri = value
        .map(String::from_utf8_lossy)
        .and_then(|v| name_addr_uri(&v).and_then(SipUri::parse));
    match uri {
        Some(uri) => (uri.user, Some(uri.host)),
        None => (None, None),
    }
}

fn or_null(part: &Option<String>) -> &str {
    part.as_deref().unwrap_or(NULL)
}

/// The log line for a request, `None` for other methods and responses.
fn call_line(msg: &Msg<'_>) -> Option<String> {
    if msg.is_request() != Some(true) {
        return None;
    }
    let call_type = match msg.method().ok()? {
        b"INVITE" if msg.direction() == Direction::RequestIncoming => "Incoming (INVITE)",
        b"INVITE" => "Outgoing (INVITE)",
        b"ACK" => "Acknowledging (ACK)",
        b"BYE" => "Ending (BYE)",
        b"CANCEL" => "Ending (CANCEL)",
        _ => return None,
    };
    // Mirrors plugin_logcall.c: From URI first, else the first Contact.
    let (mut from_user, mut from_host) = user_host(msg.header("From", 0).ok());
    if from_host.is_none() {
        (from_user, from_host) = user_host(msg.header_values("Contact").next());
    }
    let (to_user, to_host) = user_host(msg.header("To", 0).ok());
    let ruri = msg
        .request_uri()
        .ok()
        .and_then(|u| SipUri::parse(&String::from_utf8_lossy(u)));
    let (ruri_user, ruri_host) = match ruri {
        Some(uri) => (uri.user, Some(uri.host)),
        None => (None, None),
    };
    let source = msg.source().map_or_else(
        |_| format!("{NULL}:0"),
        |s| format!("{}:{}", s.ip(), s.port()),
    );
    let call_id = msg
        .header("Call-ID", 0)
        .ok()
        .map(|c| String::from_utf8_lossy(c).into_owned());
    let (cid_number, cid_host) = match call_id.as_deref().map(call_id_parts) {
        Some((number, host)) => (Some(number.to_string()), host.map(str::to_string)),
        None => (None, None),
    };
    Some(format!(
        "{call_type} Call: {}@{} -> {}@{} [Req: {}@{}] [IP: {source}] [CID: {}@{}]",
        or_null(&from_user),
        or_null(&from_host),
        or_null(&to_user),
        or_null(&to_host),
        or_null(&ruri_user),
        or_null(&ruri_host),
        or_null(&cid_number),
        or_null(&cid_host),
    ))
}

spx::declare_plugin!(LogCall);

#[cfg(test)]
mod tests {
    use super::*;
    use spx::testing::{FakeMsg, Harness};

    fn request(method: &str, extra: &str) -> FakeMsg {
        FakeMsg::parse(&format!(
            "{method} sip:bob@192.168.1.20:5062 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK1\r\n\
             From: \"Alice\" <sip:alice@example.org>;tag=1\r\n\
             To: <sip:bob@example.net>\r\n\
             Call-ID: a84b4c76e66710@pc33.example.org\r\n\
             CSeq: 1 {method}\r\n{extra}\r\n"
        ))
        .with_source("203.0.113.5:5060")
    }

    #[test]
    fn an_incoming_invite_is_logged_in_upstreams_format() {
        let mut plugin = Harness::<LogCall>::init(&[]).unwrap();
        let mut msg = request("INVITE", "").with_direction(Direction::RequestIncoming);
        assert_eq!(
            plugin.process(Stage::PreProxy, Some(&mut msg)),
            Verdict::Continue
        );
        assert_eq!(
            plugin.logs(),
            ["INFO Incoming (INVITE) Call: alice@example.org -> bob@example.net \
              [Req: bob@192.168.1.20] [IP: 203.0.113.5:5060] [CID: a84b4c76e66710@pc33.example.org]"]
        );
    }

    #[test]
    fn each_method_gets_its_call_type() {
        let mut plugin = Harness::<LogCall>::init(&[]).unwrap();
        for (method, dir, kind) in [
            ("INVITE", Direction::RequestOutgoing, "Outgoing (INVITE)"),
            ("INVITE", Direction::Unknown, "Outgoing (INVITE)"),
            ("ACK", Direction::RequestIncoming, "Acknowledging (ACK)"),
            ("BYE", Direction::RequestOutgoing, "Ending (BYE)"),
            ("CANCEL", Direction::RequestOutgoing, "Ending (CANCEL)"),
        ] {
            let mut msg = request(method, "").with_direction(dir);
            plugin.process(Stage::PreProxy, Some(&mut msg));
            let logs = plugin.logs();
            assert_eq!(logs.len(), 1, "{method}");
            assert!(
                logs[0].starts_with(&format!("INFO {kind} Call: ")),
                "{logs:?}"
            );
        }
    }

    #[test]
    fn other_requests_and_responses_are_not_logged() {
        let mut plugin = Harness::<LogCall>::init(&[]).unwrap();
        let mut options = request("OPTIONS", "");
        plugin.process(Stage::PreProxy, Some(&mut options));
        let mut ok = FakeMsg::parse(
            "SIP/2.0 200 OK\r\nFrom: <sip:a@b>\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",
        );
        plugin.process(Stage::PreProxy, Some(&mut ok));
        assert_eq!(plugin.logs(), Vec::<String>::new());
    }

    #[test]
    fn missing_parts_print_as_null_and_contact_stands_in_for_from() {
        let mut plugin = Harness::<LogCall>::init(&[]).unwrap();
        let mut msg = FakeMsg::parse(
            "BYE sip:10.0.0.1 SIP/2.0\r\nFrom: garbage\r\nContact: <sip:carol@10.0.0.9:5070>\r\n\
             To: <sip:example.net>\r\nCall-ID: lonely\r\n\r\n",
        )
        .with_source("10.0.0.9:5070");
        plugin.process(Stage::PreProxy, Some(&mut msg));
        assert_eq!(
            plugin.logs(),
            [
                "INFO Ending (BYE) Call: carol@10.0.0.9 -> *NULL*@example.net \
              [Req: *NULL*@10.0.0.1] [IP: 10.0.0.9:5070] [CID: lonely@*NULL*]"
            ]
        );
    }
}
