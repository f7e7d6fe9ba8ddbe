//! A fake host for plugin unit tests (feature `testing`).
//!
//! [`Harness`] drives a [`Plugin`] through its exported descriptor exactly as
//! the daemon does (the `extern "C"` trampolines included), against a host
//! table written in Rust: config lines, recorded log lines, timers, raw sends,
//! the public address, and a [`FakeMsg`] with a simple header list that keeps
//! the stage rules of the real host (`SPX_E_STAGE` outside a call's stages).
//!
//! ```
//! # use spx::testing::{FakeMsg, Harness};
//! # use spx::{Host, Msg, Plugin, Stage, Verdict};
//! # struct P;
//! # impl Plugin for P {
//! #     const NAME: &'static std::ffi::CStr = c"plugin_p";
//! #     const DESCRIPTION: &'static std::ffi::CStr = c"p";
//! #     const STAGES: u32 = Stage::PreProxy.bit();
//! #     fn init(_: &Host) -> Result<Self, String> { Ok(P) }
//! #     fn process(&mut self, h: &Host, _: Stage, m: Option<&mut Msg<'_>>) -> Verdict {
//! #         if let Some(m) = m { let _ = m.append_header("X-P", b"1"); h.info("seen"); }
//! #         Verdict::Continue
//! #     }
//! # }
//! let mut plugin = Harness::<P>::init(&[]).unwrap();
//! let mut msg = FakeMsg::parse("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n");
//! assert_eq!(plugin.process(Stage::PreProxy, Some(&mut msg)), Verdict::Continue);
//! assert_eq!(msg.header("X-P", 0), Some("1"));
//! assert_eq!(plugin.logs(), ["INFO seen"]);
//! ```

use crate::abi::{self, spx_addr, spx_hdr, spx_host, spx_host_api, spx_msg, spx_str};
use crate::{Direction, LogLevel, Plugin, Registration, RtpStream, Stage, Transport, Verdict};
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::ptr;
use std::sync::Mutex;

/// What a plugin asked the host for, recorded for assertions.
#[derive(Default)]
pub struct FakeHost {
    config: Vec<(String, String)>,
    /// `"<LEVEL> <line>"`, e.g. `"INFO Incoming (INVITE) Call: …"`. A mutex:
    /// `log` is the one call a plugin's own threads may make.
    pub logs: Mutex<Vec<String>>,
    /// Every `timer_request(after_ms)`.
    pub timers: RefCell<Vec<u32>>,
    /// Every `send_raw(to, data)`.
    pub sent: RefCell<Vec<(SocketAddr, Vec<u8>)>>,
    /// The last `public_addr_set`.
    pub public_addr: Cell<Option<SocketAddr>>,
    /// What `now_ms` answers; tests move it forward.
    pub now_ms: Cell<u64>,
    /// What `registration_get` lists (ABI 1.1).
    pub registrations: RefCell<Vec<Registration>>,
    /// What `rtp_stream_get` lists (ABI 1.1).
    pub rtp_streams: RefCell<Vec<RtpStream>>,
    /// What `status_requests` answers (SIGUSR1 count, ABI 1.1).
    pub status_requests: Cell<u64>,
    /// Bytes lent by the 1.1 calls during the current plugin call.
    lent: RefCell<Vec<Box<[u8]>>>,
}

impl FakeHost {
    /// The log lines so far, forgotten.
    pub fn take_logs(&self) -> Vec<String> {
        std::mem::take(&mut *self.logs.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn keep(&self, bytes: &[u8]) -> spx_str {
        let boxed: Box<[u8]> = bytes.into();
        let out = spx_str {
            ptr: boxed.as_ptr().cast(),
            len: boxed.len(),
        };
        self.lent.borrow_mut().push(boxed);
        out
    }
}

/// A `reply` the plugin sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeReply {
    pub code: u16,
    pub reason: Option<String>,
    /// The extra header fields, in order.
    pub extra: Vec<(String, String)>,
}

/// A message as the fake host lends it: start line, field lines, body.
#[derive(Clone, Debug)]
pub struct FakeMsg {
    /// `None`: a raw datagram (PROCESS_RAW only).
    pub is_request: Option<bool>,
    pub method: Vec<u8>,
    pub status: u16,
    pub reason: Vec<u8>,
    pub uri: Vec<u8>,
    /// Field lines in message order: name as written, value.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub direction: Direction,
    pub transport: Transport,
    pub source: SocketAddr,
    pub raw: Vec<u8>,
    pub next_hop: Option<SocketAddr>,
    pub reply: Option<FakeReply>,
    /// The Via value `via_add_own` inserts (ABI 1.1); `None`: NOTFOUND.
    pub own_via: Option<String>,
    stage: u32,
}

const COMPACT: [(&str, &str); 15] = [
    ("v", "via"),
    ("f", "from"),
    ("t", "to"),
    ("m", "contact"),
    ("i", "call-id"),
    ("c", "content-type"),
    ("l", "content-length"),
    ("k", "supported"),
    ("s", "subject"),
    ("e", "content-encoding"),
    ("o", "event"),
    ("r", "refer-to"),
    ("u", "allow-events"),
    ("x", "session-expires"),
    ("b", "referred-by"),
];

/// The long, lower-case form of a header name.
fn canonical(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    COMPACT
        .iter()
        .find(|(short, _)| *short == lower)
        .map_or(lower, |(_, long)| (*long).to_string())
}

impl FakeMsg {
    /// Parses a SIP message (`\r\n` or `\n` line ends; no folded lines).
    /// Source 192.0.2.1:5060, UDP, direction unknown.
    pub fn parse(text: &str) -> FakeMsg {
        let (head, body) = text
            .split_once("\r\n\r\n")
            .or_else(|| text.split_once("\n\n"))
            .unwrap_or((text, ""));
        let mut lines = head.lines();
        let start = lines.next().unwrap_or_default();
        let mut msg = FakeMsg::datagram(text.as_bytes(), "192.0.2.1:5060".parse().unwrap());
        if let Some(rest) = start.strip_prefix("SIP/2.0 ") {
            let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            msg.is_request = Some(false);
            msg.status = code.parse().unwrap_or(0);
            msg.reason = reason.as_bytes().to_vec();
        } else {
            let mut parts = start.splitn(3, ' ');
            msg.is_request = Some(true);
            msg.method = parts.next().unwrap_or_default().as_bytes().to_vec();
            msg.uri = parts.next().unwrap_or_default().as_bytes().to_vec();
        }
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                msg.headers
                    .push((name.trim().to_string(), value.trim().as_bytes().to_vec()));
            }
        }
        msg.body = body.as_bytes().to_vec();
        msg
    }

    /// A raw datagram, as PROCESS_RAW sees it.
    pub fn datagram(bytes: &[u8], source: SocketAddr) -> FakeMsg {
        FakeMsg {
            is_request: None,
            method: Vec::new(),
            status: 0,
            reason: Vec::new(),
            uri: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            direction: Direction::Unknown,
            transport: Transport::Udp,
            source,
            raw: bytes.to_vec(),
            next_hop: None,
            reply: None,
            own_via: None,
            stage: 0,
        }
    }

    /// Sets the direction (builder style).
    pub fn with_direction(mut self, direction: Direction) -> FakeMsg {
        self.direction = direction;
        self
    }

    /// Sets the packet source (builder style).
    pub fn with_source(mut self, source: &str) -> FakeMsg {
        if let Ok(source) = source.parse() {
            self.source = source;
        }
        self
    }

    fn positions(&self, name: &str) -> Vec<usize> {
        let want = canonical(name);
        (0..self.headers.len())
            .filter(|&i| canonical(&self.headers[i].0) == want)
            .collect()
    }

    /// The `index`th field line of `name`, as text.
    pub fn header(&self, name: &str, index: usize) -> Option<&str> {
        let at = *self.positions(name).get(index)?;
        std::str::from_utf8(&self.headers[at].1).ok()
    }

    /// Every field line of `name`, as text.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.positions(name)
            .into_iter()
            .filter_map(|at| std::str::from_utf8(&self.headers[at].1).ok())
            .collect()
    }

    /// The message as text (`\r\n` line ends).
    pub fn text(&self) -> String {
        let mut out = if self.is_request == Some(false) {
            format!(
                "SIP/2.0 {} {}\r\n",
                self.status,
                String::from_utf8_lossy(&self.reason)
            )
        } else {
            format!(
                "{} {} SIP/2.0\r\n",
                String::from_utf8_lossy(&self.method),
                String::from_utf8_lossy(&self.uri)
            )
        };
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {}\r\n", String::from_utf8_lossy(value)));
        }
        out.push_str("\r\n");
        out.push_str(&String::from_utf8_lossy(&self.body));
        out
    }

    /// The body as text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Drives one plugin instance like the daemon does; calls `fini` on drop.
pub struct Harness<P: Plugin> {
    host: Box<FakeHost>,
    state: *mut c_void,
    desc: abi::spx_plugin_desc,
    _plugin: PhantomData<P>,
}

impl<P: Plugin> Harness<P> {
    /// Runs `init` with these config lines (full keys, file order).
    /// `Err` carries the log lines (the reason `init` gave).
    pub fn init(config: &[(&str, &str)]) -> Result<Harness<P>, Vec<String>> {
        Harness::init_on(&FAKE_API, config)
    }

    /// As [`Harness::init`], on a host whose table is only ABI 1.0-sized.
    pub fn init_on_abi_1_0(config: &[(&str, &str)]) -> Result<Harness<P>, Vec<String>> {
        Harness::init_on(&FAKE_API_1_0, config)
    }

    fn init_on(
        api: &'static spx_host_api,
        config: &[(&str, &str)],
    ) -> Result<Harness<P>, Vec<String>> {
        let host = Box::new(FakeHost {
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..FakeHost::default()
        });
        let desc = crate::ffi::descriptor::<P>();
        let mut state = ptr::null_mut();
        let handle = ptr::from_ref::<FakeHost>(&host)
            .cast_mut()
            .cast::<spx_host>();
        let init = desc.init.ok_or_else(Vec::new)?;
        // SAFETY: static table; the boxed host outlives the instance (dropped after fini).
        let code = unsafe { init(api, handle, &mut state) };
        host.lent.borrow_mut().clear();
        if code != abi::SPX_OK {
            return Err(host.take_logs());
        }
        Ok(Harness {
            host,
            state,
            desc,
            _plugin: PhantomData,
        })
    }

    /// One stage; a stage the plugin did not ask for is not delivered
    /// (answers `Continue`), as in the daemon.
    pub fn process(&mut self, stage: Stage, msg: Option<&mut FakeMsg>) -> Verdict {
        if self.desc.stages & stage.bit() == 0 {
            return Verdict::Continue;
        }
        let Some(process) = self.desc.process else {
            return Verdict::Error;
        };
        let handle = match msg {
            Some(msg) => {
                msg.stage = stage.bit();
                ptr::from_mut::<FakeMsg>(msg).cast::<spx_msg>()
            }
            None => ptr::null_mut(),
        };
        // SAFETY: `state` is what init stored; `handle` is live for the call.
        let code = unsafe { process(self.state, stage.bit(), handle) };
        self.host.lent.borrow_mut().clear();
        match code {
            abi::SPX_CONTINUE => Verdict::Continue,
            abi::SPX_DROP => Verdict::Drop,
            abi::SPX_SIP_SENT => Verdict::SipSent,
            _ => Verdict::Error,
        }
    }

    /// The fake host (recorded sends, timers, public address, clock).
    pub fn host(&self) -> &FakeHost {
        &self.host
    }

    /// Log lines so far (`"<LEVEL> <line>"`), and forgets them.
    pub fn logs(&self) -> Vec<String> {
        self.host.take_logs()
    }

    /// Runs `fini` now (dropping the harness does the same).
    pub fn fini(mut self) -> Vec<String> {
        self.run_fini();
        self.host.take_logs()
    }

    fn run_fini(&mut self) {
        if let (Some(fini), false) = (self.desc.fini, self.state.is_null()) {
            // SAFETY: `state` came from init; fini runs once.
            unsafe { fini(self.state) };
            self.state = ptr::null_mut();
        }
    }
}

impl<P: Plugin> Drop for Harness<P> {
    fn drop(&mut self) {
        self.run_fini();
    }
}

// ------------------------------------------------------------- the host table

static FAKE_API: spx_host_api = table(std::mem::size_of::<spx_host_api>());
/// The same functions, announced as a 1.0 table: the SDK must not call past it.
static FAKE_API_1_0: spx_host_api = table(abi::SPX_HOST_API_V1_0_SIZE);

const fn table(size: usize) -> spx_host_api {
    spx_host_api {
        struct_size: size as u32,
        abi_major: abi::SPX_ABI_MAJOR,
        abi_minor: abi::SPX_ABI_MINOR,
        host_version: c"siproxd-rs test host".as_ptr(),
        log,
        config_count,
        config_get,
        now_ms,
        timer_request,
        msg_is_request,
        msg_method,
        msg_status,
        msg_direction,
        msg_transport,
        msg_source,
        msg_raw,
        uri_get,
        uri_set,
        header_count,
        header_get,
        header_set,
        header_insert,
        header_remove,
        body_get,
        body_set,
        next_hop_set,
        direction_set,
        reply,
        send_raw,
        public_addr_set,
        registration_get,
        rtp_stream_get,
        via_add_own,
        status_requests,
    }
}

const PARSED: u32 = abi::SPX_STAGE_VALIDATE
    | abi::SPX_STAGE_DETERMINE_TARGET
    | abi::SPX_STAGE_PRE_PROXY
    | abi::SPX_STAGE_PROXY_UNK
    | abi::SPX_STAGE_POST_PROXY;

fn host<'a>(h: *mut spx_host) -> &'a FakeHost {
    // SAFETY: every handle is the `FakeHost` boxed by `Harness`, live until fini.
    unsafe { &*h.cast::<FakeHost>() }
}

/// The message, if the current stage allows a parsed-message call.
fn parsed<'a>(m: *mut spx_msg) -> Result<&'a mut FakeMsg, c_int> {
    // SAFETY: every message handle is a `&mut FakeMsg` live during `process`.
    let msg = unsafe { m.cast::<FakeMsg>().as_mut() }.ok_or(abi::SPX_E_INVAL)?;
    if msg.stage & PARSED == 0 || msg.is_request.is_none() {
        return Err(abi::SPX_E_STAGE);
    }
    Ok(msg)
}

fn any_msg<'a>(m: *mut spx_msg) -> Result<&'a mut FakeMsg, c_int> {
    // SAFETY: as in `parsed`.
    unsafe { m.cast::<FakeMsg>().as_mut() }.ok_or(abi::SPX_E_INVAL)
}

fn bytes<'a>(p: *const c_char, len: usize) -> &'a [u8] {
    if p.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: the SDK passes (ptr, len) pairs valid during the call.
    unsafe { std::slice::from_raw_parts(p.cast(), len) }
}

fn name_of(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the SDK passes NUL-terminated names.
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

fn lend(out: *mut spx_str, b: &[u8]) -> c_int {
    if out.is_null() {
        return abi::SPX_E_INVAL;
    }
    // SAFETY: `out` points at the SDK's local `spx_str`.
    unsafe {
        *out = spx_str {
            ptr: b.as_ptr().cast(),
            len: b.len(),
        }
    };
    abi::SPX_OK
}

fn addr_of(a: *const spx_addr) -> Option<SocketAddr> {
    // SAFETY: the SDK passes a pointer to a live `spx_addr`.
    unsafe { a.as_ref() }.and_then(spx_addr::to_socket_addr)
}

fn result(r: Result<(), c_int>) -> c_int {
    r.err().unwrap_or(abi::SPX_OK)
}

unsafe extern "C" fn log(h: *mut spx_host, level: c_int, msg: *const c_char, len: usize) {
    let level = match LogLevel::from_code(level) {
        Some(LogLevel::Error) => "ERROR",
        Some(LogLevel::Warn) => "WARN",
        Some(LogLevel::Info) => "INFO",
        _ => "DEBUG",
    };
    let line = String::from_utf8_lossy(bytes(msg, len)).into_owned();
    host(h)
        .logs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(format!("{level} {line}"));
}

fn values<'a>(h: *mut spx_host, key: *const c_char) -> Vec<&'a str> {
    let Some(key) = name_of(key) else {
        return Vec::new();
    };
    host(h)
        .config
        .iter()
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

unsafe extern "C" fn config_count(h: *mut spx_host, key: *const c_char) -> usize {
    values(h, key).len()
}

unsafe extern "C" fn config_get(
    h: *mut spx_host,
    key: *const c_char,
    index: usize,
    out: *mut spx_str,
) -> c_int {
    values(h, key)
        .get(index)
        .map_or(abi::SPX_E_NOTFOUND, |v| lend(out, v.as_bytes()))
}

unsafe extern "C" fn now_ms(h: *mut spx_host) -> u64 {
    host(h).now_ms.get()
}

unsafe extern "C" fn timer_request(h: *mut spx_host, after_ms: u32) -> c_int {
    host(h).timers.borrow_mut().push(after_ms);
    abi::SPX_OK
}

unsafe extern "C" fn msg_is_request(m: *mut spx_msg) -> c_int {
    match any_msg(m).map(|m| m.is_request) {
        Ok(Some(true)) => 1,
        Ok(Some(false)) => 0,
        _ => -1,
    }
}

unsafe extern "C" fn msg_method(m: *mut spx_msg, out: *mut spx_str) -> c_int {
    match parsed(m) {
        Ok(msg) if msg.is_request == Some(true) => lend(out, &msg.method),
        Ok(_) => abi::SPX_E_NOTFOUND,
        Err(e) => e,
    }
}

unsafe extern "C" fn msg_status(m: *mut spx_msg) -> c_int {
    parsed(m).map_or(0, |msg| c_int::from(msg.status))
}

unsafe extern "C" fn msg_direction(m: *mut spx_msg) -> c_int {
    parsed(m).map_or(abi::SPX_DIR_UNKNOWN, |msg| msg.direction.code())
}

unsafe extern "C" fn msg_transport(m: *mut spx_msg) -> c_int {
    any_msg(m).map_or(abi::SPX_E_INVAL, |msg| msg.transport.code())
}

unsafe extern "C" fn msg_source(m: *mut spx_msg, out: *mut spx_addr) -> c_int {
    match any_msg(m) {
        Ok(msg) if !out.is_null() => {
            // SAFETY: `out` points at the SDK's local `spx_addr`.
            unsafe { *out = spx_addr::from(msg.source) };
            abi::SPX_OK
        }
        Ok(_) => abi::SPX_E_INVAL,
        Err(e) => e,
    }
}

unsafe extern "C" fn msg_raw(m: *mut spx_msg, out: *mut spx_str) -> c_int {
    any_msg(m).map_or_else(|e| e, |msg| lend(out, &msg.raw))
}

unsafe extern "C" fn uri_get(m: *mut spx_msg, out: *mut spx_str) -> c_int {
    match parsed(m) {
        Ok(msg) if msg.is_request == Some(true) => lend(out, &msg.uri),
        Ok(_) => abi::SPX_E_NOTFOUND,
        Err(e) => e,
    }
}

unsafe extern "C" fn uri_set(m: *mut spx_msg, v: *const c_char, len: usize) -> c_int {
    result(parsed(m).map(|msg| msg.uri = bytes(v, len).to_vec()))
}

unsafe extern "C" fn header_count(m: *mut spx_msg, name: *const c_char) -> usize {
    match (parsed(m), name_of(name)) {
        (Ok(msg), Some(name)) => msg.positions(&name).len(),
        _ => 0,
    }
}

unsafe extern "C" fn header_get(
    m: *mut spx_msg,
    name: *const c_char,
    index: usize,
    out: *mut spx_str,
) -> c_int {
    let msg = match parsed(m) {
        Ok(msg) => msg,
        Err(e) => return e,
    };
    let Some(name) = name_of(name) else {
        return abi::SPX_E_INVAL;
    };
    match msg.positions(&name).get(index) {
        Some(&at) => lend(out, &msg.headers[at].1),
        None => abi::SPX_E_NOTFOUND,
    }
}

unsafe extern "C" fn header_set(
    m: *mut spx_msg,
    name: *const c_char,
    index: usize,
    v: *const c_char,
    len: usize,
) -> c_int {
    let msg = match parsed(m) {
        Ok(msg) => msg,
        Err(e) => return e,
    };
    let Some(name) = name_of(name) else {
        return abi::SPX_E_INVAL;
    };
    match msg.positions(&name).get(index) {
        Some(&at) => {
            msg.headers[at].1 = bytes(v, len).to_vec();
            abi::SPX_OK
        }
        None => abi::SPX_E_NOTFOUND,
    }
}

unsafe extern "C" fn header_insert(
    m: *mut spx_msg,
    name: *const c_char,
    before: usize,
    v: *const c_char,
    len: usize,
) -> c_int {
    let msg = match parsed(m) {
        Ok(msg) => msg,
        Err(e) => return e,
    };
    let Some(name) = name_of(name) else {
        return abi::SPX_E_INVAL;
    };
    let positions = msg.positions(&name);
    let at = match (before, positions.last()) {
        (abi::SPX_INDEX_END, Some(&last)) => last + 1,
        (abi::SPX_INDEX_END, None) => msg.headers.len(),
        (i, _) => match positions.get(i) {
            Some(&at) => at,
            None if i == positions.len() => positions.last().map_or(msg.headers.len(), |l| l + 1),
            None => return abi::SPX_E_NOTFOUND,
        },
    };
    msg.headers.insert(at, (name, bytes(v, len).to_vec()));
    abi::SPX_OK
}

unsafe extern "C" fn header_remove(m: *mut spx_msg, name: *const c_char, index: usize) -> c_int {
    let msg = match parsed(m) {
        Ok(msg) => msg,
        Err(e) => return e,
    };
    let Some(name) = name_of(name) else {
        return abi::SPX_E_INVAL;
    };
    let positions = msg.positions(&name);
    if index == abi::SPX_INDEX_ALL {
        if positions.is_empty() {
            return abi::SPX_E_NOTFOUND;
        }
        for at in positions.into_iter().rev() {
            msg.headers.remove(at);
        }
        return abi::SPX_OK;
    }
    match positions.get(index) {
        Some(&at) => {
            msg.headers.remove(at);
            abi::SPX_OK
        }
        None => abi::SPX_E_NOTFOUND,
    }
}

unsafe extern "C" fn body_get(m: *mut spx_msg, out: *mut spx_str) -> c_int {
    parsed(m).map_or_else(|e| e, |msg| lend(out, &msg.body))
}

unsafe extern "C" fn body_set(m: *mut spx_msg, v: *const c_char, len: usize) -> c_int {
    let msg = match parsed(m) {
        Ok(msg) => msg,
        Err(e) => return e,
    };
    msg.body = bytes(v, len).to_vec();
    let length = msg.body.len().to_string().into_bytes();
    match msg.positions("Content-Length").first() {
        Some(&at) => msg.headers[at].1 = length,
        None => msg.headers.push(("Content-Length".into(), length)),
    }
    abi::SPX_OK
}

unsafe extern "C" fn next_hop_set(m: *mut spx_msg, a: *const spx_addr) -> c_int {
    let msg = match parsed(m) {
        Ok(msg) => msg,
        Err(e) => return e,
    };
    match addr_of(a) {
        Some(to) => {
            msg.next_hop = Some(to);
            abi::SPX_OK
        }
        None => abi::SPX_E_INVAL,
    }
}

unsafe extern "C" fn direction_set(m: *mut spx_msg, direction: c_int) -> c_int {
    let msg = match parsed(m) {
        Ok(msg) => msg,
        Err(e) => return e,
    };
    if msg.stage != abi::SPX_STAGE_PRE_PROXY {
        return abi::SPX_E_STAGE;
    }
    if !(abi::SPX_DIR_UNKNOWN..=abi::SPX_DIR_RES_OUTGOING).contains(&direction) {
        return abi::SPX_E_INVAL;
    }
    msg.direction = Direction::from_code(direction);
    abi::SPX_OK
}

unsafe extern "C" fn reply(
    m: *mut spx_msg,
    code: c_int,
    reason: *const c_char,
    reason_len: usize,
    extra: *const spx_hdr,
    n_extra: usize,
) -> c_int {
    let msg = match parsed(m) {
        Ok(msg) => msg,
        Err(e) => return e,
    };
    let reply_stages = abi::SPX_STAGE_DETERMINE_TARGET | abi::SPX_STAGE_PROXY_UNK;
    if msg.stage & reply_stages == 0 || msg.is_request != Some(true) || msg.reply.is_some() {
        return abi::SPX_E_STAGE;
    }
    let Ok(code) = u16::try_from(code) else {
        return abi::SPX_E_INVAL;
    };
    if !(100..=699).contains(&code) || (n_extra > 0 && extra.is_null()) {
        return abi::SPX_E_INVAL;
    }
    let fields = if n_extra == 0 {
        &[][..]
    } else {
        // SAFETY: the SDK passes `n_extra` headers valid during the call.
        unsafe { std::slice::from_raw_parts(extra, n_extra) }
    };
    let text = |s: spx_str| String::from_utf8_lossy(bytes(s.ptr, s.len)).into_owned();
    msg.reply = Some(FakeReply {
        code,
        reason: (!reason.is_null())
            .then(|| String::from_utf8_lossy(bytes(reason, reason_len)).into_owned()),
        extra: fields
            .iter()
            .map(|f| (text(f.name), text(f.value)))
            .collect(),
    });
    abi::SPX_OK
}

unsafe extern "C" fn send_raw(
    h: *mut spx_host,
    to: *const spx_addr,
    data: *const u8,
    len: usize,
) -> c_int {
    let Some(to) = addr_of(to) else {
        return abi::SPX_E_INVAL;
    };
    let data = bytes(data.cast(), len).to_vec();
    host(h).sent.borrow_mut().push((to, data));
    abi::SPX_OK
}

unsafe extern "C" fn public_addr_set(h: *mut spx_host, a: *const spx_addr) -> c_int {
    match addr_of(a) {
        Some(addr) => {
            host(h).public_addr.set(Some(addr));
            abi::SPX_OK
        }
        None => abi::SPX_E_INVAL,
    }
}

unsafe extern "C" fn registration_get(
    h: *mut spx_host,
    index: usize,
    out: *mut abi::spx_registration,
) -> c_int {
    let host = host(h);
    let Some(reg) = host.registrations.borrow().get(index).cloned() else {
        return abi::SPX_E_NOTFOUND;
    };
    // SAFETY: `out` points at the SDK's local struct.
    let Some(out) = (unsafe { out.as_mut() }) else {
        return abi::SPX_E_INVAL;
    };
    *out = abi::spx_registration {
        aor: host.keep(reg.aor.as_bytes()),
        contact: host.keep(reg.contact.as_bytes()),
        masq: host.keep(reg.masq.as_bytes()),
        expires_ms: reg.expires_ms,
    };
    abi::SPX_OK
}

unsafe extern "C" fn rtp_stream_get(
    h: *mut spx_host,
    index: usize,
    out: *mut abi::spx_rtp_stream,
) -> c_int {
    let host = host(h);
    let Some(st) = host.rtp_streams.borrow().get(index).cloned() else {
        return abi::SPX_E_NOTFOUND;
    };
    // SAFETY: `out` points at the SDK's local struct.
    let Some(out) = (unsafe { out.as_mut() }) else {
        return abi::SPX_E_INVAL;
    };
    *out = abi::spx_rtp_stream {
        client_id: host.keep(st.client_id.as_bytes()),
        call_id: host.keep(st.call_id.as_bytes()),
        call_direction: st.call_direction.code(),
        stream_direction: st.stream_direction.code(),
        media_stream_no: st.media_stream_no,
        local: st.local.map(spx_addr::from).unwrap_or_default(),
        remote: st.remote.map(spx_addr::from).unwrap_or_default(),
    };
    abi::SPX_OK
}

unsafe extern "C" fn via_add_own(m: *mut spx_msg, interface: c_int) -> c_int {
    let msg = match parsed(m) {
        Ok(msg) => msg,
        Err(e) => return e,
    };
    if msg.stage != abi::SPX_STAGE_PRE_PROXY {
        return abi::SPX_E_STAGE;
    }
    if interface != abi::SPX_IF_OUTBOUND && interface != abi::SPX_IF_INBOUND {
        return abi::SPX_E_INVAL;
    }
    let Some(via) = msg.own_via.clone() else {
        return abi::SPX_E_NOTFOUND;
    };
    let at = msg.positions("Via").first().copied().unwrap_or(0);
    msg.headers.insert(at, ("Via".into(), via.into_bytes()));
    abi::SPX_OK
}

unsafe extern "C" fn status_requests(h: *mut spx_host) -> u64 {
    host(h).status_requests.get()
}
