//! Properties the fuzz targets (fuzz/) and the corpus replay test (tests/sip_fuzz_corpus.rs)
//! check. Each function panics when its property is violated and on nothing else.
#![allow(clippy::panic, clippy::expect_used)] // asserting is the point of an oracle

use super::framing::{Frame, StreamFramer};
use super::message::{Message, Transport, DEFAULT_MAX_MESSAGE};
use super::name::HeaderName;
use super::sdp::Sdp;
use std::net::IpAddr;

/// Reads every typed view; none may panic, whatever they return.
fn touch_views(m: &Message) {
    let _ = (
        m.check(),
        m.vias(),
        m.top_via(),
        m.contacts(),
        m.to(),
        m.from(),
        m.call_id(),
    );
    let _ = (
        m.cseq(),
        m.max_forwards(),
        m.expires(),
        m.content_type(),
        m.content_length(),
    );
    let _ = (
        m.route_set(HeaderName::Route),
        m.route_set(HeaderName::RecordRoute),
        m.request_uri(),
    );
    let _ = (
        m.auth(HeaderName::Authorization),
        m.auth(HeaderName::WwwAuthenticate),
    );
    let _ = super::response::build_response(m, 400, None, Some(b"t"), &[]);
}

/// Asserts that `after` is `before` with one contiguous window changed: the common prefix
/// and common suffix together cover everything but `changed` bytes of `before`.
fn only_one_window(before: &[u8], after: &[u8], changed: usize) {
    let prefix = before.iter().zip(after).take_while(|(a, b)| a == b).count();
    let suffix = before
        .iter()
        .rev()
        .zip(after.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    assert!(
        prefix + suffix + changed >= before.len(),
        "edit touched bytes outside its span"
    );
}

/// Each edit on a copy: it changes one window and the views see the result.
fn check_edits(m: &Message) {
    let orig = m.as_bytes();
    let mut e = m.clone();
    e.add_via_top(b"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKfuzz");
    let line_len = orig.len().abs_diff(e.as_bytes().len());
    only_one_window(orig, e.as_bytes(), 0);
    assert_eq!(line_len, 50 + m.eol.len(), "inserted Via line length");
    assert_eq!(
        e.top_via().ok().and_then(|v| v.branch()),
        Some(&b"z9hG4bKfuzz"[..])
    );
    let mut r = m.clone();
    if r.remove_top_via().is_ok() {
        only_one_window(orig, r.as_bytes(), orig.len() - r.as_bytes().len());
    }
    let mut p = m.clone();
    if p.set_top_via_param(b"received", Some(b"192.0.2.9")).is_ok() {
        only_one_window(orig, p.as_bytes(), orig.len());
        assert_eq!(
            p.top_via().ok().and_then(|v| v.received()),
            Some(&b"192.0.2.9"[..])
        );
    }
    let mut b = m.clone();
    b.set_body(b"v=0\r\n");
    let again = Message::parse(b.as_bytes(), Transport::Stream, usize::MAX)
        .expect("re-parse after set_body");
    assert_eq!(
        (again.body(), again.as_bytes()),
        (&b"v=0\r\n"[..], b.as_bytes())
    );
}

/// Parser: no panic; for accepted input serialize(parse(x)) is exactly the message's bytes
/// of x (after skipped CRLFs, before datagram noise); edits change only their span.
pub fn message(data: &[u8]) {
    for transport in [Transport::Datagram, Transport::Stream] {
        let Ok(m) = Message::parse(data, transport, DEFAULT_MAX_MESSAGE) else {
            continue;
        };
        let start = m.skipped_prefix();
        let original = data.get(start..start + m.as_bytes().len());
        assert_eq!(Some(m.as_bytes()), original, "round trip changed bytes");
        touch_views(&m);
        check_edits(&m);
    }
}

/// TCP framer: no panic; frames plus skipped bytes plus the buffer account for every input
/// byte, message frames appear in the input in order, the buffer stays bounded, and a frame
/// the parser accepts is parsed whole.
pub fn framer(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let limit = 64 + usize::from(split) * 4;
    let mut f = StreamFramer::new(limit);
    let mut frames = Vec::new();
    for chunk in rest.chunks(usize::from(split % 17) + 1) {
        if f.push(chunk, &mut frames).is_err() {
            assert_eq!(f.buffered(), 0, "buffer kept after an error");
            return;
        }
        assert!(f.buffered() <= limit, "buffer over the limit");
    }
    let mut total = f.skipped() + f.buffered();
    let mut at = 0;
    for frame in &frames {
        let Frame::Message(bytes) = frame else {
            total += if *frame == Frame::Ping { 4 } else { 2 };
            continue;
        };
        total += bytes.len();
        let found = rest
            .get(at..)
            .and_then(|r| r.windows(bytes.len()).position(|w| w == bytes.as_slice()));
        at += found.expect("frame not in the input in order") + bytes.len();
        if let Ok(m) = Message::parse(bytes, Transport::Stream, usize::MAX) {
            assert_eq!(
                m.as_bytes(),
                bytes.as_slice(),
                "parser and framer disagree on the length"
            );
        }
    }
    assert_eq!(total, rest.len(), "bytes lost or invented");
}

/// Lines with their own terminators.
fn lines(s: &[u8]) -> Vec<&[u8]> {
    s.split_inclusive(|&c| c == b'\n').collect()
}

/// SDP rewriter: no panic; rewritten fields read back; every line that is not o=, c=, m=
/// or a=rtcp: is byte-identical, terminators included, and no line is added or lost.
pub fn sdp_rewrite(data: &[u8]) {
    let Ok(sdp) = Sdp::parse(data) else { return };
    let (v4, v6): (IpAddr, IpAddr) = (
        "192.0.2.1".parse().expect("v4"),
        "2001:db8::1".parse().expect("v6"),
    );
    let mut r = sdp.rewriter();
    r.set_origin_address(v4).set_connection_addresses(v6);
    for i in 0..sdp.media.len() {
        let port = u16::try_from(1000 + i % 60000).unwrap_or(1000);
        r.set_media_port(i, port).set_rtcp(i, port + 1, Some(v4));
    }
    let out = r.to_bytes();
    let again = Sdp::parse(&out).expect("rewritten SDP parses");
    assert_eq!(again.media.len(), sdp.media.len());
    for (i, m) in again.media.iter().enumerate() {
        assert_eq!(usize::from(m.port), 1000 + i % 60000);
    }
    if let Some(o) = &again.origin {
        assert_eq!(o.ip(), Some(v4));
    }
    let (before, after) = (lines(data), lines(&out));
    assert_eq!(before.len(), after.len(), "line count changed");
    for (a, b) in before.iter().zip(&after) {
        let edited = [&b"o="[..], b"c=", b"m=", b"a=rtcp:"]
            .iter()
            .any(|p| a.starts_with(p));
        if edited {
            assert_eq!(
                (a.get(..2), a.ends_with(b"\r\n")),
                (b.get(..2), b.ends_with(b"\r\n"))
            );
        } else {
            assert_eq!(a, b, "an unedited line changed");
        }
    }
}
