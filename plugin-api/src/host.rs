//! `Host`: the daemon's process-wide services for one plugin instance.

use crate::abi::{self, spx_host, spx_host_api, spx_str};
use std::ffi::{c_int, CStr, CString};
use std::fmt;
use std::net::SocketAddr;

/// A host call failed; one variant per `SPX_E_*` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostError {
    /// `SPX_E_NOTFOUND`: no such header, key or index.
    NotFound,
    /// `SPX_E_INVAL`: bad argument (also: a name with a NUL byte in it).
    Invalid,
    /// `SPX_E_STAGE`: not allowed in this stage or for this kind of message.
    WrongStage,
    /// `SPX_E_NOMEM`: a configured limit would be exceeded.
    NoMemory,
    /// `SPX_E_IO`: the host could not send.
    Io,
    /// A code this SDK does not know (from a newer host).
    Other(c_int),
}

impl HostError {
    /// The `SPX_E_*` value (what a host function returns for this error).
    pub fn code(self) -> c_int {
        match self {
            HostError::NotFound => abi::SPX_E_NOTFOUND,
            HostError::Invalid => abi::SPX_E_INVAL,
            HostError::WrongStage => abi::SPX_E_STAGE,
            HostError::NoMemory => abi::SPX_E_NOMEM,
            HostError::Io => abi::SPX_E_IO,
            HostError::Other(code) => code,
        }
    }

    /// `Ok(())` for `SPX_OK`, the matching variant otherwise.
    pub fn check(code: c_int) -> Result<(), HostError> {
        match code {
            abi::SPX_OK => Ok(()),
            abi::SPX_E_NOTFOUND => Err(HostError::NotFound),
            abi::SPX_E_INVAL => Err(HostError::Invalid),
            abi::SPX_E_STAGE => Err(HostError::WrongStage),
            abi::SPX_E_NOMEM => Err(HostError::NoMemory),
            abi::SPX_E_IO => Err(HostError::Io),
            other => Err(HostError::Other(other)),
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::NotFound => f.write_str("not found"),
            HostError::Invalid => f.write_str("invalid argument"),
            HostError::WrongStage => f.write_str("not allowed in this stage"),
            HostError::NoMemory => f.write_str("limit exceeded"),
            HostError::Io => f.write_str("send failed"),
            HostError::Other(code) => write!(f, "host error {code}"),
        }
    }
}

impl std::error::Error for HostError {}

/// Log levels of the ABI (`SPX_LOG_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

impl LogLevel {
    /// The level for an `SPX_LOG_*` value; `None` for anything else.
    pub fn from_code(code: c_int) -> Option<LogLevel> {
        match code {
            abi::SPX_LOG_ERROR => Some(LogLevel::Error),
            abi::SPX_LOG_WARN => Some(LogLevel::Warn),
            abi::SPX_LOG_INFO => Some(LogLevel::Info),
            abi::SPX_LOG_DEBUG => Some(LogLevel::Debug),
            _ => None,
        }
    }
}

/// Process-wide host services for one plugin instance: logging, config lines,
/// time, timers, raw sends. Valid from `init` until `fini` returns; only use
/// it on the thread the host calls you on (`log` excepted, see [`Host::log`]).
#[derive(Clone, Copy)]
pub struct Host {
    api: &'static spx_host_api,
    handle: *mut spx_host,
    name: &'static CStr,
}

impl Host {
    /// Wraps the table and handle `init` received.
    ///
    /// # Safety
    /// `api` must point to a host table of at least ABI 1.0 size that stays
    /// valid, with `handle`, until the plugin's `fini` has returned.
    pub(crate) unsafe fn new(
        api: &'static spx_host_api,
        handle: *mut spx_host,
        name: &'static CStr,
    ) -> Host {
        Host { api, handle, name }
    }

    pub(crate) fn api(&self) -> &'static spx_host_api {
        self.api
    }

    /// The daemon's version string, e.g. `siproxd-rs 0.1.0`.
    pub fn version(&self) -> String {
        // SAFETY: the host promises a static NUL-terminated `host_version`.
        unsafe { CStr::from_ptr(self.api.host_version) }
            .to_string_lossy()
            .into_owned()
    }

    /// The host's ABI minor: functions newer than this are absent.
    pub fn abi_minor(&self) -> u16 {
        self.api.abi_minor
    }

    /// Logs one line under the plugin's name.
    pub fn log(&self, level: LogLevel, line: &str) {
        self.logger().log(level, line);
    }

    /// A logger the plugin's own threads may use (`Send + Sync`).
    pub fn logger(&self) -> Logger {
        Logger {
            api: self.api,
            handle: self.handle,
        }
    }

    pub fn error(&self, line: &str) {
        self.log(LogLevel::Error, line);
    }

    pub fn warn(&self, line: &str) {
        self.log(LogLevel::Warn, line);
    }

    pub fn info(&self, line: &str) {
        self.log(LogLevel::Info, line);
    }

    pub fn debug(&self, line: &str) {
        self.log(LogLevel::Debug, line);
    }

    /// How many config lines have exactly this key.
    pub fn config_count(&self, key: &str) -> usize {
        let Ok(key) = CString::new(key) else { return 0 };
        // SAFETY: `key` is NUL-terminated and outlives the call.
        unsafe { (self.api.config_count)(self.handle, key.as_ptr()) }
    }

    /// The value of the `index`th line with this key, in file order. The bytes
    /// stay valid until `fini`; the borrow is tied to `self` to keep it simple.
    pub fn config_bytes(&self, key: &str, index: usize) -> Option<&[u8]> {
        let key = CString::new(key).ok()?;
        let mut out = spx_str::EMPTY;
        // SAFETY: `key` is NUL-terminated, `out` is a valid place to write.
        let code = unsafe { (self.api.config_get)(self.handle, key.as_ptr(), index, &mut out) };
        HostError::check(code).ok()?;
        // SAFETY: the host lends `out` until `fini`, which `self` cannot outlive.
        Some(unsafe { crate::ffi::bytes(out) })
    }

    /// The first value of `key` (any key of siproxd.conf), lossily UTF-8.
    pub fn config(&self, key: &str) -> Option<String> {
        self.config_bytes(key, 0).map(lossy)
    }

    /// Every value of a repeatable key, in file order.
    pub fn config_all(&self, key: &str) -> Vec<String> {
        (0..self.config_count(key))
            .filter_map(|i| self.config_bytes(key, i).map(lossy))
            .collect()
    }

    /// `plugin_<name>_<key>`: the plugin's own key, as upstream plugins name them
    /// (`plugin_shortdial` + `entry` reads `plugin_shortdial_entry`).
    pub fn plugin_config(&self, key: &str) -> Option<String> {
        self.config(&self.own_key(key))
    }

    /// Every `plugin_<name>_<key>` value, in file order.
    pub fn plugin_config_all(&self, key: &str) -> Vec<String> {
        self.config_all(&self.own_key(key))
    }

    fn own_key(&self, key: &str) -> String {
        format!("{}_{key}", self.name.to_string_lossy())
    }

    /// Monotonic milliseconds.
    pub fn now_ms(&self) -> u64 {
        // SAFETY: plain call with the handle the host gave us.
        unsafe { (self.api.now_ms)(self.handle) }
    }

    /// Asks for one extra TIMER call after `after_ms` (if the plugin has the
    /// TIMER stage); the regular 5 s tick goes on regardless.
    pub fn request_timer(&self, after_ms: u32) -> Result<(), HostError> {
        // SAFETY: plain call with the handle the host gave us.
        HostError::check(unsafe { (self.api.timer_request)(self.handle, after_ms) })
    }

    /// Sends a datagram from the SIP socket (e.g. a STUN request).
    pub fn send_raw(&self, to: SocketAddr, data: &[u8]) -> Result<(), HostError> {
        let to = abi::spx_addr::from(to);
        // SAFETY: `to` and `data` are valid during the call; the host copies them.
        HostError::check(unsafe {
            (self.api.send_raw)(self.handle, &to, data.as_ptr(), data.len())
        })
    }

    /// True if the host's table has the ABI 1.1 functions.
    pub fn has_abi_1_1(&self) -> bool {
        self.api.struct_size as usize >= abi::SPX_HOST_API_V1_1_SIZE
    }

    /// ABI 1.1: every active, unexpired registration, copied out.
    /// Empty on an older host (set `Plugin::ABI_MINOR = 1` to be refused there instead).
    pub fn registrations(&self) -> Vec<Registration> {
        let mut out = Vec::new();
        if !self.has_abi_1_1() {
            return out;
        }
        for index in 0..MAX_LISTED {
            let mut reg = abi::spx_registration::EMPTY;
            // SAFETY: the table has the 1.1 fields (checked); `reg` is writable.
            let code = unsafe { (self.api.registration_get)(self.handle, index, &mut reg) };
            if code != abi::SPX_OK {
                break;
            }
            // SAFETY: the host lends these bytes until this plugin call returns;
            // they are copied right here.
            let text = |s: spx_str| lossy(unsafe { crate::ffi::bytes(s) });
            out.push(Registration {
                aor: text(reg.aor),
                contact: text(reg.contact),
                masq: text(reg.masq),
                expires_ms: reg.expires_ms,
            });
        }
        out
    }

    /// ABI 1.1: every active RTP stream, copied out (empty on an older host).
    pub fn rtp_streams(&self) -> Vec<RtpStream> {
        let mut out = Vec::new();
        if !self.has_abi_1_1() {
            return out;
        }
        for index in 0..MAX_LISTED {
            let mut st = abi::spx_rtp_stream::EMPTY;
            // SAFETY: the table has the 1.1 fields (checked); `st` is writable.
            let code = unsafe { (self.api.rtp_stream_get)(self.handle, index, &mut st) };
            if code != abi::SPX_OK {
                break;
            }
            // SAFETY: lent until this plugin call returns; copied right here.
            let text = |s: spx_str| lossy(unsafe { crate::ffi::bytes(s) });
            out.push(RtpStream {
                client_id: text(st.client_id),
                call_id: text(st.call_id),
                call_direction: crate::Direction::from_code(st.call_direction),
                stream_direction: crate::Direction::from_code(st.stream_direction),
                media_stream_no: st.media_stream_no,
                local: st.local.to_socket_addr(),
                remote: st.remote.to_socket_addr(),
            });
        }
        out
    }

    /// ABI 1.1: how many status requests (SIGUSR1) the daemon has received;
    /// 0 on an older host.
    pub fn status_requests(&self) -> u64 {
        if !self.has_abi_1_1() {
            return 0;
        }
        // SAFETY: the table has the 1.1 fields (checked).
        unsafe { (self.api.status_requests)(self.handle) }
    }

    /// Changes the public (outbound) address used for masquerading.
    pub fn set_public_addr(&self, addr: SocketAddr) -> Result<(), HostError> {
        let addr = abi::spx_addr::from(addr);
        // SAFETY: `addr` is valid during the call; the host copies it.
        HostError::check(unsafe { (self.api.public_addr_set)(self.handle, &addr) })
    }
}

/// Upper bound on entries read by [`Host::registrations`] / [`Host::rtp_streams`],
/// so a host that never answers `SPX_E_NOTFOUND` cannot hang a plugin.
const MAX_LISTED: usize = 65_536;

/// One active, unexpired registration (ABI 1.1; siproxd's urlmap entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// `reg_url`: the address of record (`sip:alice@example.org`).
    pub aor: String,
    /// `true_url`: where the UA is (`sip:alice@192.168.1.10:5062`).
    pub contact: String,
    /// `masq_url`: the Contact siproxd registered upstream.
    pub masq: String,
    /// The [`Host::now_ms`] value at which it expires.
    pub expires_ms: u64,
}

/// One active RTP stream (ABI 1.1; siproxd's rtp_proxytable entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpStream {
    pub client_id: String,
    /// `number@host`.
    pub call_id: String,
    /// `RequestIncoming` or `RequestOutgoing`.
    pub call_direction: crate::Direction,
    pub stream_direction: crate::Direction,
    pub media_stream_no: u32,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
}

/// Logging for the plugin's own threads: `log` is the one host call the ABI
/// allows off the SIP thread. Valid until `fini` returns, so join or stop
/// your threads in [`Plugin::fini`](crate::Plugin::fini).
#[derive(Clone, Copy)]
pub struct Logger {
    api: &'static spx_host_api,
    handle: *mut spx_host,
}

// SAFETY: the header allows `log(handle, …)` from any thread until `fini`
// returns; `Logger` can call nothing else.
unsafe impl Send for Logger {}
// SAFETY: as above; `log` takes no `&mut` state on the plugin side.
unsafe impl Sync for Logger {}

impl Logger {
    pub fn log(&self, level: LogLevel, line: &str) {
        // SAFETY: `line` is valid for `len` bytes during the call; the host copies it.
        unsafe {
            (self.api.log)(
                self.handle,
                level as c_int,
                line.as_ptr().cast(),
                line.len(),
            )
        }
    }

    pub fn error(&self, line: &str) {
        self.log(LogLevel::Error, line);
    }

    pub fn info(&self, line: &str) {
        self.log(LogLevel::Info, line);
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
