//! Typed views of a [`Message`]'s headers, parsed on demand from their spans.

use super::addr::{parse_delta_seconds, Contact, NameAddr};
use super::digest::AuthParams;
use super::error::{Error, ValueError};
use super::lex::{is_lws, is_token, parse_decimal, split_commas, trim_span};
use super::message::{Message, Span, StartLine};
use super::name::HeaderName;
use super::uri::Uri;
use super::via::Via;

/// One value of a comma-separated header: which line it is on and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element {
    /// Index of the header-field line (in wire order among all fields).
    pub field: usize,
    /// The value's bytes in the message.
    pub span: Span,
}

/// RFC 3261 §20.16 CSeq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// Below 2^31 (RFC 3261 §8.1.1.5).
    pub seq: u32,
    pub method: &'a [u8],
}

/// RFC 3261 §20.15 Content-Type, `type/subtype` without parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentType<'a> {
    pub media_type: &'a [u8],
    /// Everything after the media type (parameters) as sent.
    pub params: &'a [u8],
}

impl ContentType<'_> {
    /// `application/sdp`, compared case-insensitively (RFC 3261 §7.3.1).
    pub fn is_sdp(&self) -> bool {
        self.media_type.eq_ignore_ascii_case(b"application/sdp")
    }
}

impl CSeq<'_> {
    fn parse(v: &[u8]) -> Result<CSeq<'_>, ValueError> {
        let digits = v.iter().take_while(|c| c.is_ascii_digit()).count();
        let seq = parse_decimal(v.get(..digits).unwrap_or_default(), (1 << 31) - 1).ok_or(
            ValueError::new("sequence number is not a number below 2^31", 0),
        )?;
        let m = trim_span(v, digits..v.len());
        let method = v.get(m.clone()).unwrap_or_default();
        let ws = v.get(digits).is_some_and(|&c| is_lws(c));
        if !ws || method.is_empty() || !method.iter().all(|&c| is_token(c)) {
            return Err(ValueError::new(
                "no method after the sequence number",
                digits,
            ));
        }
        Ok(CSeq {
            seq: u32::try_from(seq).unwrap_or_default(),
            method,
        })
    }
}

impl Message {
    /// Fields of kind `kind` as (index, field).
    fn fields_of(
        &self,
        kind: HeaderName,
    ) -> impl Iterator<Item = (usize, &super::message::Field)> + '_ {
        self.fields
            .iter()
            .enumerate()
            .filter(move |(_, f)| f.kind == kind)
    }

    /// Every value of a comma-list header (RFC 3261 §7.3.1), in wire order across lines.
    pub fn elements(&self, kind: HeaderName) -> Result<Vec<Element>, Error> {
        let mut out = Vec::new();
        for (i, f) in self.fields_of(kind) {
            let parts = split_commas(self.bytes(f.value))
                .map_err(|e| e.in_header(kind.as_str(), f.value.start))?;
            let base = f.value.start;
            out.extend(parts.into_iter().map(|r| Element {
                field: i,
                span: Span::new(base + r.start, base + r.end),
            }));
        }
        Ok(out)
    }

    /// The first value of a comma-list header without splitting the rest of the line.
    pub(crate) fn first_element(&self, kind: HeaderName) -> Result<Option<Element>, Error> {
        let Some((i, f)) = self.fields_of(kind).next() else {
            return Ok(None);
        };
        let v = self.bytes(f.value);
        let end = super::lex::find_unquoted(v, 0, b",")
            .map_err(|e| e.in_header(kind.as_str(), f.value.start))?;
        let r = trim_span(v, 0..end);
        if r.is_empty() {
            return Err(ValueError::new("empty element in comma list", 0)
                .in_header(kind.as_str(), f.value.start));
        }
        Ok(Some(Element {
            field: i,
            span: Span::new(f.value.start + r.start, f.value.start + r.end),
        }))
    }

    /// The single value of a header that may appear once; `None` if absent.
    fn single(&self, kind: HeaderName) -> Result<Option<(&[u8], usize)>, Error> {
        let mut it = self.fields_of(kind);
        let Some((_, f)) = it.next() else {
            return Ok(None);
        };
        let count = 1 + it.count();
        if count > 1 {
            return Err(Error::DuplicateHeader {
                name: kind.as_str(),
                count,
            });
        }
        Ok(Some((self.bytes(f.value), f.value.start)))
    }

    /// Like [`Message::single`] but the header is mandatory.
    fn required(&self, kind: HeaderName) -> Result<(&[u8], usize), Error> {
        self.single(kind)?.ok_or(Error::MissingHeader {
            name: kind.as_str(),
        })
    }

    /// The Request-URI, parsed (RFC 3261 §8.1.1.1). `None` for a response.
    pub fn request_uri(&self) -> Option<Result<Uri<'_>, Error>> {
        let StartLine::Request { uri, .. } = self.start else {
            return None;
        };
        let parsed = Uri::parse(self.bytes(uri)).map_err(|e| Error::BadRequestUri {
            reason: e.reason,
            offset: uri.start + e.at,
        });
        Some(parsed)
    }

    /// Every Via value, top first (RFC 3261 §20.42).
    pub fn vias(&self) -> Result<Vec<Via<'_>>, Error> {
        self.elements(HeaderName::Via)?
            .into_iter()
            .map(|e| self.via_at(e))
            .collect()
    }

    /// The topmost Via value.
    pub fn top_via(&self) -> Result<Via<'_>, Error> {
        let e = self
            .first_element(HeaderName::Via)?
            .ok_or(Error::MissingHeader { name: "Via" })?;
        self.via_at(e)
    }

    fn via_at(&self, e: Element) -> Result<Via<'_>, Error> {
        Via::parse(self.bytes(e.span)).map_err(|err| err.in_header("Via", e.span.start))
    }

    fn name_addr_at(&self, kind: HeaderName, span: Span) -> Result<NameAddr<'_>, Error> {
        NameAddr::parse(self.bytes(span)).map_err(|e| e.in_header(kind.as_str(), span.start))
    }

    /// Every Contact value in order, `*` included (RFC 3261 §20.10).
    pub fn contacts(&self) -> Result<Vec<Contact<'_>>, Error> {
        let each = |e: Element| {
            Contact::parse(self.bytes(e.span)).map_err(|err| err.in_header("Contact", e.span.start))
        };
        self.elements(HeaderName::Contact)?
            .into_iter()
            .map(each)
            .collect()
    }

    /// Route (or Record-Route) values in order, top first.
    pub fn route_set(&self, kind: HeaderName) -> Result<Vec<NameAddr<'_>>, Error> {
        self.elements(kind)?
            .into_iter()
            .map(|e| self.name_addr_at(kind, e.span))
            .collect()
    }

    /// The To header (RFC 3261 §20.39).
    pub fn to(&self) -> Result<NameAddr<'_>, Error> {
        self.address(HeaderName::To)
    }

    /// The From header (RFC 3261 §20.20).
    pub fn from(&self) -> Result<NameAddr<'_>, Error> {
        self.address(HeaderName::From)
    }

    fn address(&self, kind: HeaderName) -> Result<NameAddr<'_>, Error> {
        let (v, at) = self.required(kind)?;
        self.name_addr_at(kind, Span::new(at, at + v.len()))
    }

    /// RFC 3261 §20.8 Call-ID: one word, no whitespace.
    pub fn call_id(&self) -> Result<&[u8], Error> {
        let (v, at) = self.required(HeaderName::CallId)?;
        match v.iter().position(|&c| is_lws(c)) {
            _ if v.is_empty() => Err(ValueError::new("empty", 0).in_header("Call-ID", at)),
            Some(bad) => Err(ValueError::new("whitespace inside", bad).in_header("Call-ID", at)),
            None => Ok(v),
        }
    }

    /// RFC 3261 §20.16 CSeq.
    pub fn cseq(&self) -> Result<CSeq<'_>, Error> {
        let (v, at) = self.required(HeaderName::CSeq)?;
        CSeq::parse(v).map_err(|e| e.in_header("CSeq", at))
    }

    /// RFC 3261 §20.22 Max-Forwards (0..=255), `None` if absent (RFC 2543 peers).
    pub fn max_forwards(&self) -> Result<Option<u8>, Error> {
        let Some((v, at)) = self.single(HeaderName::MaxForwards)? else {
            return Ok(None);
        };
        let n = parse_decimal(v, 255)
            .ok_or(ValueError::new("not a number in 0..=255", 0).in_header("Max-Forwards", at))?;
        Ok(u8::try_from(n).ok())
    }

    /// RFC 3261 §20.19 Expires, `None` if absent.
    pub fn expires(&self) -> Result<Option<u32>, Error> {
        let Some((v, at)) = self.single(HeaderName::Expires)? else {
            return Ok(None);
        };
        parse_delta_seconds(v)
            .map(Some)
            .map_err(|e| e.in_header("Expires", at))
    }

    /// RFC 3261 §20.15 Content-Type, `None` if absent.
    pub fn content_type(&self) -> Result<Option<ContentType<'_>>, Error> {
        let Some((v, at)) = self.single(HeaderName::ContentType)? else {
            return Ok(None);
        };
        let end = v.iter().position(|&c| c == b';').unwrap_or(v.len());
        let media = trim_span(v, 0..end);
        let media_type = v.get(media).unwrap_or_default();
        if !media_type.contains(&b'/') {
            return Err(
                ValueError::new("no '/' in the media type", 0).in_header("Content-Type", at)
            );
        }
        Ok(Some(ContentType {
            media_type,
            params: v.get(end..).unwrap_or_default(),
        }))
    }

    /// RFC 3261 §20.14 Content-Length as declared (the parser already enforced it).
    pub fn content_length(&self) -> Option<usize> {
        self.single(HeaderName::ContentLength)
            .ok()
            .flatten()
            .and_then(|(v, _)| parse_decimal(v, u32::MAX.into()))
            .and_then(|n| usize::try_from(n).ok())
    }

    /// User-Agent (RFC 3261 §20.41) as sent.
    pub fn user_agent(&self) -> Option<&[u8]> {
        self.header(HeaderName::UserAgent)
    }

    /// Server (RFC 3261 §20.35) as sent.
    pub fn server(&self) -> Option<&[u8]> {
        self.header(HeaderName::Server)
    }

    /// Every value of an auth header (Authorization, Proxy-Authorization, WWW-Authenticate,
    /// Proxy-Authenticate), one per line, parsed as scheme + parameters.
    pub fn auth(&self, kind: HeaderName) -> Result<Vec<AuthParams<'_>>, Error> {
        let each = |(_, f): (usize, &super::message::Field)| {
            AuthParams::parse(self.bytes(f.value))
                .map_err(|e| e.in_header(kind.as_str(), f.value.start))
        };
        self.fields_of(kind).map(each).collect()
    }
}
