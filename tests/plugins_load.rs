//! Every bundled plugin crate (plugins/<name>, package `plugin_<name>`) is
//! built, installed into a temporary plugindir as `plugin_<name>.so` by
//! tools/install-plugins.sh, and loaded by the daemon's loader with the
//! `load_plugin` lines and plugin keys of upstream's siproxd.conf.example
//! (../shared/compat/, beside the repository), read by the daemon's own
//! config reader. The example's commented-out `#load_plugin=` and
//! `#plugin_…=` lines are switched on, so that every upstream plugin named
//! there is loaded with the example's settings.

use siproxd::plugin::host::{fini_all, load_all, LoadedPlugin};
use siproxd::plugin::{
    HostContext, HostState, Interface, LoadRefusal, LogSink, Registration, RtpStream, Ticket,
};
use spx::{Direction, HostError, LogLevel, Stage, Transport, Verdict};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The sixteen plugins upstream ships, in the example's load order.
const UPSTREAM: [&str; 16] = [
    "plugin_demo",
    "plugin_shortdial",
    "plugin_logcall",
    "plugin_defaulttarget",
    "plugin_fix_bogus_via",
    "plugin_fix_DTAG",
    "plugin_stun",
    "plugin_prefix",
    "plugin_regex",
    "plugin_regex_body",
    "plugin_stripheader",
    "plugin_codecfilter",
    "plugin_siptrunk",
    "plugin_fix_fbox_anoncall",
    "plugin_stats",
    "plugin_blacklist",
];

/// Package names of the plugin crates under plugins/.
fn plugin_packages() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("plugins"))
        .unwrap()
        .flatten()
        .filter_map(|dir| std::fs::read_to_string(dir.path().join("Cargo.toml")).ok())
        .filter_map(|toml| {
            toml.lines()
                .find_map(|l| l.strip_prefix("name = \"plugin_"))
                .map(|rest| format!("plugin_{}", rest.trim_end_matches('"')))
        })
        .collect();
    names.sort();
    names
}

/// Builds every plugin crate once (own target dir: the outer cargo holds
/// the lock on ours) and installs them with tools/install-plugins.sh.
fn installed() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugins-target");
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["build", "--quiet", "--offline", "--target-dir"]);
        // No debug info: the libraries are copied once per test.
        cargo
            .arg(&target)
            .current_dir(ROOT)
            .env("CARGO_PROFILE_DEV_DEBUG", "0");
        for package in plugin_packages() {
            cargo.args(["-p", &package]);
        }
        assert!(
            cargo.status().unwrap().success(),
            "building the plugins failed"
        );
        remove_stale_installs();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("plugins-installed-{}", std::process::id()));
        let status = Command::new("sh")
            .arg(Path::new(ROOT).join("tools/install-plugins.sh"))
            .arg("-t")
            .arg(&target)
            .args(["-p", "debug"])
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "tools/install-plugins.sh failed");
        dir
    })
}

/// A private copy of the installed plugins named in `config`: `dlopen`
/// maps a file once per process (by inode, so links would not do), and
/// plugin state is global, so each test gets its own files.
fn plugindir(test: &str, config: &siproxd::config::Config) -> String {
    let dir = installed().join(test);
    std::fs::create_dir_all(&dir).unwrap();
    for name in &config.load_plugin {
        let file = format!(
            "{}.so",
            name.trim_end_matches(".la").trim_end_matches(".so")
        );
        let from = installed().join(&file);
        if from.exists() {
            std::fs::copy(from, dir.join(&file)).unwrap();
        }
    }
    format!("{}/", dir.display())
}

/// Removes install dirs of earlier test runs (their process is gone).
fn remove_stale_installs() {
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("plugins-installed-") else {
            continue;
        };
        let alive = Path::new("/proc").join(pid).exists() || !Path::new("/proc/self").exists();
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The example config with its plugin lines switched on, `edit` applied to
/// each line, read by the daemon's config reader.
fn example_config(test: &str, edit: impl Fn(&str) -> String) -> siproxd::config::Config {
    let example = Path::new(ROOT).join("../shared/compat/siproxd.conf.example");
    let text = std::fs::read_to_string(&example)
        .unwrap_or_else(|e| panic!("{} is needed beside the repo: {e}", example.display()));
    let on: String = text
        .lines()
        .map(|line| {
            let uncommented = line.trim_start_matches('#').trim_start();
            let is_plugin_line =
                uncommented.starts_with("load_plugin") || uncommented.starts_with("plugin_");
            let line = if line.starts_with('#') && is_plugin_line && uncommented.contains('=') {
                uncommented
            } else {
                line
            };
            edit(line) + "\n"
        })
        .collect();
    let file = installed().join(format!("{test}.conf"));
    std::fs::write(&file, on).unwrap();
    siproxd::config::load(&file).unwrap().config
}

type Lines = Arc<Mutex<Vec<String>>>;

fn load(
    test: &str,
    config: &siproxd::config::Config,
) -> (Vec<LoadedPlugin>, Vec<LoadRefusal>, Lines) {
    let (loaded, refused, lines, _) = load_with(test, config, None);
    (loaded, refused, lines)
}

/// As `load`, with daemon state for the ABI 1.1 calls; also returns the context.
fn load_with(
    test: &str,
    config: &siproxd::config::Config,
    state: Option<Arc<dyn HostState>>,
) -> (Vec<LoadedPlugin>, Vec<LoadRefusal>, Lines, HostContext) {
    let lines: Lines = Arc::default();
    let sink_lines = lines.clone();
    let sink: LogSink = Arc::new(move |name: &str, level: LogLevel, line: &str| {
        sink_lines
            .lock()
            .unwrap()
            .push(format!("{name} {level:?}: {line}"));
    });
    let keys = config
        .plugins
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect();
    let mut ctx = HostContext::new(keys).with_log_sink(sink);
    if let Some(state) = state {
        ctx = ctx.with_state(state);
    }
    let (loaded, refused) = load_all(&plugindir(test, config), &config.load_plugin, &ctx);
    (loaded, refused, lines, ctx)
}

/// The example config (plugin lines on), loading only `names`.
fn only(test: &str, names: &[&str]) -> siproxd::config::Config {
    siproxd::config::Config {
        load_plugin: names.iter().map(|n| format!("{n}.la")).collect(),
        ..example_config(test, str::to_string)
    }
}

fn names(loaded: &[LoadedPlugin]) -> Vec<&str> {
    loaded.iter().map(LoadedPlugin::name).collect()
}

fn short(refusal: &LoadRefusal) -> String {
    format!("{}: {}", refusal.name, refusal.reason)
}

#[test]
fn every_upstream_plugin_has_a_crate() {
    let mut expected: Vec<String> = UPSTREAM.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(plugin_packages(), expected);
}

#[test]
fn the_example_config_names_every_upstream_plugin() {
    let config = example_config("names", str::to_string);
    let listed: Vec<String> = config
        .load_plugin
        .iter()
        .map(|n| n.trim_end_matches(".la").to_string())
        .collect();
    assert_eq!(listed, UPSTREAM);
    assert_eq!(config.plugindir.as_deref(), Some("/usr/lib/siproxd/"));
}

#[test]
fn every_upstream_plugin_of_the_example_loads_and_inits() {
    let config = example_config("example", |line| {
        // The example's database path is a system path; use a writable one.
        if line.starts_with("plugin_blacklist_dbpath") {
            let db = installed().join("example-blacklist.sqlite");
            format!("plugin_blacklist_dbpath = {}", db.display())
        } else {
            line.to_string()
        }
    });
    let (loaded, refused, lines) = load("example", &config);
    let mut expected: Vec<&str> = UPSTREAM.to_vec();
    expected.retain(|n| *n != "plugin_defaulttarget");
    assert_eq!(names(&loaded), expected);
    // The example's target is a placeholder with a non-numeric port: refused
    // on purpose (a 302 to it would send every unknown call nowhere).
    assert_eq!(
        refused.iter().map(short).collect::<Vec<_>>(),
        ["plugin_defaulttarget.la: plugin_defaulttarget: init failed (returned -1)"]
    );
    let lines = lines.lock().unwrap().clone();
    assert!(
        lines.contains(
            &"plugin_defaulttarget Error: init failed: Illegal default target \
              [sip:internal@dddd:port] - port 'port' is not a number"
                .to_string()
        ),
        "{lines:#?}"
    );
    for loaded in &loaded {
        assert!(!loaded.is_disabled(), "{}", loaded.name());
    }
    fini_all(loaded);
}

#[test]
fn defaulttarget_loads_with_a_real_target() {
    let config = example_config("defaulttarget", |line| {
        line.replace("sip:internal@dddd:port", "sip:internal@192.168.1.10:5060")
    });
    let names_only: Vec<String> = vec!["plugin_defaulttarget.la".into()];
    let config = siproxd::config::Config {
        load_plugin: names_only,
        ..config
    };
    let (loaded, refused, _) = load("defaulttarget", &config);
    assert_eq!(names(&loaded), ["plugin_defaulttarget"]);
    assert!(refused.is_empty(), "{refused:?}");
    fini_all(loaded);
}

// ------------------------------------------- through the daemon's host table

/// Daemon state for the ABI 1.1 calls.
struct State {
    registrations: Vec<Registration>,
    streams: Vec<RtpStream>,
}

impl HostState for State {
    fn registration(&self, index: usize) -> Option<Registration> {
        self.registrations.get(index).cloned()
    }
    fn rtp_stream(&self, index: usize) -> Option<RtpStream> {
        self.streams.get(index).cloned()
    }
}

/// A parsed message as the proxy core lends it to the plugins.
struct TestTicket {
    request: bool,
    method: Vec<u8>,
    status: u16,
    uri: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    direction: Direction,
    source: SocketAddr,
    next_hop: Option<SocketAddr>,
    replies: Vec<(u16, Vec<(String, String)>)>,
    own_via: &'static str,
}

impl TestTicket {
    fn parse(text: &str, direction: Direction, source: &str) -> TestTicket {
        let mut lines = text.split("\r\n").take_while(|l| !l.is_empty());
        let start: Vec<&str> = lines.next().unwrap().splitn(3, ' ').collect();
        let request = start[0] != "SIP/2.0";
        TestTicket {
            request,
            method: if request { start[0].into() } else { Vec::new() },
            status: if request {
                0
            } else {
                start[1].parse().unwrap()
            },
            uri: if request { start[1].into() } else { Vec::new() },
            headers: lines
                .map(|l| {
                    let (n, v) = l.split_once(':').unwrap();
                    (n.trim().to_string(), v.trim().as_bytes().to_vec())
                })
                .collect(),
            direction,
            source: source.parse().unwrap(),
            next_hop: None,
            replies: Vec::new(),
            own_via: "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKown",
        }
    }

    fn positions(&self, name: &[u8]) -> Vec<usize> {
        let name = String::from_utf8_lossy(name);
        (0..self.headers.len())
            .filter(|&i| self.headers[i].0.eq_ignore_ascii_case(&name))
            .collect()
    }

    fn values(&self, name: &str) -> Vec<String> {
        self.positions(name.as_bytes())
            .into_iter()
            .map(|i| String::from_utf8_lossy(&self.headers[i].1).into_owned())
            .collect()
    }
}

impl Ticket for TestTicket {
    fn is_request(&self) -> Option<bool> {
        Some(self.request)
    }
    fn method(&self) -> Result<&[u8], HostError> {
        if self.request {
            Ok(&self.method)
        } else {
            Err(HostError::NotFound)
        }
    }
    fn status(&self) -> u16 {
        self.status
    }
    fn direction(&self) -> Direction {
        self.direction
    }
    fn transport(&self) -> Transport {
        Transport::Udp
    }
    fn source(&self) -> SocketAddr {
        self.source
    }
    fn raw(&self) -> &[u8] {
        b""
    }
    fn request_uri(&self) -> Result<&[u8], HostError> {
        Ok(&self.uri)
    }
    fn header_count(&self, name: &[u8]) -> usize {
        self.positions(name).len()
    }
    fn header(&self, name: &[u8], index: usize) -> Result<&[u8], HostError> {
        let at = *self.positions(name).get(index).ok_or(HostError::NotFound)?;
        Ok(&self.headers[at].1)
    }
    fn body(&self) -> &[u8] {
        b""
    }
    fn set_request_uri(&mut self, uri: &[u8]) -> Result<(), HostError> {
        self.uri = uri.to_vec();
        Ok(())
    }
    fn set_header(&mut self, name: &[u8], index: usize, value: &[u8]) -> Result<(), HostError> {
        let at = *self.positions(name).get(index).ok_or(HostError::NotFound)?;
        self.headers[at].1 = value.to_vec();
        Ok(())
    }
    fn insert_header(&mut self, name: &[u8], before: usize, value: &[u8]) -> Result<(), HostError> {
        let at = self.positions(name).get(before).copied();
        let at = at.unwrap_or(self.headers.len());
        let name = String::from_utf8_lossy(name).into_owned();
        self.headers.insert(at, (name, value.to_vec()));
        Ok(())
    }
    fn remove_header(&mut self, name: &[u8], index: usize) -> Result<(), HostError> {
        let at = *self.positions(name).get(index).ok_or(HostError::NotFound)?;
        self.headers.remove(at);
        Ok(())
    }
    fn set_body(&mut self, _: &[u8]) -> Result<(), HostError> {
        Err(HostError::NoMemory)
    }
    fn set_next_hop(&mut self, to: SocketAddr) -> Result<(), HostError> {
        self.next_hop = Some(to);
        Ok(())
    }
    fn set_direction(&mut self, direction: Direction) -> Result<(), HostError> {
        self.direction = direction;
        Ok(())
    }
    fn reply(
        &mut self,
        code: u16,
        _: Option<&[u8]>,
        extra: &[(&[u8], &[u8])],
    ) -> Result<(), HostError> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let extra = extra.iter().map(|(n, v)| (text(n), text(v))).collect();
        self.replies.push((code, extra));
        Ok(())
    }
    fn add_own_via(&mut self, interface: Interface) -> Result<(), HostError> {
        assert_eq!(interface, Interface::Outbound);
        self.headers
            .insert(0, ("Via".into(), self.own_via.as_bytes().to_vec()));
        Ok(())
    }
}

fn registration(aor: &str, contact: &str) -> Registration {
    Registration {
        aor: aor.into(),
        contact: contact.into(),
        masq: "sip:user@198.51.100.1".into(),
        expires_at: Instant::now() + Duration::from_secs(3600),
    }
}

#[test]
fn shortdial_answers_302_through_the_daemon_host() {
    let (mut loaded, _, _, _) =
        load_with("shortdial", &only("shortdial", &["plugin_shortdial"]), None);
    let mut invite = TestTicket::parse(
        "INVITE sip:*01@sip.example.org SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10;branch=z9hG4bK1\r\n\
         From: <sip:alice@sip.example.org>;tag=1\r\nTo: <sip:*01@sip.example.org>\r\n\
         Call-ID: c1\r\nCSeq: 1 INVITE\r\n\r\n",
        Direction::RequestOutgoing,
        "192.168.1.10:5060",
    );
    let verdict = loaded[0].process(Stage::DetermineTarget, Some(&mut invite));
    assert_eq!(verdict, Verdict::SipSent);
    assert_eq!(
        invite.replies,
        [(
            302,
            vec![(
                "Contact".to_string(),
                "<sip:17474743246@sip.example.org>".to_string()
            )]
        )]
    );
    fini_all(loaded);
}

#[test]
fn abi_1_1_registrations_route_a_siptrunk_call() {
    let state = State {
        registrations: vec![
            registration("sip:other@sip.example.org", "sip:other@192.168.1.11"),
            registration("sip:user@sip.example.org", "sip:user@192.168.1.10:5062"),
        ],
        streams: Vec::new(),
    };
    let config = only("siptrunk", &["plugin_siptrunk"]);
    let (mut loaded, refused, _, _) = load_with("siptrunk", &config, Some(Arc::new(state)));
    assert!(refused.is_empty(), "{refused:?}");
    let mut invite = TestTicket::parse(
        "INVITE sip:555123105@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.1;branch=z9hG4bK1\r\n\
         From: <sip:caller@provider.example>;tag=1\r\nTo: <sip:555123105@sip.example.org>\r\n\
         Call-ID: t1\r\nCSeq: 1 INVITE\r\n\r\n",
        Direction::Unknown,
        "203.0.113.1:5060",
    );
    assert_eq!(
        loaded[0].process(Stage::PreProxy, Some(&mut invite)),
        Verdict::Continue
    );
    assert_eq!(invite.direction, Direction::RequestIncoming);
    assert_eq!(invite.next_hop, Some("192.168.1.10:5062".parse().unwrap()));
    fini_all(loaded);
}

#[test]
fn abi_1_1_streams_and_sigusr1_reach_plugin_stats() {
    let stream = |client: &str, call: &str, no| RtpStream {
        client_id: client.into(),
        call_id: call.into(),
        call_direction: Direction::RequestOutgoing,
        stream_direction: Direction::RequestIncoming,
        media_stream_no: no,
        local: "192.168.1.1:7070".parse().unwrap(),
        remote: "198.51.100.7:40000".parse().unwrap(),
    };
    let state = State {
        registrations: vec![registration(
            "sip:user@sip.example.org",
            "sip:user@192.168.1.10",
        )],
        streams: vec![stream("phone", "a@h", 1), stream("phone", "a@h", 2)],
    };
    let config = siproxd::config::Config {
        load_plugin: vec!["plugin_stats.la".into()],
        ..example_config("stats", |line| match line {
            l if l.starts_with("plugin_stats_to_syslog") => "plugin_stats_to_syslog = -1".into(),
            l if l.starts_with("plugin_stats_to_file") => "plugin_stats_to_file = 0".into(),
            l => l.to_string(),
        })
    };
    let (mut loaded, refused, lines, ctx) = load_with("stats", &config, Some(Arc::new(state)));
    assert!(refused.is_empty(), "{refused:?}");
    lines.lock().unwrap().clear();
    loaded[0].process(Stage::Timer, None);
    assert!(lines.lock().unwrap().is_empty(), "-1: only on SIGUSR1");
    ctx.note_status_request();
    loaded[0].process(Stage::Timer, None);
    assert_eq!(
        lines.lock().unwrap().clone(),
        [
            "plugin_stats Info: STATS: 2 active Streams, 1 active Calls, 1 active Clients, \
          1 registered Clients"
        ]
    );
    fini_all(loaded);
}

#[test]
fn abi_1_1_own_via_replaces_the_broken_dtag_via() {
    let (mut loaded, refused, _, _) = load_with("dtag", &only("dtag", &["plugin_fix_DTAG"]), None);
    assert!(refused.is_empty(), "{refused:?}");
    let mut response = TestTicket::parse(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 217.0.23.100:5060;branch=z9hG4bKown\r\n\
         Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKphone\r\nCall-ID: x\r\n\
         CSeq: 1 INVITE\r\n\r\n",
        Direction::ResponseIncoming,
        "217.0.23.100:5060",
    );
    assert_eq!(
        loaded[0].process(Stage::PreProxy, Some(&mut response)),
        Verdict::Continue
    );
    assert_eq!(
        response.values("Via"),
        [
            "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKown",
            "SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKphone"
        ]
    );
    fini_all(loaded);
}
