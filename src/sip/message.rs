//! `Message`: a lossless view over one received SIP message (RFC 3261 §7).
//!
//! The message owns a copy of exactly the bytes that make it up (start line, header lines,
//! empty line, body — trailing datagram noise and leading keepalive CRLFs excluded) and an
//! ordered list of header-field lines as byte spans. Nothing is decoded up front: typed views
//! (`headers.rs`) parse a span when asked. Edits (`edit.rs`) splice the buffer in place and
//! shift the spans behind them, so bytes nobody edited leave exactly as they came and a view
//! taken after an edit sees the edit.

use super::error::Error;
use super::lex::{is_token, parse_decimal};
use super::name::HeaderName;
use std::ops::Range;

/// Largest message accepted by default (DESIGN.md §6: memory bounded by configuration).
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024;

/// Header lines accepted per message; real messages carry a few dozen (RFC 4475 `longreq`
/// about 20), and every line costs a span record, so this bounds memory per message.
pub const MAX_HEADER_LINES: usize = 512;

/// Spare capacity reserved in a parsed message's buffer for the proxy's edits.
const EDIT_HEADROOM: usize = 256;

/// A byte range inside the message buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
    /// As a `Range` for slicing.
    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }
    pub(crate) fn is_empty(self) -> bool {
        self.start >= self.end
    }
}

/// How the message was delimited, which decides the Content-Length rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: one message per datagram; RFC 3261 §18.3.
    Datagram,
    /// TCP/TLS frame from [`super::framing::StreamFramer`]; Content-Length mandatory.
    Stream,
}

/// The start line: RFC 3261 §7.1 Request-Line or §7.2 Status-Line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartLine {
    Request {
        method: Span,
        uri: Span,
        version: Span,
    },
    Response {
        version: Span,
        code: u16,
        reason: Span,
    },
}

/// One header-field line, folding included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    /// The whole line(s), from the name to the terminator of the last continuation line.
    pub line: Span,
    pub name: Span,
    /// The value without the LWS after the colon and without trailing whitespace.
    pub value: Span,
    pub kind: HeaderName,
}

/// A parsed SIP message; see the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub(crate) buf: Vec<u8>,
    pub(crate) start: StartLine,
    /// The start line without its terminator.
    pub(crate) start_line: Span,
    pub(crate) fields: Vec<Field>,
    /// Offset of the empty line that ends the headers (or of the end, if it is missing).
    pub(crate) head_end: usize,
    pub(crate) body: Span,
    /// The start line's terminator, reused for lines the proxy inserts.
    pub(crate) eol: &'static [u8],
    /// False for a datagram whose headers ran to its end without the empty line.
    pub(crate) has_empty_line: bool,
    /// Leading CRLFs skipped before the start line (RFC 3261 §7.5).
    pub(crate) skipped: usize,
}

/// Result of scanning the header section, spans relative to the scanned slice.
struct Head {
    start: StartLine,
    start_line: Span,
    eol: &'static [u8],
    fields: Vec<Field>,
    head_end: usize,
    body_start: usize,
    has_empty_line: bool,
}

/// The next line from `pos`: (content end without CR, end after the terminator), or `None`
/// when `pos` is at the end. A last line without LF ends at the end of `s` twice.
fn next_line(s: &[u8], pos: usize) -> Option<(usize, usize)> {
    let rest = s.get(pos..).filter(|r| !r.is_empty())?;
    let Some(lf) = super::lex::find_byte(rest, b'\n') else {
        return Some((s.len(), s.len()));
    };
    let content_end = if lf > 0 && rest.get(lf - 1) == Some(&b'\r') {
        lf - 1
    } else {
        lf
    };
    Some((pos + content_end, pos + lf + 1))
}

/// True when `version` is `SIP/2.0` (RFC 3261 §7.1: case-insensitive).
fn is_sip_2_0(version: &[u8]) -> bool {
    version.eq_ignore_ascii_case(b"SIP/2.0")
}

/// RFC 3261 §7.2 Status-Line: `SIP-Version SP Status-Code SP Reason-Phrase`.
fn parse_status_line(s: &[u8], end: usize) -> Result<StartLine, Error> {
    let line = s.get(..end).unwrap_or_default();
    let sp = line.iter().position(|&c| c == b' ').unwrap_or(line.len());
    if !is_sip_2_0(line.get(..sp).unwrap_or_default()) {
        return Err(Error::UnsupportedVersion { offset: 0 });
    }
    let code_bytes = line.get(sp + 1..(sp + 4).min(end)).unwrap_or_default();
    let code = parse_decimal(code_bytes, 699).filter(|c| *c >= 100 && code_bytes.len() == 3);
    let after = line.get(sp + 4).copied();
    let (Some(code), None | Some(b' ')) = (code, after) else {
        return Err(Error::StatusCode { offset: sp + 1 });
    };
    let reason = Span::new((sp + 5).min(end), end);
    let code = u16::try_from(code).map_err(|_| Error::StatusCode { offset: sp + 1 })?;
    Ok(StartLine::Response {
        version: Span::new(0, sp),
        code,
        reason,
    })
}

/// RFC 3261 §7.1 Request-Line: `Method SP Request-URI SP SIP-Version`, single spaces only
/// (RFC 4475 §3.1.2.8–10 are rejected, not repaired).
fn parse_request_line(s: &[u8], end: usize) -> Result<StartLine, Error> {
    let line = s.get(..end).unwrap_or_default();
    let bad = |reason, offset| Error::StartLine { reason, offset };
    let m_end = line
        .iter()
        .position(|&c| c == b' ')
        .ok_or(bad("no space after the method", 0))?;
    if m_end == 0 || !line.iter().take(m_end).all(|&c| is_token(c)) {
        return Err(bad("method is not a token", 0));
    }
    let u_start = m_end + 1;
    let rest = line.get(u_start..).unwrap_or_default();
    let u_len = rest
        .iter()
        .position(|&c| c == b' ')
        .ok_or(bad("no SIP-Version", u_start))?;
    if u_len == 0 || rest.iter().take(u_len).any(|&c| c.is_ascii_whitespace()) {
        return Err(bad("empty Request-URI or extra whitespace", u_start));
    }
    let v_start = u_start + u_len + 1;
    let version = line.get(v_start..).unwrap_or_default();
    if version.iter().any(|c| c.is_ascii_whitespace()) {
        return Err(bad("whitespace in or after the SIP-Version", v_start));
    }
    if !is_sip_2_0(version) {
        return Err(Error::UnsupportedVersion { offset: v_start });
    }
    Ok(StartLine::Request {
        method: Span::new(0, m_end),
        uri: Span::new(u_start, u_start + u_len),
        version: Span::new(v_start, end),
    })
}

/// Index of the first byte of `s[from..to]` that is not SP or HTAB.
fn skip_wsp(s: &[u8], mut from: usize, to: usize) -> usize {
    while from < to && matches!(s.get(from), Some(b' ' | b'\t')) {
        from += 1;
    }
    from
}

/// Index after the last byte of `s[from..to]` that is not SP or HTAB.
fn trim_wsp_end(s: &[u8], from: usize, mut to: usize) -> usize {
    while to > from && matches!(s.get(to - 1), Some(b' ' | b'\t')) {
        to -= 1;
    }
    to
}

/// RFC 3261 §7.3.1: `field-name HCOLON field-value`, HCOLON = *( SP / HTAB ) ":" SWS.
fn parse_field_line(
    s: &[u8],
    pos: usize,
    content_end: usize,
    line_no: usize,
) -> Result<Field, Error> {
    let bad = |reason, offset| Error::HeaderLine {
        line: line_no,
        reason,
        offset,
    };
    let line = s.get(pos..content_end).unwrap_or_default();
    let colon = line
        .iter()
        .position(|&c| c == b':')
        .ok_or(bad("no colon", pos))?;
    let name_end = trim_wsp_end(s, pos, pos + colon);
    let name = s.get(pos..name_end).unwrap_or_default();
    if name.is_empty() || !name.iter().all(|&c| is_token(c)) {
        return Err(bad("header name is not a token", pos));
    }
    let v_start = skip_wsp(s, pos + colon + 1, content_end);
    let v_end = trim_wsp_end(s, v_start, content_end);
    Ok(Field {
        line: Span::new(pos, content_end),
        name: Span::new(pos, name_end),
        value: Span::new(v_start, v_end),
        kind: HeaderName::parse(name),
    })
}

/// Appends a continuation line (RFC 3261 §7.3.1 folding) to the previous field.
fn fold_into(field: &mut Field, s: &[u8], pos: usize, content_end: usize) {
    let first = skip_wsp(s, pos, content_end);
    let last = trim_wsp_end(s, first, content_end);
    if first < last {
        if field.value.is_empty() {
            field.value.start = first;
        }
        field.value.end = last;
    }
}

/// Scans the start line and the header section of `s`.
fn scan_head(s: &[u8]) -> Result<Head, Error> {
    let (sl_end, pos) = next_line(s, 0).ok_or(Error::Empty)?;
    if pos == sl_end {
        return Err(Error::NoHeaderEnd);
    }
    let eol: &'static [u8] = if s.get(sl_end) == Some(&b'\r') {
        b"\r\n"
    } else {
        b"\n"
    };
    let start = if s.starts_with(b"SIP/") {
        parse_status_line(s, sl_end)?
    } else {
        parse_request_line(s, sl_end)?
    };
    let mut head = Head {
        start,
        start_line: Span::new(0, sl_end),
        eol,
        fields: Vec::with_capacity(16),
        head_end: pos,
        body_start: pos,
        has_empty_line: false,
    };
    scan_fields(s, pos, &mut head)?;
    Ok(head)
}

/// Reads header lines from `pos` up to the empty line. Headers that run to the end of the
/// input without it are tolerated (RFC 5118 §4.10 archive files); a last line cut off
/// before its LF is not.
fn scan_fields(s: &[u8], mut pos: usize, head: &mut Head) -> Result<(), Error> {
    while let Some((content_end, next)) = next_line(s, pos) {
        if next == content_end && next == s.len() && content_end > pos {
            return Err(Error::NoHeaderEnd);
        }
        if content_end == pos {
            (head.head_end, head.body_start, head.has_empty_line) = (pos, next, true);
            return Ok(());
        }
        push_line(s, pos, content_end, next, &mut head.fields)?;
        pos = next;
    }
    (head.head_end, head.body_start) = (pos, pos);
    Ok(())
}

/// Adds one header line: a new field, or a continuation of the previous one (folding).
fn push_line(
    s: &[u8],
    pos: usize,
    content_end: usize,
    next: usize,
    fields: &mut Vec<Field>,
) -> Result<(), Error> {
    if matches!(s.get(pos), Some(b' ' | b'\t')) {
        let line = fields.len() + 1;
        let prev = fields.last_mut().ok_or(Error::HeaderLine {
            line,
            reason: "continuation before any header",
            offset: pos,
        })?;
        fold_into(prev, s, pos, content_end);
        prev.line.end = next;
    } else {
        if fields.len() >= MAX_HEADER_LINES {
            return Err(Error::TooManyHeaders {
                limit: MAX_HEADER_LINES,
            });
        }
        let mut field = parse_field_line(s, pos, content_end, fields.len() + 1)?;
        field.line.end = next;
        fields.push(field);
    }
    Ok(())
}

/// The one Content-Length value, if any (RFC 3261 §20.14; RFC 4475 §3.3.9 for two).
fn content_length(s: &[u8], fields: &[Field]) -> Result<Option<usize>, Error> {
    let mut found: Option<(usize, usize)> = None;
    for f in fields
        .iter()
        .filter(|f| f.kind == HeaderName::ContentLength)
    {
        if let Some((first, _)) = found {
            return Err(Error::ContentLengthTwice {
                first,
                second: f.line.start,
            });
        }
        let value = s.get(f.value.range()).unwrap_or_default();
        let n = parse_decimal(value, u32::MAX.into()).ok_or(Error::ContentLength {
            offset: f.value.start,
        })?;
        let n = usize::try_from(n).map_err(|_| Error::ContentLength {
            offset: f.value.start,
        })?;
        found = Some((f.line.start, n));
    }
    Ok(found.map(|(_, n)| n))
}

impl Message {
    /// Parses one UDP datagram (RFC 3261 §18.3): leading CRLFs are skipped (§7.5); a body
    /// shorter than Content-Length is an error; octets after it are not part of the message
    /// (RFC 4475 §3.1.1.8); without Content-Length the body is the rest of the datagram.
    pub fn parse_datagram(data: &[u8]) -> Result<Message, Error> {
        Self::parse(data, Transport::Datagram, DEFAULT_MAX_MESSAGE)
    }

    /// Parses one frame cut by [`super::framing::StreamFramer`] (Content-Length required).
    pub fn parse_stream(frame: &[u8]) -> Result<Message, Error> {
        Self::parse(frame, Transport::Stream, DEFAULT_MAX_MESSAGE)
    }

    /// Parses one message with explicit framing rules and size limit.
    pub fn parse(data: &[u8], transport: Transport, limit: usize) -> Result<Message, Error> {
        let skipped = data
            .iter()
            .take_while(|&&c| c == b'\r' || c == b'\n')
            .count();
        let s = data.get(skipped..).unwrap_or_default();
        if s.len() > limit {
            return Err(Error::TooLarge {
                len: s.len(),
                limit,
            });
        }
        let head = scan_head(s)?;
        let present = s.len().saturating_sub(head.body_start);
        let body_len = match (content_length(s, &head.fields)?, transport) {
            (Some(n), _) if n > present => {
                return Err(Error::BodyTruncated {
                    declared: n,
                    present,
                })
            }
            (Some(n), _) => n,
            (None, Transport::Datagram) => present,
            (None, Transport::Stream) => return Err(Error::ContentLengthRequired),
        };
        let end = head.body_start + body_len;
        // Headroom so the usual edits (a Via, a longer Contact or body) do not reallocate:
        // one allocation for the outgoing buffer (DESIGN.md §6).
        let mut buf = Vec::with_capacity(end + EDIT_HEADROOM);
        buf.extend_from_slice(s.get(..end).unwrap_or_default());
        Ok(Message {
            buf,
            start: head.start,
            start_line: head.start_line,
            fields: head.fields,
            head_end: head.head_end,
            body: Span::new(head.body_start, end),
            eol: head.eol,
            has_empty_line: head.has_empty_line,
            skipped,
        })
    }

    /// The message as it goes on the wire, every edit applied.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The wire bytes, without a copy.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Where the message began in the input: the number of keepalive CRLFs skipped.
    pub fn skipped_prefix(&self) -> usize {
        self.skipped
    }

    /// True for a request, false for a response.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method as sent (case-sensitive, RFC 3261 §7.1), `None` for a response.
    pub fn method(&self) -> Option<&[u8]> {
        match self.start {
            StartLine::Request { method, .. } => self.bytes(method).into(),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI as sent, `None` for a response.
    pub fn request_uri_bytes(&self) -> Option<&[u8]> {
        match self.start {
            StartLine::Request { uri, .. } => self.bytes(uri).into(),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub fn status_code(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase of a response (may be empty, RFC 4475 §3.1.1.13).
    pub fn reason_phrase(&self) -> Option<&[u8]> {
        match self.start {
            StartLine::Response { reason, .. } => self.bytes(reason).into(),
            StartLine::Request { .. } => None,
        }
    }

    /// The start line without its terminator.
    pub fn start_line(&self) -> &[u8] {
        self.bytes(self.start_line)
    }

    /// The body (Content-Length octets, or the rest of the datagram).
    pub fn body(&self) -> &[u8] {
        self.bytes(self.body)
    }

    /// Header fields in wire order as (name as sent, value as sent incl. folding).
    pub fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields
            .iter()
            .map(|f| (self.bytes(f.name), self.bytes(f.value)))
    }

    /// Values of every field called `name` (long or compact form, any case), in order.
    pub fn header_values<'m>(&'m self, name: &'m [u8]) -> impl Iterator<Item = &'m [u8]> + 'm {
        let kind = HeaderName::parse(name);
        self.fields
            .iter()
            .filter(move |f| {
                f.kind == kind
                    && (kind != HeaderName::Other || self.bytes(f.name).eq_ignore_ascii_case(name))
            })
            .map(|f| self.bytes(f.value))
    }

    /// The first value of a header the proxy knows by name.
    pub fn header(&self, kind: HeaderName) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|f| f.kind == kind)
            .map(|f| self.bytes(f.value))
    }

    /// How many lines carry header `kind`.
    pub fn count(&self, kind: HeaderName) -> usize {
        self.fields.iter().filter(|f| f.kind == kind).count()
    }

    pub(crate) fn bytes(&self, span: Span) -> &[u8] {
        self.buf.get(span.range()).unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may fail loudly
mod tests {
    use super::*;

    const FOLDED: &[u8] = b"INVITE sip:bob@b.example SIP/2.0\r\nv: SIP/2.0/UDP a.example;branch=z9hG4bK1,\r\n SIP/2.0/UDP c.example\r\nTO :\r\n <sip:bob@b.example>\r\nl: 4\r\n\r\nbodyNOISE";

    #[test]
    fn spans_cover_folded_and_compact_headers() {
        let m = Message::parse_datagram(FOLDED).unwrap();
        assert_eq!(m.as_bytes(), FOLDED.strip_suffix(b"NOISE").unwrap());
        let fields: Vec<_> = m.fields().collect();
        assert_eq!(
            fields[0],
            (
                &b"v"[..],
                &b"SIP/2.0/UDP a.example;branch=z9hG4bK1,\r\n SIP/2.0/UDP c.example"[..]
            )
        );
        assert_eq!(fields[1], (&b"TO"[..], &b"<sip:bob@b.example>"[..]));
        assert_eq!(m.header(HeaderName::Via), Some(fields[0].1));
        assert_eq!(m.body(), b"body");
        assert_eq!(m.method(), Some(&b"INVITE"[..]));
    }

    #[test]
    fn datagram_content_length_rules() {
        let long = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 5\r\n\r\nabc";
        assert_eq!(
            Message::parse_datagram(long),
            Err(Error::BodyTruncated {
                declared: 5,
                present: 3
            })
        );
        let none = b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\nabc";
        assert_eq!(Message::parse_datagram(none).unwrap().body(), b"abc");
        assert_eq!(
            Message::parse(none, Transport::Stream, 100),
            Err(Error::ContentLengthRequired)
        );
        let neg = b"OPTIONS sip:a SIP/2.0\r\nl: -1\r\n\r\n";
        assert_eq!(
            Message::parse_datagram(neg),
            Err(Error::ContentLength { offset: 26 })
        );
    }

    #[test]
    fn start_line_errors_are_named() {
        let e = |s: &[u8]| Message::parse_datagram(s).unwrap_err();
        assert_eq!(
            e(b"INVITE  sip:a SIP/2.0\r\n\r\n"),
            Error::StartLine {
                reason: "empty Request-URI or extra whitespace",
                offset: 7
            }
        );
        assert_eq!(
            e(b"INVITE sip:a SIP/7.0\r\n\r\n"),
            Error::UnsupportedVersion { offset: 13 }
        );
        assert_eq!(
            e(b"SIP/2.0 4294967301 Big\r\n\r\n"),
            Error::StatusCode { offset: 8 }
        );
        assert_eq!(e(b"\r\n\r\n"), Error::Empty);
        assert_eq!(
            e(b"INVITE sip:a SIP/2.0\r\nVia x\r\n\r\n"),
            Error::HeaderLine {
                line: 1,
                reason: "no colon",
                offset: 22
            }
        );
    }

    #[test]
    fn header_lines_are_bounded() {
        let mut m = b"OPTIONS sip:a SIP/2.0\r\n".to_vec();
        for _ in 0..MAX_HEADER_LINES {
            m.extend_from_slice(b"a:\r\n");
        }
        let ok = [&m[..], b"\r\n"].concat();
        assert_eq!(
            Message::parse_datagram(&ok).unwrap().fields().count(),
            MAX_HEADER_LINES
        );
        let over = [&m[..], b"b:\r\n\r\n"].concat();
        assert_eq!(
            Message::parse_datagram(&over),
            Err(Error::TooManyHeaders {
                limit: MAX_HEADER_LINES
            })
        );
    }

    #[test]
    fn status_line_with_empty_reason() {
        let m = Message::parse_datagram(b"SIP/2.0 200 \r\nl: 0\r\n\r\n").unwrap();
        assert_eq!(
            (m.status_code(), m.reason_phrase()),
            (Some(200), Some(&b""[..]))
        );
    }
}
