//! The edits the proxy makes to a [`Message`], as byte-span replacements.
//!
//! Layer: pure. Every edit replaces one span of the message bytes and re-parses the result,
//! so bytes outside the edited span leave exactly as they came (header order, case, compact
//! names, folding) — upstream re-encodes the whole message through libosip2
//! (on-the-wire §5). The SIP core is growing the same edits as methods on `Message`; these
//! free functions are the proxy's own until then, built on the core's spans.
//!
//! Inserted lines use the message's own line terminator.

use std::ops::Range;

use crate::sip::addr::{Contact, NameAddr};
use crate::sip::headers::Element;
use crate::sip::message::{Field, StartLine, DEFAULT_MAX_MESSAGE};
use crate::sip::via::Via;
use crate::sip::{Error, HeaderName, Message};

/// Where a new Record-Route goes among the existing ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Top,
    Bottom,
}

/// A byte range and what replaces it.
pub type Replacement = (Range<usize>, Vec<u8>);

/// Replaces the byte range `at` with `with` and re-parses the message.
pub fn splice(msg: &mut Message, at: Range<usize>, with: &[u8]) -> Result<(), Error> {
    splice_many(msg, vec![(at, with.to_vec())])
}

/// Applies non-overlapping replacements and re-parses once. Insertions at the same offset
/// land in the order given.
pub fn splice_many(msg: &mut Message, edits: Vec<Replacement>) -> Result<(), Error> {
    let mut buf = msg.as_bytes().to_vec();
    let mut edits: Vec<(usize, Replacement)> = edits.into_iter().enumerate().collect();
    edits.sort_by_key(|(i, (r, _))| std::cmp::Reverse((r.start, *i)));
    for (_, (r, with)) in edits {
        let end = r.end.min(buf.len());
        let start = r.start.min(end);
        buf.splice(start..end, with);
    }
    *msg = Message::parse(
        &buf,
        crate::sip::Transport::Datagram,
        DEFAULT_MAX_MESSAGE * 2,
    )?;
    Ok(())
}

fn fields(msg: &Message) -> &[Field] {
    &msg.fields
}

fn line_of(msg: &Message, name: &[u8], value: &[u8]) -> Vec<u8> {
    [name, b": ", value, msg.eol].concat()
}

/// Byte offset where the first line of `kind` starts, or where the headers start.
fn first_line_start(msg: &Message, kind: HeaderName) -> usize {
    let all = fields(msg);
    all.iter()
        .find(|f| f.kind == kind)
        .or(all.first())
        .map_or(msg.head_end, |f| f.line.start)
}

/// Byte offset after the last line of `kind`, if the message has one.
fn after_last_line(msg: &Message, kind: HeaderName) -> Option<usize> {
    fields(msg)
        .iter()
        .rev()
        .find(|f| f.kind == kind)
        .map(|f| f.line.end)
}

/// Inserts a header line at byte `pos` (a line boundary).
fn insert_line(msg: &mut Message, pos: usize, name: &[u8], value: &[u8]) -> Result<(), Error> {
    let line = line_of(msg, name, value);
    splice(msg, pos..pos, &line)
}

/// RFC 3261 §16.6 step 8: the proxy's own Via goes on top as a line of its own.
pub fn add_via_top(msg: &mut Message, value: &[u8]) -> Result<(), Error> {
    let pos = first_line_start(msg, HeaderName::Via);
    insert_line(msg, pos, b"Via", value)
}

/// The span to cut to remove element `e` from its comma list (the whole line when alone).
fn element_cut(msg: &Message, elems: &[Element], index: usize) -> Option<Range<usize>> {
    let e = elems.get(index)?;
    let line = fields(msg).get(e.field)?;
    let same_line: Vec<&Element> = elems.iter().filter(|x| x.field == e.field).collect();
    if same_line.len() == 1 {
        return Some(line.line.start..line.line.end);
    }
    let pos = same_line.iter().position(|x| x.span == e.span)?;
    match (
        same_line.get(pos + 1),
        pos.checked_sub(1).and_then(|p| same_line.get(p)),
    ) {
        (Some(next), _) => Some(e.span.start..next.span.start),
        (None, Some(prev)) => Some(prev.span.end..e.span.end),
        (None, None) => None,
    }
}

/// RFC 3261 §16.7 step 3: removes the topmost Via value.
pub fn remove_top_via(msg: &mut Message) -> Result<(), Error> {
    let elems = msg.elements(HeaderName::Via)?;
    let cut = element_cut(msg, &elems, 0).ok_or(Error::NoSuchHeader { name: "Via" })?;
    splice(msg, cut, b"")
}

/// Sets parameters of the top Via (RFC 3261 §18.2.1 `received`, RFC 3581 §4 `rport`):
/// an existing value is replaced, a bare flag gets its value, a missing one is appended.
pub fn set_top_via_params(msg: &mut Message, params: &[(&[u8], &[u8])]) -> Result<(), Error> {
    let elems = msg.elements(HeaderName::Via)?;
    let e = *elems.first().ok_or(Error::NoSuchHeader { name: "Via" })?;
    let raw = msg.as_bytes().get(e.span.range()).unwrap_or_default();
    let via = Via::parse(raw).map_err(|err| err.in_header("Via", e.span.start))?;
    let base = e.span.start;
    let mut edits = Vec::new();
    let mut appended = Vec::new();
    for (name, value) in params {
        match via.param_ranges(name) {
            Some((_, Some(v))) => edits.push((base + v.start..base + v.end, value.to_vec())),
            Some((n, None)) => edits.push((base + n.end..base + n.end, [b"=", *value].concat())),
            None => appended.extend_from_slice(&[b";", *name, b"=", *value].concat()),
        }
    }
    if !appended.is_empty() {
        edits.push((e.span.end..e.span.end, appended));
    }
    splice_many(msg, edits)
}

/// Replaces the Request-URI (RFC 3261 §16.5, §16.6 step 2).
pub fn set_request_uri(msg: &mut Message, uri: &[u8]) -> Result<(), Error> {
    let StartLine::Request { uri: span, .. } = msg.start else {
        return Err(Error::NoSuchHeader {
            name: "Request-URI",
        });
    };
    splice(msg, span.range(), uri)
}

/// Replaces the URI of Contact number `index`, keeping display name and header params byte
/// for byte; an addr-spec Contact gets `< >` so its parameters stay header parameters.
pub fn set_contact_uri(msg: &mut Message, index: usize, uri: &[u8]) -> Result<(), Error> {
    let elems = msg.elements(HeaderName::Contact)?;
    let count = elems.len();
    let e = *elems
        .get(index)
        .ok_or(Error::NoSuchContact { index, count })?;
    let raw = msg.as_bytes().get(e.span.range()).unwrap_or_default();
    let contact = Contact::parse(raw).map_err(|err| err.in_header("Contact", e.span.start))?;
    let Contact::Addr(addr) = contact else {
        return Err(Error::NoSuchContact { index, count });
    };
    let r = addr.uri.clone();
    let at = e.span.start + r.start..e.span.start + r.end;
    if addr.angle {
        splice(msg, at, uri)
    } else {
        splice(msg, at, &[b"<", uri, b">"].concat())
    }
}

/// RFC 3261 §16.6 step 4: adds a Record-Route line above the first (Top) or below the last
/// (Bottom) Record-Route; with none yet, after the last Via line.
pub fn add_record_route(msg: &mut Message, value: &[u8], position: Position) -> Result<(), Error> {
    let existing = after_last_line(msg, HeaderName::RecordRoute);
    let pos = match (existing, position) {
        (Some(_), Position::Top) => first_line_start(msg, HeaderName::RecordRoute),
        (Some(end), Position::Bottom) => end,
        (None, _) => after_last_line(msg, HeaderName::Via)
            .unwrap_or_else(|| first_line_start(msg, HeaderName::Via)),
    };
    insert_line(msg, pos, b"Record-Route", value)
}

/// Removes the Route/Record-Route values for which `own` is true, one at a time (a value
/// alone on its line takes the line with it). Returns how many went.
pub fn remove_route_values(
    msg: &mut Message,
    kind: HeaderName,
    own: impl Fn(&NameAddr<'_>) -> bool,
) -> Result<usize, Error> {
    let mut removed = 0;
    loop {
        let elems = msg.elements(kind)?;
        let hit = elems.iter().position(|e| {
            let raw = msg.as_bytes().get(e.span.range()).unwrap_or_default();
            NameAddr::parse(raw).is_ok_and(|a| own(&a))
        });
        let Some(index) = hit else {
            return Ok(removed);
        };
        let cut = element_cut(msg, &elems, index).ok_or(Error::NoSuchHeader {
            name: kind.as_str(),
        })?;
        splice(msg, cut, b"")?;
        removed += 1;
    }
}

/// Removes the topmost Route value (RFC 3261 §16.4).
pub fn remove_top_route(msg: &mut Message) -> Result<(), Error> {
    let elems = msg.elements(HeaderName::Route)?;
    let cut = element_cut(msg, &elems, 0).ok_or(Error::NoSuchHeader { name: "Route" })?;
    splice(msg, cut, b"")
}

/// Removes the last Route value and returns its URI (strict-router pop, RFC 3261 §16.4).
pub fn pop_last_route(msg: &mut Message) -> Result<Vec<u8>, Error> {
    let elems = msg.elements(HeaderName::Route)?;
    let last = elems
        .len()
        .checked_sub(1)
        .ok_or(Error::NoSuchHeader { name: "Route" })?;
    let e = *elems
        .get(last)
        .ok_or(Error::NoSuchHeader { name: "Route" })?;
    let raw = msg.as_bytes().get(e.span.range()).unwrap_or_default();
    let uri = NameAddr::parse(raw)
        .map_err(|err| err.in_header("Route", e.span.start))?
        .uri_bytes()
        .to_vec();
    let cut = element_cut(msg, &elems, last).ok_or(Error::NoSuchHeader { name: "Route" })?;
    splice(msg, cut, b"")?;
    Ok(uri)
}

/// Sets the value of the first `kind` line (name form and spacing kept), or adds a line
/// called `name` at the end of the headers.
pub fn set_header(
    msg: &mut Message,
    kind: HeaderName,
    name: &[u8],
    value: &[u8],
) -> Result<(), Error> {
    match fields(msg).iter().find(|f| f.kind == kind).map(|f| f.value) {
        Some(v) => splice(msg, v.range(), value),
        None => add_header(msg, name, value),
    }
}

/// Adds `name: value` as the last header line.
pub fn add_header(msg: &mut Message, name: &[u8], value: &[u8]) -> Result<(), Error> {
    let pos = msg.head_end;
    insert_line(msg, pos, name, value)
}

/// RFC 3261 §16.6 step 3: decrements Max-Forwards, or adds `Max-Forwards: 70`.
pub fn decrement_max_forwards(msg: &mut Message) -> Result<u8, Error> {
    match msg.max_forwards()? {
        Some(n) => {
            let n = n.saturating_sub(1);
            set_header(
                msg,
                HeaderName::MaxForwards,
                b"Max-Forwards",
                n.to_string().as_bytes(),
            )?;
            Ok(n)
        }
        None => {
            add_header(msg, b"Max-Forwards", b"70")?;
            Ok(70)
        }
    }
}

/// Replaces the body and the Content-Length value (added if the message had none).
pub fn set_body(msg: &mut Message, body: &[u8]) -> Result<(), Error> {
    let len = body.len().to_string();
    let cl = fields(msg)
        .iter()
        .find(|f| f.kind == HeaderName::ContentLength)
        .map(|f| f.value);
    let mut edits = vec![(msg.body.range(), body.to_vec())];
    match cl {
        Some(v) => edits.push((v.range(), len.into_bytes())),
        None => {
            let pos = msg.head_end;
            edits.push((pos..pos, line_of(msg, b"Content-Length", len.as_bytes())));
        }
    }
    splice_many(msg, edits)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] = b"INVITE sip:bob@b.example SIP/2.0\r\nv: SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/UDP c.example\r\nmax-forwards: 7\r\nm: sip:a@10.0.0.1;expires=3\r\nRoute: <sip:x;lr>, <sip:y;lr>\r\nl: 4\r\n\r\nbody";

    fn msg() -> Message {
        Message::parse_datagram(REQ).unwrap()
    }

    fn text(m: &Message) -> String {
        String::from_utf8_lossy(m.as_bytes()).into_owned()
    }

    #[test]
    fn via_edits_keep_other_bytes() {
        let mut m = msg();
        add_via_top(&mut m, b"SIP/2.0/UDP me;branch=z9hG4bKx").unwrap();
        assert!(text(&m).starts_with("INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP me;branch=z9hG4bKx\r\nv: SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP"));
        remove_top_via(&mut m).unwrap();
        assert_eq!(m.as_bytes(), REQ);
        remove_top_via(&mut m).unwrap();
        assert!(text(&m).contains("\r\nv: SIP/2.0/UDP c.example\r\nmax-forwards"));
        set_top_via_params(&mut m, &[(b"received", b"1.2.3.4"), (b"rport", b"9")]).unwrap();
        assert!(text(&m).contains("\r\nv: SIP/2.0/UDP c.example;received=1.2.3.4;rport=9\r\n"));
    }

    #[test]
    fn contact_max_forwards_body_routes() {
        let mut m = msg();
        set_contact_uri(&mut m, 0, b"sip:a@192.0.2.1").unwrap();
        decrement_max_forwards(&mut m).unwrap();
        set_body(&mut m, b"longer").unwrap();
        assert_eq!(pop_last_route(&mut m).unwrap(), b"sip:y;lr");
        assert_eq!(
            text(&m),
            "INVITE sip:bob@b.example SIP/2.0\r\nv: SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/UDP c.example\r\nmax-forwards: 6\r\nm: <sip:a@192.0.2.1>;expires=3\r\nRoute: <sip:x;lr>\r\nl: 6\r\n\r\nlonger"
        );
        remove_top_route(&mut m).unwrap();
        assert!(!text(&m).contains("Route"));
    }
}
#[cfg(test)]
mod order_tests {
    use super::*;
    #[test]
    fn rport_flag_filled_and_received_appended() {
        let mut m = Message::parse_datagram(
            b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h:5060;branch=z9hG4bK1;rport\r\n\r\n",
        )
        .unwrap();
        set_top_via_params(&mut m, &[(b"received", b"1.2.3.4"), (b"rport", b"9")]).unwrap();
        assert_eq!(String::from_utf8_lossy(m.as_bytes()), "OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h:5060;branch=z9hG4bK1;rport=9;received=1.2.3.4\r\n\r\n");
    }
}
