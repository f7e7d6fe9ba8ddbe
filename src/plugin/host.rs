//! The FFI edge of the plugin host: `dlopen`, reading the descriptor, the
//! host function table handed to plugins, and calls into plugin code.
//!
//! Layer: shell; the only host file with `unsafe`. Corresponds to upstream's
//! `plugins.c` (`load_plugins`, `call_plugins`, `unload_plugins`).
//!
//! Rules kept here: a descriptor is read and checked before any plugin code
//! runs; libraries are opened `RTLD_NOW | RTLD_LOCAL` and never closed (Rust
//! cdylibs cannot be unloaded soundly); no panic leaves a host function
//! (each body runs under `catch_unwind`).

use super::{
    allowed, check_descriptor, module_name, plugin_path, DescriptorFacts, HostAction, HostContext,
    Interface, MsgCall, RefusalReason, Ticket,
};
pub use super::{LoadRefusal, LogSink};
use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
use spx::abi::{
    self, spx_addr, spx_hdr, spx_host, spx_host_api, spx_msg, spx_registration, spx_rtp_stream,
    spx_str,
};
use spx::{Direction, HostError, LogLevel, Stage, Verdict};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::Mutex;

const HOST_VERSION: &str = concat!("siproxd-rs ", env!("CARGO_PKG_VERSION"), "\0");

/// The per-plugin host handle (`spx_host*`). Leaked on purpose: a plugin
/// thread may still log while the process shuts down, and there is one per
/// plugin.
struct PluginHost {
    name: String,
    stages: u32,
    context: HostContext,
    actions: Mutex<Vec<HostAction>>,
    /// Bytes lent by ABI 1.1 calls (registrations, streams) until the
    /// plugin's current init/process call returns; emptied when it does.
    /// Each value is its own allocation, so pushing never moves lent bytes.
    lent: Mutex<Vec<Box<[u8]>>>,
}

impl PluginHost {
    /// Keeps `bytes` until the current plugin call returns; returns them as lent.
    fn keep(&self, bytes: &[u8]) -> spx_str {
        let boxed: Box<[u8]> = bytes.into();
        let out = spx_str {
            ptr: boxed.as_ptr().cast(),
            len: boxed.len(),
        };
        self.lent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(boxed);
        out
    }

    /// Ends the current plugin call: what it was lent is dropped.
    fn call_returned(&self) {
        self.lent.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The host's own lines about this plugin go where the plugin's go.
    fn say(&self, level: LogLevel, line: &str) {
        (self.context.log)(&self.name, level, line);
    }

    fn push(&self, action: HostAction) {
        self.actions
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(action);
    }
}

/// The message handle (`spx_msg*`) of one `process` call.
struct MsgCell<'t> {
    ticket: &'t mut dyn Ticket,
    stage: u32,
}

/// One plugin that passed every check and whose `init` returned `SPX_OK`.
pub struct LoadedPlugin {
    name: String,
    description: String,
    path: PathBuf,
    stages: u32,
    state: *mut c_void,
    process: abi::spx_process_fn,
    fini: abi::spx_fini_fn,
    host: &'static PluginHost,
    disabled: bool,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("stages", &format_args!("{:#05x}", self.stages))
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// The descriptor's name (`plugin_logcall`).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `SPX_STAGE_*` mask it asked for.
    pub fn stages(&self) -> u32 {
        self.stages
    }

    /// True once it returned `SPX_ERROR` (e.g. after a panic): never called again.
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// Runs one stage: `ticket` is `None` exactly for [`Stage::Timer`].
    /// A plugin that did not ask for the stage, or is disabled, is not called
    /// (`Continue`). `SPX_ERROR` disables the plugin and is logged; an unknown
    /// verdict is logged and read as `Continue`, as upstream ignored it.
    /// Which verdicts a stage honours is the chain's business, not this call's.
    pub fn process(&mut self, stage: Stage, ticket: Option<&mut dyn Ticket>) -> Verdict {
        if self.disabled || self.stages & stage.bit() == 0 {
            return Verdict::Continue;
        }
        if ticket.is_none() != (stage == Stage::Timer) {
            let kind = if stage == Stage::Timer {
                "a message"
            } else {
                "no message"
            };
            self.host.say(
                LogLevel::Error,
                &format!("{stage} called with {kind}; skipped"),
            );
            return Verdict::Continue;
        }
        let code = match ticket {
            Some(ticket) => self.call(
                stage,
                &mut MsgCell {
                    ticket,
                    stage: stage.bit(),
                },
            ),
            None => self.call_with(stage, ptr::null_mut()),
        };
        self.verdict(stage, code)
    }

    fn call(&mut self, stage: Stage, cell: &mut MsgCell<'_>) -> c_int {
        self.call_with(stage, ptr::from_mut(cell).cast())
    }

    fn call_with(&mut self, stage: Stage, msg: *mut spx_msg) -> c_int {
        // SAFETY: `process` comes from a checked descriptor; `state` is what
        // its init stored; `msg` is NULL or a MsgCell living for this call.
        let code = unsafe { (self.process)(self.state, stage.bit(), msg) };
        self.host.call_returned();
        code
    }

    fn verdict(&mut self, stage: Stage, code: c_int) -> Verdict {
        match code {
            abi::SPX_CONTINUE => Verdict::Continue,
            abi::SPX_DROP => Verdict::Drop,
            abi::SPX_SIP_SENT => Verdict::SipSent,
            abi::SPX_ERROR => {
                self.disabled = true;
                let line = format!("returned SPX_ERROR in {stage}; plugin disabled");
                self.host.say(LogLevel::Error, &line);
                Verdict::Error
            }
            other => {
                let line = format!("unknown verdict {other} in {stage}; read as continue");
                self.host.say(LogLevel::Warn, &line);
                Verdict::Continue
            }
        }
    }

    /// Takes what the plugin asked the daemon to do (sends, address
    /// changes, timers) since the last call.
    pub fn take_actions(&mut self) -> Vec<HostAction> {
        std::mem::take(&mut *self.host.actions.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Calls the plugin's `fini`. The library stays mapped.
    pub fn fini(self) {
        // SAFETY: `fini` comes from a checked descriptor and gets the state
        // its init stored, exactly once (`self` is consumed).
        unsafe { (self.fini)(self.state) }
    }
}

/// Calls `fini` of every plugin in reverse load order.
/// Mirrors plugins.c: unload order is the reverse of load order. Differs:
/// nothing is `dlclose`d (Rust cdylibs' thread-local destructors).
pub fn fini_all(plugins: Vec<LoadedPlugin>) {
    for plugin in plugins.into_iter().rev() {
        plugin.fini();
    }
}

/// Loads every `load_plugin` name in order: resolve the path, `dlopen`,
/// check the descriptor, then `init`. A missing or refused plugin is logged
/// and skipped; the daemon runs on with the rest.
/// Mirrors plugins.c: load order = processing order; a plugin that fails to
/// load is an error in the log, not a fatal one.
pub fn load_all(
    plugindir: &str,
    names: &[String],
    host: &HostContext,
) -> (Vec<LoadedPlugin>, Vec<LoadRefusal>) {
    let mut loaded: Vec<LoadedPlugin> = Vec::new();
    let mut refused = Vec::new();
    for name in names {
        let path = plugin_path(plugindir, name);
        match load_one(&path, &loaded, host) {
            Ok(plugin) => {
                log::info!("plugin {} loaded from {}", plugin.name, path.display());
                loaded.push(plugin);
            }
            Err(reason) => {
                let refusal = LoadRefusal {
                    name: name.clone(),
                    path,
                    reason,
                };
                log::error!("{refusal}");
                refused.push(refusal);
            }
        }
    }
    (loaded, refused)
}

fn load_one(
    path: &Path,
    loaded: &[LoadedPlugin],
    context: &HostContext,
) -> Result<LoadedPlugin, RefusalReason> {
    if !path.exists() {
        return Err(RefusalReason::NotFound);
    }
    let library = open(path)?;
    let desc = read_descriptor(find_descriptor(library, path)?)?;
    let facts = facts_of(&desc);
    let names: Vec<(&str, &Path)> = loaded.iter().map(|p| (p.name(), p.path())).collect();
    check_descriptor(&facts, &names)?;
    init(desc, facts, path, context)
}

/// `dlopen(path, RTLD_NOW | RTLD_LOCAL)`; the handle is leaked, never closed.
fn open(path: &Path) -> Result<&'static Library, RefusalReason> {
    // SAFETY: opening runs the file's ELF constructors; that is the accepted
    // risk of loading a plugin at all. The handle is never closed.
    let library = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) };
    library.map(|lib| &*Box::leak(Box::new(lib))).map_err(|e| {
        let detail = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
        RefusalReason::Open(detail)
    })
}

/// The address of a data or function symbol, if exported.
fn symbol(library: &Library, name: &str) -> Option<*const c_void> {
    // SAFETY: only the address is taken; nothing is called or read here.
    unsafe { library.get::<*const c_void>(name) }
        .ok()
        .map(|s| *s)
}

fn find_descriptor(library: &Library, path: &Path) -> Result<*const c_void, RefusalReason> {
    let v1 = std::str::from_utf8(abi::SPX_DESCRIPTOR_SYMBOL).unwrap_or_default();
    if let Some(desc) = symbol(library, v1.trim_end_matches('\0')).filter(|p| !p.is_null()) {
        return Ok(desc);
    }
    if let Some(major) =
        (2..=9).find(|m| symbol(library, &format!("siproxd_plugin_v{m}")).is_some())
    {
        return Err(RefusalReason::NewerMajor { major });
    }
    let module = module_name(path);
    let upstream = [
        "plugin_init".to_string(),
        format!("{module}_LTX_plugin_init"),
    ];
    match upstream.into_iter().find(|s| symbol(library, s).is_some()) {
        Some(symbol) => Err(RefusalReason::Upstream { symbol, module }),
        None => Err(RefusalReason::NoDescriptor),
    }
}

/// Copies the descriptor, trusting no byte past its own `struct_size`.
fn read_descriptor(at: *const c_void) -> Result<abi::spx_plugin_desc, RefusalReason> {
    // SAFETY: `at` is the address of the exported descriptor; every
    // descriptor starts with its u32 size, so the first 4 bytes exist.
    let size = unsafe { at.cast::<u32>().read_unaligned() };
    let needed = abi::SPX_PLUGIN_DESC_V1_0_SIZE;
    if (size as usize) < needed {
        return Err(RefusalReason::Truncated { size, needed });
    }
    // SAFETY: the plugin declares at least the full 1.0 descriptor; fields
    // a newer minor appended are not read.
    Ok(unsafe { at.cast::<abi::spx_plugin_desc>().read_unaligned() })
}

fn facts_of(desc: &abi::spx_plugin_desc) -> DescriptorFacts {
    DescriptorFacts {
        struct_size: desc.struct_size,
        abi_major: desc.abi_major,
        abi_minor: desc.abi_minor,
        name: c_string(desc.name),
        description: c_string(desc.description).unwrap_or_default(),
        stages: desc.stages,
        has_init: desc.init.is_some(),
        has_process: desc.process.is_some(),
        has_fini: desc.fini.is_some(),
    }
}

fn c_string(p: *const c_char) -> Option<String> {
    // SAFETY: descriptor strings are static NUL-terminated C strings (header contract).
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// Runs the plugin's `init`; on failure runs `fini` if state was set.
fn init(
    desc: abi::spx_plugin_desc,
    facts: DescriptorFacts,
    path: &Path,
    context: &HostContext,
) -> Result<LoadedPlugin, RefusalReason> {
    let (Some(init), Some(process), Some(fini)) = (desc.init, desc.process, desc.fini) else {
        return Err(RefusalReason::NoEntry("init"));
    };
    let name = facts.name.unwrap_or_default();
    let host: &'static PluginHost = Box::leak(Box::new(PluginHost {
        name: name.clone(),
        stages: facts.stages,
        context: context.clone(),
        actions: Mutex::default(),
        lent: Mutex::default(),
    }));
    let handle = ptr::from_ref(host).cast_mut().cast::<spx_host>();
    let mut state = ptr::null_mut();
    // SAFETY: `init` comes from a checked descriptor; the table is static,
    // the handle lives forever, `state` is a valid slot.
    let code = unsafe { init(&HOST_API, handle, &mut state) };
    host.call_returned();
    if code != abi::SPX_OK {
        if !state.is_null() {
            // SAFETY: the header promises fini for any state init stored.
            unsafe { fini(state) };
        }
        return Err(RefusalReason::InitFailed { name, code });
    }
    let (stages, description, path) = (facts.stages, facts.description, path.to_path_buf());
    Ok(LoadedPlugin {
        name,
        description,
        path,
        stages,
        state,
        process,
        fini,
        host,
        disabled: false,
    })
}

// ------------------------------------------------------- host function table

static HOST_API: spx_host_api = spx_host_api {
    struct_size: std::mem::size_of::<spx_host_api>() as u32,
    abi_major: abi::SPX_ABI_MAJOR,
    abi_minor: abi::SPX_ABI_MINOR,
    host_version: HOST_VERSION.as_ptr().cast(),
    log: host_log,
    config_count,
    config_get,
    now_ms,
    timer_request,
    msg_is_request,
    msg_method,
    msg_status,
    msg_direction,
    msg_transport,
    msg_source,
    msg_raw,
    uri_get,
    uri_set,
    header_count,
    header_get,
    header_set,
    header_insert,
    header_remove,
    body_get,
    body_set,
    next_hop_set,
    direction_set,
    reply,
    send_raw,
    public_addr_set,
    registration_get,
    rtp_stream_get,
    via_add_own,
    status_requests,
};

/// Runs a host call that returns a status; a panic becomes `SPX_E_INVAL`.
fn status(call: impl FnOnce() -> Result<(), HostError>) -> c_int {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(())) => abi::SPX_OK,
        Ok(Err(e)) => e.code(),
        Err(_) => abi::SPX_E_INVAL,
    }
}

/// Runs a host call that returns a value or a negative `SPX_E_*`.
fn int(call: impl FnOnce() -> Result<c_int, HostError>) -> c_int {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => e.code(),
        Err(_) => abi::SPX_E_INVAL,
    }
}

/// Runs a host call that returns a count (0 on any error).
fn count(call: impl FnOnce() -> Result<usize, HostError>) -> usize {
    catch_unwind(AssertUnwindSafe(call))
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0)
}

fn plugin_host(h: *mut spx_host) -> Result<&'static PluginHost, HostError> {
    // SAFETY: every `spx_host*` we hand out is a leaked `&'static PluginHost`.
    unsafe { h.cast::<PluginHost>().cast_const().as_ref() }.ok_or(HostError::Invalid)
}

/// The ticket behind a message handle, for a call that only reads it.
/// Shared, so bytes lent by earlier reads stay valid (header: until the next edit).
fn ticket<'m>(m: *mut spx_msg, call: MsgCall) -> Result<&'m dyn Ticket, HostError> {
    // SAFETY: every non-NULL `spx_msg*` is the MsgCell of the process call
    // running now; it is used only within this host call.
    let cell =
        unsafe { m.cast::<MsgCell<'m>>().cast_const().as_ref() }.ok_or(HostError::Invalid)?;
    if !allowed(call, cell.stage) {
        return Err(HostError::WrongStage);
    }
    Ok(&*cell.ticket)
}

/// The ticket behind a message handle, for a call that edits it.
fn ticket_mut<'m>(m: *mut spx_msg, call: MsgCall) -> Result<&'m mut dyn Ticket, HostError> {
    // SAFETY: as in `ticket`; the plugin is inside one host call, so nothing
    // else uses the cell now.
    let cell = unsafe { m.cast::<MsgCell<'m>>().as_mut() }.ok_or(HostError::Invalid)?;
    if !allowed(call, cell.stage) {
        return Err(HostError::WrongStage);
    }
    Ok(&mut *cell.ticket)
}

fn c_name<'a>(name: *const c_char) -> Result<&'a [u8], HostError> {
    // SAFETY: names and keys are NUL-terminated (header contract), or NULL.
    unsafe { name.as_ref() }.ok_or(HostError::Invalid)?;
    // SAFETY: checked non-NULL just above.
    Ok(unsafe { CStr::from_ptr(name) }.to_bytes())
}

fn bytes_in<'a>(p: *const c_char, len: usize) -> Result<&'a [u8], HostError> {
    match (p.is_null(), len) {
        (_, 0) => Ok(&[]),
        (true, _) => Err(HostError::Invalid),
        // SAFETY: the plugin passes `len` readable bytes (header contract).
        (false, _) => Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) }),
    }
}

/// Copies plugin bytes before an edit: they may point into the very
/// message being edited (a value just read with `header_get`).
fn owned(p: *const c_char, len: usize) -> Result<Vec<u8>, HostError> {
    bytes_in(p, len).map(<[u8]>::to_vec)
}

fn addr_in(a: *const spx_addr) -> Result<SocketAddr, HostError> {
    // SAFETY: a plugin passes a valid spx_addr or NULL.
    let addr = unsafe { a.as_ref() }.ok_or(HostError::Invalid)?;
    addr.to_socket_addr().ok_or(HostError::Invalid)
}

fn lend(out: *mut spx_str, bytes: &[u8]) -> Result<(), HostError> {
    // SAFETY: `out` is the plugin's spx_str to fill, or NULL.
    let out = unsafe { out.as_mut() }.ok_or(HostError::Invalid)?;
    *out = spx_str {
        ptr: bytes.as_ptr().cast(),
        len: bytes.len(),
    };
    Ok(())
}

unsafe extern "C" fn host_log(h: *mut spx_host, level: c_int, msg: *const c_char, len: usize) {
    let _ = catch_unwind(AssertUnwindSafe(|| -> Result<(), HostError> {
        let host = plugin_host(h)?;
        let line = String::from_utf8_lossy(bytes_in(msg, len)?);
        let level = LogLevel::from_code(level).unwrap_or(LogLevel::Info);
        (host.context.log)(&host.name, level, line.trim_end());
        Ok(())
    }));
}

unsafe extern "C" fn config_count(h: *mut spx_host, key: *const c_char) -> usize {
    count(|| Ok(plugin_host(h)?.context.values(c_name(key)?).count()))
}

unsafe extern "C" fn config_get(
    h: *mut spx_host,
    key: *const c_char,
    index: usize,
    out: *mut spx_str,
) -> c_int {
    status(|| {
        let mut values = plugin_host(h)?.context.values(c_name(key)?);
        lend(
            out,
            values.nth(index).ok_or(HostError::NotFound)?.as_bytes(),
        )
    })
}

unsafe extern "C" fn now_ms(h: *mut spx_host) -> u64 {
    catch_unwind(|| plugin_host(h).map_or(0, |host| host.context.millis())).unwrap_or(0)
}

unsafe extern "C" fn timer_request(h: *mut spx_host, after_ms: u32) -> c_int {
    status(|| {
        let host = plugin_host(h)?;
        if host.stages & abi::SPX_STAGE_TIMER == 0 {
            return Err(HostError::WrongStage);
        }
        host.push(HostAction::Timer { after_ms });
        Ok(())
    })
}

unsafe extern "C" fn msg_is_request(m: *mut spx_msg) -> c_int {
    int(|| {
        Ok(ticket(m, MsgCall::Raw)?
            .is_request()
            .map_or(-1, c_int::from))
    })
}

unsafe extern "C" fn msg_method(m: *mut spx_msg, out: *mut spx_str) -> c_int {
    status(|| lend(out, ticket(m, MsgCall::Read)?.method()?))
}

unsafe extern "C" fn msg_status(m: *mut spx_msg) -> c_int {
    int(|| Ok(c_int::from(ticket(m, MsgCall::Read)?.status())))
}

unsafe extern "C" fn msg_direction(m: *mut spx_msg) -> c_int {
    int(|| Ok(ticket(m, MsgCall::Read)?.direction().code()))
}

unsafe extern "C" fn msg_transport(m: *mut spx_msg) -> c_int {
    int(|| Ok(ticket(m, MsgCall::Raw)?.transport().code()))
}

unsafe extern "C" fn msg_source(m: *mut spx_msg, out: *mut spx_addr) -> c_int {
    status(|| {
        let source = spx_addr::from(ticket(m, MsgCall::Raw)?.source());
        // SAFETY: `out` is the plugin's spx_addr to fill, or NULL.
        *unsafe { out.as_mut() }.ok_or(HostError::Invalid)? = source;
        Ok(())
    })
}

unsafe extern "C" fn msg_raw(m: *mut spx_msg, out: *mut spx_str) -> c_int {
    status(|| lend(out, ticket(m, MsgCall::Raw)?.raw()))
}

unsafe extern "C" fn uri_get(m: *mut spx_msg, out: *mut spx_str) -> c_int {
    status(|| lend(out, ticket(m, MsgCall::Read)?.request_uri()?))
}

unsafe extern "C" fn uri_set(m: *mut spx_msg, v: *const c_char, len: usize) -> c_int {
    status(|| {
        let uri = owned(v, len)?;
        ticket_mut(m, MsgCall::Edit)?.set_request_uri(&uri)
    })
}

unsafe extern "C" fn header_count(m: *mut spx_msg, name: *const c_char) -> usize {
    count(|| Ok(ticket(m, MsgCall::Read)?.header_count(c_name(name)?)))
}

unsafe extern "C" fn header_get(
    m: *mut spx_msg,
    name: *const c_char,
    index: usize,
    out: *mut spx_str,
) -> c_int {
    status(|| lend(out, ticket(m, MsgCall::Read)?.header(c_name(name)?, index)?))
}

unsafe extern "C" fn header_set(
    m: *mut spx_msg,
    name: *const c_char,
    index: usize,
    v: *const c_char,
    len: usize,
) -> c_int {
    status(|| {
        let (name, value) = (c_name(name)?.to_vec(), owned(v, len)?);
        ticket_mut(m, MsgCall::Edit)?.set_header(&name, index, &value)
    })
}

unsafe extern "C" fn header_insert(
    m: *mut spx_msg,
    name: *const c_char,
    before: usize,
    v: *const c_char,
    len: usize,
) -> c_int {
    status(|| {
        let (name, value) = (c_name(name)?.to_vec(), owned(v, len)?);
        ticket_mut(m, MsgCall::Edit)?.insert_header(&name, before, &value)
    })
}

unsafe extern "C" fn header_remove(m: *mut spx_msg, name: *const c_char, index: usize) -> c_int {
    status(|| {
        let name = c_name(name)?.to_vec();
        ticket_mut(m, MsgCall::Edit)?.remove_header(&name, index)
    })
}

unsafe extern "C" fn body_get(m: *mut spx_msg, out: *mut spx_str) -> c_int {
    status(|| lend(out, ticket(m, MsgCall::Read)?.body()))
}

unsafe extern "C" fn body_set(m: *mut spx_msg, v: *const c_char, len: usize) -> c_int {
    status(|| {
        let body = owned(v, len)?;
        ticket_mut(m, MsgCall::Edit)?.set_body(&body)
    })
}

unsafe extern "C" fn next_hop_set(m: *mut spx_msg, a: *const spx_addr) -> c_int {
    status(|| ticket_mut(m, MsgCall::Edit)?.set_next_hop(addr_in(a)?))
}

unsafe extern "C" fn direction_set(m: *mut spx_msg, direction: c_int) -> c_int {
    status(|| {
        let valid = (abi::SPX_DIR_UNKNOWN..=abi::SPX_DIR_RES_OUTGOING).contains(&direction);
        let direction = valid
            .then(|| Direction::from_code(direction))
            .ok_or(HostError::Invalid)?;
        ticket_mut(m, MsgCall::SetDirection)?.set_direction(direction)
    })
}

unsafe extern "C" fn reply(
    m: *mut spx_msg,
    code: c_int,
    reason: *const c_char,
    reason_len: usize,
    extra: *const spx_hdr,
    n_extra: usize,
) -> c_int {
    status(|| {
        let code = u16::try_from(code).ok().filter(|c| (100..700).contains(c));
        let reason = (!reason.is_null())
            .then(|| owned(reason, reason_len))
            .transpose()?;
        let extra = extra_fields(extra, n_extra)?;
        let ticket = ticket_mut(m, MsgCall::Reply)?;
        if ticket.is_request() != Some(true) {
            return Err(HostError::WrongStage);
        }
        let extra: Vec<(&[u8], &[u8])> = extra.iter().map(|(n, v)| (&n[..], &v[..])).collect();
        ticket.reply(code.ok_or(HostError::Invalid)?, reason.as_deref(), &extra)
    })
}

/// One extra header field of `reply`, copied: (name, value).
type Field = (Vec<u8>, Vec<u8>);

fn extra_fields(extra: *const spx_hdr, n: usize) -> Result<Vec<Field>, HostError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if extra.is_null() {
        return Err(HostError::Invalid);
    }
    // SAFETY: the plugin passes `n` valid spx_hdr (header contract).
    let fields = unsafe { std::slice::from_raw_parts(extra, n) };
    let field = |h: &spx_hdr| {
        Ok((
            owned(h.name.ptr, h.name.len)?,
            owned(h.value.ptr, h.value.len)?,
        ))
    };
    fields.iter().map(field).collect()
}

unsafe extern "C" fn send_raw(
    h: *mut spx_host,
    to: *const spx_addr,
    data: *const u8,
    len: usize,
) -> c_int {
    status(|| {
        let (host, to) = (plugin_host(h)?, addr_in(to)?);
        let data = bytes_in(data.cast(), len)?.to_vec();
        host.push(HostAction::SendRaw { to, data });
        Ok(())
    })
}

unsafe extern "C" fn public_addr_set(h: *mut spx_host, a: *const spx_addr) -> c_int {
    status(|| {
        let (host, addr) = (plugin_host(h)?, addr_in(a)?);
        host.push(HostAction::SetPublicAddr(addr));
        Ok(())
    })
}

// ------------------------------------------------------------------ ABI 1.1

unsafe extern "C" fn registration_get(
    h: *mut spx_host,
    index: usize,
    out: *mut spx_registration,
) -> c_int {
    status(|| {
        let host = plugin_host(h)?;
        // SAFETY: `out` is the plugin's struct to fill, or NULL.
        let out = unsafe { out.as_mut() }.ok_or(HostError::Invalid)?;
        let reg = host
            .context
            .state
            .registration(index)
            .ok_or(HostError::NotFound)?;
        *out = spx_registration {
            aor: host.keep(reg.aor.as_bytes()),
            contact: host.keep(reg.contact.as_bytes()),
            masq: host.keep(reg.masq.as_bytes()),
            expires_ms: host.context.millis_at(reg.expires_at),
        };
        Ok(())
    })
}

unsafe extern "C" fn rtp_stream_get(
    h: *mut spx_host,
    index: usize,
    out: *mut spx_rtp_stream,
) -> c_int {
    status(|| {
        let host = plugin_host(h)?;
        // SAFETY: `out` is the plugin's struct to fill, or NULL.
        let out = unsafe { out.as_mut() }.ok_or(HostError::Invalid)?;
        let stream = host
            .context
            .state
            .rtp_stream(index)
            .ok_or(HostError::NotFound)?;
        *out = spx_rtp_stream {
            client_id: host.keep(stream.client_id.as_bytes()),
            call_id: host.keep(stream.call_id.as_bytes()),
            call_direction: stream.call_direction.code(),
            stream_direction: stream.stream_direction.code(),
            media_stream_no: stream.media_stream_no,
            local: spx_addr::from(stream.local),
            remote: spx_addr::from(stream.remote),
        };
        Ok(())
    })
}

unsafe extern "C" fn via_add_own(m: *mut spx_msg, interface: c_int) -> c_int {
    status(|| {
        let interface = match interface {
            abi::SPX_IF_OUTBOUND => Interface::Outbound,
            abi::SPX_IF_INBOUND => Interface::Inbound,
            _ => return Err(HostError::Invalid),
        };
        ticket_mut(m, MsgCall::AddOwnVia)?.add_own_via(interface)
    })
}

unsafe extern "C" fn status_requests(h: *mut spx_host) -> u64 {
    catch_unwind(|| plugin_host(h).map_or(0, |host| host.context.status_requests())).unwrap_or(0)
}
