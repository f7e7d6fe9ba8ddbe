//! Every way a peer's bytes can be wrong, as one named error per case (DESIGN.md §5).

/// A SIP or SDP message (or one of its header values) that cannot be used.
///
/// Offsets are byte offsets into the message as received (for SDP: into the body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The datagram or frame holds no bytes besides keepalive CRLFs.
    #[error("empty message")]
    Empty,
    /// The message is larger than the configured limit.
    #[error("message of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    /// More header lines than [`super::message::MAX_HEADER_LINES`] (memory bound).
    #[error("more than {limit} header lines")]
    TooManyHeaders { limit: usize },
    /// The start line is neither `Method SP Request-URI SP SIP-Version` nor a status line.
    #[error("malformed start line: {reason} (at byte {offset})")]
    StartLine { reason: &'static str, offset: usize },
    /// RFC 3261 §8.2.2 / §21.5.6: only SIP/2.0 is spoken (answer 505).
    #[error("unsupported SIP version at byte {offset}")]
    UnsupportedVersion { offset: usize },
    /// The status code is not three digits in 100..=699.
    #[error("status code out of range at byte {offset}")]
    StatusCode { offset: usize },
    /// A header line without a colon or with an empty / non-token name.
    #[error("malformed header line {line}: {reason} (at byte {offset})")]
    HeaderLine {
        line: usize,
        reason: &'static str,
        offset: usize,
    },
    /// The header section never ends with an empty line (stream) or has a partial last line.
    #[error("no empty line after the headers")]
    NoHeaderEnd,
    /// RFC 3261 §20.14: Content-Length must be a non-negative decimal number.
    #[error("Content-Length is not a decimal number (at byte {offset})")]
    ContentLength { offset: usize },
    /// RFC 4475 §3.3.9: two Content-Length values make the framing unknowable.
    #[error("Content-Length given twice (at bytes {first} and {second})")]
    ContentLengthTwice { first: usize, second: usize },
    /// RFC 3261 §18.3: a datagram whose body is shorter than Content-Length is discarded.
    #[error("Content-Length {declared} exceeds the {present} body bytes present")]
    BodyTruncated { declared: usize, present: usize },
    /// RFC 3261 §18.3 / §20.14: a message on a stream must carry Content-Length.
    #[error("Content-Length required on a stream transport")]
    ContentLengthRequired,
    /// A mandatory header (RFC 3261 §8.1.1) is missing.
    #[error("missing {name} header")]
    MissingHeader { name: &'static str },
    /// A header that may appear once appears several times (RFC 4475 §3.3.8).
    #[error("{name} header given {count} times")]
    DuplicateHeader { name: &'static str, count: usize },
    /// A header value does not follow its grammar.
    #[error("bad {name} header: {reason} (at byte {offset})")]
    BadHeader {
        name: &'static str,
        reason: &'static str,
        offset: usize,
    },
    /// The Request-URI does not follow its grammar.
    #[error("bad Request-URI: {reason} (at byte {offset})")]
    BadRequestUri { reason: &'static str, offset: usize },
    /// RFC 3261 §8.1.1.7 / §8.2.2: the CSeq method must equal the request method.
    #[error("CSeq method differs from the request method")]
    CSeqMethodMismatch,
    /// The edit names a header or value the message does not have.
    #[error("no {name} header to edit")]
    NoSuchHeader { name: &'static str },
    /// A Contact index beyond the Contacts present.
    #[error("no Contact number {index} (the message has {count})")]
    NoSuchContact { index: usize, count: usize },
    /// An SDP line that does not follow RFC 8866 §5.
    #[error("bad SDP {kind}= line {line}: {reason}")]
    BadSdpLine {
        kind: char,
        line: usize,
        reason: &'static str,
    },
    /// RFC 3261 §16.3 step 3 / §16.6 step 3: Max-Forwards is 0 (answer 483).
    #[error("Max-Forwards is 0")]
    TooManyHops,
    /// A request-only edit or view used on a response.
    #[error("not a request")]
    NotARequest,
    /// A response-only edit used on a request.
    #[error("not a response")]
    NotAResponse,
    /// The framer failed earlier on this connection; it must be closed.
    #[error("stream framer already failed; close the connection")]
    FramerFailed,
    /// A stream framing error: the connection must be closed (RFC 3261 §18.3).
    #[error("stream framing: {0}")]
    Framing(Box<Error>),
}

/// A grammar failure inside one value, with the offset relative to that value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueError {
    /// What was wrong.
    pub reason: &'static str,
    /// Offset inside the parsed slice.
    pub at: usize,
}

impl ValueError {
    pub(crate) fn new(reason: &'static str, at: usize) -> Self {
        ValueError { reason, at }
    }

    /// Turns the relative error into a message-level one for header `name` at `base`.
    pub(crate) fn in_header(self, name: &'static str, base: usize) -> Error {
        Error::BadHeader {
            name,
            reason: self.reason,
            offset: base + self.at,
        }
    }
}
