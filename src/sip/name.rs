//! Header field names: case-insensitive, with every compact form (RFC 3261 §7.3.3, §20).

/// The header fields the proxy reads or edits; every other name is [`HeaderName::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    MaxForwards,
    Route,
    RecordRoute,
    Expires,
    ContentType,
    ContentLength,
    ContentEncoding,
    UserAgent,
    Server,
    Authorization,
    ProxyAuthorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    Subject,
    Supported,
    Event,
    AllowEvents,
    ReferTo,
    ReferredBy,
    SessionExpires,
    Identity,
    AcceptContact,
    RejectContact,
    RequestDisposition,
    Other,
}

/// (long name, compact letter or 0, variant). RFC 3261 §7.3.3 plus the compact forms
/// registered later (RFC 3265 o/u, 3515 r, 3892 b, 4028 x, 4474 y, 3841 a/j/d).
const TABLE: &[(&str, u8, HeaderName)] = &[
    ("Via", b'v', HeaderName::Via),
    ("From", b'f', HeaderName::From),
    ("To", b't', HeaderName::To),
    ("Call-ID", b'i', HeaderName::CallId),
    ("CSeq", 0, HeaderName::CSeq),
    ("Contact", b'm', HeaderName::Contact),
    ("Max-Forwards", 0, HeaderName::MaxForwards),
    ("Route", 0, HeaderName::Route),
    ("Record-Route", 0, HeaderName::RecordRoute),
    ("Expires", 0, HeaderName::Expires),
    ("Content-Type", b'c', HeaderName::ContentType),
    ("Content-Length", b'l', HeaderName::ContentLength),
    ("Content-Encoding", b'e', HeaderName::ContentEncoding),
    ("User-Agent", 0, HeaderName::UserAgent),
    ("Server", 0, HeaderName::Server),
    ("Authorization", 0, HeaderName::Authorization),
    ("Proxy-Authorization", 0, HeaderName::ProxyAuthorization),
    ("WWW-Authenticate", 0, HeaderName::WwwAuthenticate),
    ("Proxy-Authenticate", 0, HeaderName::ProxyAuthenticate),
    ("Subject", b's', HeaderName::Subject),
    ("Supported", b'k', HeaderName::Supported),
    ("Event", b'o', HeaderName::Event),
    ("Allow-Events", b'u', HeaderName::AllowEvents),
    ("Refer-To", b'r', HeaderName::ReferTo),
    ("Referred-By", b'b', HeaderName::ReferredBy),
    ("Session-Expires", b'x', HeaderName::SessionExpires),
    ("Identity", b'y', HeaderName::Identity),
    ("Accept-Contact", b'a', HeaderName::AcceptContact),
    ("Reject-Contact", b'j', HeaderName::RejectContact),
    ("Request-Disposition", b'd', HeaderName::RequestDisposition),
];

/// The compact letter → name table, RFC 3261 §7.3.3 and later RFCs as listed above.
fn from_compact(c: u8) -> HeaderName {
    use HeaderName as H;
    match c.to_ascii_lowercase() {
        b'v' => H::Via,
        b'f' => H::From,
        b't' => H::To,
        b'i' => H::CallId,
        b'm' => H::Contact,
        b'c' => H::ContentType,
        b'l' => H::ContentLength,
        b'e' => H::ContentEncoding,
        b's' => H::Subject,
        b'k' => H::Supported,
        b'o' => H::Event,
        b'u' => H::AllowEvents,
        b'r' => H::ReferTo,
        b'b' => H::ReferredBy,
        b'x' => H::SessionExpires,
        b'y' => H::Identity,
        b'a' => H::AcceptContact,
        b'j' => H::RejectContact,
        b'd' => H::RequestDisposition,
        _ => H::Other,
    }
}

/// Candidates by (length, lower-case first byte): every message names ~15 headers, so the
/// lookup is a jump plus one case-insensitive compare instead of a table scan.
fn candidates(len: usize, first: u8) -> &'static [HeaderName] {
    use HeaderName as H;
    match (len, first) {
        (2, b't') => &[H::To],
        (3, b'v') => &[H::Via],
        (4, b'f') => &[H::From],
        (4, b'c') => &[H::CSeq],
        (5, b'r') => &[H::Route],
        (5, b'e') => &[H::Event],
        (6, b's') => &[H::Server],
        (7, b'c') => &[H::CallId, H::Contact],
        (7, b'e') => &[H::Expires],
        (7, b's') => &[H::Subject],
        (8, b'r') => &[H::ReferTo],
        (8, b'i') => &[H::Identity],
        (9, b's') => &[H::Supported],
        (10, b'u') => &[H::UserAgent],
        (11, b'r') => &[H::ReferredBy],
        (12, b'm') => &[H::MaxForwards],
        (12, b'r') => &[H::RecordRoute],
        (12, b'c') => &[H::ContentType],
        (12, b'a') => &[H::AllowEvents],
        (13, b'a') => &[H::Authorization],
        (14, b'c') => &[H::ContentLength],
        (14, b'a') => &[H::AcceptContact],
        (14, b'r') => &[H::RejectContact],
        (15, b's') => &[H::SessionExpires],
        (16, b'c') => &[H::ContentEncoding],
        (16, b'w') => &[H::WwwAuthenticate],
        (18, b'p') => &[H::ProxyAuthenticate],
        (19, b'p') => &[H::ProxyAuthorization],
        (19, b'r') => &[H::RequestDisposition],
        _ => &[],
    }
}

impl HeaderName {
    /// Classifies a header name as received; case-insensitive (RFC 3261 §7.3.1).
    pub fn parse(name: &[u8]) -> HeaderName {
        let Some(&first) = name.first() else {
            return HeaderName::Other;
        };
        if name.len() == 1 {
            return from_compact(first);
        }
        let found = candidates(name.len(), first.to_ascii_lowercase())
            .iter()
            .find(|h| h.as_str().as_bytes().eq_ignore_ascii_case(name));
        found.copied().unwrap_or(HeaderName::Other)
    }

    /// The long form, as the proxy writes it in headers it adds.
    pub fn as_str(self) -> &'static str {
        use HeaderName as H;
        match self {
            H::Via => "Via",
            H::From => "From",
            H::To => "To",
            H::CallId => "Call-ID",
            H::CSeq => "CSeq",
            H::Contact => "Contact",
            H::MaxForwards => "Max-Forwards",
            H::Route => "Route",
            H::RecordRoute => "Record-Route",
            H::Expires => "Expires",
            H::ContentType => "Content-Type",
            H::ContentLength => "Content-Length",
            H::ContentEncoding => "Content-Encoding",
            H::UserAgent => "User-Agent",
            H::Server => "Server",
            H::Authorization => "Authorization",
            H::ProxyAuthorization => "Proxy-Authorization",
            H::WwwAuthenticate => "WWW-Authenticate",
            H::ProxyAuthenticate => "Proxy-Authenticate",
            H::Subject => "Subject",
            H::Supported => "Supported",
            H::Event => "Event",
            H::AllowEvents => "Allow-Events",
            H::ReferTo => "Refer-To",
            H::ReferredBy => "Referred-By",
            H::SessionExpires => "Session-Expires",
            H::Identity => "Identity",
            H::AcceptContact => "Accept-Contact",
            H::RejectContact => "Reject-Contact",
            H::RequestDisposition => "Request-Disposition",
            H::Other => "",
        }
    }

    /// The compact form, if RFC 3261 or a later RFC defines one.
    pub fn compact(self) -> Option<char> {
        TABLE
            .iter()
            .find(|e| e.2 == self && e.1 != 0)
            .map(|e| char::from(e.1))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may fail loudly
mod tests {
    use super::HeaderName as H;

    #[test]
    fn every_compact_form_is_recognised() {
        let pairs = [
            ("i", H::CallId),
            ("m", H::Contact),
            ("e", H::ContentEncoding),
            ("l", H::ContentLength),
            ("c", H::ContentType),
            ("f", H::From),
            ("s", H::Subject),
            ("k", H::Supported),
            ("t", H::To),
            ("v", H::Via),
            ("o", H::Event),
            ("u", H::AllowEvents),
            ("r", H::ReferTo),
            ("b", H::ReferredBy),
            ("x", H::SessionExpires),
            ("y", H::Identity),
            ("a", H::AcceptContact),
        ];
        for (short, want) in pairs {
            assert_eq!(H::parse(short.as_bytes()), want, "{short}");
            assert_eq!(H::parse(short.to_uppercase().as_bytes()), want, "{short}");
        }
    }

    #[test]
    fn fast_lookup_agrees_with_the_table() {
        for (long, short, kind) in super::TABLE {
            assert_eq!(kind.as_str(), *long);
            assert_eq!(H::parse(long.as_bytes()), *kind, "{long}");
            assert_eq!(
                H::parse(long.to_ascii_lowercase().as_bytes()),
                *kind,
                "{long}"
            );
            if *short != 0 {
                assert_eq!(H::parse(&[*short]), *kind, "{long}");
            }
        }
    }

    #[test]
    fn long_names_are_case_insensitive() {
        assert_eq!(H::parse(b"MaX-fOrWaRdS"), H::MaxForwards);
        assert_eq!(H::parse(b"call-id"), H::CallId);
        assert_eq!(H::parse(b"C%6Fntact"), H::Other);
        assert_eq!(H::parse(b"q"), H::Other);
        assert_eq!(H::CallId.as_str(), "Call-ID");
        assert_eq!(H::ContentLength.compact(), Some('l'));
        assert_eq!(H::CSeq.compact(), None);
    }
}
