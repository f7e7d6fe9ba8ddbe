//! plugin_stats: statistics of RTP streams, calls and clients, to syslog
//! and/or a file, periodically and on SIGUSR1.
//!
//! Mirrors plugin_stats.c: stage TIMER; keys `plugin_stats_to_syslog` and
//! `plugin_stats_to_file` (0 = off, -1 = only on SIGUSR1, n > 0 = every n
//! seconds and on SIGUSR1) and `plugin_stats_filename`. With both off it only
//! warns `Plugin_stats loaded but not enabled in config.` The syslog line is
//! `STATS: <n> active Streams, <n> active Calls, <n> active Clients, <n>
//! registered Clients` (INFO); the file is rewritten with a `Date:` / `PID:`
//! header, a summary and one `Data;<client-id>;<call-id>;<call
//! direction>;<stream direction>;<local ip>;<remote ip>` line per stream,
//! sorted by client, Call-ID and stream number.
//!
//! Differs (fixes): SIGUSR1 is the daemon's (its status line); this plugin
//! reads the daemon's SIGUSR1 count (ABI 1.1 `status_requests`) at each tick
//! instead of installing its own handler, and dumps to the enabled targets
//! only (upstream also tried the disabled ones). Calls and clients are
//! counted as distinct Call-IDs and client IDs (upstream counted 0 calls and
//! 0 clients for a single stream); registered clients are the unexpired
//! registrations. Each target keeps its own period. The file is written by a
//! helper thread, so the SIP thread never waits for the disk; a missing
//! `plugin_stats_filename` is reported at init. Needs ABI 1.1.

use spx::{Direction, Host, Logger, Msg, Plugin, RtpStream, Stage, Verdict};
use spxutil::{call_id_parts, config_int};
use std::collections::BTreeSet;
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The counters of one dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Summary {
    streams: usize,
    calls: usize,
    clients: usize,
    registered: usize,
}

struct Writer {
    jobs: Sender<String>,
    thread: JoinHandle<()>,
}

pub struct Stats {
    to_syslog: i64,
    to_file: i64,
    last_syslog_ms: Option<u64>,
    last_file_ms: Option<u64>,
    seen_requests: u64,
    writer: Option<Writer>,
    file_failed: Arc<AtomicBool>,
}

fn spawn_writer(path: String, log: Logger, failed: Arc<AtomicBool>) -> Option<Writer> {
    let (jobs, queue) = channel::<String>();
    let thread = std::thread::Builder::new()
        .name("plugin_stats-file".into())
        .spawn(move || {
            for text in queue {
                let write = || std::fs::write(&path, text.as_bytes());
                // Mirrors plugin_stats.c: on failure unlink and try once more.
                if write().is_err() && (std::fs::remove_file(&path).is_err() || write().is_err()) {
                    log.error("unable to write statistics file, disabling statistics");
                    failed.store(true, Ordering::Relaxed);
                    return;
                }
            }
        })
        .ok()?;
    Some(Writer { jobs, thread })
}

impl Plugin for Stats {
    const NAME: &'static CStr = c"plugin_stats";
    const DESCRIPTION: &'static CStr = c"RTP, call and client statistics";
    const STAGES: u32 = Stage::Timer.bit();
    const ABI_MINOR: u16 = 1;

    fn init(host: &Host) -> Result<Self, String> {
        let to_syslog = config_int(host.plugin_config("to_syslog").as_deref(), 0);
        let mut to_file = config_int(host.plugin_config("to_file").as_deref(), 0);
        let file_failed = Arc::new(AtomicBool::new(false));
        let mut writer = None;
        if to_file != 0 {
            match host
                .plugin_config("filename")
                .filter(|f| !f.trim().is_empty())
            {
                Some(path) => {
                    writer =
                        spawn_writer(path.trim().to_string(), host.logger(), file_failed.clone());
                }
                None => {
                    host.error("no statistics file name given, disabling statistics");
                    to_file = 0;
                }
            }
        }
        if to_syslog == 0 && to_file == 0 {
            host.warn("Plugin_stats loaded but not enabled in config.");
        } else {
            host.info("plugin_stats is initialized and armed");
        }
        Ok(Stats {
            to_syslog,
            to_file,
            last_syslog_ms: None,
            last_file_ms: None,
            seen_requests: host.status_requests(),
            writer,
            file_failed,
        })
    }

    fn process(&mut self, host: &Host, _stage: Stage, _msg: Option<&mut Msg<'_>>) -> Verdict {
        self.tick(host);
        Verdict::Continue
    }

    fn fini(&mut self, host: &Host) {
        if let Some(writer) = self.writer.take() {
            drop(writer.jobs);
            let _ = writer.thread.join();
        }
        host.info("plugin_stats ends here");
    }
}

/// True when a periodic target is due (and restarts its period).
fn due(last: &mut Option<u64>, now: u64, every_s: i64) -> bool {
    let start = *last.get_or_insert(now);
    let period_ms = u64::try_from(every_s).unwrap_or(0).saturating_mul(1000);
    if every_s > 0 && now.saturating_sub(start) > period_ms {
        *last = Some(now);
        return true;
    }
    false
}

impl Stats {
    fn tick(&mut self, host: &Host) {
        if self.file_failed.load(Ordering::Relaxed) {
            self.to_file = 0;
            self.writer = None;
        }
        if self.to_syslog == 0 && self.to_file == 0 {
            return;
        }
        let now = host.now_ms();
        let requests = host.status_requests();
        let usr1 = requests != self.seen_requests;
        self.seen_requests = requests;
        let syslog =
            due(&mut self.last_syslog_ms, now, self.to_syslog) || (usr1 && self.to_syslog != 0);
        let file = due(&mut self.last_file_ms, now, self.to_file) || (usr1 && self.to_file != 0);
        if !syslog && !file {
            return;
        }
        let mut streams = host.rtp_streams();
        sort_streams(&mut streams);
        let registered = host
            .registrations()
            .iter()
            .filter(|r| r.expires_ms > now)
            .count();
        let summary = summarize(&streams, registered);
        if syslog {
            host.info(&syslog_line(&summary));
        }
        if let (true, Some(writer)) = (file, &self.writer) {
            let text = file_text(&summary, &streams, &local_asctime(), std::process::id());
            if writer.jobs.send(text).is_err() {
                self.to_file = 0;
            }
        }
    }
}

/// Sorted by client, Call-ID host, Call-ID number, stream number (plugin_stats.c).
fn sort_streams(streams: &mut [RtpStream]) {
    streams.sort_by(|a, b| {
        let (a_num, a_host) = call_id_parts(&a.call_id);
        let (b_num, b_host) = call_id_parts(&b.call_id);
        (&a.client_id, a_host, a_num, a.media_stream_no).cmp(&(
            &b.client_id,
            b_host,
            b_num,
            b.media_stream_no,
        ))
    });
}

fn summarize(streams: &[RtpStream], registered: usize) -> Summary {
    let calls: BTreeSet<&str> = streams.iter().map(|s| s.call_id.as_str()).collect();
    let clients: BTreeSet<&str> = streams.iter().map(|s| s.client_id.as_str()).collect();
    Summary {
        streams: streams.len(),
        calls: calls.len(),
        clients: clients.len(),
        registered,
    }
}

fn syslog_line(s: &Summary) -> String {
    format!(
        "STATS: {} active Streams, {} active Calls, {} active Clients, {} registered Clients",
        s.streams, s.calls, s.clients, s.registered
    )
}

fn direction(d: Direction) -> &'static str {
    if d == Direction::RequestIncoming {
        "Incoming"
    } else {
        "Outgoing"
    }
}

/// The statistics file (plugin_stats.c `stats_to_file`); `date` is an
/// `asctime` string with its newline.
fn file_text(s: &Summary, streams: &[RtpStream], date: &str, pid: u32) -> String {
    let mut out = format!("Date: {date}PID:  {pid}\n");
    out += "\nSummary\n-------\n";
    out += &format!("registered Clients: {:6}\n", s.registered);
    out += &format!("active Clients:     {:6}\n", s.clients);
    out += &format!("active Calls:       {:6}\n", s.calls);
    out += &format!("active Streams:     {:6}\n", s.streams);
    out += "\nRTP-Details\n-----------\n";
    out += "Header; Client-Id; Call-Id; Call Direction; Stream Direction; local IP; remote IP\n";
    let ip = |a: Option<std::net::SocketAddr>| {
        a.map_or_else(|| "0.0.0.0".to_string(), |a| a.ip().to_string())
    };
    for st in streams {
        out += &format!(
            "Data;{};{};{};{};{};{}\n",
            st.client_id,
            st.call_id,
            direction(st.call_direction),
            direction(st.stream_direction),
            ip(st.local),
            ip(st.remote)
        );
    }
    out
}

/// `asctime(localtime(now))`: `Mon Nov 23 11:40:00 2026\n`.
fn local_asctime() -> String {
    // SAFETY: `time(NULL)` only reads the clock.
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    // SAFETY: an all-zero `tm` is a valid value to be overwritten.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is thread-safe.
    if unsafe { libc::localtime_r(&now, &mut tm) }.is_null() {
        return "?\n".to_string();
    }
    asctime(&tm)
}

fn asctime(tm: &libc::tm) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let name = |names: &[&'static str], i: libc::c_int| {
        usize::try_from(i)
            .ok()
            .and_then(|i| names.get(i).copied())
            .unwrap_or("???")
    };
    format!(
        "{} {}{:3} {:02}:{:02}:{:02} {}\n",
        name(&DAYS, tm.tm_wday),
        name(&MONTHS, tm.tm_mon),
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        i64::from(tm.tm_year) + 1900
    )
}

spx::declare_plugin!(Stats);

#[cfg(test)]
mod tests {
    use super::*;
    use spx::testing::Harness;
    use spx::Registration;

    fn stream(client: &str, call: &str, call_dir: Direction, dir: Direction, no: u32) -> RtpStream {
        RtpStream {
            client_id: client.into(),
            call_id: call.into(),
            call_direction: call_dir,
            stream_direction: dir,
            media_stream_no: no,
            local: "192.168.1.1:7070".parse().ok(),
            remote: "198.51.100.7:40000".parse().ok(),
        }
    }

    fn load(plugin: &Harness<Stats>) {
        use Direction::{RequestIncoming as In, RequestOutgoing as Out};
        plugin.host().rtp_streams.borrow_mut().extend([
            stream("phone-b", "xyz@10.0.0.2", Out, In, 1),
            stream("phone-a", "abc@10.0.0.1", In, Out, 2),
            stream("phone-a", "abc@10.0.0.1", In, In, 1),
        ]);
        for (aor, expires_ms) in [
            ("sip:a@x", 100_000_000),
            ("sip:b@x", 100_000_000),
            ("sip:c@x", 1),
        ] {
            plugin.host().registrations.borrow_mut().push(Registration {
                aor: aor.into(),
                contact: String::new(),
                masq: String::new(),
                expires_ms,
            });
        }
    }

    fn tick(plugin: &mut Harness<Stats>, now_ms: u64) -> Vec<String> {
        plugin.host().now_ms.set(now_ms);
        plugin.process(Stage::Timer, None);
        plugin.logs()
    }

    const LINE: &str =
        "INFO STATS: 3 active Streams, 2 active Calls, 2 active Clients, 2 registered Clients";

    #[test]
    fn syslog_every_period_and_on_sigusr1() {
        let mut plugin = Harness::<Stats>::init(&[("plugin_stats_to_syslog", "300")]).unwrap();
        assert_eq!(
            plugin.logs(),
            ["INFO plugin_stats is initialized and armed"]
        );
        load(&plugin);
        assert!(
            tick(&mut plugin, 5_000).is_empty(),
            "first tick starts the period"
        );
        assert!(tick(&mut plugin, 305_000).is_empty());
        assert_eq!(tick(&mut plugin, 305_001), [LINE]);
        assert!(tick(&mut plugin, 310_000).is_empty());
        plugin.host().status_requests.set(1);
        assert_eq!(tick(&mut plugin, 315_000), [LINE]);
        assert!(tick(&mut plugin, 320_000).is_empty());
    }

    #[test]
    fn minus_one_means_only_on_sigusr1() {
        let mut plugin = Harness::<Stats>::init(&[("plugin_stats_to_syslog", "-1")]).unwrap();
        load(&plugin);
        plugin.logs();
        assert!(tick(&mut plugin, 5_000).is_empty());
        assert!(tick(&mut plugin, 10_000_000).is_empty());
        plugin.host().status_requests.set(3);
        assert_eq!(tick(&mut plugin, 10_005_000), [LINE]);
    }

    #[test]
    fn disabled_and_misconfigured_targets_are_reported() {
        let plugin = Harness::<Stats>::init(&[]).unwrap();
        assert_eq!(
            plugin.logs(),
            ["WARN Plugin_stats loaded but not enabled in config."]
        );
        let plugin = Harness::<Stats>::init(&[("plugin_stats_to_file", "60")]).unwrap();
        assert_eq!(
            plugin.logs(),
            [
                "ERROR no statistics file name given, disabling statistics",
                "WARN Plugin_stats loaded but not enabled in config."
            ]
        );
    }

    #[test]
    fn the_file_has_upstreams_layout() {
        let path = std::env::temp_dir().join(format!("plugin_stats-{}.txt", std::process::id()));
        let file = path.display().to_string();
        let mut plugin = Harness::<Stats>::init(&[
            ("plugin_stats_to_file", "-1"),
            ("plugin_stats_filename", &file),
        ])
        .unwrap();
        load(&plugin);
        plugin.host().status_requests.set(1);
        tick(&mut plugin, 1_000);
        plugin.fini();
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let (head, rest) = text.split_once('\n').unwrap();
        assert!(
            head.starts_with("Date: ") && head.len() == "Date: Mon Nov 23 11:40:00 2026".len(),
            "{head}"
        );
        assert_eq!(
            rest,
            format!(
                "PID:  {}\n\nSummary\n-------\n\
                 registered Clients:      2\nactive Clients:          2\n\
                 active Calls:            2\nactive Streams:          3\n\n\
                 RTP-Details\n-----------\n\
                 Header; Client-Id; Call-Id; Call Direction; Stream Direction; local IP; remote IP\n\
                 Data;phone-a;abc@10.0.0.1;Incoming;Incoming;192.168.1.1;198.51.100.7\n\
                 Data;phone-a;abc@10.0.0.1;Incoming;Outgoing;192.168.1.1;198.51.100.7\n\
                 Data;phone-b;xyz@10.0.0.2;Outgoing;Incoming;192.168.1.1;198.51.100.7\n",
                std::process::id()
            )
        );
    }

    #[test]
    fn an_unwritable_file_disables_file_output() {
        let mut plugin = Harness::<Stats>::init(&[
            ("plugin_stats_to_file", "-1"),
            ("plugin_stats_filename", "/nonexistent-dir/stats"),
        ])
        .unwrap();
        plugin.host().status_requests.set(1);
        plugin.host().now_ms.set(1_000);
        plugin.process(Stage::Timer, None);
        // fini joins the writer thread, so its ERROR is logged by then.
        let logs = plugin.fini();
        assert!(
            logs.contains(
                &"ERROR unable to write statistics file, disabling statistics".to_string()
            ),
            "{logs:?}"
        );
    }

    #[test]
    fn asctime_is_c_asctime() {
        // SAFETY: an all-zero `tm` is valid.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        (tm.tm_wday, tm.tm_mon, tm.tm_mday, tm.tm_year) = (1, 10, 3, 126);
        (tm.tm_hour, tm.tm_min, tm.tm_sec) = (9, 5, 7);
        assert_eq!(asctime(&tm), "Mon Nov  3 09:05:07 2026\n");
    }
}
