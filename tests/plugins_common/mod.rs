//! A TestNet with real plugin cdylibs in its stage hooks, for the plugin
//! scenario tests.
#![allow(dead_code)]

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::sync::{Arc, Mutex, OnceLock};

use siproxd::plugin::chain::{OwnAddresses, PluginChain, SharedChain};
use siproxd::plugin::state::Snapshot;
use siproxd::plugin::{load_all, HostContext, LogSink};
use siproxd::proxy::testnet::{config, interfaces, TestNet};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every plugin the scenario tests load (built together, once).
const PLUGINS: [&str; 16] = [
    "shortdial",
    "defaulttarget",
    "fix_bogus_via",
    "stun",
    "regex",
    "codecfilter",
    "stripheader",
    "siptrunk",
    "blacklist",
    "stats",
    "logcall",
    "prefix",
    "regex_body",
    "fix_DTAG",
    "fix_fbox_anoncall",
    "demo",
];

/// The directory holding `libplugin_<name>.so`, built once per process into
/// its own target directory (the outer cargo holds the lock on ours).
fn built() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugins-target");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["build", "--quiet", "--offline", "--target-dir"])
            .arg(&target)
            .current_dir(ROOT)
            .env("CARGO_PROFILE_DEV_DEBUG", "0");
        for name in PLUGINS {
            cargo.args(["-p", &format!("plugin_{name}")]);
        }
        assert!(
            cargo.status().unwrap().success(),
            "building the plugins failed"
        );
        target.join("debug")
    })
}

/// A scratch directory of this test (removed first if left from a former run).
pub fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("plugins-testnet")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub type Lines = Arc<Mutex<Vec<String>>>;

/// A TestNet whose proxy runs the plugins of its configuration.
pub struct PluginNet {
    pub net: TestNet,
    pub chain: SharedChain,
    pub state: Arc<Snapshot>,
    pub host: HostContext,
    /// Plugin log lines: `<plugin> <Level>: <line>`.
    pub log: Lines,
}

impl PluginNet {
    /// `conf` (siproxd.conf text with `load_plugin = plugin_<name>.la` lines)
    /// with the plugins copied privately into the scratch dir of `test`:
    /// `dlopen` maps a file once per process and plugin state is global.
    pub fn new(test: &str, conf: &str) -> PluginNet {
        let dir = scratch(test).join("plugins");
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = config(conf);
        for name in &cfg.load_plugin {
            let name = name.trim_end_matches(".la").trim_end_matches(".so");
            let lib = name.strip_prefix("plugin_").unwrap();
            let from = built().join(format!("libplugin_{lib}.so"));
            std::fs::copy(&from, dir.join(format!("{name}.so")))
                .unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        }
        let log: Lines = Arc::default();
        let sink_lines = log.clone();
        let sink: LogSink = Arc::new(move |name, level, line| {
            sink_lines
                .lock()
                .unwrap()
                .push(format!("{name} {level:?}: {line}"));
        });
        let keys = cfg
            .plugins
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect();
        let state = Arc::new(Snapshot::default());
        let host = HostContext::new(keys)
            .with_state(state.clone())
            .with_log_sink(sink);
        let (loaded, refused) = load_all(&format!("{}/", dir.display()), &cfg.load_plugin, &host);
        assert!(refused.is_empty(), "plugins refused: {refused:?}");
        assert_eq!(loaded.len(), cfg.load_plugin.len());
        let chain = SharedChain(Rc::new(RefCell::new(PluginChain::new(loaded))));
        let ifaces = interfaces();
        chain.0.borrow_mut().set_own_addresses(OwnAddresses {
            inbound: ifaces.inbound,
            outbound: ifaces.outbound,
            listen_port: cfg.sip_listen_port,
        });
        let mut net = TestNet::new(conf);
        net.proxy.set_hooks(Box::new(chain.clone()));
        PluginNet {
            net,
            chain,
            state,
            host,
            log,
        }
    }

    /// The daemon's once-a-second snapshot of registrations and streams.
    pub fn refresh(&self) {
        self.state.refresh(&self.net.proxy, self.net.now);
    }

    /// One TIMER stage, as the event loop's 5 s tick.
    pub fn timer(&self) {
        self.chain.0.borrow_mut().timer();
    }

    pub fn take_actions(&self) -> Vec<siproxd::plugin::HostAction> {
        self.chain.0.borrow_mut().take_actions()
    }

    /// The log lines so far (and forgets them).
    pub fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

impl Drop for PluginNet {
    fn drop(&mut self) {
        self.chain.0.borrow_mut().shutdown();
    }
}
