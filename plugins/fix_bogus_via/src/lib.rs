//! plugin_fix_bogus_via: incoming requests whose top Via names a private
//! address get the packet's real source written into that Via, so responses
//! reach the NAT'ed remote UA.
//!
//! Mirrors plugin_fix_bogus_via.c: stage PRE_PROXY; key
//! `plugin_fix_bogus_via_networks` (CSV of `ip/mask`); only requests with
//! direction incoming (REQTYP_INCOMING); if the top Via host is inside one of
//! the networks, its host becomes the source IP and its port the source port.
//!
//! Differs: the Via host must be an IP literal (upstream resolved names with a
//! blocking DNS lookup in the SIP thread); upstream truncated the port to four
//! digits (`port[5-1] = '\0'`), we write the whole port.

use spx::{Direction, Host, Msg, Plugin, Stage, Verdict};
use spxutil::{via_host_port, via_sent_by, Networks};
use std::ffi::CStr;
use std::net::IpAddr;

pub struct FixBogusVia {
    networks: Networks,
}

impl Plugin for FixBogusVia {
    const NAME: &'static CStr = c"plugin_fix_bogus_via";
    const DESCRIPTION: &'static CStr = c"Fixes bogus Via headers of incoming requests";
    const STAGES: u32 = Stage::PreProxy.bit();

    fn init(host: &Host) -> Result<Self, String> {
        let (networks, problems) =
            Networks::parse(&host.plugin_config("networks").unwrap_or_default());
        for problem in problems {
            host.warn(&format!("plugin_fix_bogus_via_networks: {problem}"));
        }
        Ok(FixBogusVia { networks })
    }

    fn process(&mut self, host: &Host, _stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
        if let Some(msg) = msg {
            if msg.is_request() == Some(true) && msg.direction() == Direction::RequestIncoming {
                self.patch_top_via(host, msg);
            }
        }
        Verdict::Continue
    }
}

impl FixBogusVia {
    fn patch_top_via(&self, host: &Host, msg: &mut Msg<'_>) {
        if self.networks.is_empty() {
            return;
        }
        let Ok(line) = msg.header("Via", 0) else {
            host.warn("no Via header found in incoming SIP message");
            return;
        };
        let line = String::from_utf8_lossy(line).into_owned();
        let Some((via_host, _)) = via_host_port(&line) else {
            return;
        };
        if !self.networks.contains_text(via_host) {
            return;
        }
        let (Ok(source), Some((start, end))) = (msg.source(), via_sent_by(&line)) else {
            return;
        };
        let sent_by = match source.ip() {
            IpAddr::V4(ip) => format!("{ip}:{}", source.port()),
            IpAddr::V6(ip) => format!("[{ip}]:{}", source.port()),
        };
        let (Some(head), Some(tail)) = (line.get(..start), line.get(end..)) else {
            return;
        };
        let patched = format!("{head}{sent_by}{tail}");
        match msg.set_header("Via", 0, patched.as_bytes()) {
            Ok(()) => host.debug(&format!("replaced a bogus Via -> {sent_by}")),
            Err(e) => host.error(&format!("patching inbound Via failed: {e}")),
        }
    }
}

spx::declare_plugin!(FixBogusVia);

#[cfg(test)]
mod tests {
    use super::*;
    use spx::testing::{FakeMsg, Harness};

    fn plugin() -> Harness<FixBogusVia> {
        Harness::init(&[(
            "plugin_fix_bogus_via_networks",
            "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16",
        )])
        .unwrap()
    }

    fn invite(via: &str, direction: Direction) -> FakeMsg {
        FakeMsg::parse(&format!(
            "INVITE sip:bob@192.168.1.20 SIP/2.0\r\nVia: {via}\r\n\
             Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKp\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:bob@c>\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\n\r\n"
        ))
        .with_source("203.0.113.77:40123")
        .with_direction(direction)
    }

    #[test]
    fn a_private_top_via_of_an_incoming_request_gets_the_source() {
        let mut plugin = plugin();
        let mut msg = invite(
            "SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bK1;rport, SIP/2.0/UDP 10.9.9.9",
            Direction::RequestIncoming,
        );
        assert_eq!(
            plugin.process(Stage::PreProxy, Some(&mut msg)),
            Verdict::Continue
        );
        assert_eq!(
            msg.header_all("Via"),
            [
                "SIP/2.0/UDP 203.0.113.77:40123;branch=z9hG4bK1;rport, SIP/2.0/UDP 10.9.9.9",
                "SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKp"
            ]
        );
    }

    #[test]
    fn a_via_without_port_gets_one() {
        let mut plugin = plugin();
        let mut msg = invite(
            "SIP/2.0/UDP 192.168.0.7;branch=z9hG4bK2",
            Direction::RequestIncoming,
        );
        plugin.process(Stage::PreProxy, Some(&mut msg));
        assert_eq!(
            msg.header("Via", 0),
            Some("SIP/2.0/UDP 203.0.113.77:40123;branch=z9hG4bK2")
        );
    }

    #[test]
    fn public_vias_outgoing_requests_and_responses_are_left_alone() {
        let mut plugin = plugin();
        let public = "SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bK3";
        let mut msg = invite(public, Direction::RequestIncoming);
        plugin.process(Stage::PreProxy, Some(&mut msg));
        assert_eq!(msg.header("Via", 0), Some(public));
        let private = "SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bK4";
        let mut out = invite(private, Direction::RequestOutgoing);
        plugin.process(Stage::PreProxy, Some(&mut out));
        assert_eq!(out.header("Via", 0), Some(private));
        let mut resp = FakeMsg::parse(&format!("SIP/2.0 200 OK\r\nVia: {private}\r\n\r\n"))
            .with_direction(Direction::RequestIncoming);
        plugin.process(Stage::PreProxy, Some(&mut resp));
        assert_eq!(resp.header("Via", 0), Some(private));
    }

    #[test]
    fn without_networks_nothing_changes() {
        let mut plugin = Harness::<FixBogusVia>::init(&[]).unwrap();
        let private = "SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bK5";
        let mut msg = invite(private, Direction::RequestIncoming);
        plugin.process(Stage::PreProxy, Some(&mut msg));
        assert_eq!(msg.header("Via", 0), Some(private));
    }
}
