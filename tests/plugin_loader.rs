//! The plugin loader against real shared objects: C fixtures from
//! tests/fixtures/plugins and plugins/c-example built with `cc`, and the Rust
//! SDK example built with cargo. Every refusal message is asserted exactly.

use siproxd::plugin::host::{fini_all, load_all, LoadedPlugin};
use siproxd::plugin::{HostAction, HostContext, LoadRefusal, LogSink, Ticket};
use spx::{Direction, HostError, LogLevel, Stage, Transport, Verdict};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

// ------------------------------------------------------------- building fixtures

fn cc(source: &str, out: &Path, defines: &[&str]) {
    let status = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .args(["-fPIC", "-shared", "-fvisibility=hidden", "-I"])
        .arg(Path::new(ROOT).join("plugin-api/include"))
        .args(defines)
        .arg(Path::new(ROOT).join(source))
        .arg("-o")
        .arg(out)
        .status()
        .expect("run cc");
    assert!(status.success(), "cc {source} {defines:?} failed");
}

/// Builds the Rust SDK example in its own target dir (the outer cargo holds
/// the lock on ours while tests run).
fn build_rust_example(out: &Path) {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("spx-example-target");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--offline", "-p", "siproxd-plugin-api"])
        .args(["--example", "spx_example", "--target-dir"])
        .arg(&target)
        .current_dir(ROOT)
        .status()
        .expect("run cargo");
    assert!(status.success(), "cargo build --example spx_example failed");
    std::fs::copy(target.join("debug/examples/libspx_example.so"), out).unwrap();
}

/// Every fixture, built once per test run into one directory.
fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        remove_stale_fixtures();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("plugin-fixtures-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fx = "tests/fixtures/plugins/";
        let builds: [(&str, &str, &[&str]); 14] = [
            (
                "verdict42.so",
                "descriptor.c",
                &["-DFIX_NAME=\"plugin_verdict\"", "-DFIX_VERDICT=42"],
            ),
            ("host_calls.so", "host_calls.c", &[]),
            ("no_descriptor.so", "no_descriptor.c", &[]),
            ("plugin_old.so", "upstream_style.c", &[]),
            (
                "plugin_ltx.so",
                "upstream_style.c",
                &["-DLTX_PREFIX=plugin_ltx"],
            ),
            ("plugin_v2.so", "abi_v2.c", &[]),
            (
                "minor_newer.so",
                "descriptor.c",
                &["-DFIX_MINOR=(SPX_ABI_MINOR+1)"],
            ),
            ("truncated.so", "descriptor.c", &["-DFIX_SIZE=24"]),
            (
                "unknown_stages.so",
                "descriptor.c",
                &["-DFIX_STAGES=0x242u"],
            ),
            ("dup_a.so", "descriptor.c", &["-DFIX_NAME=\"plugin_dup\""]),
            ("dup_b.so", "descriptor.c", &["-DFIX_NAME=\"plugin_dup\""]),
            (
                "init_fails.so",
                "descriptor.c",
                &["-DFIX_NAME=\"plugin_initfail\"", "-DFIX_INIT_RC=SPX_ERROR"],
            ),
            (
                "plugin_la.so",
                "descriptor.c",
                &["-DFIX_NAME=\"plugin_la\""],
            ),
            (
                "plugin_c_example.so",
                "../../../plugins/c-example/plugin_c_example.c",
                &[],
            ),
        ];
        for (out, source, defines) in builds {
            cc(&format!("{fx}{source}"), &dir.join(out), defines);
        }
        build_rust_example(&dir.join("plugin_spx_example.so"));
        dir
    })
}

/// Removes fixture dirs of earlier test runs (their process is gone).
fn remove_stale_fixtures() {
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("plugin-fixtures-") else {
            continue;
        };
        let alive = Path::new("/proc").join(pid).exists() || !Path::new("/proc/self").exists();
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A private copy of some fixtures: `dlopen` shares one mapping per file, and
/// plugins keep global state, so parallel tests must not share files.
fn plugindir(test: &str, files: &[&str]) -> String {
    let dir = fixtures().join(test);
    std::fs::create_dir_all(&dir).unwrap();
    for file in files {
        std::fs::copy(fixtures().join(file), dir.join(file)).unwrap();
    }
    format!("{}/", dir.display())
}

// ------------------------------------------------------------- host context

type Lines = Arc<Mutex<Vec<String>>>;

fn context(config: &[(&str, &str)]) -> (HostContext, Lines) {
    let lines: Lines = Arc::default();
    let sink_lines = lines.clone();
    let sink: LogSink = Arc::new(move |name: &str, level: LogLevel, line: &str| {
        sink_lines
            .lock()
            .unwrap()
            .push(format!("{name} {level:?}: {line}"));
    });
    let config = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (HostContext::new(config).with_log_sink(sink), lines)
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn load(
    test: &str,
    files: &[&str],
    load: &[&str],
) -> (Vec<LoadedPlugin>, Vec<LoadRefusal>, Lines, String) {
    let dir = plugindir(test, files);
    let (ctx, lines) = context(&[]);
    let (loaded, refused) = load_all(&dir, &names(load), &ctx);
    (loaded, refused, lines, dir)
}

/// Loads one name expected to be refused; returns the refusal's message.
fn refusal(test: &str, file: &str, name: &str) -> (String, String) {
    let (loaded, refused, _, dir) = load(test, &[file], &[name]);
    assert!(loaded.is_empty(), "{name} was loaded");
    assert_eq!(refused.len(), 1);
    (refused[0].to_string(), dir)
}

// ------------------------------------------------------------- refusals

#[test]
fn a_library_without_descriptor_is_refused() {
    let (msg, dir) = refusal("nodesc", "no_descriptor.so", "no_descriptor.so");
    assert_eq!(
        msg,
        format!(
            "plugin no_descriptor.so not loaded from {dir}no_descriptor.so: not a siproxd-rs \
             plugin: it exports no siproxd_plugin_v1 descriptor"
        )
    );
}

#[test]
fn an_upstream_c_plugin_is_recognised_and_never_run() {
    let (msg, dir) = refusal("upstream", "plugin_old.so", "plugin_old.la");
    assert_eq!(
        msg,
        format!(
            "plugin plugin_old.la not loaded from {dir}plugin_old.so: this is an upstream \
             siproxd C plugin (it exports plugin_init), which cannot run in siproxd-rs; use \
             the built-in replacement plugin_old or rebuild against siproxd_plugin.h"
        )
    );
}

#[test]
fn a_libtool_renamed_upstream_plugin_is_recognised() {
    let (msg, dir) = refusal("ltx", "plugin_ltx.so", "plugin_ltx.so");
    assert_eq!(
        msg,
        format!(
            "plugin plugin_ltx.so not loaded from {dir}plugin_ltx.so: this is an upstream \
             siproxd C plugin (it exports plugin_ltx_LTX_plugin_init), which cannot run in \
             siproxd-rs; use the built-in replacement plugin_ltx or rebuild against \
             siproxd_plugin.h"
        )
    );
}

#[test]
fn an_abi_2_plugin_is_refused_by_major() {
    let (msg, dir) = refusal("v2", "plugin_v2.so", "plugin_v2.so");
    assert_eq!(
        msg,
        format!(
            "plugin plugin_v2.so not loaded from {dir}plugin_v2.so: built for ABI 2, this \
             siproxd speaks ABI 1"
        )
    );
}

#[test]
fn a_newer_minor_is_refused() {
    let (msg, dir) = refusal("minor", "minor_newer.so", "minor_newer.so");
    assert_eq!(
        msg,
        format!(
            "plugin minor_newer.so not loaded from {dir}minor_newer.so: built for ABI 1.2, this \
             siproxd speaks ABI 1.1"
        )
    );
}

#[test]
fn a_truncated_descriptor_is_refused() {
    let (msg, dir) = refusal("trunc", "truncated.so", "truncated.so");
    assert_eq!(
        msg,
        format!(
            "plugin truncated.so not loaded from {dir}truncated.so: truncated descriptor: \
             struct_size is 24, ABI 1.0 needs at least 56"
        )
    );
}

#[test]
fn unknown_stage_bits_are_refused() {
    let (msg, dir) = refusal("stages", "unknown_stages.so", "unknown_stages.so");
    assert_eq!(
        msg,
        format!(
            "plugin unknown_stages.so not loaded from {dir}unknown_stages.so: asks for unknown \
             stage bits 0x202 (ABI 1.0 knows 0x1f9)"
        )
    );
}

#[test]
fn a_missing_file_is_refused_and_the_rest_still_load() {
    let (loaded, refused, _, dir) = load(
        "missing",
        &["plugin_la.so"],
        &["plugin_gone.la", "plugin_la.so"],
    );
    assert_eq!(
        refused[0].to_string(),
        format!("plugin plugin_gone.la not loaded from {dir}plugin_gone.so: no such file")
    );
    assert_eq!(
        loaded.iter().map(LoadedPlugin::name).collect::<Vec<_>>(),
        ["plugin_la"]
    );
    fini_all(loaded);
}

/// The reason carries dlerror's text (libloading's own Display only says
/// "dlopen failed"); the exact text is glibc's.
#[cfg(target_env = "gnu")]
#[test]
fn a_file_that_is_no_shared_object_reports_dlerror() {
    let text = "# plugin_text.la - a libtool library file\ndlname='plugin_text.so.0'\nlibrary_names='plugin_text.so'\n";
    std::fs::write(fixtures().join("plugin_text.so"), text).unwrap();
    let (msg, dir) = refusal("notelf", "plugin_text.so", "plugin_text.so");
    assert_eq!(
        msg,
        format!(
            "plugin plugin_text.so not loaded from {dir}plugin_text.so: dlopen failed: \
             {dir}plugin_text.so: invalid ELF header"
        )
    );
}

#[test]
fn a_duplicate_name_is_refused() {
    let (loaded, refused, _, dir) =
        load("dup", &["dup_a.so", "dup_b.so"], &["dup_a.so", "dup_b.so"]);
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        refused[0].to_string(),
        format!(
            "plugin dup_b.so not loaded from {dir}dup_b.so: a plugin named plugin_dup is \
             already loaded from {dir}dup_a.so"
        )
    );
    fini_all(loaded);
}

#[test]
fn the_same_file_listed_twice_is_loaded_once() {
    let (loaded, refused, lines, dir) = load(
        "twice",
        &["plugin_la.so"],
        &["plugin_la.so", "plugin_la.la"],
    );
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        refused[0].to_string(),
        format!(
            "plugin plugin_la.la not loaded from {dir}plugin_la.so: a plugin named plugin_la is \
             already loaded from {dir}plugin_la.so"
        )
    );
    fini_all(loaded);
    assert_eq!(
        *lines.lock().unwrap(),
        ["plugin_la Info: init", "plugin_la Info: fini"]
    );
}

#[test]
fn a_failing_init_is_refused_and_its_state_finalised() {
    let (loaded, refused, lines, dir) = load("initfail", &["init_fails.so"], &["init_fails.so"]);
    assert!(loaded.is_empty());
    assert_eq!(
        refused[0].to_string(),
        format!("plugin init_fails.so not loaded from {dir}init_fails.so: plugin_initfail: init failed (returned -1)")
    );
    assert_eq!(
        *lines.lock().unwrap(),
        ["plugin_initfail Info: init", "plugin_initfail Info: fini"]
    );
}

#[test]
fn a_la_name_and_a_missing_slash_find_the_so() {
    let dir = plugindir("la", &["plugin_la.so"]);
    let (ctx, _) = context(&[]);
    let (loaded, refused) = load_all(dir.trim_end_matches('/'), &names(&["plugin_la.la"]), &ctx);
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(loaded[0].path(), Path::new(&format!("{dir}plugin_la.so")));
    fini_all(loaded);
}

// ------------------------------------------------------------- good plugins

const GOOD: [&str; 2] = ["plugin_c_example.so", "plugin_spx_example.so"];

#[test]
fn good_plugins_init_with_their_config_and_fini_in_reverse_order() {
    let dir = plugindir("good", &GOOD);
    let (ctx, lines) = context(&[
        ("plugin_c_example_note", "first"),
        ("plugin_spx_example_greeting", "hello"),
        ("plugin_c_example_note", "second"),
        ("plugin_spx_example_greeting", "world"),
    ]);
    let (loaded, refused) = load_all(
        &dir,
        &names(&["plugin_c_example.la", "plugin_spx_example.so"]),
        &ctx,
    );
    assert!(refused.is_empty(), "{refused:?}");
    let info: Vec<(&str, u32)> = loaded.iter().map(|p| (p.name(), p.stages())).collect();
    assert_eq!(
        info,
        [("plugin_c_example", 0x140), ("plugin_spx_example", 0x141)]
    );
    fini_all(loaded);
    assert_eq!(
        *lines.lock().unwrap(),
        [
            "plugin_c_example Info: init: note 0: first",
            "plugin_c_example Info: init: note 1: second",
            "plugin_spx_example Info: init: greeting hello, world",
            "plugin_spx_example Info: init: hello from a plugin thread",
            "plugin_spx_example Info: fini",
            "plugin_c_example Info: fini: tagged 0 requests",
        ]
    );
}

#[test]
fn good_plugins_log_at_pre_proxy_and_tag_at_post_proxy() {
    let dir = plugindir("stages", &GOOD);
    let (ctx, lines) = context(&[("plugin_c_example_value", "c-was-here")]);
    let (mut loaded, _) = load_all(&dir, &names(&GOOD), &ctx);
    let mut invite = FakeTicket::invite();
    for stage in [Stage::PreProxy, Stage::PostProxy] {
        for plugin in &mut loaded {
            assert_eq!(plugin.process(stage, Some(&mut invite)), Verdict::Continue);
        }
    }
    fini_all(loaded);
    let tags: Vec<&(String, Vec<u8>)> = invite.headers.iter().skip(1).collect();
    assert_eq!(
        tags,
        [
            &("X-C-Example".to_string(), b"c-was-here".to_vec()),
            &("X-Spx-Example".to_string(), b"1".to_vec())
        ]
    );
    assert_eq!(
        *lines.lock().unwrap(),
        [
            "plugin_spx_example Info: init: greeting",
            "plugin_spx_example Info: init: hello from a plugin thread",
            "plugin_c_example Info: INVITE sip:600@example.org",
            "plugin_spx_example Info: INVITE sip:600@example.org",
            "plugin_spx_example Info: fini",
            "plugin_c_example Info: fini: tagged 1 requests",
        ]
    );
}

#[test]
fn a_panicking_rust_plugin_is_disabled_and_the_daemon_runs_on() {
    let dir = plugindir("panic", &["plugin_spx_example.so"]);
    let (ctx, lines) = context(&[("plugin_spx_example_panic_on_timer", "yes")]);
    let (mut loaded, _) = load_all(&dir, &names(&["plugin_spx_example.so"]), &ctx);
    let plugin = &mut loaded[0];
    assert_eq!(plugin.process(Stage::Timer, None), Verdict::Error);
    assert!(plugin.is_disabled());
    assert_eq!(plugin.process(Stage::Timer, None), Verdict::Continue);
    fini_all(loaded);
    // The poisoned instance is dropped at fini without running its code again,
    // so there is no "fini" line after the panic.
    assert_eq!(
        lines.lock().unwrap()[2..],
        [
            "plugin_spx_example Error: plugin panicked in TIMER: timer panic as configured; disabled",
            "plugin_spx_example Error: returned SPX_ERROR in TIMER; plugin disabled",
        ]
    );
}

#[test]
fn an_unknown_verdict_is_logged_and_read_as_continue() {
    let dir = plugindir("verdict", &["verdict42.so"]);
    let (ctx, lines) = context(&[]);
    let (mut loaded, _) = load_all(&dir, &names(&["verdict42.so"]), &ctx);
    assert_eq!(loaded[0].process(Stage::Timer, None), Verdict::Continue);
    assert!(!loaded[0].is_disabled());
    fini_all(loaded);
    assert_eq!(
        lines.lock().unwrap()[1..3],
        [
            "plugin_verdict Info: process 0x001 none",
            "plugin_verdict Warn: unknown verdict 42 in TIMER; read as continue",
        ]
    );
}

#[test]
fn only_asked_for_stages_with_the_right_kind_of_message_are_delivered() {
    let dir = plugindir("delivery", &["plugin_la.so"]);
    let (ctx, lines) = context(&[]);
    let (mut loaded, _) = load_all(&dir, &names(&["plugin_la.so"]), &ctx);
    let plugin = &mut loaded[0];
    // The fixture asks for TIMER only.
    assert_eq!(
        plugin.process(Stage::PreProxy, Some(&mut FakeTicket::invite())),
        Verdict::Continue
    );
    // A message at TIMER is a caller bug: logged by the host, not passed on.
    assert_eq!(
        plugin.process(Stage::Timer, Some(&mut FakeTicket::invite())),
        Verdict::Continue
    );
    assert_eq!(plugin.process(Stage::Timer, None), Verdict::Continue);
    fini_all(loaded);
    let want = [
        "plugin_la Info: init",
        "plugin_la Error: TIMER called with a message; skipped",
        "plugin_la Info: process 0x001 none",
        "plugin_la Info: fini",
    ];
    assert_eq!(*lines.lock().unwrap(), want);
}

/// The real host table, called from C: stage rules, argument checks, and
/// the actions and edits it passes on. Expected codes: SPX_E_NOTFOUND -1,
/// SPX_E_INVAL -2, SPX_E_STAGE -3.
#[test]
fn the_host_table_keeps_stage_rules_and_passes_on_edits_and_actions() {
    let dir = plugindir("hostcalls", &["host_calls.so"]);
    let (ctx, lines) = context(&[("plugin_host_calls_x", "1"), ("plugin_host_calls_x", "2")]);
    let (mut loaded, _) = load_all(&dir, &names(&["host_calls.so"]), &ctx);
    let plugin = &mut loaded[0];
    assert_eq!(plugin.process(Stage::Timer, None), Verdict::Continue);
    assert_eq!(
        plugin.take_actions(),
        [
            HostAction::Timer { after_ms: 1500 },
            HostAction::SendRaw {
                to: "192.0.2.1:3478".parse().unwrap(),
                data: b"ping".to_vec()
            },
            HostAction::SetPublicAddr("198.51.100.7:0".parse().unwrap()),
        ]
    );
    let mut datagram = FakeTicket::datagram(b"stun?");
    assert_eq!(
        plugin.process(Stage::ProcessRaw, Some(&mut datagram)),
        Verdict::Drop
    );
    let mut invite = FakeTicket::invite();
    assert_eq!(
        plugin.process(Stage::PreProxy, Some(&mut invite)),
        Verdict::Continue
    );
    assert_eq!(invite.direction, Some(Direction::RequestIncoming));
    assert_eq!(invite.next_hop, Some("203.0.113.9:5070".parse().unwrap()));
    assert!(invite.replies.is_empty());
    let via = invite.headers[0].1.clone();
    assert_eq!(invite.headers[1], ("X-Via".to_string(), via));
    assert_eq!(
        plugin.process(Stage::DetermineTarget, Some(&mut invite)),
        Verdict::SipSent
    );
    let contact = (b"Contact".to_vec(), b"<sip:600@192.168.1.10>".to_vec());
    assert_eq!(
        invite.replies,
        [(302, Some(b"Moved".to_vec()), vec![contact])]
    );
    fini_all(loaded);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        *lines.lock().unwrap(),
        [
            format!("plugin_host_calls Debug: init: version=siproxd-rs {version} size=256 missing=-1 count=2 null_key=-2"),
            "plugin_host_calls Debug: timer: timer=0 send=0 public=0 bad_family=-2".into(),
            "plugin_host_calls Debug: raw: is_request=-1 raw=0:stun? source=0:5060 transport=1 method=-3 uri_set=-3".into(),
            "plugin_host_calls Debug: pre: reply=-3 direction_set=0 bad_direction=-2 next_hop=0 missing=-1 null_name=-2 null_out=-2 status=0 direction=1 copy=0".into(),
            "plugin_host_calls Debug: determine_target: bad_code=-2 reply=0".into(),
        ]
    );
}

// ------------------------------------------------------------- a fake ticket

/// A recorded `reply`: code, reason, extra header fields.
type Reply = (u16, Option<Vec<u8>>, Vec<(Vec<u8>, Vec<u8>)>);

/// A message as the proxy core will lend it: ordered header fields, or a
/// raw datagram only (PROCESS_RAW); edits and replies are recorded.
#[derive(Default)]
struct FakeTicket {
    raw: Option<Vec<u8>>,
    uri: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    direction: Option<Direction>,
    next_hop: Option<SocketAddr>,
    replies: Vec<Reply>,
}

impl FakeTicket {
    fn invite() -> FakeTicket {
        let via = b"SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1".to_vec();
        let headers = vec![("Via".into(), via)];
        FakeTicket {
            uri: b"sip:600@example.org".to_vec(),
            headers,
            ..FakeTicket::default()
        }
    }

    fn datagram(bytes: &[u8]) -> FakeTicket {
        FakeTicket {
            raw: Some(bytes.to_vec()),
            ..FakeTicket::default()
        }
    }

    fn positions(&self, name: &[u8]) -> Vec<usize> {
        let name = String::from_utf8_lossy(name);
        let headers = &self.headers;
        (0..headers.len())
            .filter(|&i| headers[i].0.eq_ignore_ascii_case(&name))
            .collect()
    }
}

impl Ticket for FakeTicket {
    fn is_request(&self) -> Option<bool> {
        self.raw.is_none().then_some(true)
    }
    fn method(&self) -> Result<&[u8], HostError> {
        Ok(b"INVITE")
    }
    fn status(&self) -> u16 {
        0
    }
    fn direction(&self) -> Direction {
        self.direction.unwrap_or(Direction::RequestOutgoing)
    }
    fn transport(&self) -> Transport {
        Transport::Udp
    }
    fn source(&self) -> SocketAddr {
        "192.168.1.20:5060".parse().unwrap()
    }
    fn raw(&self) -> &[u8] {
        self.raw.as_deref().unwrap_or_default()
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
        let at = self
            .positions(name)
            .get(before)
            .copied()
            .unwrap_or(self.headers.len());
        let name = String::from_utf8_lossy(name).into_owned();
        self.headers.insert(at, (name, value.to_vec()));
        Ok(())
    }
    fn remove_header(&mut self, _: &[u8], _: usize) -> Result<(), HostError> {
        Err(HostError::NotFound)
    }
    fn set_body(&mut self, _: &[u8]) -> Result<(), HostError> {
        Err(HostError::NoMemory)
    }
    fn set_next_hop(&mut self, to: SocketAddr) -> Result<(), HostError> {
        self.next_hop = Some(to);
        Ok(())
    }
    fn set_direction(&mut self, direction: Direction) -> Result<(), HostError> {
        self.direction = Some(direction);
        Ok(())
    }
    fn reply(
        &mut self,
        code: u16,
        reason: Option<&[u8]>,
        extra: &[(&[u8], &[u8])],
    ) -> Result<(), HostError> {
        let extra = extra
            .iter()
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect();
        self.replies.push((code, reason.map(<[u8]>::to_vec), extra));
        Ok(())
    }
}
