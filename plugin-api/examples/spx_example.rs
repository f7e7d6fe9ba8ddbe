//! A complete plugin built with the SDK (`cargo build -p siproxd-plugin-api
//! --example spx_example` gives `libspx_example.so`; install it as
//! `plugin_spx_example.so`). The daemon's loader test loads this file.
//!
//! - init: logs its `plugin_spx_example_greeting` lines (repeatable), and
//!   one line from a thread of its own (`Host::logger`).
//! - PRE_PROXY: logs each request's method and Request-URI.
//! - POST_PROXY: adds `X-Spx-Example: 1` to requests.
//! - TIMER: panics if `plugin_spx_example_panic_on_timer = yes`, to prove the
//!   SDK catches it and the daemon disables the plugin.

use spx::{Host, Msg, Plugin, Stage, Verdict};
use std::ffi::CStr;

struct SpxExample {
    panic_on_timer: bool,
}

impl Plugin for SpxExample {
    const NAME: &'static CStr = c"plugin_spx_example";
    const DESCRIPTION: &'static CStr = c"Rust SDK example: logs requests, tags them";
    const STAGES: u32 = Stage::Timer.bit() | Stage::PreProxy.bit() | Stage::PostProxy.bit();

    fn init(host: &Host) -> Result<Self, String> {
        let greetings = host.plugin_config_all("greeting");
        host.info(&format!("init: greeting {}", greetings.join(", ")));
        let logger = host.logger();
        std::thread::spawn(move || logger.info("init: hello from a plugin thread"))
            .join()
            .map_err(|_| "logging thread panicked".to_string())?;
        let panic_on_timer = host.plugin_config("panic_on_timer").as_deref() == Some("yes");
        Ok(SpxExample { panic_on_timer })
    }

    fn process(&mut self, host: &Host, stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
        match (stage, msg) {
            (Stage::Timer, _) if self.panic_on_timer => panic!("timer panic as configured"),
            (Stage::PreProxy, Some(msg)) if msg.is_request() == Some(true) => {
                log_request(host, msg);
                Verdict::Continue
            }
            (Stage::PostProxy, Some(msg)) if msg.is_request() == Some(true) => {
                match msg.append_header("X-Spx-Example", b"1") {
                    Ok(()) => Verdict::Continue,
                    Err(e) => {
                        host.warn(&format!("cannot tag request: {e}"));
                        Verdict::Continue
                    }
                }
            }
            _ => Verdict::Continue,
        }
    }

    fn fini(&mut self, host: &Host) {
        host.info("fini");
    }
}

fn log_request(host: &Host, msg: &Msg<'_>) {
    let (Ok(method), Ok(uri)) = (msg.method(), msg.request_uri()) else {
        return;
    };
    host.info(&format!(
        "{} {}",
        String::from_utf8_lossy(method),
        String::from_utf8_lossy(uri)
    ));
}

spx::declare_plugin!(SpxExample);
