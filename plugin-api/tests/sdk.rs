//! The SDK against a fake host table written in Rust: config access, message
//! access and edits, replies, timers, and the panic guard at the boundary.
//! The plugin under test is driven through its descriptor exactly as the
//! daemon drives it, so these tests cover the `extern "C"` trampolines too.

use spx::abi::{self, spx_addr, spx_hdr, spx_host, spx_host_api, spx_msg, spx_str};
use spx::{Host, Msg, Plugin, Stage, Verdict};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;

// ---------------------------------------------------------------- the plugin

struct Probe {
    entries: Vec<String>,
    calls: usize,
    panic_in: Option<String>,
}

impl Plugin for Probe {
    const NAME: &'static CStr = c"plugin_probe";
    const DESCRIPTION: &'static CStr = c"SDK test plugin";
    const STAGES: u32 = Stage::Timer.bit() | Stage::DetermineTarget.bit() | Stage::PreProxy.bit();

    fn init(host: &Host) -> Result<Self, String> {
        let panic_in = host.plugin_config("panic");
        match panic_in.as_deref() {
            Some("init") => panic!("boom in init"),
            Some("fail") => return Err("no entries configured".into()),
            _ => {}
        }
        let entries = host.plugin_config_all("entry");
        let global = host.config("sip_listen_port").unwrap_or_default();
        host.info(&format!("entries {} port {global}", entries.join("|")));
        Ok(Probe {
            entries,
            calls: 0,
            panic_in,
        })
    }

    fn process(&mut self, host: &Host, stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
        self.calls += 1;
        if self.panic_in.as_deref() == Some("process") {
            panic!("boom {}", self.calls);
        }
        match (stage, msg) {
            (Stage::Timer, None) => host
                .request_timer(250)
                .map_or(Verdict::Error, |()| Verdict::Continue),
            (Stage::PreProxy, Some(msg)) => pre_proxy(host, msg),
            (Stage::DetermineTarget, Some(msg)) => {
                let contact = format!("<sip:{}@192.168.1.10>", self.entries[0]);
                let extra: [(&str, &[u8]); 1] = [("Contact", contact.as_bytes())];
                msg.reply(302, None, &extra).unwrap_or(Verdict::Error)
            }
            _ => Verdict::Error,
        }
    }

    fn fini(&mut self, host: &Host) {
        if self.panic_in.as_deref() == Some("fini") {
            panic!("boom in fini");
        }
        host.info(&format!("fini after {} calls", self.calls));
    }
}

fn pre_proxy(host: &Host, msg: &mut Msg<'_>) -> Verdict {
    let line = format!(
        "{} {} vias {:?}",
        String::from_utf8_lossy(msg.method().unwrap_or(b"?")),
        String::from_utf8_lossy(msg.request_uri().unwrap_or(b"?")),
        msg.header_values("Via")
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect::<Vec<_>>(),
    );
    host.info(&line);
    let edits = [
        msg.set_header("Subject", 0, b"probed"),
        msg.append_header("X-Probe", b"1"),
        msg.remove_headers("X-Secret"),
    ];
    if let Some(Err(e)) = edits.iter().find(|r| r.is_err()) {
        host.warn(&format!("edit failed: {e}"));
    }
    Verdict::Continue
}

// ------------------------------------------------------------- the fake host

#[derive(Default)]
struct FakeHost {
    config: Vec<(&'static str, &'static str)>,
    logs: RefCell<Vec<String>>,
    timers: RefCell<Vec<u32>>,
}

#[derive(Default)]
struct FakeMsg {
    method: Vec<u8>,
    uri: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    reply: Option<(c_int, Vec<(String, String)>)>,
}

fn fake(h: *mut spx_host) -> &'static FakeHost {
    // SAFETY: every handle in these tests is a `&FakeHost` that outlives the calls.
    unsafe { &*h.cast::<FakeHost>() }
}

fn fake_msg(m: *mut spx_msg) -> &'static mut FakeMsg {
    // SAFETY: every message handle is a `&mut FakeMsg` live during `process`.
    unsafe { &mut *m.cast::<FakeMsg>() }
}

fn text(ptr: *const c_char, len: usize) -> String {
    // SAFETY: the SDK passes (ptr, len) pairs valid during the call.
    String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
        .into_owned()
}

fn c_text(ptr: *const c_char) -> String {
    // SAFETY: the SDK passes NUL-terminated names.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

fn lend(out: *mut spx_str, bytes: &[u8]) -> c_int {
    // SAFETY: `out` points at the SDK's local `spx_str`.
    unsafe {
        *out = spx_str {
            ptr: bytes.as_ptr().cast(),
            len: bytes.len(),
        }
    };
    abi::SPX_OK
}

unsafe extern "C" fn log(h: *mut spx_host, level: c_int, msg: *const c_char, len: usize) {
    fake(h)
        .logs
        .borrow_mut()
        .push(format!("{level} {}", text(msg, len)));
}

fn values(h: *mut spx_host, key: *const c_char) -> Vec<&'static str> {
    let key = c_text(key);
    fake(h)
        .config
        .iter()
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .collect()
}

unsafe extern "C" fn config_count(h: *mut spx_host, key: *const c_char) -> usize {
    values(h, key).len()
}

unsafe extern "C" fn config_get(
    h: *mut spx_host,
    key: *const c_char,
    i: usize,
    out: *mut spx_str,
) -> c_int {
    values(h, key)
        .get(i)
        .map_or(abi::SPX_E_NOTFOUND, |v| lend(out, v.as_bytes()))
}

unsafe extern "C" fn now_ms(_: *mut spx_host) -> u64 {
    42
}

unsafe extern "C" fn timer_request(h: *mut spx_host, after_ms: u32) -> c_int {
    fake(h).timers.borrow_mut().push(after_ms);
    abi::SPX_OK
}

unsafe extern "C" fn msg_is_request(_: *mut spx_msg) -> c_int {
    1
}

unsafe extern "C" fn msg_method(m: *mut spx_msg, out: *mut spx_str) -> c_int {
    lend(out, &fake_msg(m).method)
}

unsafe extern "C" fn msg_int(_: *mut spx_msg) -> c_int {
    0
}

unsafe extern "C" fn msg_source(_: *mut spx_msg, _: *mut spx_addr) -> c_int {
    abi::SPX_E_STAGE
}

unsafe extern "C" fn msg_get_stage(_: *mut spx_msg, _: *mut spx_str) -> c_int {
    abi::SPX_E_STAGE
}

unsafe extern "C" fn uri_get(m: *mut spx_msg, out: *mut spx_str) -> c_int {
    lend(out, &fake_msg(m).uri)
}

unsafe extern "C" fn set_stage(_: *mut spx_msg, _: *const c_char, _: usize) -> c_int {
    abi::SPX_E_STAGE
}

/// The one compact form the fixtures use (`v` is `Via`), as the host must.
fn same_header(a: &str, b: &str) -> bool {
    let long = |n: &str| {
        if n.eq_ignore_ascii_case("v") {
            "via".to_string()
        } else {
            n.to_ascii_lowercase()
        }
    };
    long(a) == long(b)
}

fn positions(m: *mut spx_msg, name: *const c_char) -> Vec<usize> {
    let name = c_text(name);
    let headers = &fake_msg(m).headers;
    (0..headers.len())
        .filter(|&i| same_header(&headers[i].0, &name))
        .collect()
}

unsafe extern "C" fn header_count(m: *mut spx_msg, name: *const c_char) -> usize {
    positions(m, name).len()
}

unsafe extern "C" fn header_get(
    m: *mut spx_msg,
    name: *const c_char,
    i: usize,
    out: *mut spx_str,
) -> c_int {
    match positions(m, name).get(i) {
        Some(&at) => lend(out, &fake_msg(m).headers[at].1),
        None => abi::SPX_E_NOTFOUND,
    }
}

unsafe extern "C" fn header_set(
    m: *mut spx_msg,
    name: *const c_char,
    i: usize,
    v: *const c_char,
    len: usize,
) -> c_int {
    match positions(m, name).get(i) {
        Some(&at) => {
            fake_msg(m).headers[at].1 = text(v, len).into_bytes();
            abi::SPX_OK
        }
        None => abi::SPX_E_NOTFOUND,
    }
}

unsafe extern "C" fn header_insert(
    m: *mut spx_msg,
    name: *const c_char,
    before: usize,
    v: *const c_char,
    len: usize,
) -> c_int {
    let at = positions(m, name).get(before).copied();
    let headers = &mut fake_msg(m).headers;
    headers.insert(
        at.unwrap_or(headers.len()),
        (c_text(name), text(v, len).into_bytes()),
    );
    abi::SPX_OK
}

unsafe extern "C" fn header_remove(m: *mut spx_msg, name: *const c_char, i: usize) -> c_int {
    let name = c_text(name);
    let before = fake_msg(m).headers.len();
    assert_eq!(i, abi::SPX_INDEX_ALL, "the probe only removes all");
    fake_msg(m)
        .headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
    if fake_msg(m).headers.len() == before {
        abi::SPX_E_NOTFOUND
    } else {
        abi::SPX_OK
    }
}

unsafe extern "C" fn next_hop_set(_: *mut spx_msg, _: *const spx_addr) -> c_int {
    abi::SPX_E_STAGE
}

unsafe extern "C" fn direction_set(_: *mut spx_msg, _: c_int) -> c_int {
    abi::SPX_E_STAGE
}

unsafe extern "C" fn reply(
    m: *mut spx_msg,
    code: c_int,
    _: *const c_char,
    _: usize,
    extra: *const spx_hdr,
    n: usize,
) -> c_int {
    // SAFETY: the SDK passes `n` valid `spx_hdr`s.
    let extra = unsafe { std::slice::from_raw_parts(extra, n) };
    let extra = extra
        .iter()
        .map(|h| (text(h.name.ptr, h.name.len), text(h.value.ptr, h.value.len)));
    fake_msg(m).reply = Some((code, extra.collect()));
    abi::SPX_OK
}

unsafe extern "C" fn send_raw(
    _: *mut spx_host,
    _: *const spx_addr,
    _: *const u8,
    _: usize,
) -> c_int {
    abi::SPX_E_IO
}

unsafe extern "C" fn public_addr_set(_: *mut spx_host, _: *const spx_addr) -> c_int {
    abi::SPX_E_STAGE
}

unsafe extern "C" fn registration_get(
    _: *mut spx_host,
    _: usize,
    _: *mut abi::spx_registration,
) -> c_int {
    abi::SPX_E_NOTFOUND
}

unsafe extern "C" fn rtp_stream_get(
    _: *mut spx_host,
    _: usize,
    _: *mut abi::spx_rtp_stream,
) -> c_int {
    abi::SPX_E_NOTFOUND
}

unsafe extern "C" fn via_add_own(_: *mut spx_msg, _: c_int) -> c_int {
    abi::SPX_E_STAGE
}

unsafe extern "C" fn status_requests(_: *mut spx_host) -> u64 {
    0
}

static FAKE_API: spx_host_api = spx_host_api {
    struct_size: std::mem::size_of::<spx_host_api>() as u32,
    abi_major: 1,
    abi_minor: 0,
    host_version: c"fake-host 0".as_ptr(),
    log,
    config_count,
    config_get,
    now_ms,
    timer_request,
    msg_is_request,
    msg_method,
    msg_status: msg_int,
    msg_direction: msg_int,
    msg_transport: msg_int,
    msg_source,
    msg_raw: msg_get_stage,
    uri_get,
    uri_set: set_stage,
    header_count,
    header_get,
    header_set,
    header_insert,
    header_remove,
    body_get: msg_get_stage,
    body_set: set_stage,
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

// ------------------------------------------------------ driving the descriptor

const DESC: abi::spx_plugin_desc = spx::ffi::descriptor::<Probe>();

fn init(host: &FakeHost) -> (c_int, *mut c_void) {
    let mut state = ptr::null_mut();
    let handle = ptr::from_ref(host).cast_mut().cast::<spx_host>();
    // SAFETY: the descriptor's init with a full table, a live handle and a state slot.
    let rc = unsafe { DESC.init.unwrap()(&FAKE_API, handle, &mut state) };
    (rc, state)
}

fn process(state: *mut c_void, stage: u32, msg: Option<&mut FakeMsg>) -> c_int {
    let m = msg.map_or(ptr::null_mut(), |m| ptr::from_mut(m).cast::<spx_msg>());
    // SAFETY: `state` came from init; `m` is live for the call or NULL.
    unsafe { DESC.process.unwrap()(state, stage, m) }
}

fn fini(state: *mut c_void) {
    // SAFETY: `state` came from init and is handed back once.
    unsafe { DESC.fini.unwrap()(state) }
}

fn host_with(config: &[(&'static str, &'static str)]) -> FakeHost {
    FakeHost {
        config: config.to_vec(),
        ..FakeHost::default()
    }
}

fn invite() -> FakeMsg {
    FakeMsg {
        method: b"INVITE".to_vec(),
        uri: b"sip:*1@sip.example".to_vec(),
        headers: vec![
            (
                "Via".into(),
                b"SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKa, SIP/2.0/UDP 10.0.0.3".to_vec(),
            ),
            ("v".into(), b"SIP/2.0/UDP 10.0.0.4".to_vec()),
            ("Subject".into(), b"hello".to_vec()),
            ("X-Secret".into(), b"1".to_vec()),
        ],
        ..FakeMsg::default()
    }
}

fn logs(host: &FakeHost) -> Vec<String> {
    host.logs.borrow().clone()
}

// ------------------------------------------------------------------- tests

#[test]
fn descriptor_carries_abi_name_and_stages() {
    assert_eq!(DESC.struct_size as usize, abi::SPX_PLUGIN_DESC_V1_0_SIZE);
    assert_eq!((DESC.abi_major, DESC.abi_minor), (1, 0));
    // SAFETY: the descriptor's name is a static C string.
    assert_eq!(unsafe { CStr::from_ptr(DESC.name) }, c"plugin_probe");
    assert_eq!(DESC.stages, 0x001 | 0x020 | 0x040);
    assert_eq!(DESC.flags, 0);
}

#[test]
fn config_lines_are_read_in_file_order_and_repeatable() {
    let host = host_with(&[
        ("plugin_probe_entry", "600"),
        ("sip_listen_port", "5060"),
        ("plugin_probe_entry", "601"),
        ("plugin_probeX_entry", "not mine"),
        ("plugin_probe_entry", "602"),
    ]);
    let (rc, state) = init(&host);
    assert_eq!(rc, abi::SPX_OK);
    fini(state);
    assert_eq!(
        logs(&host),
        ["3 entries 600|601|602 port 5060", "3 fini after 0 calls"]
    );
}

#[test]
fn pre_proxy_reads_and_edits_the_message() {
    let host = host_with(&[]);
    let (_, state) = init(&host);
    let mut msg = invite();
    assert_eq!(
        process(state, abi::SPX_STAGE_PRE_PROXY, Some(&mut msg)),
        abi::SPX_CONTINUE
    );
    fini(state);
    assert_eq!(
        logs(&host)[1],
        "3 INVITE sip:*1@sip.example vias [\"SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKa\", \
         \"SIP/2.0/UDP 10.0.0.3\", \"SIP/2.0/UDP 10.0.0.4\"]"
    );
    let names: Vec<(&str, &[u8])> = msg
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    assert_eq!(
        &names[2..],
        [("Subject", &b"probed"[..]), ("X-Probe", b"1")]
    );
}

#[test]
fn reply_sends_302_and_answers_sip_sent() {
    let host = host_with(&[("plugin_probe_entry", "600")]);
    let (_, state) = init(&host);
    let mut msg = invite();
    assert_eq!(
        process(state, abi::SPX_STAGE_DETERMINE_TARGET, Some(&mut msg)),
        abi::SPX_SIP_SENT
    );
    fini(state);
    let contact = ("Contact".to_string(), "<sip:600@192.168.1.10>".to_string());
    assert_eq!(msg.reply, Some((302, vec![contact])));
}

#[test]
fn timer_stage_has_no_message_and_can_request_a_timer() {
    let host = host_with(&[]);
    let (_, state) = init(&host);
    assert_eq!(
        process(state, abi::SPX_STAGE_TIMER, None),
        abi::SPX_CONTINUE
    );
    fini(state);
    assert_eq!(*host.timers.borrow(), [250]);
}

#[test]
fn unknown_stage_bit_is_not_passed_to_the_plugin() {
    let host = host_with(&[]);
    let (_, state) = init(&host);
    assert_eq!(process(state, 0x002, None), abi::SPX_CONTINUE);
    fini(state);
    assert_eq!(logs(&host)[1], "3 fini after 0 calls");
}

#[test]
fn panic_in_process_is_caught_reported_and_poisons_the_instance() {
    let host = host_with(&[("plugin_probe_panic", "process")]);
    let (rc, state) = init(&host);
    assert_eq!(rc, abi::SPX_OK);
    let mut msg = invite();
    assert_eq!(
        process(state, abi::SPX_STAGE_PRE_PROXY, Some(&mut msg)),
        abi::SPX_ERROR
    );
    assert_eq!(
        process(state, abi::SPX_STAGE_PRE_PROXY, Some(&mut msg)),
        abi::SPX_CONTINUE
    );
    fini(state);
    // One panic only (the poisoned instance never ran again), and no fini.
    assert_eq!(
        logs(&host),
        [
            "3 entries  port ",
            "1 plugin panicked in PRE_PROXY: boom 1; disabled"
        ]
    );
}

#[test]
fn panic_in_init_is_caught_and_leaves_no_state() {
    let host = host_with(&[("plugin_probe_panic", "init")]);
    let (rc, state) = init(&host);
    assert_eq!((rc, state), (abi::SPX_ERROR, ptr::null_mut()));
    assert_eq!(
        logs(&host),
        ["1 plugin panicked in init: boom in init; disabled"]
    );
}

#[test]
fn init_error_is_logged_with_its_reason() {
    let host = host_with(&[("plugin_probe_panic", "fail")]);
    let (rc, state) = init(&host);
    assert_eq!((rc, state), (abi::SPX_ERROR, ptr::null_mut()));
    assert_eq!(logs(&host), ["1 init failed: no entries configured"]);
}

#[test]
fn panic_in_fini_is_caught() {
    let host = host_with(&[("plugin_probe_panic", "fini")]);
    let (_, state) = init(&host);
    fini(state);
    assert_eq!(logs(&host)[1], "1 plugin panicked in fini: boom in fini");
}

#[test]
fn a_host_table_smaller_than_abi_1_0_is_refused() {
    let small = spx_host_api {
        struct_size: 100,
        ..FAKE_API
    };
    let host = host_with(&[]);
    let mut state = ptr::null_mut();
    let handle = ptr::from_ref(&host).cast_mut().cast::<spx_host>();
    // SAFETY: the table is complete in memory; only its declared size is small.
    let rc = unsafe { DESC.init.unwrap()(&small, handle, &mut state) };
    assert_eq!((rc, state), (abi::SPX_ERROR, ptr::null_mut()));
    assert!(logs(&host).is_empty());
}

#[test]
fn verdicts_and_stages_keep_siproxd_numbers() {
    let codes: Vec<c_int> = [
        Verdict::Continue,
        Verdict::Drop,
        Verdict::SipSent,
        Verdict::Error,
    ]
    .map(Verdict::code)
    .into();
    assert_eq!(codes, [0, 1, 2001, -1]);
    assert_eq!(Stage::from_bit(0x100), Some(Stage::PostProxy));
    assert_eq!(Stage::from_bit(0x041), None);
    assert_eq!(Stage::DetermineTarget.to_string(), "DETERMINE_TARGET");
}
