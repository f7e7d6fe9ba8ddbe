//! The syntax checks a proxy makes before it forwards (RFC 3261 §16.3 step 1, §8.2.2 and the
//! RFC 4475 verdicts listed in tests/fixtures/sip/corpus/MANIFEST.tsv).

use super::addr::Contact;
use super::error::Error;
use super::message::Message;
use super::name::HeaderName;
use super::uri::Scheme;

impl Message {
    /// Checks every header the proxy relies on; the first defect found is returned.
    ///
    /// Requests: Request-URI (a SIP/SIPS URI without `?headers`, RFC 4475 §3.1.2.11; other
    /// schemes pass for a 416 later), one Call-ID/From/To/CSeq, CSeq method = method,
    /// at most one Max-Forwards (0..=255) and Expires, every Via and Contact well formed.
    /// Responses: the same minus the Request-URI and method.
    pub fn check(&self) -> Result<(), Error> {
        if let Some(uri) = self.request_uri() {
            let uri = uri?;
            if let (Scheme::Sip | Scheme::Sips, Some(h)) = (uri.scheme, uri.headers()) {
                // The `?` sits just before the headers; report where it is in the message.
                let at = self
                    .start_line()
                    .len()
                    .min(self.uri_offset() + uri.as_bytes().len() - h.len() - 1);
                return Err(Error::BadRequestUri {
                    reason: "?headers in a Request-URI",
                    offset: at,
                });
            }
        }
        self.call_id()?;
        self.from()?;
        self.to()?;
        let cseq = self.cseq()?;
        if self.method().is_some_and(|m| m != cseq.method) {
            return Err(Error::CSeqMethodMismatch);
        }
        self.check_optional()
    }

    /// Offset of the Request-URI in the message (0 for a response).
    fn uri_offset(&self) -> usize {
        match self.start {
            super::message::StartLine::Request { uri, .. } => uri.start,
            super::message::StartLine::Response { .. } => 0,
        }
    }

    /// The headers that may be absent but must be right when present.
    fn check_optional(&self) -> Result<(), Error> {
        if self.vias()?.is_empty() {
            return Err(Error::MissingHeader { name: "Via" });
        }
        self.max_forwards()?;
        self.expires()?;
        for e in self.elements(HeaderName::Contact)? {
            let contact = Contact::parse(self.bytes(e.span))
                .map_err(|err| err.in_header("Contact", e.span.start))?;
            if let Some(Err(err)) = contact.addr().and_then(|a| a.expires()) {
                return Err(err.in_header("Contact", e.span.start));
            }
        }
        self.route_set(HeaderName::Route)?;
        self.route_set(HeaderName::RecordRoute)?;
        self.content_type()?;
        Ok(())
    }
}
