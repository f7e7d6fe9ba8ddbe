//! `Msg`: the SIP message (or raw datagram) of one `process` call.

use crate::abi::{self, spx_msg, spx_str};
use crate::host::HostError;
use crate::Verdict;
use std::ffi::{c_int, CString};
use std::marker::PhantomData;
use std::net::SocketAddr;

/// The message of one `process` call, lent by the host.
///
/// You only ever see it as `&mut Msg<'_>` inside [`Plugin::process`](crate::Plugin::process),
/// so it cannot be kept. Bytes it returns borrow `&self`: they cannot be kept
/// past the call either, nor across an edit (edits take `&mut self`), which is
/// exactly how long the host guarantees them. Copy what you need to keep:
///
/// ```compile_fail,E0521
/// # use spx::{Host, Msg, Plugin, Stage, Verdict};
/// struct Keeper { last_uri: &'static [u8] }
/// impl Plugin for Keeper {
///     const NAME: &'static std::ffi::CStr = c"plugin_keeper";
///     const DESCRIPTION: &'static std::ffi::CStr = c"keeps a borrow (must not compile)";
///     const STAGES: u32 = Stage::PreProxy.bit();
///     fn init(_: &Host) -> Result<Self, String> { Ok(Keeper { last_uri: b"" }) }
///     fn process(&mut self, _: &Host, _: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
///         if let Some(msg) = msg {
///             self.last_uri = msg.request_uri().unwrap(); // borrowed data escapes the call
///         }
///         Verdict::Continue
///     }
/// }
/// ```
///
/// ```compile_fail,E0502
/// # fn edit(msg: &mut spx::Msg<'_>) {
/// let uri = msg.request_uri().unwrap();
/// msg.set_request_uri(b"sip:other@example.org").unwrap(); // edit while `uri` is lent
/// println!("{uri:?}");
/// # }
/// ```
pub struct Msg<'call> {
    api: &'static abi::spx_host_api,
    raw: *mut spx_msg,
    _call: PhantomData<&'call mut spx_msg>,
}

/// `ticket->direction` in siproxd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Unknown,
    RequestIncoming,
    RequestOutgoing,
    ResponseIncoming,
    ResponseOutgoing,
}

impl Direction {
    /// The direction for an `SPX_DIR_*` value (unknown values: `Unknown`).
    pub fn from_code(code: c_int) -> Direction {
        match code {
            abi::SPX_DIR_REQ_INCOMING => Direction::RequestIncoming,
            abi::SPX_DIR_REQ_OUTGOING => Direction::RequestOutgoing,
            abi::SPX_DIR_RES_INCOMING => Direction::ResponseIncoming,
            abi::SPX_DIR_RES_OUTGOING => Direction::ResponseOutgoing,
            _ => Direction::Unknown,
        }
    }

    /// The `SPX_DIR_*` value.
    pub fn code(self) -> c_int {
        match self {
            Direction::Unknown => abi::SPX_DIR_UNKNOWN,
            Direction::RequestIncoming => abi::SPX_DIR_REQ_INCOMING,
            Direction::RequestOutgoing => abi::SPX_DIR_REQ_OUTGOING,
            Direction::ResponseIncoming => abi::SPX_DIR_RES_INCOMING,
            Direction::ResponseOutgoing => abi::SPX_DIR_RES_OUTGOING,
        }
    }
}

/// siproxd's own interfaces (`IF_OUTBOUND`, `IF_INBOUND`), for [`Msg::add_own_via`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    Outbound,
    Inbound,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// The `SPX_TRANSPORT_*` value.
    pub fn code(self) -> c_int {
        match self {
            Transport::Udp => abi::SPX_TRANSPORT_UDP,
            Transport::Tcp => abi::SPX_TRANSPORT_TCP,
        }
    }
}

fn c_name(name: &str) -> Result<CString, HostError> {
    CString::new(name).map_err(|_| HostError::Invalid)
}

impl<'call> Msg<'call> {
    /// # Safety
    /// `raw` must be the message handle of the `process` call running now,
    /// and `api` the host table of the same host.
    pub(crate) unsafe fn new(api: &'static abi::spx_host_api, raw: *mut spx_msg) -> Msg<'call> {
        Msg {
            api,
            raw,
            _call: PhantomData,
        }
    }

    /// Runs a getter that fills an `spx_str`, lending the bytes for `&self`.
    fn lend(&self, get: impl FnOnce(*mut spx_str) -> c_int) -> Result<&[u8], HostError> {
        let mut out = spx_str::EMPTY;
        HostError::check(get(&mut out))?;
        // SAFETY: the host lends `out` until this call ends or the next edit;
        // the returned borrow of `self` ends before either.
        Ok(unsafe { crate::ffi::bytes(out) })
    }

    /// `Some(true)` request, `Some(false)` response, `None` raw datagram only.
    pub fn is_request(&self) -> Option<bool> {
        // SAFETY: `self.raw` is the live message handle (see `new`).
        match unsafe { (self.api.msg_is_request)(self.raw) } {
            1 => Some(true),
            0 => Some(false),
            _ => None,
        }
    }

    /// The request method (`INVITE`); `Err` for a response.
    pub fn method(&self) -> Result<&[u8], HostError> {
        // SAFETY: live handle, `out` valid for writing.
        self.lend(|out| unsafe { (self.api.msg_method)(self.raw, out) })
    }

    /// The status code of a response; 0 for a request.
    pub fn status(&self) -> u16 {
        // SAFETY: live handle.
        let code = unsafe { (self.api.msg_status)(self.raw) };
        u16::try_from(code).unwrap_or(0)
    }

    pub fn direction(&self) -> Direction {
        // SAFETY: live handle.
        Direction::from_code(unsafe { (self.api.msg_direction)(self.raw) })
    }

    pub fn transport(&self) -> Option<Transport> {
        // SAFETY: live handle.
        match unsafe { (self.api.msg_transport)(self.raw) } {
            abi::SPX_TRANSPORT_UDP => Some(Transport::Udp),
            abi::SPX_TRANSPORT_TCP => Some(Transport::Tcp),
            _ => None,
        }
    }

    /// Where the datagram came from (for TCP: the connection's peer).
    pub fn source(&self) -> Result<SocketAddr, HostError> {
        let mut out = abi::spx_addr::default();
        // SAFETY: live handle, `out` valid for writing.
        HostError::check(unsafe { (self.api.msg_source)(self.raw, &mut out) })?;
        out.to_socket_addr().ok_or(HostError::Invalid)
    }

    /// The datagram as received.
    pub fn raw(&self) -> Result<&[u8], HostError> {
        // SAFETY: live handle, `out` valid for writing.
        self.lend(|out| unsafe { (self.api.msg_raw)(self.raw, out) })
    }

    /// The Request-URI.
    pub fn request_uri(&self) -> Result<&[u8], HostError> {
        // SAFETY: live handle, `out` valid for writing.
        self.lend(|out| unsafe { (self.api.uri_get)(self.raw, out) })
    }

    /// How many field lines carry this header (compact forms count too).
    pub fn header_count(&self, name: &str) -> usize {
        let Ok(name) = c_name(name) else { return 0 };
        // SAFETY: live handle, NUL-terminated name.
        unsafe { (self.api.header_count)(self.raw, name.as_ptr()) }
    }

    /// The value of the `index`th field line with this name.
    pub fn header(&self, name: &str, index: usize) -> Result<&[u8], HostError> {
        let name = c_name(name)?;
        // SAFETY: live handle, NUL-terminated name, `out` valid for writing.
        self.lend(|out| unsafe { (self.api.header_get)(self.raw, name.as_ptr(), index, out) })
    }

    /// Every field line with this name, in message order.
    pub fn headers<'m>(&'m self, name: &'m str) -> Headers<'m, 'call> {
        Headers {
            msg: self,
            name,
            index: 0,
            count: self.header_count(name),
        }
    }

    /// Every comma-separated value of this header across its field lines
    /// (`Via: a, b` + `Via: c` gives a, b, c), with commas inside quotes or
    /// `<…>` left alone.
    pub fn header_values<'m>(&'m self, name: &'m str) -> HeaderValues<'m, 'call> {
        HeaderValues {
            lines: self.headers(name),
            rest: &[],
        }
    }

    /// The body (empty if there is none).
    pub fn body(&self) -> Result<&[u8], HostError> {
        // SAFETY: live handle, `out` valid for writing.
        self.lend(|out| unsafe { (self.api.body_get)(self.raw, out) })
    }

    pub fn set_request_uri(&mut self, uri: &[u8]) -> Result<(), HostError> {
        // SAFETY: live handle; the host copies `uri` before returning.
        HostError::check(unsafe { (self.api.uri_set)(self.raw, uri.as_ptr().cast(), uri.len()) })
    }

    /// Replaces the value of the `index`th field line with this name.
    pub fn set_header(&mut self, name: &str, index: usize, value: &[u8]) -> Result<(), HostError> {
        let name = c_name(name)?;
        let (v, len) = (value.as_ptr().cast(), value.len());
        // SAFETY: live handle, NUL-terminated name; the host copies `value`.
        HostError::check(unsafe { (self.api.header_set)(self.raw, name.as_ptr(), index, v, len) })
    }

    /// Inserts a field line before the `before`th one with this name.
    pub fn insert_header(
        &mut self,
        name: &str,
        before: usize,
        value: &[u8],
    ) -> Result<(), HostError> {
        let name = c_name(name)?;
        let (v, len) = (value.as_ptr().cast(), value.len());
        // SAFETY: live handle, NUL-terminated name; the host copies `value`.
        HostError::check(unsafe {
            (self.api.header_insert)(self.raw, name.as_ptr(), before, v, len)
        })
    }

    /// Adds a field line after the last one with this name (or at the end).
    pub fn append_header(&mut self, name: &str, value: &[u8]) -> Result<(), HostError> {
        self.insert_header(name, abi::SPX_INDEX_END, value)
    }

    /// Removes the `index`th field line with this name.
    pub fn remove_header(&mut self, name: &str, index: usize) -> Result<(), HostError> {
        let name = c_name(name)?;
        // SAFETY: live handle, NUL-terminated name.
        HostError::check(unsafe { (self.api.header_remove)(self.raw, name.as_ptr(), index) })
    }

    /// Removes every field line with this name.
    pub fn remove_headers(&mut self, name: &str) -> Result<(), HostError> {
        self.remove_header(name, abi::SPX_INDEX_ALL)
    }

    /// Replaces the body; the host fixes Content-Length.
    pub fn set_body(&mut self, body: &[u8]) -> Result<(), HostError> {
        // SAFETY: live handle; the host copies `body`.
        HostError::check(unsafe { (self.api.body_set)(self.raw, body.as_ptr().cast(), body.len()) })
    }

    /// Overrides where the message is sent (siproxd's `ticket->next_hop`).
    pub fn set_next_hop(&mut self, to: SocketAddr) -> Result<(), HostError> {
        let to = abi::spx_addr::from(to);
        // SAFETY: live handle; the host copies `to`.
        HostError::check(unsafe { (self.api.next_hop_set)(self.raw, &to) })
    }

    /// Changes the direction in PRE_PROXY (what plugin_siptrunk does).
    pub fn set_direction(&mut self, direction: Direction) -> Result<(), HostError> {
        // SAFETY: live handle.
        HostError::check(unsafe { (self.api.direction_set)(self.raw, direction.code()) })
    }

    /// ABI 1.1, PRE_PROXY: inserts siproxd's own Via for `interface` on top
    /// (`sip_add_myvia`), as plugin_fix_DTAG does. `WrongStage` on an older host.
    pub fn add_own_via(&mut self, interface: Interface) -> Result<(), HostError> {
        if (self.api.struct_size as usize) < abi::SPX_HOST_API_V1_1_SIZE {
            return Err(HostError::WrongStage);
        }
        let code = match interface {
            Interface::Outbound => abi::SPX_IF_OUTBOUND,
            Interface::Inbound => abi::SPX_IF_INBOUND,
        };
        // SAFETY: live handle; the table has the 1.1 fields (checked).
        HostError::check(unsafe { (self.api.via_add_own)(self.raw, code) })
    }

    /// Answers the current request (DETERMINE_TARGET, PROXY_UNK) with `code`,
    /// the standard reason phrase unless `reason` is given, and `extra` header
    /// fields appended (e.g. `("Contact", b"<sip:600@192.168.1.10>")`).
    /// Returns [`Verdict::SipSent`], which `process` should return.
    pub fn reply(
        &mut self,
        code: u16,
        reason: Option<&str>,
        extra: &[(&str, &[u8])],
    ) -> Result<Verdict, HostError> {
        let extra: Vec<abi::spx_hdr> = extra
            .iter()
            .map(|(n, v)| abi::spx_hdr {
                name: str_of(n.as_bytes()),
                value: str_of(v),
            })
            .collect();
        let reason = reason.map_or(spx_str::EMPTY, |r| str_of(r.as_bytes()));
        // SAFETY: live handle; every pointer is valid during the call and the host copies them.
        let rc = unsafe {
            (self.api.reply)(
                self.raw,
                c_int::from(code),
                reason.ptr,
                reason.len,
                extra.as_ptr(),
                extra.len(),
            )
        };
        HostError::check(rc).map(|()| Verdict::SipSent)
    }
}

fn str_of(bytes: &[u8]) -> spx_str {
    spx_str {
        ptr: bytes.as_ptr().cast(),
        len: bytes.len(),
    }
}

/// Iterator over the field lines of one header; see [`Msg::headers`].
pub struct Headers<'m, 'call> {
    msg: &'m Msg<'call>,
    name: &'m str,
    index: usize,
    count: usize,
}

impl<'m> Iterator for Headers<'m, '_> {
    type Item = &'m [u8];

    fn next(&mut self) -> Option<&'m [u8]> {
        while self.index < self.count {
            self.index += 1;
            if let Ok(value) = self.msg.header(self.name, self.index - 1) {
                return Some(value);
            }
        }
        None
    }
}

/// Iterator over comma-separated header values; see [`Msg::header_values`].
pub struct HeaderValues<'m, 'call> {
    lines: Headers<'m, 'call>,
    rest: &'m [u8],
}

impl<'m> Iterator for HeaderValues<'m, '_> {
    type Item = &'m [u8];

    fn next(&mut self) -> Option<&'m [u8]> {
        loop {
            if let Some((value, rest)) = split_value(self.rest) {
                self.rest = rest;
                return Some(value);
            }
            self.rest = self.lines.next()?;
        }
    }
}

/// Splits the first value off a comma list, trimmed; skips empty values.
fn split_value(list: &[u8]) -> Option<(&[u8], &[u8])> {
    let (mut quoted, mut angle, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, &b) in list.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' if !quoted && !angle => {
                let value = list[start..i].trim_ascii();
                if !value.is_empty() {
                    return Some((value, &list[i + 1..]));
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    let value = list[start..].trim_ascii();
    (!value.is_empty()).then_some((value, &[][..]))
}

#[cfg(test)]
mod tests {
    use super::split_value;

    fn all(list: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut rest = list;
        while let Some((v, r)) = split_value(rest) {
            out.push(v);
            rest = r;
        }
        out
    }

    #[test]
    fn splits_on_top_level_commas_only() {
        let list = b"SIP/2.0/UDP a;branch=1, \"Doe, J\" <sip:j@x;p=a,b>, ,c";
        assert_eq!(
            all(list),
            [
                &b"SIP/2.0/UDP a;branch=1"[..],
                b"\"Doe, J\" <sip:j@x;p=a,b>",
                b"c"
            ]
        );
    }

    #[test]
    fn escaped_quote_stays_inside_the_string() {
        assert_eq!(
            all(br#""a\", b" <sip:x>, y"#),
            [&br#""a\", b" <sip:x>"#[..], b"y"]
        );
    }
}
