//! The `Plugin` trait and the stage / verdict vocabulary of siproxd.

use crate::abi;
use crate::{Host, Msg};
use std::ffi::{c_int, CStr};
use std::fmt;

/// A siproxd-rs plugin. Export it with [`declare_plugin!`](crate::declare_plugin).
///
/// One value is created by `init` and lives until the daemon shuts down.
/// All three methods run on the daemon's SIP thread, never concurrently.
/// A panic in any of them is caught at the boundary: the host is told
/// `SPX_ERROR`, logs it and disables the plugin; the SDK never runs its code
/// again (the instance is poisoned) but still drops it at shutdown.
pub trait Plugin: Sized + 'static {
    /// Plugin name, e.g. `c"plugin_shortdial"`; also the prefix of its
    /// config keys (`plugin_shortdial_entry`). Must be unique among plugins.
    const NAME: &'static CStr;
    /// One line for logs.
    const DESCRIPTION: &'static CStr;
    /// The stages to be called for: `Stage::PreProxy.bit() | Stage::Timer.bit()`.
    const STAGES: u32;
    /// The oldest host ABI minor the plugin works with (the descriptor's
    /// `abi_minor`): 1 if it calls an ABI 1.1 function
    /// ([`Host::registrations`](crate::Host::registrations),
    /// [`Host::rtp_streams`](crate::Host::rtp_streams),
    /// [`Msg::add_own_via`](crate::Msg::add_own_via)); an older host then
    /// refuses it at load instead of it failing later.
    const ABI_MINOR: u16 = 0;

    /// Runs once, before chroot and the privilege drop: open what you need.
    /// `Err(reason)` is logged and the plugin is skipped.
    fn init(host: &Host) -> Result<Self, String>;

    /// One stage of one message; `msg` is `None` for [`Stage::Timer`].
    fn process(&mut self, host: &Host, stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict;

    /// At shutdown, in reverse load order. The value is dropped afterwards.
    fn fini(&mut self, _host: &Host) {}
}

/// Where in the pipeline `process` is called. Mirrors plugins.h `PLUGIN_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Every 5 s, and once after each [`Host::request_timer`]; no message.
    Timer,
    /// Every datagram before parsing; only raw bytes, source and transport.
    ProcessRaw,
    /// After parsing and sanity checks; [`Verdict::Drop`] drops it.
    Validate,
    /// Before proxying; [`Msg::reply`] + [`Verdict::SipSent`] consumes it.
    DetermineTarget,
    /// Direction known, before masquerading.
    PreProxy,
    /// No registration matches; [`Verdict::SipSent`] suppresses the 408.
    ProxyUnk,
    /// Masqueraded, about to be sent.
    PostProxy,
}

impl Stage {
    const ALL: [Stage; 7] = [
        Stage::Timer,
        Stage::ProcessRaw,
        Stage::Validate,
        Stage::DetermineTarget,
        Stage::PreProxy,
        Stage::ProxyUnk,
        Stage::PostProxy,
    ];

    /// The stage's bit (siproxd's `PLUGIN_*` value).
    pub const fn bit(self) -> u32 {
        match self {
            Stage::Timer => abi::SPX_STAGE_TIMER,
            Stage::ProcessRaw => abi::SPX_STAGE_PROCESS_RAW,
            Stage::Validate => abi::SPX_STAGE_VALIDATE,
            Stage::DetermineTarget => abi::SPX_STAGE_DETERMINE_TARGET,
            Stage::PreProxy => abi::SPX_STAGE_PRE_PROXY,
            Stage::ProxyUnk => abi::SPX_STAGE_PROXY_UNK,
            Stage::PostProxy => abi::SPX_STAGE_POST_PROXY,
        }
    }

    /// The name upstream uses (`PRE_PROXY` for `PLUGIN_PRE_PROXY`).
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Timer => "TIMER",
            Stage::ProcessRaw => "PROCESS_RAW",
            Stage::Validate => "VALIDATE",
            Stage::DetermineTarget => "DETERMINE_TARGET",
            Stage::PreProxy => "PRE_PROXY",
            Stage::ProxyUnk => "PROXY_UNK",
            Stage::PostProxy => "POST_PROXY",
        }
    }

    /// The stage whose bit is exactly `bit`, if ABI 1.0 defines one.
    pub fn from_bit(bit: u32) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.bit() == bit)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What `process` tells the host. Values are siproxd's `STS_*` codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on with the next plugin (`STS_SUCCESS`).
    Continue,
    /// Drop the packet; honoured in PROCESS_RAW and VALIDATE (`STS_FAILURE`).
    Drop,
    /// The message was answered and is consumed; honoured in DETERMINE_TARGET
    /// and PROXY_UNK (`STS_SIP_SENT`).
    SipSent,
    /// The plugin is broken: the host logs it and disables the plugin.
    Error,
}

impl Verdict {
    /// The C value returned across the ABI.
    pub const fn code(self) -> c_int {
        match self {
            Verdict::Continue => abi::SPX_CONTINUE,
            Verdict::Drop => abi::SPX_DROP,
            Verdict::SipSent => abi::SPX_SIP_SENT,
            Verdict::Error => abi::SPX_ERROR,
        }
    }
}
