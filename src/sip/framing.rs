//! Splitting a TCP/TLS byte stream into SIP messages by Content-Length (RFC 3261 §18.3),
//! with RFC 5626 §4.4.1 keepalives between messages. The buffer is bounded: the framer
//! never holds more than one message's worth of bytes plus one read chunk.

use super::error::Error;
use super::lex::parse_decimal;
use super::message::DEFAULT_MAX_MESSAGE;
use super::name::HeaderName;

/// One unit cut from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The bytes of one whole message (parse them with [`super::Message::parse`] and
    /// [`super::Transport::Stream`]).
    Message(Vec<u8>),
    /// RFC 5626 §4.4.1 ping: CRLFCRLF between messages (answer with a pong, CRLF).
    Ping,
    /// RFC 5626 §4.4.1 pong: a single CRLF between messages.
    Pong,
}

/// The per-connection framer. After an error the connection must be closed: the framer
/// cannot know where the next message starts.
#[derive(Debug, Clone)]
pub struct StreamFramer {
    buf: Vec<u8>,
    limit: usize,
    failed: bool,
    skipped: usize,
    /// Bytes at the front of `buf` already searched for the end of the headers, so a header
    /// trickling in one byte per read is scanned once, not once per read.
    scanned: usize,
}

impl Default for StreamFramer {
    fn default() -> Self {
        StreamFramer::new(DEFAULT_MAX_MESSAGE)
    }
}

/// Offset just after the empty line ending the header section, accepting CRLF or bare LF;
/// the search starts at `from` (bytes before it are known not to hold the end).
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(n) = buf.get(i..)?.iter().position(|&c| c == b'\n') {
        let next = i + n + 1;
        match buf.get(next..) {
            Some([b'\n', ..]) => return Some(next + 1),
            Some([b'\r', b'\n', ..]) => return Some(next + 2),
            _ => i = next,
        }
    }
    None
}

/// The Content-Length of a complete header section (one value; RFC 3261 §20.14). Offsets in
/// errors are relative to the start of this message in the stream.
fn declared_length(head: &[u8]) -> Result<usize, Error> {
    let mut found: Option<(usize, u64)> = None;
    let mut pos = 0;
    for line in head.split(|&c| c == b'\n') {
        let start = pos;
        pos += line.len() + 1;
        let Some(colon) = line.iter().position(|&c| c == b':').filter(|_| start > 0) else {
            continue;
        };
        let name = line.get(..colon).unwrap_or_default().trim_ascii_end();
        if HeaderName::parse(name) != HeaderName::ContentLength {
            continue;
        }
        let value = line.get(colon + 1..).unwrap_or_default().trim_ascii();
        let n = parse_decimal(value, u32::MAX.into()).ok_or(Error::ContentLength {
            offset: start + colon + 1,
        })?;
        if let Some((first, _)) = found.replace((start, n)) {
            return Err(Error::ContentLengthTwice {
                first,
                second: start,
            });
        }
    }
    let (at, n) = found.ok_or(Error::ContentLengthRequired)?;
    usize::try_from(n).map_err(|_| Error::ContentLength { offset: at })
}

impl StreamFramer {
    /// A framer refusing messages larger than `limit` bytes.
    pub fn new(limit: usize) -> StreamFramer {
        StreamFramer {
            buf: Vec::new(),
            limit: limit.max(1),
            failed: false,
            skipped: 0,
            scanned: 0,
        }
    }

    /// Bytes held for an incomplete message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Stray CR/LF bytes dropped between messages so far (RFC 3261 §7.5).
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Feeds bytes read from the connection; complete frames are appended to `out`.
    /// An error is final (also for every later call): close the connection.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Frame>) -> Result<(), Error> {
        if self.failed {
            return Err(Error::FramerFailed);
        }
        // Chunking keeps the buffer under 2 × limit whatever the size of one read.
        for chunk in data.chunks(self.limit) {
            self.buf.extend_from_slice(chunk);
            if let Err(e) = self.drain(out) {
                self.failed = true;
                self.buf = Vec::new();
                return Err(Error::Framing(Box::new(e)));
            }
        }
        Ok(())
    }

    /// Cuts every complete frame off the front of the buffer.
    fn drain(&mut self, out: &mut Vec<Frame>) -> Result<(), Error> {
        let mut pos = 0;
        while let Some((frame, len)) = self.next_frame(pos)? {
            if frame.is_none() {
                self.skipped += len;
            }
            out.extend(frame);
            pos += len;
        }
        if pos > 0 {
            self.scanned = 0;
            self.buf.drain(..pos);
        }
        if self.buf.len() > self.limit {
            return Err(Error::TooLarge {
                len: self.buf.len(),
                limit: self.limit,
            });
        }
        Ok(())
    }

    /// The frame at `pos`, with its length; `None` if more bytes are needed.
    fn next_frame(&mut self, pos: usize) -> Result<Option<(Option<Frame>, usize)>, Error> {
        let rest = self.buf.get(pos..).unwrap_or_default();
        match rest {
            [] | [b'\r'] | [b'\r', b'\n', b'\r'] => Ok(None),
            [b'\r', b'\n', b'\r', b'\n', ..] => Ok(Some((Some(Frame::Ping), 4))),
            // A lone CRLF with nothing behind it yet is reported as a pong at once: waiting
            // for a possible second CRLF could delay a real pong forever.
            [b'\r', b'\n', ..] => Ok(Some((Some(Frame::Pong), 2))),
            [b'\n', ..] | [b'\r', _, ..] => Ok(Some((None, 1))), // stray line ends (§7.5)
            _ => self.message_frame(pos),
        }
    }

    fn message_frame(&mut self, pos: usize) -> Result<Option<(Option<Frame>, usize)>, Error> {
        let rest = self.buf.get(pos..).unwrap_or_default();
        // Resume two bytes early: the terminator may straddle the previous read.
        let from = if pos == 0 {
            self.scanned.saturating_sub(2)
        } else {
            0
        };
        let Some(head) = head_end(rest, from) else {
            let len = rest.len();
            if pos == 0 {
                self.scanned = len;
            }
            return if len > self.limit {
                Err(Error::TooLarge {
                    len,
                    limit: self.limit,
                })
            } else {
                Ok(None)
            };
        };
        let total = head.saturating_add(declared_length(rest.get(..head).unwrap_or_default())?);
        if total > self.limit {
            return Err(Error::TooLarge {
                len: total,
                limit: self.limit,
            });
        }
        Ok(rest
            .get(..total)
            .map(|m| (Some(Frame::Message(m.to_vec())), total)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may fail loudly
mod tests {
    use super::*;

    const A: &[u8] = b"OPTIONS sip:a SIP/2.0\r\nl: 3\r\n\r\nabc";
    const B: &[u8] = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";

    fn feed(f: &mut StreamFramer, parts: &[&[u8]]) -> Vec<Frame> {
        let mut out = Vec::new();
        for p in parts {
            f.push(p, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn several_messages_and_keepalives_in_one_read() {
        let mut f = StreamFramer::default();
        let input = [b"\r\n\r\n", A, b"\r\n", B].concat();
        let out = feed(&mut f, &[&input]);
        assert_eq!(
            out,
            vec![
                Frame::Ping,
                Frame::Message(A.to_vec()),
                Frame::Pong,
                Frame::Message(B.to_vec())
            ]
        );
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn partial_reads_byte_by_byte() {
        let mut f = StreamFramer::default();
        let input = [A, B].concat();
        let parts: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(
            feed(&mut f, &parts),
            vec![Frame::Message(A.to_vec()), Frame::Message(B.to_vec())]
        );
    }

    #[test]
    fn a_trickled_header_is_scanned_once() {
        let mut f = StreamFramer::default();
        let mut out = Vec::new();
        for b in A.iter().take(A.len() - 3) {
            f.push(&[*b], &mut out).unwrap();
        }
        assert!(out.is_empty() && f.scanned >= A.len() - 6);
        f.push(&A[A.len() - 3..], &mut out).unwrap();
        assert_eq!(
            (out, f.buffered(), f.scanned),
            (vec![Frame::Message(A.to_vec())], 0, 0)
        );
    }

    #[test]
    fn missing_content_length_and_oversize_close_the_connection() {
        let mut f = StreamFramer::default();
        let mut out = Vec::new();
        let e = f
            .push(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n", &mut out)
            .unwrap_err();
        assert_eq!(e, Error::Framing(Box::new(Error::ContentLengthRequired)));
        assert_eq!(f.push(B, &mut out), Err(Error::FramerFailed));
        let twice = b"OPTIONS sip:a SIP/2.0\r\nl: 1\r\nContent-Length: 1\r\n\r\nx";
        let e = StreamFramer::default().push(twice, &mut out).unwrap_err();
        assert_eq!(
            e,
            Error::Framing(Box::new(Error::ContentLengthTwice {
                first: 23,
                second: 29
            }))
        );
        let bad = b"OPTIONS sip:a SIP/2.0\r\nl: -1\r\n\r\n";
        let e = StreamFramer::default().push(bad, &mut out).unwrap_err();
        assert_eq!(
            e,
            Error::Framing(Box::new(Error::ContentLength { offset: 25 }))
        );
        let mut small = StreamFramer::new(64);
        let e = small
            .push(b"OPTIONS sip:a SIP/2.0\r\nl: 100\r\n\r\n", &mut out)
            .unwrap_err();
        assert_eq!(
            e,
            Error::Framing(Box::new(Error::TooLarge {
                len: 133,
                limit: 64
            }))
        );
        let mut endless = StreamFramer::new(64);
        let e = endless.push(&[b'x'; 200], &mut out).unwrap_err();
        assert!(matches!(e, Error::Framing(b) if matches!(*b, Error::TooLarge { .. })));
        assert!(endless.buffered() == 0 && out.is_empty());
    }
}
