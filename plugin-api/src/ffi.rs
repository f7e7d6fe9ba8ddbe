//! The `extern "C"` edge of a Rust plugin: the descriptor and the three
//! trampolines `declare_plugin!` exports. Public only for the macro.
//!
//! No panic crosses this boundary (unwinding out of `extern "C"` aborts the
//! daemon since Rust 1.81): each trampoline runs plugin code under
//! `catch_unwind`, answers `SPX_ERROR` on a panic and poisons the instance.

use crate::abi::{self, spx_host, spx_host_api, spx_msg, spx_plugin_desc, spx_str};
use crate::{Host, Msg, Plugin, Stage};
use std::any::Any;
use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What `*state` points at between `init` and `fini`.
struct Instance<P> {
    plugin: P,
    host: Host,
    /// Set after a panic: the plugin's code is never run again.
    poisoned: bool,
}

/// The descriptor for `P`: ABI 1.`P::ABI_MINOR`, the SDK's trampolines, `P`'s name and stages.
pub const fn descriptor<P: Plugin>() -> spx_plugin_desc {
    spx_plugin_desc {
        struct_size: std::mem::size_of::<spx_plugin_desc>() as u32,
        abi_major: abi::SPX_ABI_MAJOR,
        abi_minor: P::ABI_MINOR,
        name: P::NAME.as_ptr(),
        description: P::DESCRIPTION.as_ptr(),
        stages: P::STAGES,
        flags: 0,
        init: Some(init::<P>),
        process: Some(process::<P>),
        fini: Some(fini::<P>),
    }
}

/// Borrows the bytes of an `spx_str` (NULL means empty).
///
/// # Safety
/// `s.ptr` must be NULL or valid for `s.len` bytes for the chosen lifetime.
pub(crate) unsafe fn bytes<'a>(s: spx_str) -> &'a [u8] {
    if s.ptr.is_null() || s.len == 0 {
        return &[];
    }
    // SAFETY: the caller guarantees `ptr` is valid for `len` bytes.
    unsafe { std::slice::from_raw_parts(s.ptr.cast(), s.len) }
}

fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

/// Logs under `catch_unwind` too: formatting the message could itself panic.
fn log_error(host: &Host, line: impl FnOnce() -> String) {
    let _ = catch_unwind(AssertUnwindSafe(|| host.error(&line())));
}

unsafe extern "C" fn init<P: Plugin>(
    api: *const spx_host_api,
    handle: *mut spx_host,
    state: *mut *mut c_void,
) -> c_int {
    // SAFETY: the host passes its table, valid until `fini`, or NULL.
    let Some(api) = (unsafe { api.as_ref::<'static>() }) else {
        return abi::SPX_ERROR;
    };
    if state.is_null() || (api.struct_size as usize) < abi::SPX_HOST_API_V1_0_SIZE {
        return abi::SPX_ERROR;
    }
    // SAFETY: the table is at least 1.0-sized and lives, with `handle`, until `fini`.
    let host = unsafe { Host::new(api, handle, P::NAME) };
    match catch_unwind(AssertUnwindSafe(|| P::init(&host))) {
        Ok(Ok(plugin)) => {
            let instance = Box::new(Instance {
                plugin,
                host,
                poisoned: false,
            });
            // SAFETY: `state` was checked non-NULL; the host owns the slot.
            unsafe { *state = Box::into_raw(instance).cast() };
            abi::SPX_OK
        }
        Ok(Err(reason)) => {
            log_error(&host, || format!("init failed: {reason}"));
            abi::SPX_ERROR
        }
        Err(payload) => {
            log_error(&host, || {
                format!(
                    "plugin panicked in init: {}; disabled",
                    panic_text(&*payload)
                )
            });
            abi::SPX_ERROR
        }
    }
}

unsafe extern "C" fn process<P: Plugin>(state: *mut c_void, stage: u32, m: *mut spx_msg) -> c_int {
    // SAFETY: `state` is what our `init` stored (an `Instance<P>`), or NULL.
    let Some(instance) = (unsafe { state.cast::<Instance<P>>().as_mut() }) else {
        return abi::SPX_ERROR;
    };
    let Some(stage) = Stage::from_bit(stage) else {
        return abi::SPX_CONTINUE;
    };
    if instance.poisoned {
        return abi::SPX_CONTINUE;
    }
    let api = instance.host.api();
    // SAFETY: `m` is the message handle of this very call (or NULL for TIMER).
    let mut msg = (!m.is_null()).then(|| unsafe { Msg::new(api, m) });
    let Instance { plugin, host, .. } = instance;
    match catch_unwind(AssertUnwindSafe(|| {
        plugin.process(host, stage, msg.as_mut())
    })) {
        Ok(verdict) => verdict.code(),
        Err(payload) => {
            instance.poisoned = true;
            log_error(&instance.host, || {
                format!(
                    "plugin panicked in {stage}: {}; disabled",
                    panic_text(&*payload)
                )
            });
            abi::SPX_ERROR
        }
    }
}

unsafe extern "C" fn fini<P: Plugin>(state: *mut c_void) {
    if state.is_null() {
        return;
    }
    // SAFETY: `state` is the `Box<Instance<P>>` our `init` leaked; the host
    // calls `fini` once, so ownership comes back exactly once.
    let mut instance = unsafe { Box::from_raw(state.cast::<Instance<P>>()) };
    let host = instance.host;
    let result = catch_unwind(AssertUnwindSafe(move || {
        if !instance.poisoned {
            instance.plugin.fini(&instance.host);
        }
        drop(instance);
    }));
    if let Err(payload) = result {
        log_error(&host, || {
            format!("plugin panicked in fini: {}", panic_text(&*payload))
        });
    }
}
