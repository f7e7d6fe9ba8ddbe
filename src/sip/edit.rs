//! Edits a proxy makes, as in-place span replacements: bytes outside the edited span are
//! never touched, and every span behind the edit is shifted so later views see the result.
//! Inserted lines use the message's own line terminator (CRLF, or LF for a bare-LF peer).

use super::addr::{Contact, NameAddr};
use super::error::Error;
use super::headers::Element;
use super::lex::{find_unquoted, skip_lws};
use super::message::{Field, Message, Span, StartLine};
use super::name::HeaderName;
use super::via::Via;

/// Where a new Record-Route goes among the existing ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Top,
    Bottom,
}

/// `buf[a..b] = with`, moving the tail once (`Vec::splice` goes through an iterator).
fn replace_range(buf: &mut Vec<u8>, a: usize, b: usize, with: &[u8]) {
    let old_len = buf.len();
    let new_len = old_len - (b - a) + with.len();
    if new_len > old_len {
        buf.resize(new_len, 0);
        buf.copy_within(b..old_len, a + with.len());
    } else {
        buf.copy_within(b..old_len, a + with.len());
        buf.truncate(new_len);
    }
    if let Some(dst) = buf.get_mut(a..a + with.len()) {
        dst.copy_from_slice(with);
    }
}

/// Moves one span boundary for a replacement of `a..b` by `len` bytes (see `splice`).
fn moved(p: usize, a: usize, b: usize, len: usize, is_end: bool, grow: bool) -> usize {
    let after = if is_end {
        p > b || (p == b && (a < b || grow))
    } else {
        p > b || (p == b && !grow)
    };
    if after {
        p - (b - a) + len
    } else if p > a {
        a + len.min(p - a) // inside the replaced bytes: clamp (no edit splits a span this way)
    } else {
        p
    }
}

fn move_span(s: &mut Span, a: usize, b: usize, len: usize, grow: bool) {
    s.start = moved(s.start, a, b, len, false, grow);
    s.end = moved(s.end, a, b, len, true, grow);
}

fn move_start_line(st: &mut StartLine, a: usize, b: usize, len: usize, grow: bool) {
    match st {
        StartLine::Request {
            method,
            uri,
            version,
        } => {
            for s in [method, uri, version] {
                move_span(s, a, b, len, grow);
            }
        }
        StartLine::Response {
            version, reason, ..
        } => {
            move_span(version, a, b, len, grow);
            move_span(reason, a, b, len, grow);
        }
    }
}

impl Message {
    /// Replaces `a..b` with `with`. A span that ends exactly at `a == b` grows over an
    /// insertion only when `grow` (appending to a value), else the insertion goes after it
    /// (a new line after the previous line).
    fn splice(&mut self, a: usize, b: usize, with: &[u8], grow: bool) {
        let (a, b) = (
            a.min(self.buf.len()),
            b.min(self.buf.len()).max(a.min(self.buf.len())),
        );
        replace_range(&mut self.buf, a, b, with);
        let len = with.len();
        move_start_line(&mut self.start, a, b, len, grow);
        move_span(&mut self.start_line, a, b, len, grow);
        for f in &mut self.fields {
            move_span(&mut f.line, a, b, len, grow);
            move_span(&mut f.name, a, b, len, grow);
            move_span(&mut f.value, a, b, len, grow);
        }
        self.head_end = moved(self.head_end, a, b, len, false, grow);
        move_span(&mut self.body, a, b, len, grow);
    }

    /// Inserts `name: value` as a new line at byte `pos`, becoming field number `index`.
    fn insert_field(&mut self, index: usize, pos: usize, name: &[u8], value: &[u8]) {
        let mut line = Vec::with_capacity(name.len() + value.len() + 4);
        line.extend_from_slice(name);
        line.extend_from_slice(b": ");
        line.extend_from_slice(value);
        line.extend_from_slice(self.eol);
        self.splice(pos, pos, &line, false);
        let v_start = pos + name.len() + 2;
        let field = Field {
            line: Span::new(pos, pos + line.len()),
            name: Span::new(pos, pos + name.len()),
            value: Span::new(v_start, v_start + value.len()),
            kind: HeaderName::parse(name),
        };
        self.fields.insert(index.min(self.fields.len()), field);
    }

    /// Removes header line `index` (folding included).
    fn remove_field(&mut self, index: usize) {
        if index < self.fields.len() {
            let f = self.fields.remove(index);
            self.splice(f.line.start, f.line.end, b"", false);
        }
    }

    /// (index, byte position) of the first line of `kind`, or where the headers start.
    fn first_line_of(&self, kind: HeaderName) -> (usize, usize) {
        match self.fields.iter().position(|f| f.kind == kind) {
            Some(i) => (
                i,
                self.fields.get(i).map_or(self.head_end, |f| f.line.start),
            ),
            None => (
                0,
                self.fields.first().map_or(self.head_end, |f| f.line.start),
            ),
        }
    }

    /// (index, byte position) just after the last line of `kind`, if there is one.
    fn after_last_line_of(&self, kind: HeaderName) -> Option<(usize, usize)> {
        let i = self.fields.iter().rposition(|f| f.kind == kind)?;
        self.fields.get(i).map(|f| (i + 1, f.line.end))
    }

    /// RFC 3261 §16.6 step 8: the proxy's own Via goes on top, as a new `Via:` line before
    /// the first Via line (the existing lines, compact or folded, stay as they are).
    pub fn add_via_top(&mut self, value: &[u8]) {
        let (index, pos) = self.first_line_of(HeaderName::Via);
        self.insert_field(index, pos, b"Via", value);
    }

    /// RFC 3261 §16.7 step 3: removes the topmost Via value — the first element of a
    /// comma-separated line (up to the next element), or the whole line when it is alone.
    pub fn remove_top_via(&mut self) -> Result<(), Error> {
        let e = self
            .first_element(HeaderName::Via)?
            .ok_or(Error::NoSuchHeader { name: "Via" })?;
        let value_end = self.fields.get(e.field).map_or(e.span.end, |f| f.value.end);
        let comma = find_unquoted(&self.buf, e.span.end, b",").unwrap_or(value_end);
        if comma >= value_end {
            self.remove_field(e.field);
        } else {
            let next = skip_lws(&self.buf, comma + 1).min(value_end);
            self.splice(e.span.start, next, b"", false);
        }
        Ok(())
    }

    /// Sets a parameter of the top Via (RFC 3261 §18.2.1 `received`, RFC 3581 §4 `rport`):
    /// replaces an existing value, fills a bare flag (`;rport` → `;rport=5060`), or appends
    /// `;name=value` to the top Via value. `value: None` writes or keeps a flag.
    pub fn set_top_via_param(&mut self, name: &[u8], value: Option<&[u8]>) -> Result<(), Error> {
        let e = self
            .first_element(HeaderName::Via)?
            .ok_or(Error::NoSuchHeader { name: "Via" })?;
        let via =
            Via::parse(self.bytes(e.span)).map_err(|err| err.in_header("Via", e.span.start))?;
        let base = e.span.start;
        match (via.param_ranges(name), value) {
            (Some((_, Some(v))), Some(new)) => self.splice(base + v.start, base + v.end, new, true),
            (Some((n, None)), Some(new)) => {
                self.splice(base + n.end, base + n.end, &[b"=", new].concat(), true)
            }
            (Some((n, Some(v))), None) => self.splice(base + n.end, base + v.end, b"", true),
            (Some((_, None)), None) => {}
            (None, v) => {
                let mut p = [b";", name].concat();
                if let Some(v) = v {
                    p.extend_from_slice(b"=");
                    p.extend_from_slice(v);
                }
                self.splice(e.span.end, e.span.end, &p, true);
            }
        }
        Ok(())
    }

    /// Replaces the Request-URI (RFC 3261 §16.5 / §16.6 step 2).
    pub fn set_request_uri(&mut self, uri: &[u8]) -> Result<(), Error> {
        let StartLine::Request { uri: span, .. } = self.start else {
            return Err(Error::NotARequest);
        };
        self.splice(span.start, span.end, uri, true);
        Ok(())
    }

    /// Replaces a response's status code and reason phrase; the SIP-Version and the line's
    /// terminator stay as they were.
    pub fn set_status(&mut self, code: u16, reason: &[u8]) -> Result<(), Error> {
        let StartLine::Response { version, .. } = self.start else {
            return Err(Error::NotAResponse);
        };
        let mut line = self.bytes(version).to_vec();
        line.extend_from_slice(format!(" {code:03} ").as_bytes());
        let reason_at = line.len();
        line.extend_from_slice(reason);
        let (a, b) = (self.start_line.start, self.start_line.end);
        self.splice(a, b, &line, false);
        let at = |off: usize| a + off;
        self.start_line = Span {
            start: a,
            end: at(line.len()),
        };
        self.start = StartLine::Response {
            version: Span {
                start: a,
                end: at(version.end - version.start),
            },
            code,
            reason: Span {
                start: at(reason_at),
                end: at(line.len()),
            },
        };
        Ok(())
    }

    /// Replaces the URI of Contact number `index` (counting values across lines), keeping
    /// display name and header parameters byte for byte. An addr-spec Contact gets `< >`
    /// so that its header parameters stay header parameters (RFC 3261 §20.10).
    pub fn set_contact_uri(&mut self, index: usize, uri: &[u8]) -> Result<(), Error> {
        let elems = self.elements(HeaderName::Contact)?;
        let count = elems.len();
        let e = *elems
            .get(index)
            .ok_or(Error::NoSuchContact { index, count })?;
        let contact = Contact::parse(self.bytes(e.span))
            .map_err(|err| err.in_header("Contact", e.span.start))?;
        let Contact::Addr(addr) = contact else {
            return Err(Error::NoSuchContact { index, count });
        };
        let (angle, r) = (addr.angle, addr.uri.clone());
        let (a, b) = (e.span.start + r.start, e.span.start + r.end);
        if angle {
            self.splice(a, b, uri, true);
        } else {
            self.splice(a, b, &[b"<", uri, b">"].concat(), true);
        }
        Ok(())
    }

    /// RFC 3261 §16.6 step 4: adds a Record-Route value as its own line, above the first
    /// Record-Route (Top) or below the last (Bottom); with none yet, after the last Via.
    pub fn add_record_route(&mut self, value: &[u8], position: Position) {
        let existing = self
            .fields
            .iter()
            .any(|f| f.kind == HeaderName::RecordRoute);
        let (index, pos) = match (existing, position) {
            (true, Position::Top) => self.first_line_of(HeaderName::RecordRoute),
            (true, Position::Bottom) => self
                .after_last_line_of(HeaderName::RecordRoute)
                .unwrap_or((0, self.head_end)),
            (false, _) => self
                .after_last_line_of(HeaderName::Via)
                .unwrap_or_else(|| self.first_line_of(HeaderName::Via)),
        };
        self.insert_field(index, pos, b"Record-Route", value);
    }

    /// Removes every Route / Record-Route value for which `own` is true (RFC 3261 §16.4 for
    /// Route; siproxd purges its own Record-Routes on outgoing requests). Values on a shared
    /// line go with their comma; a line left empty goes whole. Returns how many were removed.
    pub fn remove_route_values(
        &mut self,
        kind: HeaderName,
        mut own: impl FnMut(&NameAddr<'_>) -> bool,
    ) -> Result<usize, Error> {
        let elems = self.elements(kind)?;
        let mut marked = Vec::with_capacity(elems.len());
        for e in &elems {
            let addr = NameAddr::parse(self.bytes(e.span))
                .map_err(|err| err.in_header(kind.as_str(), e.span.start))?;
            marked.push((*e, own(&addr)));
        }
        let removed = marked.iter().filter(|m| m.1).count();
        let mut cuts = route_cuts(&marked);
        cuts.sort_by_key(|c| std::cmp::Reverse(c.0));
        for (start, end, whole_field) in cuts {
            match whole_field {
                Some(i) => self.remove_field(i),
                None => self.splice(start, end, b"", false),
            }
        }
        Ok(removed)
    }

    /// Sets the value of the first `kind` line, or adds a line (User-Agent replace,
    /// Expires add). The original name form and spacing stay.
    pub fn set_header(&mut self, kind: HeaderName, value: &[u8]) {
        match self.fields.iter().find(|f| f.kind == kind).map(|f| f.value) {
            Some(v) => self.splice(v.start, v.end, value, true),
            None => self.add_header(kind.as_str().as_bytes(), value),
        }
    }

    /// Adds `name: value` as the last header line.
    pub fn add_header(&mut self, name: &[u8], value: &[u8]) {
        self.insert_field(self.fields.len(), self.head_end, name, value);
    }

    /// Removes every line of header `kind`; returns how many lines went.
    pub fn remove_header(&mut self, kind: HeaderName) -> usize {
        let mut n = 0;
        while let Some(i) = self.fields.iter().position(|f| f.kind == kind) {
            self.remove_field(i);
            n += 1;
        }
        n
    }

    /// RFC 3261 §16.6 step 3: decrements Max-Forwards, or adds `Max-Forwards: 70`.
    /// Returns the new value; 0 on arrival is [`Error::TooManyHops`] (§16.3 step 3: 483).
    pub fn decrement_max_forwards(&mut self) -> Result<u8, Error> {
        match self.max_forwards()? {
            Some(0) => Err(Error::TooManyHops),
            Some(n) => {
                self.set_header(HeaderName::MaxForwards, (n - 1).to_string().as_bytes());
                Ok(n - 1)
            }
            None => {
                self.add_header(b"Max-Forwards", b"70");
                Ok(70)
            }
        }
    }

    /// Replaces the body and updates Content-Length in place (name form and spacing kept),
    /// adding the header if the message had none.
    pub fn set_body(&mut self, body: &[u8]) {
        if !self.has_empty_line {
            let eol = self.eol;
            self.buf.extend_from_slice(eol);
            self.body = Span::new(self.buf.len(), self.buf.len());
            self.has_empty_line = true;
        }
        self.splice(self.body.start, self.body.end, body, true);
        self.set_header(HeaderName::ContentLength, body.len().to_string().as_bytes());
    }
}

/// For route values marked for removal: (start, end, Some(field) for a whole line).
fn route_cuts(marked: &[(Element, bool)]) -> Vec<(usize, usize, Option<usize>)> {
    let mut cuts = Vec::new();
    for (k, (e, remove)) in marked.iter().enumerate() {
        if !remove {
            continue;
        }
        let same_line = |m: &&(Element, bool)| m.0.field == e.field;
        let line_all_removed = marked.iter().filter(same_line).all(|m| m.1);
        let next = marked.get(k + 1).filter(same_line);
        let kept_after = marked.iter().skip(k + 1).filter(same_line).any(|m| !m.1);
        let prev = k
            .checked_sub(1)
            .and_then(|p| marked.get(p))
            .filter(same_line);
        match (line_all_removed, kept_after, next, prev) {
            (true, ..) if prev.is_none() => cuts.push((e.span.start, e.span.end, Some(e.field))),
            (true, ..) => {}
            (false, true, Some(n), _) => cuts.push((e.span.start, n.0.span.start, None)),
            (false, _, _, Some(p)) => cuts.push((p.0.span.end, e.span.end, None)),
            _ => {}
        }
    }
    cuts
}

/// Header lines addressed by name and position, as plugins address them
/// (the plugin ABI's `header_get/set/insert/remove`). A name matches its
/// long and compact forms in any case.
impl Message {
    /// Indexes (into the field list) of the lines called `name`, in order.
    fn lines_named(&self, name: &[u8]) -> Vec<usize> {
        let kind = HeaderName::parse(name);
        self.fields
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                f.kind == kind
                    && (kind != HeaderName::Other
                        || self
                            .buf
                            .get(f.name.range())
                            .is_some_and(|n| n.eq_ignore_ascii_case(name)))
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The value of the `n`th line called `name`.
    pub fn line_value(&self, name: &[u8], n: usize) -> Option<&[u8]> {
        let i = *self.lines_named(name).get(n)?;
        self.fields
            .get(i)
            .and_then(|f| self.buf.get(f.value.range()))
    }

    /// Replaces the value of the `n`th line called `name`; false if there is none.
    pub fn set_line_value(&mut self, name: &[u8], n: usize, value: &[u8]) -> bool {
        let Some(v) = self
            .lines_named(name)
            .get(n)
            .and_then(|i| self.fields.get(*i))
            .map(|f| f.value)
        else {
            return false;
        };
        self.splice(v.start, v.end, value, true);
        true
    }

    /// Inserts `name: value` before the `n`th line called `name`, or after
    /// the last one (or at the end of the header) when `n` is `None` or past
    /// the last.
    pub fn insert_line(&mut self, name: &[u8], n: Option<usize>, value: &[u8]) {
        let lines = self.lines_named(name);
        let before = n.and_then(|n| lines.get(n)).copied();
        let (index, pos) = match (before, lines.last()) {
            (Some(i), _) => (
                i,
                self.fields.get(i).map_or(self.head_end, |f| f.line.start),
            ),
            (None, Some(&last)) => (
                last + 1,
                self.fields.get(last).map_or(self.head_end, |f| f.line.end),
            ),
            (None, None) => (self.fields.len(), self.head_end),
        };
        self.insert_field(index, pos, name, value);
    }

    /// Removes the `n`th line called `name` (`None`: every one); returns how many went.
    pub fn remove_lines(&mut self, name: &[u8], n: Option<usize>) -> usize {
        let lines = self.lines_named(name);
        let chosen: Vec<usize> = match n {
            Some(n) => lines.get(n).copied().into_iter().collect(),
            None => lines,
        };
        for i in chosen.iter().rev() {
            self.remove_field(*i);
        }
        chosen.len()
    }
}

#[cfg(test)]
mod line_tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK1\r\nX-A: one\r\nx-a: two\r\nSubject: s\r\ns: t\r\nContent-Length: 0\r\n\r\n";

    fn msg() -> Message {
        Message::parse_datagram(MSG).unwrap()
    }

    #[test]
    fn lines_by_name_and_position_with_compact_forms() {
        let m = msg();
        assert_eq!(m.line_value(b"x-A", 1), Some(&b"two"[..]));
        assert_eq!(m.line_value(b"subject", 1), Some(&b"t"[..]));
        assert_eq!(m.line_value(b"s", 0), Some(&b"s"[..]));
        assert_eq!(m.line_value(b"X-A", 2), None);
    }

    #[test]
    fn edits_touch_only_their_line() {
        let mut m = msg();
        assert!(m.set_line_value(b"X-A", 1, b"deux"));
        m.insert_line(b"X-A", Some(0), b"zero");
        m.insert_line(b"X-B", None, b"new");
        assert_eq!(m.remove_lines(b"subject", Some(0)), 1);
        assert_eq!(
            m.as_bytes(),
            &b"OPTIONS sip:a@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK1\r\nX-A: zero\r\nX-A: one\r\nx-a: deux\r\ns: t\r\nContent-Length: 0\r\nX-B: new\r\n\r\n"[..]
        );
        assert_eq!(m.remove_lines(b"x-a", None), 3);
        assert_eq!(m.line_value(b"X-A", 0), None);
    }

    #[test]
    fn set_status_rewrites_code_and_reason_and_nothing_else() {
        let text = b"SIP/2.0 202 Accepted\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK1\r\nCSeq: 7 SUBSCRIBE\r\nContent-Length: 0\r\n\r\n";
        let mut m = Message::parse_datagram(text).unwrap();
        m.set_status(404, b"Not Found").unwrap();
        assert_eq!(
            m.as_bytes(),
            &b"SIP/2.0 404 Not Found\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK1\r\nCSeq: 7 SUBSCRIBE\r\nContent-Length: 0\r\n\r\n"[..]
        );
        assert_eq!(m.status_code(), Some(404));
        assert_eq!(m.reason_phrase(), Some(&b"Not Found"[..]));
        assert_eq!(m.start_line(), b"SIP/2.0 404 Not Found");
        assert_eq!(m.line_value(b"CSeq", 0), Some(&b"7 SUBSCRIBE"[..]));
        // What is sent parses back to the same message.
        let again = Message::parse_datagram(m.as_bytes()).unwrap();
        assert_eq!(again.status_code(), Some(404));
        assert_eq!(msg().set_status(404, b"x"), Err(Error::NotAResponse));
    }
}
