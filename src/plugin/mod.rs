//! Plugins: the host side of the C ABI in `plugin-api/include/siproxd_plugin.h`.
//!
//! Layer: shell. Corresponds to upstream's `plugins.c`. This file is pure
//! (paths, descriptor checks, the stage rules of host calls, the refusal
//! messages, the [`Ticket`] trait the proxy core implements); `host.rs` is the
//! only FFI file (dlopen, the host function table, calls into plugins).
//! The stage dispatch over all plugins (`chain.rs`) comes with the proxy core.

pub mod chain;
pub mod host;
pub mod state;

use spx::abi;
use spx::{Direction, HostError, LogLevel, Transport};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub use host::{fini_all, load_all, LoadedPlugin};

/// Where plugin log lines go: `(plugin name, level, line)`.
pub type LogSink = Arc<dyn Fn(&str, LogLevel, &str) + Send + Sync>;

/// One active, unexpired registration, as the proxy core shows it to plugins
/// (ABI 1.1 `registration_get`; upstream's `urlmap[]` entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// `reg_url`: the address of record.
    pub aor: String,
    /// `true_url`: the UA's own Contact.
    pub contact: String,
    /// `masq_url`: the Contact registered upstream.
    pub masq: String,
    pub expires_at: Instant,
}

/// One active RTP stream (ABI 1.1 `rtp_stream_get`; upstream's
/// `rtp_proxytable[]` entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpStream {
    pub client_id: String,
    /// `number@host`.
    pub call_id: String,
    /// `RequestIncoming` or `RequestOutgoing` (upstream's `DIR_INCOMING/OUTGOING`).
    pub call_direction: Direction,
    pub stream_direction: Direction,
    pub media_stream_no: u32,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// Daemon state plugins may read (ABI 1.1), provided by the proxy core.
/// Both default to "nothing", so a core that has not wired them yet shows
/// plugins no registrations and no streams.
pub trait HostState: Send + Sync {
    /// The `index`th active, unexpired registration.
    fn registration(&self, _index: usize) -> Option<Registration> {
        None
    }
    /// The `index`th active RTP stream.
    fn rtp_stream(&self, _index: usize) -> Option<RtpStream> {
        None
    }
}

/// `siproxd`'s own interfaces for `via_add_own` (`IF_OUTBOUND`, `IF_INBOUND`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    Outbound,
    Inbound,
}

struct NoState;
impl HostState for NoState {}

/// What the daemon lends every plugin: its config lines and a log sink.
/// Cheap to clone: each loaded plugin keeps one until the process ends.
#[derive(Clone)]
pub struct HostContext {
    /// Every `key = value` line of siproxd.conf, in file order.
    config: Arc<[(String, String)]>,
    log: LogSink,
    epoch: Instant,
    state: Arc<dyn HostState>,
    /// SIGUSR1 count, for plugins polling it (ABI 1.1 `status_requests`).
    status_requests: Arc<AtomicU64>,
}

impl HostContext {
    /// Plugins see every config line (any key, in file order, repeats kept)
    /// and log through the `log` crate under target `siproxd::plugin`.
    pub fn new(config: Vec<(String, String)>) -> HostContext {
        let log: LogSink = Arc::new(
            |name, level, line| log::log!(target: "siproxd::plugin", log_level(level), "{name}: {line}"),
        );
        HostContext {
            config: config.into(),
            log,
            epoch: Instant::now(),
            state: Arc::new(NoState),
            status_requests: Arc::default(),
        }
    }

    /// The daemon calls this on each SIGUSR1 (status request); plugins
    /// such as plugin_stats see the count grow at their next TIMER call.
    /// Clones of this context share the count.
    pub fn note_status_request(&self) {
        self.status_requests.fetch_add(1, Ordering::Relaxed);
    }

    fn status_requests(&self) -> u64 {
        self.status_requests.load(Ordering::Relaxed)
    }

    /// Lets plugins read registrations and RTP streams (ABI 1.1).
    pub fn with_state(mut self, state: Arc<dyn HostState>) -> HostContext {
        self.state = state;
        self
    }

    /// Replaces the log sink (tests, or the daemon's own logger).
    pub fn with_log_sink(mut self, log: LogSink) -> HostContext {
        self.log = log;
        self
    }

    /// The values of `key`, in file order. Exact key match: siproxd-rs does
    /// not do upstream's substring matching (DESIGN.md §4).
    fn values<'c>(&'c self, key: &'c [u8]) -> impl Iterator<Item = &'c str> + 'c {
        self.config
            .iter()
            .filter(move |(k, _)| k.as_bytes() == key)
            .map(|(_, v)| v.as_str())
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// `now_ms` scale (milliseconds since the epoch of this context) for an instant.
    fn millis_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }
}

fn log_level(level: LogLevel) -> log::Level {
    match level {
        LogLevel::Error => log::Level::Error,
        LogLevel::Warn => log::Level::Warn,
        LogLevel::Info => log::Level::Info,
        LogLevel::Debug => log::Level::Debug,
    }
}

/// Something a plugin asked the daemon to do outside the current message;
/// drained with [`LoadedPlugin::take_actions`] by the event loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostAction {
    /// `send_raw`: a datagram from the SIP socket (plugin_stun's request).
    SendRaw { to: SocketAddr, data: Vec<u8> },
    /// `public_addr_set`: the outbound address changed (plugin_stun).
    SetPublicAddr(SocketAddr),
    /// `timer_request`: one extra TIMER call after this many milliseconds.
    Timer { after_ms: u32 },
}

/// The message of one stage as the proxy core lends it to plugins
/// (upstream's `sip_ticket_t` plus the osip calls plugins made on it).
///
/// Bytes returned by `&self` methods are handed to C and must stay where they
/// are until the next `&mut self` call or the end of the stage: an
/// implementation must not move message bytes behind a shared reference
/// (no lazily re-allocated caches). Header names are matched
/// case-insensitively, compact forms equal long ones; `index` counts field
/// lines with that name in message order.
pub trait Ticket {
    /// `Some(true)` request, `Some(false)` response, `None` raw datagram.
    fn is_request(&self) -> Option<bool>;
    fn method(&self) -> Result<&[u8], HostError>;
    /// Status code of a response, 0 for a request.
    fn status(&self) -> u16;
    fn direction(&self) -> Direction;
    fn transport(&self) -> Transport;
    fn source(&self) -> SocketAddr;
    fn raw(&self) -> &[u8];
    fn request_uri(&self) -> Result<&[u8], HostError>;
    fn header_count(&self, name: &[u8]) -> usize;
    fn header(&self, name: &[u8], index: usize) -> Result<&[u8], HostError>;
    fn body(&self) -> &[u8];
    fn set_request_uri(&mut self, uri: &[u8]) -> Result<(), HostError>;
    fn set_header(&mut self, name: &[u8], index: usize, value: &[u8]) -> Result<(), HostError>;
    /// `before == SPX_INDEX_END`: after the last field with that name (or at the end).
    fn insert_header(&mut self, name: &[u8], before: usize, value: &[u8]) -> Result<(), HostError>;
    /// `index == SPX_INDEX_ALL`: every field with that name.
    fn remove_header(&mut self, name: &[u8], index: usize) -> Result<(), HostError>;
    /// Also fixes Content-Length.
    fn set_body(&mut self, body: &[u8]) -> Result<(), HostError>;
    fn set_next_hop(&mut self, to: SocketAddr) -> Result<(), HostError>;
    fn set_direction(&mut self, direction: Direction) -> Result<(), HostError>;
    /// Answer the request (as upstream's `sip_gen_response` + send) and consume it.
    fn reply(
        &mut self,
        code: u16,
        reason: Option<&[u8]>,
        extra: &[(&[u8], &[u8])],
    ) -> Result<(), HostError>;
    /// ABI 1.1: insert siproxd's own Via for `interface` on top (upstream's
    /// `sip_add_myvia`), so the core's own-Via removal finds it
    /// (plugin_fix_DTAG). The default answers `NotFound`: no own Via known.
    fn add_own_via(&mut self, _interface: Interface) -> Result<(), HostError> {
        Err(HostError::NotFound)
    }
}

/// The kinds of message calls, for the stage rules in [`allowed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgCall {
    /// `msg_is_request`, `msg_raw`, `msg_source`, `msg_transport`.
    Raw,
    /// `msg_method`, `msg_status`, `msg_direction`, `uri_get`, `header_count/get`, `body_get`.
    Read,
    /// `uri_set`, `header_set/insert/remove`, `body_set`, `next_hop_set`.
    Edit,
    /// `direction_set`.
    SetDirection,
    /// `reply` (requests only, checked separately).
    Reply,
    /// `via_add_own` (ABI 1.1).
    AddOwnVia,
}

/// Which message calls a stage allows (header: "Message calls return
/// SPX_E_STAGE where the stage does not allow them").
/// Mirrors plugins.c: PROCESS_RAW sees only the buffer; direction may be
/// changed in PRE_PROXY (proxy.c re-reads it, plugin_siptrunk relies on it).
/// Differs: `reply` is allowed in PROXY_UNK too, and SIP_SENT there
/// suppresses the 408 (upstream's own TODO).
pub fn allowed(call: MsgCall, stage: u32) -> bool {
    const PARSED: u32 = abi::SPX_STAGE_VALIDATE
        | abi::SPX_STAGE_DETERMINE_TARGET
        | abi::SPX_STAGE_PRE_PROXY
        | abi::SPX_STAGE_PROXY_UNK
        | abi::SPX_STAGE_POST_PROXY;
    let parsed = stage.is_power_of_two() && stage & PARSED != 0;
    match call {
        MsgCall::Raw => stage == abi::SPX_STAGE_PROCESS_RAW || parsed,
        MsgCall::Read | MsgCall::Edit => parsed,
        MsgCall::SetDirection | MsgCall::AddOwnVia => stage == abi::SPX_STAGE_PRE_PROXY,
        MsgCall::Reply => {
            stage == abi::SPX_STAGE_DETERMINE_TARGET || stage == abi::SPX_STAGE_PROXY_UNK
        }
    }
}

/// The path `dlopen` gets for one `load_plugin` name.
/// Mirrors plugins.c: `plugindir` and the name are concatenated verbatim.
/// Differs: a missing `/` after `plugindir` is supplied; a libtool `.la`
/// name maps to the `.so` beside it (siproxd-rs installs no `.la` files);
/// a bare name gets `./` so the loader does not search the library path.
pub fn plugin_path(plugindir: &str, name: &str) -> PathBuf {
    let file = match name.strip_suffix(".la") {
        Some(stem) => format!("{stem}.so"),
        None => name.to_string(),
    };
    let mut path = plugindir.to_string();
    if !path.is_empty() && !path.ends_with('/') {
        path.push('/');
    }
    path.push_str(&file);
    if !path.contains('/') {
        path.insert_str(0, "./");
    }
    PathBuf::from(path)
}

/// The module name of a plugin file (`plugin_logcall` for
/// `/usr/lib/siproxd/plugin_logcall.so`), as libtool's `_LTX_` prefix uses it.
pub fn module_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    stem.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// What the loader read from a descriptor, before any plugin code ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescriptorFacts {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    /// `None` for a NULL pointer.
    pub name: Option<String>,
    pub description: String,
    pub stages: u32,
    pub has_init: bool,
    pub has_process: bool,
    pub has_fini: bool,
}

/// Why one `load_plugin` entry was not loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefusalReason {
    #[error("no such file")]
    NotFound,
    #[error("dlopen failed: {0}")]
    Open(String),
    #[error(
        "this is an upstream siproxd C plugin (it exports {symbol}), which cannot run in \
         siproxd-rs; use the built-in replacement {module} or rebuild against siproxd_plugin.h"
    )]
    Upstream { symbol: String, module: String },
    #[error("built for ABI {major}, this siproxd speaks ABI 1")]
    NewerMajor { major: u32 },
    #[error("not a siproxd-rs plugin: it exports no siproxd_plugin_v1 descriptor")]
    NoDescriptor,
    #[error("truncated descriptor: struct_size is {size}, ABI 1.0 needs at least {needed}")]
    Truncated { size: u32, needed: usize },
    #[error("descriptor siproxd_plugin_v1 says ABI major {major}")]
    MajorMismatch { major: u16 },
    #[error("built for ABI 1.{minor}, this siproxd speaks ABI 1.{host}")]
    NewerMinor { minor: u16, host: u16 },
    #[error("descriptor has no name")]
    NoName,
    #[error("descriptor has no {0} function")]
    NoEntry(&'static str),
    #[error("asks for unknown stage bits {bits:#05x} (ABI 1.0 knows {known:#05x})")]
    UnknownStages { bits: u32, known: u32 },
    #[error("a plugin named {name} is already loaded from {first}")]
    Duplicate { name: String, first: String },
    #[error("{name}: init failed (returned {code})")]
    InitFailed { name: String, code: i32 },
}

/// One `load_plugin` entry that was not loaded; the daemon logs it and runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadRefusal {
    /// The name as configured (`plugin_logcall.la`).
    pub name: String,
    /// The path handed to `dlopen`.
    pub path: PathBuf,
    pub reason: RefusalReason,
}

impl fmt::Display for LoadRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "plugin {} not loaded from {}: {}",
            self.name,
            self.path.display(),
            self.reason
        )
    }
}

impl std::error::Error for LoadRefusal {}

/// Checks a descriptor against ABI 1.0, in the order its fields are trusted.
/// `loaded` pairs the names of plugins already loaded with their paths.
/// Mirrors plugins.c's "skip the plugin, log, go on"; differs in checking
/// before any plugin code runs (upstream ran `plugin_init` first).
pub fn check_descriptor(
    facts: &DescriptorFacts,
    loaded: &[(&str, &Path)],
) -> Result<(), RefusalReason> {
    if (facts.struct_size as usize) < abi::SPX_PLUGIN_DESC_V1_0_SIZE {
        let needed = abi::SPX_PLUGIN_DESC_V1_0_SIZE;
        return Err(RefusalReason::Truncated {
            size: facts.struct_size,
            needed,
        });
    }
    if facts.abi_major != abi::SPX_ABI_MAJOR {
        return Err(RefusalReason::MajorMismatch {
            major: facts.abi_major,
        });
    }
    if facts.abi_minor > abi::SPX_ABI_MINOR {
        let host = abi::SPX_ABI_MINOR;
        return Err(RefusalReason::NewerMinor {
            minor: facts.abi_minor,
            host,
        });
    }
    let name = facts
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or(RefusalReason::NoName)?;
    check_entries(facts)?;
    let unknown = facts.stages & !abi::SPX_STAGES_V1_0;
    if unknown != 0 {
        return Err(RefusalReason::UnknownStages {
            bits: unknown,
            known: abi::SPX_STAGES_V1_0,
        });
    }
    if let Some((_, first)) = loaded.iter().find(|(n, _)| *n == name) {
        let first = first.display().to_string();
        return Err(RefusalReason::Duplicate {
            name: name.to_string(),
            first,
        });
    }
    Ok(())
}

fn check_entries(facts: &DescriptorFacts) -> Result<(), RefusalReason> {
    let entries = [
        ("init", facts.has_init),
        ("process", facts.has_process),
        ("fini", facts.has_fini),
    ];
    match entries.into_iter().find(|(_, present)| !present) {
        Some((missing, _)) => Err(RefusalReason::NoEntry(missing)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> DescriptorFacts {
        DescriptorFacts {
            struct_size: 56,
            abi_major: 1,
            abi_minor: 0,
            name: Some("plugin_demo".into()),
            description: String::new(),
            stages: abi::SPX_STAGE_PRE_PROXY,
            has_init: true,
            has_process: true,
            has_fini: true,
        }
    }

    #[test]
    fn path_concatenates_like_upstream_and_maps_la_to_so() {
        let cases = [
            (
                "/usr/lib/siproxd/",
                "plugin_logcall.la",
                "/usr/lib/siproxd/plugin_logcall.so",
            ),
            (
                "/usr/lib/siproxd",
                "plugin_logcall.so",
                "/usr/lib/siproxd/plugin_logcall.so",
            ),
            ("/opt/", "sub/plugin_x.so", "/opt/sub/plugin_x.so"),
            ("", "plugin_x.la", "./plugin_x.so"),
            ("", "/abs/plugin_x.so", "/abs/plugin_x.so"),
        ];
        for (dir, name, want) in cases {
            assert_eq!(
                plugin_path(dir, name),
                PathBuf::from(want),
                "{dir:?} + {name:?}"
            );
        }
    }

    #[test]
    fn module_name_is_libtool_style() {
        assert_eq!(
            module_name(Path::new("/x/plugin_fix-dtag.so")),
            "plugin_fix_dtag"
        );
    }

    #[test]
    fn a_good_descriptor_passes() {
        assert_eq!(
            check_descriptor(&good(), &[("plugin_other", Path::new("/a.so"))]),
            Ok(())
        );
    }

    #[test]
    fn each_refusal_names_its_numbers() {
        let cases = [
            (
                DescriptorFacts {
                    struct_size: 40,
                    ..good()
                },
                "truncated descriptor: struct_size is 40, ABI 1.0 needs at least 56",
            ),
            (
                DescriptorFacts {
                    abi_major: 3,
                    ..good()
                },
                "descriptor siproxd_plugin_v1 says ABI major 3",
            ),
            (
                DescriptorFacts {
                    abi_minor: 2,
                    ..good()
                },
                "built for ABI 1.2, this siproxd speaks ABI 1.1",
            ),
            (
                DescriptorFacts {
                    name: None,
                    ..good()
                },
                "descriptor has no name",
            ),
            (
                DescriptorFacts {
                    name: Some(String::new()),
                    ..good()
                },
                "descriptor has no name",
            ),
            (
                DescriptorFacts {
                    has_process: false,
                    ..good()
                },
                "descriptor has no process function",
            ),
            (
                DescriptorFacts {
                    stages: 0x246,
                    ..good()
                },
                "asks for unknown stage bits 0x206 (ABI 1.0 knows 0x1f9)",
            ),
        ];
        for (facts, want) in cases {
            assert_eq!(check_descriptor(&facts, &[]).unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn a_second_plugin_with_the_same_name_is_refused() {
        let err = check_descriptor(&good(), &[("plugin_demo", Path::new("/p/a.so"))]);
        assert_eq!(
            err.unwrap_err().to_string(),
            "a plugin named plugin_demo is already loaded from /p/a.so"
        );
    }

    #[test]
    fn stage_rules_of_host_calls() {
        use abi::*;
        assert!(allowed(MsgCall::Raw, SPX_STAGE_PROCESS_RAW));
        assert!(!allowed(MsgCall::Read, SPX_STAGE_PROCESS_RAW));
        assert!(!allowed(MsgCall::Raw, SPX_STAGE_TIMER));
        assert!(allowed(MsgCall::Edit, SPX_STAGE_POST_PROXY));
        assert!(allowed(MsgCall::Read, SPX_STAGE_VALIDATE));
        assert!(allowed(MsgCall::SetDirection, SPX_STAGE_PRE_PROXY));
        assert!(!allowed(MsgCall::SetDirection, SPX_STAGE_POST_PROXY));
        assert!(allowed(MsgCall::Reply, SPX_STAGE_PROXY_UNK));
        assert!(!allowed(MsgCall::Reply, SPX_STAGE_PRE_PROXY));
    }

    #[test]
    fn config_values_match_keys_exactly_in_file_order() {
        let ctx = HostContext::new(vec![
            ("plugin_x_entry".into(), "1".into()),
            ("plugin_x_entry2".into(), "no".into()),
            ("plugin_x_entry".into(), "2".into()),
        ]);
        assert_eq!(
            ctx.values(b"plugin_x_entry").collect::<Vec<_>>(),
            ["1", "2"]
        );
    }
}
