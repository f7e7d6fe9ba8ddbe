//! Logging backend behind the `log` facade: stderr in the foreground,
//! syslog(3) when daemonized, and the optional `debug_port` TCP stream.
//!
//! Layer: shell (does I/O). Mirrors upstream `log.c`:
//! - ERROR, WARN and INFO always reach stderr in the foreground; DEBUG only
//!   when its class bit is in the debug mask (`debug_level` / `-d`).
//! - Under syslog (ident `siproxd`, facility daemon, with pid) `silence_log`
//!   sets the threshold: 0 = DEBUG and up, 1 = INFO and up, 2 = WARN and up,
//!   3 = ERROR only, 4 = nothing. WARN and INFO use `LOG_NOTICE` as upstream.
//! - The debug port receives every DEBUG line that passes the mask plus all
//!   INFO, WARN and ERROR lines regardless of `silence_log`.
//!
//! We use syslog(3) rather than a socket-speaking crate because libc's
//! syslog reconnects after syslogd restarts, which routers do.

use std::ffi::CString;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// The debug classes of upstream's `log.h` (`DBCLASS_*`), selectable with
/// `-d` and `debug_level`. Each is also a `log` target name, so
/// `debug!(target: "rtp", …)` is a DEBUG line of class RTP.
pub const CLASSES: [(&str, u32); 14] = [
    ("babble", 0x1),
    ("net", 0x2),
    ("sip", 0x4),
    ("reg", 0x8),
    ("nospec", 0x10),
    ("proxy", 0x20),
    ("dns", 0x40),
    ("nettraf", 0x80),
    ("config", 0x100),
    ("rtp", 0x200),
    ("access", 0x400),
    ("auth", 0x800),
    ("plugin", 0x1000),
    ("rtpbabl", 0x2000),
];

/// Module paths of our own layers mapped to the upstream class they debug.
const MODULE_CLASSES: [(&str, u32); 8] = [
    ("siproxd::net::rtp_relay", 0x200),
    ("siproxd::proxy::rtp_table", 0x200),
    ("siproxd::net", 0x2),
    ("siproxd::sip", 0x4),
    ("siproxd::proxy", 0x20),
    ("siproxd::config", 0x100),
    ("siproxd::plugin", 0x1000),
    ("siproxd::daemon", 0x10),
];

/// The bit of debug lines from other crates (mio, …): no upstream class, so
/// only `-d -1` (every bit) shows them.
pub const FOREIGN: u32 = 0x8000_0000;

/// The debug class bit of a `log` target: a class name as in [`CLASSES`], or
/// one of our module paths (anything else of ours is BABBLE, like upstream's
/// `DEBUG()` without a class); other crates' targets are [`FOREIGN`].
pub fn class_of(target: &str) -> u32 {
    if let Some((_, bit)) = CLASSES.iter().find(|(name, _)| *name == target) {
        return *bit;
    }
    if !target.starts_with("siproxd") {
        return FOREIGN;
    }
    MODULE_CLASSES
        .iter()
        .find(|(prefix, _)| target.starts_with(prefix))
        .map_or(0x1, |(_, bit)| *bit)
}

/// Where log lines go and which pass.
struct Backend {
    silence: AtomicU8,
    debug_mask: AtomicU32,
    to_syslog: AtomicBool,
    debug_client: Mutex<Option<TcpStream>>,
}

static BACKEND: Backend = Backend {
    silence: AtomicU8::new(1),
    debug_mask: AtomicU32::new(0),
    to_syslog: AtomicBool::new(false),
    debug_client: Mutex::new(None),
};

/// Keeps the ident string alive: openlog(3) stores the pointer.
static SYSLOG_IDENT: OnceLock<CString> = OnceLock::new();

/// Severity labels as upstream prints them.
fn label(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "ERROR:",
        log::Level::Warn => "WARNING:",
        log::Level::Info => "INFO:",
        log::Level::Debug | log::Level::Trace => "",
    }
}

/// `silence_log` threshold for syslog (upstream `log.c`).
fn passes_silence(level: log::Level, silence: u8) -> bool {
    let rank = match level {
        log::Level::Error => 4,
        log::Level::Warn => 3,
        log::Level::Info => 2,
        log::Level::Debug | log::Level::Trace => 1,
    };
    silence < rank
}

impl Backend {
    fn debug_passes(&self, record: &log::Metadata) -> bool {
        let mask = self.debug_mask.load(Ordering::Relaxed);
        mask & class_of(record.target()) != 0
    }

    fn write_stderr(&self, line: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }

    fn write_syslog(&self, level: log::Level, text: &str) {
        let priority = match level {
            log::Level::Error => libc::LOG_ERR,
            log::Level::Warn | log::Level::Info => libc::LOG_NOTICE,
            log::Level::Debug | log::Level::Trace => libc::LOG_DEBUG,
        };
        let Ok(msg) = CString::new(text.replace('\0', "\\0")) else {
            return;
        };
        // SAFETY: the format is a static NUL-terminated "%s" and `msg` is a
        // valid NUL-terminated C string that outlives the call.
        unsafe { libc::syslog(priority, c"%s".as_ptr(), msg.as_ptr()) };
    }

    fn write_debug_port(&self, line: &str) {
        let Ok(mut slot) = self.debug_client.lock() else {
            return;
        };
        let failed = match slot.as_mut() {
            Some(client) => client.write_all(format!("{line}\r\n").as_bytes()).is_err(),
            None => false,
        };
        if failed {
            *slot = None;
        }
    }
}

impl log::Log for Backend {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Info || self.debug_passes(metadata)
    }

    fn log(&self, record: &log::Record) {
        let level = record.level();
        if !self.enabled(record.metadata()) {
            return;
        }
        let file = record.file().unwrap_or("?");
        let line_no = record.line().unwrap_or(0);
        let text = format!("{}{}:{} {}", label(level), file, line_no, record.args());
        let stamped = format!("{} {}", timestamp(), text);
        if self.to_syslog.load(Ordering::Relaxed) {
            if passes_silence(level, self.silence.load(Ordering::Relaxed)) {
                self.write_syslog(
                    level,
                    &format!("{}:{} {}{}", file, line_no, label(level), record.args()),
                );
            }
        } else {
            self.write_stderr(&stamped);
        }
        self.write_debug_port(&stamped);
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Local wall-clock time as `HH:MM:SS.mmm`, upstream's stderr stamp.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = libc::time_t::try_from(now.as_secs()).unwrap_or(0);
    // SAFETY: `tm` is plain old data; localtime_r fills it from `secs` and
    // touches nothing else (it is the reentrant variant).
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

/// Installs the backend (stderr, INFO and up, no debug classes) as the
/// process-wide logger. Safe to call more than once.
pub fn init() {
    extern "C" {
        fn tzset();
    }
    // SAFETY: tzset(3) takes no arguments and only loads TZ and
    // /etc/localtime into libc's state; we call it before chroot so local
    // time keeps working inside the jail.
    unsafe { tzset() };
    if log::set_logger(&BACKEND).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}

/// Applies `silence_log` (syslog threshold, 0..=4). Used at start and on SIGHUP.
pub fn set_silence(level: u8) {
    BACKEND.silence.store(level.min(4), Ordering::Relaxed);
}

/// Applies the debug class mask (`debug_level`, or `-d`). `-1` is every class.
pub fn set_debug_mask(mask: u32) {
    BACKEND.debug_mask.store(mask, Ordering::Relaxed);
}

/// The current debug class mask.
pub fn debug_mask() -> u32 {
    BACKEND.debug_mask.load(Ordering::Relaxed)
}

/// From now on, log through syslog(3) with ident `siproxd`, facility daemon
/// and the pid, instead of stderr (called once daemonized). `LOG_NDELAY`
/// connects at once, so the socket is open before a chroot.
pub fn switch_to_syslog() {
    let ident = SYSLOG_IDENT.get_or_init(|| c"siproxd".to_owned());
    // SAFETY: `ident` lives in a static for the rest of the process, as
    // openlog(3) requires; the flags and facility are libc constants.
    unsafe {
        libc::openlog(
            ident.as_ptr(),
            libc::LOG_NDELAY | libc::LOG_PID,
            libc::LOG_DAEMON,
        )
    };
    BACKEND.to_syslog.store(true, Ordering::Relaxed);
}

/// The `debug_port` listener: TCP, bound only to the addresses given (we
/// bind loopback and the inbound interface; upstream binds every interface,
/// unauthenticated). One client at a time; a second is told so and closed.
pub struct DebugPort {
    listeners: Vec<TcpListener>,
}

impl DebugPort {
    /// Binds `port` on every address in `addrs`. Call before the privilege
    /// drop, as upstream does, so a port below 1024 works.
    pub fn bind(addrs: &[std::net::IpAddr], port: u16) -> std::io::Result<DebugPort> {
        let mut listeners = Vec::new();
        for addr in addrs {
            listeners.push(TcpListener::bind(SocketAddr::new(*addr, port))?);
        }
        Ok(DebugPort { listeners })
    }

    /// The addresses actually bound (for the start-up log line and tests).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Accepts clients on a thread per listener. Call after daemonizing:
    /// threads do not survive fork.
    pub fn serve(self) {
        for listener in self.listeners {
            let spawned = std::thread::Builder::new()
                .name("debug-port".into())
                .spawn(move || accept_clients(listener));
            if let Err(err) = spawned {
                log::error!("debug_port: cannot start its thread: {err}");
            }
        }
    }
}

fn accept_clients(listener: TcpListener) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let Ok(mut slot) = BACKEND.debug_client.lock() else {
            return;
        };
        if slot.is_some() {
            let _ = stream.write_all(b"siproxd: debug port busy, one client at a time\r\n");
            continue;
        }
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let _ = stream.set_nodelay(true);
        *slot = Some(stream);
        drop(slot);
        log::info!("debug_port: client {peer} connected");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_match_upstream_bits() {
        assert_eq!(class_of("sip"), 0x4);
        assert_eq!(class_of("rtpbabl"), 0x2000);
        assert_eq!(class_of("siproxd::net::rtp_relay"), 0x200);
        assert_eq!(class_of("siproxd::net::iface"), 0x2);
        assert_eq!(class_of("siproxd::config::parse"), 0x100);
        assert_eq!(class_of("siproxd::app"), 0x1);
        assert_eq!(class_of("mio::poll"), FOREIGN);
        let all: u32 = CLASSES.iter().map(|(_, b)| b).fold(0, |a, b| a | b);
        assert_eq!(all, 0x3fff);
    }

    #[test]
    fn silence_thresholds_follow_upstream() {
        use log::Level::*;
        // silence_log = 1: INFO and up reach syslog, DEBUG does not.
        assert!(passes_silence(Info, 1) && !passes_silence(Debug, 1));
        // silence_log = 3: only ERROR.
        assert!(passes_silence(Error, 3) && !passes_silence(Warn, 3));
        // silence_log = 4: nothing at all.
        assert!(!passes_silence(Error, 4));
        // silence_log = 0: DEBUG too.
        assert!(passes_silence(Debug, 0));
    }

    #[test]
    fn timestamp_is_hh_mm_ss_millis() {
        let t = timestamp();
        assert_eq!(t.len(), 12, "{t}");
        assert_eq!(&t[2..3], ":");
        assert_eq!(&t[8..9], ".");
    }
}
