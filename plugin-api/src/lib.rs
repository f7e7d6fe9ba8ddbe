//! `spx`: the ABI and safe Rust SDK for siproxd-rs plugins.
//!
//! - [`abi`]: the `#[repr(C)]` mirror of `include/siproxd_plugin.h` (the contract).
//! - [`Plugin`], [`declare_plugin!`]: write a plugin as a Rust type; the macro
//!   exports the `siproxd_plugin_v1` descriptor and the `extern "C"` entry points.
//! - [`Host`]: logging, `plugin_<name>_<key>` config lines, timers, raw sends.
//! - [`Msg`]: the message of one `process` call; what it lends you cannot
//!   outlive the call (see its docs).
//!
//! Every call into the daemon goes through the host's function table, so a
//! test can hand the entry points a table written in Rust (see `tests/sdk.rs`).
//!
//! ```
//! use std::ffi::CStr;
//! use spx::{Host, Msg, Plugin, Stage, Verdict};
//!
//! struct LogInvites;
//!
//! impl Plugin for LogInvites {
//!     const NAME: &'static CStr = c"plugin_loginvites";
//!     const DESCRIPTION: &'static CStr = c"Logs INVITE Request-URIs";
//!     const STAGES: u32 = Stage::PreProxy.bit();
//!
//!     fn init(_host: &Host) -> Result<Self, String> {
//!         Ok(LogInvites)
//!     }
//!
//!     fn process(&mut self, host: &Host, _stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
//!         let Some(msg) = msg else { return Verdict::Continue };
//!         if msg.method() == Ok(&b"INVITE"[..]) {
//!             if let Ok(uri) = msg.request_uri() {
//!                 host.info(&format!("INVITE to {}", String::from_utf8_lossy(uri)));
//!             }
//!         }
//!         Verdict::Continue
//!     }
//! }
//!
//! spx::declare_plugin!(LogInvites);
//! ```

pub mod abi;
#[doc(hidden)]
pub mod ffi;
mod host;
mod msg;
mod plugin;
/// A fake host for plugin unit tests.
#[cfg(feature = "testing")]
pub mod testing;

pub use host::{Host, HostError, LogLevel, Logger, Registration, RtpStream};
pub use msg::{Direction, HeaderValues, Headers, Interface, Msg, Transport};
pub use plugin::{Plugin, Stage, Verdict};

/// Exports `T: Plugin` as a siproxd-rs plugin: emits the `siproxd_plugin_v1`
/// descriptor whose `init`/`process`/`fini` are panic-safe trampolines over `T`.
/// Use it once per cdylib.
#[macro_export]
macro_rules! declare_plugin {
    ($plugin:ty) => {
        #[unsafe(no_mangle)]
        #[allow(non_upper_case_globals)]
        pub static siproxd_plugin_v1: $crate::abi::spx_plugin_desc =
            $crate::ffi::descriptor::<$plugin>();
    };
}
