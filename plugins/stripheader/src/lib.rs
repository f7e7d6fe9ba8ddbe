//! plugin_stripheader: removes header fields (all of a name, or only the
//! values equal to a given one).
//!
//! Mirrors plugin_stripheader.c: stage PRE_PROXY; repeatable key
//! `plugin_stripheader_remove = Header[:value]`. `Header` alone removes every
//! field of that name; `Header:value` removes only the values that equal
//! `value` case-insensitively. Like libosip2 (which stores each
//! comma-separated value of a list header as its own header), values are
//! compared one by one (`Supported: 100rel, timer` with `Supported:100rel`
//! keeps `Supported: timer`); headers that are not lists (User-Agent,
//! Server, Subject, Date, the authentication headers, …) are compared whole.
//! INFO `plugin_stripheader is initialized` / `plugin_stripheader ends here`.
//!
//! Differs (decision): upstream could not remove headers that libosip2 keeps
//! in dedicated fields. Our message view is lossless, so it could; we still
//! refuse the ones whose removal breaks SIP or siproxd's own processing —
//! Via, From, To, Call-ID, CSeq, Contact, Route, Max-Forwards, Content-Type
//! and Content-Length — with a WARN at init, and allow everything else,
//! Record-Route included (full removal or by value).

use spx::{Host, Msg, Plugin, Stage, Verdict};
use std::ffi::CStr;

/// Headers this plugin refuses to touch (see the module docs).
const PROTECTED: [&str; 19] = [
    "via",
    "v",
    "from",
    "f",
    "to",
    "t",
    "call-id",
    "i",
    "cseq",
    "contact",
    "m",
    "route",
    "max-forwards",
    "content-type",
    "c",
    "content-length",
    "l",
    "content-encoding",
    "e",
];

/// Headers whose value is one item (libosip2 does not split them at commas).
const NOT_LISTS: [&str; 14] = [
    "user-agent",
    "server",
    "subject",
    "s",
    "date",
    "organization",
    "www-authenticate",
    "proxy-authenticate",
    "authorization",
    "proxy-authorization",
    "authentication-info",
    "retry-after",
    "timestamp",
    "call-info",
];

/// One `plugin_stripheader_remove` line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Removal {
    header: String,
    value: Option<String>,
}

pub struct StripHeader {
    removals: Vec<Removal>,
}

impl Plugin for StripHeader {
    const NAME: &'static CStr = c"plugin_stripheader";
    const DESCRIPTION: &'static CStr = c"Removes header fields";
    const STAGES: u32 = Stage::PreProxy.bit();

    fn init(host: &Host) -> Result<Self, String> {
        let mut removals = Vec::new();
        for line in host.plugin_config_all("remove") {
            let (header, value) = match line.split_once(':') {
                Some((h, v)) => (h.trim().to_string(), Some(v.trim().to_string())),
                None => (line.trim().to_string(), None),
            };
            if header.is_empty() {
                continue;
            }
            if PROTECTED.contains(&header.to_ascii_lowercase().as_str()) {
                host.warn(&format!(
                    "plugin_stripheader_remove = {line}: {header} cannot be removed; ignored"
                ));
                continue;
            }
            removals.push(Removal { header, value });
        }
        host.info("plugin_stripheader is initialized");
        Ok(StripHeader { removals })
    }

    fn process(&mut self, host: &Host, _stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
        if let Some(msg) = msg {
            for removal in &self.removals {
                if let Err(e) = strip(msg, removal) {
                    host.warn(&format!("cannot remove {}: {e}", removal.header));
                }
            }
        }
        Verdict::Continue
    }

    fn fini(&mut self, host: &Host) {
        host.info("plugin_stripheader ends here");
    }
}

/// Splits a list value at top-level commas (not inside quotes or `<…>`).
fn list_items(line: &str) -> Vec<&str> {
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    let mut items = Vec::new();
    for (i, b) in line.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' if !quoted && !angle => {
                items.push(line.get(start..i).unwrap_or("").trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(line.get(start..).unwrap_or("").trim());
    items.retain(|i| !i.is_empty());
    items
}

fn strip(msg: &mut Msg<'_>, removal: &Removal) -> Result<(), spx::HostError> {
    let count = msg.header_count(&removal.header);
    if count == 0 {
        return Ok(());
    }
    let Some(value) = &removal.value else {
        return msg.remove_headers(&removal.header);
    };
    let is_list = !NOT_LISTS.contains(&removal.header.to_ascii_lowercase().as_str());
    // Backwards, so indexes of lines still to visit do not move.
    for index in (0..count).rev() {
        let line = String::from_utf8_lossy(msg.header(&removal.header, index)?).into_owned();
        let items = if is_list {
            list_items(&line)
        } else {
            vec![line.trim()]
        };
        let kept: Vec<&str> = items
            .iter()
            .copied()
            .filter(|item| !item.eq_ignore_ascii_case(value))
            .collect();
        if kept.len() == items.len() {
            continue;
        }
        if kept.is_empty() {
            msg.remove_header(&removal.header, index)?;
        } else {
            msg.set_header(&removal.header, index, kept.join(", ").as_bytes())?;
        }
    }
    Ok(())
}

spx::declare_plugin!(StripHeader);

#[cfg(test)]
mod tests {
    use super::*;
    use spx::testing::{FakeMsg, Harness};

    fn invite() -> FakeMsg {
        FakeMsg::parse(
            "INVITE sip:bob@example.net SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.168.1.10;branch=z9hG4bK1\r\n\
             Record-Route: <sip:p1.example.net;lr>, <sip:p2.example.net;lr>\r\n\
             From: <sip:alice@example.org>;tag=1\r\nTo: <sip:bob@example.net>\r\n\
             Call-ID: c1\r\nCSeq: 1 INVITE\r\n\
             Allow: INVITE, ACK, BYE, CANCEL, UPDATE\r\n\
             User-Agent: Phone 1.0, build 7\r\n\
             Supported: 100rel, timer\r\nk: replaces\r\nSupported: 100REL\r\n\
             Contact: <sip:alice@192.168.1.10>\r\n\r\n",
        )
    }

    /// The four lines of upstream's example config.
    fn example() -> Harness<StripHeader> {
        Harness::init(&[
            ("plugin_stripheader_remove", "Allow"),
            ("plugin_stripheader_remove", "User-Agent"),
            ("plugin_stripheader_remove", "Supported:100rel"),
            ("plugin_stripheader_remove", "Record-Route"),
        ])
        .unwrap()
    }

    #[test]
    fn the_example_config_strips_its_headers() {
        let mut plugin = example();
        assert_eq!(plugin.logs(), ["INFO plugin_stripheader is initialized"]);
        let mut msg = invite();
        assert_eq!(
            plugin.process(Stage::PreProxy, Some(&mut msg)),
            Verdict::Continue
        );
        assert_eq!(
            msg.text(),
            "INVITE sip:bob@example.net SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.168.1.10;branch=z9hG4bK1\r\n\
             From: <sip:alice@example.org>;tag=1\r\nTo: <sip:bob@example.net>\r\n\
             Call-ID: c1\r\nCSeq: 1 INVITE\r\n\
             Supported: timer\r\nk: replaces\r\n\
             Contact: <sip:alice@192.168.1.10>\r\n\r\n"
        );
        assert_eq!(plugin.fini(), ["INFO plugin_stripheader ends here"]);
    }

    #[test]
    fn values_are_matched_case_insensitively_item_by_item() {
        let mut plugin = Harness::<StripHeader>::init(&[
            ("plugin_stripheader_remove", "allow:update"),
            (
                "plugin_stripheader_remove",
                "Record-Route:<sip:p2.example.net;lr>",
            ),
            ("plugin_stripheader_remove", "User-Agent:Phone 1.0"),
            ("plugin_stripheader_remove", "X-Absent"),
        ])
        .unwrap();
        let mut msg = invite();
        plugin.process(Stage::PreProxy, Some(&mut msg));
        assert_eq!(msg.header_all("Allow"), ["INVITE, ACK, BYE, CANCEL"]);
        assert_eq!(msg.header_all("Record-Route"), ["<sip:p1.example.net;lr>"]);
        assert_eq!(
            msg.header_all("User-Agent"),
            ["Phone 1.0, build 7"],
            "not a list"
        );
    }

    #[test]
    fn protected_headers_are_refused_at_init() {
        let mut plugin = Harness::<StripHeader>::init(&[
            ("plugin_stripheader_remove", "Via"),
            ("plugin_stripheader_remove", "contact:x"),
        ])
        .unwrap();
        assert_eq!(
            plugin.logs(),
            [
                "WARN plugin_stripheader_remove = Via: Via cannot be removed; ignored",
                "WARN plugin_stripheader_remove = contact:x: contact cannot be removed; ignored",
                "INFO plugin_stripheader is initialized"
            ]
        );
        let mut msg = invite();
        plugin.process(Stage::PreProxy, Some(&mut msg));
        assert_eq!(msg.text(), invite().text());
    }
}
