//! plugin_codecfilter: removes blacklisted codecs from SDP bodies.
//!
//! Mirrors plugin_codecfilter.c: stage PRE_PROXY; repeatable key
//! `plugin_codecfilter_blacklist`; only bodies with Content-Type
//! `application/sdp` and a non-zero length; a codec is blacklisted when its
//! name contains a blacklist entry as a case-insensitive substring (`726`
//! matches `G726-32/8000`); its payload number is removed from the `m=` line
//! and its attributes from that media description. The body is replaced and
//! Content-Length follows. INFO `plugin_codecfilter is initialized` /
//! `plugin_codecfilter ends here`.
//!
//! Differs (fixes):
//! - Static payload types (RFC 3551: 0 PCMU, 3 GSM, 8 PCMA, 9 G722,
//!   18 G729, …) are filtered by their well-known names even without an
//!   `a=rtpmap` line. Upstream only saw codecs named in `a=` attributes, so
//!   `m=audio … 18` stayed on the line and G.729 was still offered.
//! - A codec is recognised by its `a=rtpmap` encoding (or the static name),
//!   and all of its `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` lines go with it.
//!   Upstream matched the substring against every `a=` value and took that
//!   value's leading number as the payload type.
//! - If every format of a media line is blacklisted, the stream is declined
//!   the RFC 3264 way (port 0, first format kept) instead of leaving an
//!   `m=` line without formats, which is invalid SDP.

use spx::{Host, Msg, Plugin, Stage, Verdict};
use std::ffi::CStr;

/// RFC 3551 static payload types (tables 4 and 5).
const STATIC_PAYLOADS: [(u8, &str); 24] = [
    (0, "PCMU/8000"),
    (3, "GSM/8000"),
    (4, "G723/8000"),
    (5, "DVI4/8000"),
    (6, "DVI4/16000"),
    (7, "LPC/8000"),
    (8, "PCMA/8000"),
    (9, "G722/8000"),
    (10, "L16/44100/2"),
    (11, "L16/44100"),
    (12, "QCELP/8000"),
    (13, "CN/8000"),
    (14, "MPA/90000"),
    (15, "G728/8000"),
    (16, "DVI4/11025"),
    (17, "DVI4/22050"),
    (18, "G729/8000"),
    (25, "CelB/90000"),
    (26, "JPEG/90000"),
    (28, "nv/90000"),
    (31, "H261/90000"),
    (32, "MPV/90000"),
    (33, "MP2T/90000"),
    (34, "H263/90000"),
];

pub struct CodecFilter {
    /// Lower-case blacklist entries.
    blacklist: Vec<String>,
}

impl Plugin for CodecFilter {
    const NAME: &'static CStr = c"plugin_codecfilter";
    const DESCRIPTION: &'static CStr = c"Removes blacklisted codecs from SDP";
    const STAGES: u32 = Stage::PreProxy.bit();

    fn init(host: &Host) -> Result<Self, String> {
        let blacklist = host
            .plugin_config_all("blacklist")
            .into_iter()
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty())
            .collect();
        host.info("plugin_codecfilter is initialized");
        Ok(CodecFilter { blacklist })
    }

    fn process(&mut self, host: &Host, _stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
        if let Some(msg) = msg {
            if !self.blacklist.is_empty() {
                self.filter(host, msg);
            }
        }
        Verdict::Continue
    }

    fn fini(&mut self, host: &Host) {
        host.info("plugin_codecfilter ends here");
    }
}

fn is_sdp(content_type: &[u8]) -> bool {
    let text = String::from_utf8_lossy(content_type);
    let media = text.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/sdp")
}

/// `a=<name>:<pt> …` → the payload type, for the per-format attributes.
fn format_attribute(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("a=")?;
    let (name, value) = rest.split_once(':')?;
    let per_format = ["rtpmap", "fmtp", "rtcp-fb"];
    if !per_format.iter().any(|n| name.eq_ignore_ascii_case(n)) {
        return None;
    }
    value.split_whitespace().next()
}

impl CodecFilter {
    fn blacklisted(&self, codec: &str) -> bool {
        let codec = codec.to_ascii_lowercase();
        self.blacklist.iter().any(|b| codec.contains(b.as_str()))
    }

    fn filter(&self, host: &Host, msg: &mut Msg<'_>) {
        let sdp = match msg.header("Content-Type", 0) {
            Ok(ct) if is_sdp(ct) => match msg.body() {
                Ok(body) if !body.is_empty() => String::from_utf8_lossy(body).into_owned(),
                _ => return,
            },
            _ => return,
        };
        if let Some(filtered) = self.filter_sdp(host, &sdp) {
            if let Err(e) = msg.set_body(filtered.as_bytes()) {
                host.error(&format!("unable to set the filtered body: {e}"));
            }
        }
    }

    /// The SDP without blacklisted codecs, or `None` if nothing changed.
    fn filter_sdp(&self, host: &Host, sdp: &str) -> Option<String> {
        let eol = if sdp.contains("\r\n") { "\r\n" } else { "\n" };
        let lines: Vec<&str> = sdp.lines().collect();
        let mut out: Vec<String> = Vec::with_capacity(lines.len());
        let mut changed = false;
        let mut start = 0;
        while start < lines.len() {
            let end = lines
                .iter()
                .enumerate()
                .skip(start + 1)
                .find(|(_, l)| l.starts_with("m="))
                .map_or(lines.len(), |(i, _)| i);
            let section = lines.get(start..end).unwrap_or(&[]);
            match section.first() {
                Some(m) if m.starts_with("m=") => {
                    changed |= self.filter_media(host, section, &mut out);
                }
                _ => out.extend(section.iter().map(|l| l.to_string())),
            }
            start = end;
        }
        if !changed {
            return None;
        }
        let mut body = out.join(eol);
        if sdp.ends_with('\n') {
            body.push_str(eol);
        }
        Some(body)
    }

    /// One media description (its `m=` line first); returns true if changed.
    fn filter_media(&self, host: &Host, section: &[&str], out: &mut Vec<String>) -> bool {
        let Some((m_line, attributes)) = section.split_first() else {
            return false;
        };
        let fields: Vec<&str> = m_line.split_whitespace().collect();
        let (Some(head @ [media, _, proto]), Some(formats)) = (fields.get(..3), fields.get(3..))
        else {
            out.extend(section.iter().map(|l| l.to_string()));
            return false;
        };
        let codec_of = |pt: &str| -> Option<String> {
            let mapped = attributes.iter().find_map(|a| {
                let rest = a.strip_prefix("a=rtpmap:")?;
                let (p, codec) = rest.split_once(char::is_whitespace)?;
                (p == pt).then(|| codec.trim().to_string())
            });
            mapped.or_else(|| {
                let n: u8 = pt.parse().ok()?;
                STATIC_PAYLOADS
                    .iter()
                    .find(|(p, _)| *p == n)
                    .map(|(_, c)| c.to_string())
            })
        };
        let removed: Vec<&str> = formats
            .iter()
            .copied()
            .filter(|pt| codec_of(pt).is_some_and(|c| self.blacklisted(&c)))
            .collect();
        if removed.is_empty() {
            out.extend(section.iter().map(|l| l.to_string()));
            return false;
        }
        for pt in &removed {
            host.debug(&format!(
                "blacklisted - removing media format {pt} ({})",
                codec_of(pt).unwrap_or_default()
            ));
        }
        let kept: Vec<&str> = formats
            .iter()
            .copied()
            .filter(|pt| !removed.contains(pt))
            .collect();
        let m = if kept.is_empty() {
            host.warn(&format!(
                "every format of '{m_line}' is blacklisted: stream declined (port 0)"
            ));
            let first = formats.first().copied().unwrap_or("0");
            format!("{media} 0 {proto} {first}")
        } else {
            format!("{} {}", head.join(" "), kept.join(" "))
        };
        out.push(m);
        let keep_pt = if kept.is_empty() {
            formats.first().copied()
        } else {
            None
        };
        for line in attributes {
            match format_attribute(line) {
                Some(pt) if removed.contains(&pt) && keep_pt != Some(pt) => {}
                _ => out.push(line.to_string()),
            }
        }
        true
    }
}

spx::declare_plugin!(CodecFilter);

#[cfg(test)]
mod tests {
    use super::*;
    use spx::testing::{FakeMsg, Harness};

    fn invite(content_type: &str, sdp: &str) -> FakeMsg {
        FakeMsg::parse(&format!(
            "INVITE sip:bob@example.net SIP/2.0\r\nCall-ID: c\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ))
    }

    /// upstream's example blacklist
    fn example() -> Harness<CodecFilter> {
        Harness::init(&[
            ("plugin_codecfilter_blacklist", "G722"),
            ("plugin_codecfilter_blacklist", "G726"),
            ("plugin_codecfilter_blacklist", "G729"),
            ("plugin_codecfilter_blacklist", "GSM"),
        ])
        .unwrap()
    }

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\n\
        t=0 0\r\nm=audio 7070 RTP/AVP 0 8 9 18 3 111 101\r\na=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:111 G726-32/8000\r\na=fmtp:18 annexb=no\r\na=rtpmap:101 telephone-event/8000\r\n\
        a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n";

    #[test]
    fn static_and_dynamic_blacklisted_codecs_leave_the_m_line_and_their_attributes() {
        let mut plugin = example();
        let mut msg = invite("application/sdp", OFFER);
        assert_eq!(
            plugin.process(Stage::PreProxy, Some(&mut msg)),
            Verdict::Continue
        );
        let expected = "v=0\r\no=- 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\n\
            t=0 0\r\nm=audio 7070 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n\
            a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n";
        assert_eq!(msg.body_text(), expected);
        assert_eq!(
            msg.header("Content-Length", 0),
            Some(expected.len().to_string().as_str())
        );
    }

    #[test]
    fn substring_match_is_case_insensitive_and_per_media_section() {
        let mut plugin = Harness::<CodecFilter>::init(&[
            ("plugin_codecfilter_blacklist", "726"),
            ("plugin_codecfilter_blacklist", "h263"),
        ])
        .unwrap();
        let sdp = "v=0\nm=audio 7070 RTP/AVP 96 0\na=rtpmap:96 g726-32/8000\n\
                   m=video 7072 RTP/AVP 34 97\na=rtpmap:97 H264/90000\na=fmtp:34 QCIF=2\n";
        let mut msg = invite("Application/SDP; charset=utf-8", sdp);
        plugin.process(Stage::PreProxy, Some(&mut msg));
        assert_eq!(
            msg.body_text(),
            "v=0\nm=audio 7070 RTP/AVP 0\nm=video 7072 RTP/AVP 97\na=rtpmap:97 H264/90000\n"
        );
    }

    #[test]
    fn a_stream_with_only_blacklisted_codecs_is_declined() {
        let mut plugin = example();
        let sdp = "v=0\r\nm=audio 7070 RTP/AVP 18 9\r\na=fmtp:18 annexb=no\r\n";
        let mut msg = invite("application/sdp", sdp);
        plugin.process(Stage::PreProxy, Some(&mut msg));
        assert_eq!(
            msg.body_text(),
            "v=0\r\nm=audio 0 RTP/AVP 18\r\na=fmtp:18 annexb=no\r\n"
        );
        assert!(plugin.logs().iter().any(|l| l
            == "WARN every format of 'm=audio 7070 RTP/AVP 18 9' is blacklisted: stream declined (port 0)"));
    }

    #[test]
    fn other_bodies_and_clean_offers_are_untouched() {
        let mut plugin = example();
        let mut text = invite("text/plain", "m=audio 1 RTP/AVP 18\r\n");
        plugin.process(Stage::PreProxy, Some(&mut text));
        assert_eq!(text.body_text(), "m=audio 1 RTP/AVP 18\r\n");
        let clean = "v=0\r\nm=audio 7070 RTP/AVP 0 8\r\n";
        let mut msg = invite("application/sdp", clean);
        plugin.process(Stage::PreProxy, Some(&mut msg));
        assert_eq!(msg.body_text(), clean);
        assert_eq!(plugin.logs(), ["INFO plugin_codecfilter is initialized"]);
    }
}
