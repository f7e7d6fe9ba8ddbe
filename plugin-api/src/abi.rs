//! `#[repr(C)]` mirror of `include/siproxd_plugin.h`, ABI 1.1.
//!
//! The header is the source of truth; `tests/layout.rs` compiles a C program
//! against it and compares every size, offset and constant with this module.
//! The const pins at the bottom stop a drift on x86_64/aarch64 at build time.
//!
//! Names keep the C spelling so a reader can grep from one to the other.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void};

pub const SPX_ABI_MAJOR: u16 = 1;
pub const SPX_ABI_MINOR: u16 = 1;
/// The descriptor symbol, NUL-terminated as `dlsym` wants it.
pub const SPX_DESCRIPTOR_SYMBOL: &[u8] = b"siproxd_plugin_v1\0";

pub const SPX_STAGE_TIMER: u32 = 0x001;
pub const SPX_STAGE_PROCESS_RAW: u32 = 0x008;
pub const SPX_STAGE_VALIDATE: u32 = 0x010;
pub const SPX_STAGE_DETERMINE_TARGET: u32 = 0x020;
pub const SPX_STAGE_PRE_PROXY: u32 = 0x040;
pub const SPX_STAGE_PROXY_UNK: u32 = 0x080;
pub const SPX_STAGE_POST_PROXY: u32 = 0x100;
pub const SPX_STAGES_V1_0: u32 = 0x1F9;

pub const SPX_CONTINUE: c_int = 0;
pub const SPX_DROP: c_int = 1;
pub const SPX_SIP_SENT: c_int = 2001;
pub const SPX_ERROR: c_int = -1;

pub const SPX_OK: c_int = 0;
pub const SPX_E_NOTFOUND: c_int = -1;
pub const SPX_E_INVAL: c_int = -2;
pub const SPX_E_STAGE: c_int = -3;
pub const SPX_E_NOMEM: c_int = -4;
pub const SPX_E_IO: c_int = -5;

pub const SPX_DIR_UNKNOWN: c_int = 0;
pub const SPX_DIR_REQ_INCOMING: c_int = 1;
pub const SPX_DIR_REQ_OUTGOING: c_int = 2;
pub const SPX_DIR_RES_INCOMING: c_int = 3;
pub const SPX_DIR_RES_OUTGOING: c_int = 4;

pub const SPX_TRANSPORT_UDP: c_int = 1;
pub const SPX_TRANSPORT_TCP: c_int = 2;

pub const SPX_LOG_ERROR: c_int = 1;
pub const SPX_LOG_WARN: c_int = 2;
pub const SPX_LOG_INFO: c_int = 3;
pub const SPX_LOG_DEBUG: c_int = 4;

/// ABI 1.1: `via_add_own` interfaces (siproxd's `IF_OUTBOUND` / `IF_INBOUND`).
pub const SPX_IF_OUTBOUND: c_int = 0;
pub const SPX_IF_INBOUND: c_int = 1;

pub const SPX_INDEX_ALL: usize = usize::MAX;
pub const SPX_INDEX_END: usize = usize::MAX;

/// Borrowed bytes: not NUL-terminated, never freed by the receiver.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct spx_str {
    pub ptr: *const c_char,
    pub len: usize,
}

impl spx_str {
    pub const EMPTY: spx_str = spx_str {
        ptr: std::ptr::null(),
        len: 0,
    };
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct spx_hdr {
    pub name: spx_str,
    pub value: spx_str,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct spx_addr {
    pub family: u8,
    pub reserved: u8,
    pub port: u16,
    pub ip: [u8; 16],
}

/// ABI 1.1: one active, unexpired registration (siproxd's urlmap entry).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct spx_registration {
    pub aor: spx_str,
    pub contact: spx_str,
    pub masq: spx_str,
    pub expires_ms: u64,
}

impl spx_registration {
    pub const EMPTY: spx_registration = spx_registration {
        aor: spx_str::EMPTY,
        contact: spx_str::EMPTY,
        masq: spx_str::EMPTY,
        expires_ms: 0,
    };
}

/// ABI 1.1: one active RTP stream of the relay (siproxd's rtp_proxytable entry).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct spx_rtp_stream {
    pub client_id: spx_str,
    pub call_id: spx_str,
    pub call_direction: i32,
    pub stream_direction: i32,
    pub media_stream_no: u32,
    pub local: spx_addr,
    pub remote: spx_addr,
}

impl spx_rtp_stream {
    pub const EMPTY: spx_rtp_stream = spx_rtp_stream {
        client_id: spx_str::EMPTY,
        call_id: spx_str::EMPTY,
        call_direction: 0,
        stream_direction: 0,
        media_stream_no: 0,
        local: spx_addr {
            family: 0,
            reserved: 0,
            port: 0,
            ip: [0; 16],
        },
        remote: spx_addr {
            family: 0,
            reserved: 0,
            port: 0,
            ip: [0; 16],
        },
    };
}

/// Opaque per-plugin host handle.
#[repr(C)]
pub struct spx_host {
    _private: [u8; 0],
}

/// Opaque message handle, valid during one `process` call.
#[repr(C)]
pub struct spx_msg {
    _private: [u8; 0],
}

/// The host's function table. Every function pointer inside `struct_size`
/// is non-NULL; fields past it do not exist in that host.
#[repr(C)]
pub struct spx_host_api {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub host_version: *const c_char,

    pub log: unsafe extern "C" fn(h: *mut spx_host, level: c_int, msg: *const c_char, len: usize),
    pub config_count: unsafe extern "C" fn(h: *mut spx_host, key: *const c_char) -> usize,
    pub config_get: unsafe extern "C" fn(
        h: *mut spx_host,
        key: *const c_char,
        index: usize,
        out: *mut spx_str,
    ) -> c_int,
    pub now_ms: unsafe extern "C" fn(h: *mut spx_host) -> u64,
    pub timer_request: unsafe extern "C" fn(h: *mut spx_host, after_ms: u32) -> c_int,

    pub msg_is_request: unsafe extern "C" fn(m: *mut spx_msg) -> c_int,
    pub msg_method: unsafe extern "C" fn(m: *mut spx_msg, out: *mut spx_str) -> c_int,
    pub msg_status: unsafe extern "C" fn(m: *mut spx_msg) -> c_int,
    pub msg_direction: unsafe extern "C" fn(m: *mut spx_msg) -> c_int,
    pub msg_transport: unsafe extern "C" fn(m: *mut spx_msg) -> c_int,
    pub msg_source: unsafe extern "C" fn(m: *mut spx_msg, out: *mut spx_addr) -> c_int,
    pub msg_raw: unsafe extern "C" fn(m: *mut spx_msg, out: *mut spx_str) -> c_int,

    pub uri_get: unsafe extern "C" fn(m: *mut spx_msg, out: *mut spx_str) -> c_int,
    pub uri_set: unsafe extern "C" fn(m: *mut spx_msg, v: *const c_char, len: usize) -> c_int,
    pub header_count: unsafe extern "C" fn(m: *mut spx_msg, name: *const c_char) -> usize,
    pub header_get: unsafe extern "C" fn(
        m: *mut spx_msg,
        name: *const c_char,
        index: usize,
        out: *mut spx_str,
    ) -> c_int,
    pub header_set: unsafe extern "C" fn(
        m: *mut spx_msg,
        name: *const c_char,
        index: usize,
        v: *const c_char,
        len: usize,
    ) -> c_int,
    pub header_insert: unsafe extern "C" fn(
        m: *mut spx_msg,
        name: *const c_char,
        before: usize,
        v: *const c_char,
        len: usize,
    ) -> c_int,
    pub header_remove:
        unsafe extern "C" fn(m: *mut spx_msg, name: *const c_char, index: usize) -> c_int,
    pub body_get: unsafe extern "C" fn(m: *mut spx_msg, out: *mut spx_str) -> c_int,
    pub body_set: unsafe extern "C" fn(m: *mut spx_msg, v: *const c_char, len: usize) -> c_int,
    pub next_hop_set: unsafe extern "C" fn(m: *mut spx_msg, a: *const spx_addr) -> c_int,
    pub direction_set: unsafe extern "C" fn(m: *mut spx_msg, direction: c_int) -> c_int,

    pub reply: unsafe extern "C" fn(
        m: *mut spx_msg,
        code: c_int,
        reason: *const c_char,
        reason_len: usize,
        extra: *const spx_hdr,
        n_extra: usize,
    ) -> c_int,
    pub send_raw: unsafe extern "C" fn(
        h: *mut spx_host,
        to: *const spx_addr,
        data: *const u8,
        len: usize,
    ) -> c_int,
    pub public_addr_set: unsafe extern "C" fn(h: *mut spx_host, a: *const spx_addr) -> c_int,

    // ABI 1.1
    pub registration_get:
        unsafe extern "C" fn(h: *mut spx_host, index: usize, out: *mut spx_registration) -> c_int,
    pub rtp_stream_get:
        unsafe extern "C" fn(h: *mut spx_host, index: usize, out: *mut spx_rtp_stream) -> c_int,
    pub via_add_own: unsafe extern "C" fn(m: *mut spx_msg, interface: c_int) -> c_int,
    pub status_requests: unsafe extern "C" fn(h: *mut spx_host) -> u64,
}

// SAFETY: the table is immutable after construction; its only pointer field,
// `host_version`, points at a static NUL-terminated string.
unsafe impl Sync for spx_host_api {}

pub type spx_init_fn = unsafe extern "C" fn(
    api: *const spx_host_api,
    h: *mut spx_host,
    state: *mut *mut c_void,
) -> c_int;
pub type spx_process_fn =
    unsafe extern "C" fn(state: *mut c_void, stage: u32, m: *mut spx_msg) -> c_int;
pub type spx_fini_fn = unsafe extern "C" fn(state: *mut c_void);

/// The descriptor a plugin exports as `siproxd_plugin_v1`. The function
/// pointers are `Option` because a foreign plugin may leave them NULL; the
/// host refuses such a descriptor.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct spx_plugin_desc {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub name: *const c_char,
    pub description: *const c_char,
    pub stages: u32,
    pub flags: u32,
    pub init: Option<spx_init_fn>,
    pub process: Option<spx_process_fn>,
    pub fini: Option<spx_fini_fn>,
}

// SAFETY: a descriptor is immutable static data; `name` and `description`
// point at static NUL-terminated strings that live as long as the library.
unsafe impl Sync for spx_plugin_desc {}

/// Size of the ABI 1.0 descriptor: the least `struct_size` a host accepts.
pub const SPX_PLUGIN_DESC_V1_0_SIZE: usize =
    std::mem::offset_of!(spx_plugin_desc, fini) + std::mem::size_of::<Option<spx_fini_fn>>();
/// Size of the ABI 1.0 host table: a plugin may rely on every field in it.
pub const SPX_HOST_API_V1_0_SIZE: usize =
    std::mem::offset_of!(spx_host_api, public_addr_set) + std::mem::size_of::<usize>();
/// Size of the ABI 1.1 host table (1.0 plus `registration_get`,
/// `rtp_stream_get`, `via_add_own`, `status_requests`).
pub const SPX_HOST_API_V1_1_SIZE: usize =
    std::mem::offset_of!(spx_host_api, status_requests) + std::mem::size_of::<usize>();

// Build-time pins for LP64 targets (every platform siproxd-rs ships on).
// The C-compiled comparison in tests/layout.rs covers every field.
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(std::mem::size_of::<spx_str>() == 16);
    assert!(std::mem::size_of::<spx_hdr>() == 32);
    assert!(std::mem::size_of::<spx_addr>() == 20);
    assert!(std::mem::size_of::<spx_plugin_desc>() == 56);
    assert!(std::mem::offset_of!(spx_plugin_desc, init) == 32);
    assert!(std::mem::size_of::<spx_host_api>() == 16 + 30 * 8);
    assert!(std::mem::size_of::<spx_registration>() == 56);
    assert!(std::mem::size_of::<spx_rtp_stream>() == 88);
    assert!(SPX_PLUGIN_DESC_V1_0_SIZE == 56);
    assert!(SPX_HOST_API_V1_0_SIZE == 224);
    assert!(SPX_HOST_API_V1_1_SIZE == 256);
};

impl From<std::net::SocketAddr> for spx_addr {
    fn from(addr: std::net::SocketAddr) -> spx_addr {
        let mut out = spx_addr {
            port: addr.port(),
            ..spx_addr::default()
        };
        match addr.ip() {
            std::net::IpAddr::V4(v4) => {
                out.family = 4;
                out.ip[..4].copy_from_slice(&v4.octets());
            }
            std::net::IpAddr::V6(v6) => {
                out.family = 6;
                out.ip = v6.octets();
            }
        }
        out
    }
}

impl spx_addr {
    /// `None` for a family other than 4 or 6.
    pub fn to_socket_addr(&self) -> Option<std::net::SocketAddr> {
        let ip = match self.family {
            4 => std::net::IpAddr::from([self.ip[0], self.ip[1], self.ip[2], self.ip[3]]),
            6 => std::net::IpAddr::from(self.ip),
            _ => return None,
        };
        Some(std::net::SocketAddr::new(ip, self.port))
    }
}
