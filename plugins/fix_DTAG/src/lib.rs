//! plugin_fix_DTAG: works around Deutsche Telekom (DTAG) SIP servers that
//! return responses with a broken top Via, so that siproxd can no longer
//! recognise (and remove) its own Via.
//!
//! Mirrors plugin_fix_DTAG.c: stage PRE_PROXY; key `plugin_fix_DTAG_networks`
//! (CSV `ip/mask`). For an incoming response (RESTYP_INCOMING) whose packet
//! source and top Via host are both inside the networks, the top Via is
//! removed and siproxd's own outbound Via is inserted in its place
//! (`sip_add_myvia(IF_OUTBOUND)`), so the proxy's own-Via removal succeeds.
//! (Here the own Via is inserted first, so a host that cannot add it leaves
//! the message unchanged.)
//! INFO `plugin_fix_DTAG is initialized` / `plugin_fix_DTAG ends here`;
//! WARN `no Via header found in incoming SIP message`.
//!
//! Differs: the top Via host must be an IP literal (no DNS in the SIP
//! thread). Only the first value of a `Via: a, b` line is removed.
//! Needs ABI 1.1 (`via_add_own`).

// The crate keeps upstream's file name (`plugin_fix_DTAG.so`, what
// `load_plugin = plugin_fix_DTAG.la` looks for), capitals included.
#![allow(non_snake_case)]

use spx::{Direction, Host, Interface, Msg, Plugin, Stage, Verdict};
use spxutil::{via_host_port, Networks};
use std::ffi::CStr;

pub struct FixDtag {
    networks: Networks,
}

impl Plugin for FixDtag {
    const NAME: &'static CStr = c"plugin_fix_DTAG";
    const DESCRIPTION: &'static CStr = c"Repairs the top Via of DTAG responses";
    const STAGES: u32 = Stage::PreProxy.bit();
    const ABI_MINOR: u16 = 1;

    fn init(host: &Host) -> Result<Self, String> {
        let (networks, problems) =
            Networks::parse(&host.plugin_config("networks").unwrap_or_default());
        for problem in problems {
            host.warn(&format!("plugin_fix_DTAG_networks: {problem}"));
        }
        host.info("plugin_fix_DTAG is initialized");
        Ok(FixDtag { networks })
    }

    fn process(&mut self, host: &Host, _stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
        if let Some(msg) = msg {
            if msg.is_request() == Some(false) && msg.direction() == Direction::ResponseIncoming {
                self.fix(host, msg);
            }
        }
        Verdict::Continue
    }

    fn fini(&mut self, host: &Host) {
        host.info("plugin_fix_DTAG ends here");
    }
}

/// The Via field line without its first value (`None`: nothing left).
fn without_first_value(line: &str) -> Option<String> {
    let (mut quoted, mut angle) = (false, false);
    for (i, b) in line.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' if !quoted && !angle => {
                let rest = line.get(i + 1..)?.trim();
                return (!rest.is_empty()).then(|| rest.to_string());
            }
            _ => {}
        }
    }
    None
}

impl FixDtag {
    fn fix(&self, host: &Host, msg: &mut Msg<'_>) {
        if self.networks.is_empty() {
            return;
        }
        let Ok(line) = msg
            .header("Via", 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
        else {
            host.warn("no Via header found in incoming SIP message");
            return;
        };
        let via_in_networks =
            via_host_port(&line).is_some_and(|(h, _)| self.networks.contains_text(h));
        let source_in_networks = msg.source().is_ok_and(|s| self.networks.contains(s.ip()));
        if !(via_in_networks && source_in_networks) {
            return;
        }
        host.debug("replacing a bogus via");
        // Our own Via first: if the host cannot add it, nothing is changed.
        if let Err(e) = msg.add_own_via(Interface::Outbound) {
            host.error(&format!("adding my outbound via failed: {e}"));
            return;
        }
        // The broken Via is now the first value of field line 1.
        let removed = match without_first_value(&line) {
            Some(rest) => msg.set_header("Via", 1, rest.as_bytes()),
            None => msg.remove_header("Via", 1),
        };
        if let Err(e) = removed {
            host.error(&format!("removing the broken top Via failed: {e}"));
        }
    }
}

spx::declare_plugin!(FixDtag);

#[cfg(test)]
mod tests {
    use super::*;
    use spx::testing::{FakeMsg, Harness};

    const OWN_VIA: &str = "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKsiproxd";

    fn plugin() -> Harness<FixDtag> {
        Harness::init(&[("plugin_fix_DTAG_networks", "217.0.23.100/32")]).unwrap()
    }

    fn response(top_via: &str, source: &str) -> FakeMsg {
        let mut msg = FakeMsg::parse(&format!(
            "SIP/2.0 200 OK\r\nVia: {top_via}\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKphone\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n"
        ))
        .with_source(source)
        .with_direction(Direction::ResponseIncoming);
        msg.own_via = Some(OWN_VIA.into());
        msg
    }

    #[test]
    fn a_broken_top_via_from_dtag_is_replaced_by_our_own() {
        let mut plugin = plugin();
        assert_eq!(plugin.logs(), ["INFO plugin_fix_DTAG is initialized"]);
        let mut msg = response(
            "SIP/2.0/UDP 217.0.23.100:5060;branch=z9hG4bKsiproxd",
            "217.0.23.100:5060",
        );
        assert_eq!(
            plugin.process(Stage::PreProxy, Some(&mut msg)),
            Verdict::Continue
        );
        assert_eq!(
            msg.header_all("Via"),
            [OWN_VIA, "SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKphone"]
        );
        assert_eq!(plugin.logs(), ["DEBUG replacing a bogus via"]);
        assert_eq!(plugin.fini(), ["INFO plugin_fix_DTAG ends here"]);
    }

    #[test]
    fn only_the_first_value_of_a_combined_line_goes() {
        let mut plugin = plugin();
        let mut msg = response(
            "SIP/2.0/UDP 217.0.23.100;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK2",
            "217.0.23.100:5060",
        );
        plugin.process(Stage::PreProxy, Some(&mut msg));
        assert_eq!(msg.header("Via", 0), Some(OWN_VIA));
        assert_eq!(
            msg.header("Via", 1),
            Some("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK2")
        );
    }

    #[test]
    fn both_source_and_via_must_be_in_the_networks() {
        let mut plugin = plugin();
        let dtag_via = "SIP/2.0/UDP 217.0.23.100:5060;branch=z9hG4bK1";
        let mut other_source = response(dtag_via, "203.0.113.1:5060");
        plugin.process(Stage::PreProxy, Some(&mut other_source));
        assert_eq!(other_source.header("Via", 0), Some(dtag_via));
        let other_via = "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK1";
        let mut msg = response(other_via, "217.0.23.100:5060");
        plugin.process(Stage::PreProxy, Some(&mut msg));
        assert_eq!(msg.header("Via", 0), Some(other_via));
        let mut outgoing =
            response(dtag_via, "217.0.23.100:5060").with_direction(Direction::ResponseOutgoing);
        plugin.process(Stage::PreProxy, Some(&mut outgoing));
        assert_eq!(outgoing.header("Via", 0), Some(dtag_via));
    }

    #[test]
    fn on_an_abi_1_0_host_nothing_changes_and_the_failure_is_logged() {
        let mut plugin =
            Harness::<FixDtag>::init_on_abi_1_0(&[("plugin_fix_DTAG_networks", "217.0.23.100/32")])
                .unwrap();
        plugin.logs();
        let mut msg = response(
            "SIP/2.0/UDP 217.0.23.100;branch=z9hG4bK1",
            "217.0.23.100:5060",
        );
        plugin.process(Stage::PreProxy, Some(&mut msg));
        assert_eq!(
            msg.header_all("Via"),
            [
                "SIP/2.0/UDP 217.0.23.100;branch=z9hG4bK1",
                "SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKphone"
            ]
        );
        assert!(plugin.logs().contains(
            &"ERROR adding my outbound via failed: not allowed in this stage".to_string()
        ));
    }

    #[test]
    fn a_host_without_an_own_via_is_reported() {
        let mut plugin = plugin();
        plugin.logs();
        let mut msg = response(
            "SIP/2.0/UDP 217.0.23.100;branch=z9hG4bK1",
            "217.0.23.100:5060",
        );
        msg.own_via = None;
        plugin.process(Stage::PreProxy, Some(&mut msg));
        assert_eq!(msg.header_all("Via").len(), 2, "unchanged");
        assert_eq!(
            plugin
                .logs()
                .into_iter()
                .filter(|l| !l.starts_with("DEBUG"))
                .collect::<Vec<_>>(),
            ["ERROR adding my outbound via failed: not found"]
        );
    }
}
