//! Every bundled plugin crate (plugins/<name>, package `plugin_<name>`) is
//! built, installed into a temporary plugindir as `plugin_<name>.so` by
//! tools/install-plugins.sh, and loaded by the daemon's loader with the
//! `load_plugin` lines and plugin keys of upstream's siproxd.conf.example
//! (../shared/compat/, beside the repository), read by the daemon's own
//! config reader. The example's commented-out `#load_plugin=` and
//! `#plugin_…=` lines are switched on, so that every upstream plugin named
//! there is loaded with the example's settings.

use siproxd::plugin::host::{fini_all, load_all, LoadedPlugin};
use siproxd::plugin::{HostContext, LoadRefusal, LogSink};
use spx::LogLevel;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

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
        cargo.arg(&target).current_dir(ROOT);
        for package in plugin_packages() {
            cargo.args(["-p", &package]);
        }
        assert!(
            cargo.status().unwrap().success(),
            "building the plugins failed"
        );
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

/// A private copy of the installed plugins: `dlopen` maps a file once per
/// process, and plugin state is global, so each test gets its own files.
fn plugindir(test: &str) -> String {
    let dir = installed().join(test);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(installed()).unwrap().flatten() {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }
    format!("{}/", dir.display())
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
    let ctx = HostContext::new(keys).with_log_sink(sink);
    let (loaded, refused) = load_all(&plugindir(test), &config.load_plugin, &ctx);
    (loaded, refused, lines)
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
