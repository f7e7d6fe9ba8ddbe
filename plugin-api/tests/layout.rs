//! Keeps the Rust mirror (`spx::abi`) equal to the contract, `siproxd_plugin.h`:
//! one list below generates both a C program (compiled with `cc` against the
//! header) and the Rust values; every size, offset and constant must match.

use spx::abi;
use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

fn include_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("include")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spx-layout-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// (label, Rust value, C expression).
type Row = (String, u64, String);

macro_rules! structs {
    ($($ty:ident { $($field:ident),* $(,)? })*) => {{
        let mut rows: Vec<Row> = Vec::new();
        $(
            rows.push((
                format!("sizeof {}", stringify!($ty)),
                size_of::<abi::$ty>() as u64,
                format!("sizeof({})", stringify!($ty)),
            ));
            $(rows.push((
                format!("offsetof {}.{}", stringify!($ty), stringify!($field)),
                offset_of!(abi::$ty, $field) as u64,
                format!("offsetof({}, {})", stringify!($ty), stringify!($field)),
            ));)*
        )*
        rows
    }};
}

macro_rules! constants {
    ($($name:ident),* $(,)?) => {
        vec![$((
            stringify!($name).to_string(),
            abi::$name as i64 as u64,
            stringify!($name).to_string(),
        )),*]
    };
}

fn rows() -> Vec<Row> {
    let mut rows = structs! {
        spx_str { ptr, len }
        spx_hdr { name, value }
        spx_addr { family, reserved, port, ip }
        spx_host_api {
            struct_size, abi_major, abi_minor, host_version, log, config_count, config_get,
            now_ms, timer_request, msg_is_request, msg_method, msg_status, msg_direction,
            msg_transport, msg_source, msg_raw, uri_get, uri_set, header_count, header_get,
            header_set, header_insert, header_remove, body_get, body_set, next_hop_set,
            direction_set, reply, send_raw, public_addr_set, registration_get,
            rtp_stream_get, via_add_own, status_requests,
        }
        spx_registration { aor, contact, masq, expires_ms }
        spx_rtp_stream {
            client_id, call_id, call_direction, stream_direction, media_stream_no, local,
            remote,
        }
        spx_plugin_desc {
            struct_size, abi_major, abi_minor, name, description, stages, flags, init,
            process, fini,
        }
    };
    rows.extend(constants!(
        SPX_ABI_MAJOR,
        SPX_ABI_MINOR,
        SPX_STAGE_TIMER,
        SPX_STAGE_PROCESS_RAW,
        SPX_STAGE_VALIDATE,
        SPX_STAGE_DETERMINE_TARGET,
        SPX_STAGE_PRE_PROXY,
        SPX_STAGE_PROXY_UNK,
        SPX_STAGE_POST_PROXY,
        SPX_STAGES_V1_0,
        SPX_CONTINUE,
        SPX_DROP,
        SPX_SIP_SENT,
        SPX_ERROR,
        SPX_OK,
        SPX_E_NOTFOUND,
        SPX_E_INVAL,
        SPX_E_STAGE,
        SPX_E_NOMEM,
        SPX_E_IO,
        SPX_DIR_UNKNOWN,
        SPX_DIR_REQ_INCOMING,
        SPX_DIR_REQ_OUTGOING,
        SPX_DIR_RES_INCOMING,
        SPX_DIR_RES_OUTGOING,
        SPX_TRANSPORT_UDP,
        SPX_TRANSPORT_TCP,
        SPX_LOG_ERROR,
        SPX_LOG_WARN,
        SPX_LOG_INFO,
        SPX_LOG_DEBUG,
        SPX_IF_OUTBOUND,
        SPX_IF_INBOUND,
        SPX_INDEX_ALL,
        SPX_INDEX_END,
    ));
    rows
}

fn c_program(rows: &[Row]) -> String {
    let mut c = String::from(
        "#include <stdio.h>\n#include <string.h>\n#include \"siproxd_plugin.h\"\nint main(void) {\n",
    );
    for (label, _, expr) in rows {
        c += &format!("    printf(\"%s=%llu\\n\", \"{label}\", (unsigned long long)({expr}));\n");
    }
    c += "    printf(\"symbol=%s\\n\", SPX_DESCRIPTOR_SYMBOL);\n    return 0;\n}\n";
    c
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run cc (is a C compiler installed?)");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn rust_mirror_matches_the_c_header() {
    let rows = rows();
    let dir = scratch("mirror");
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, c_program(&rows)).unwrap();
    run(Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
        .arg(include_dir())
        .arg(&src)
        .arg("-o")
        .arg(&exe));
    let printed = run(&mut Command::new(&exe));
    let mut expected: Vec<String> = rows.iter().map(|(l, v, _)| format!("{l}={v}")).collect();
    let symbol = std::str::from_utf8(abi::SPX_DESCRIPTOR_SYMBOL).unwrap();
    expected.push(format!("symbol={}", symbol.trim_end_matches('\0')));
    let printed: Vec<&str> = printed.lines().collect();
    assert_eq!(printed.len(), expected.len(), "C printed {printed:?}");
    let drift: Vec<String> = (printed.iter().zip(&expected))
        .filter(|(c, rust)| *c != rust)
        .map(|(c, rust)| format!("C {c} / Rust {rust}"))
        .collect();
    assert!(
        drift.is_empty(),
        "abi.rs drifted from the header: {drift:#?}"
    );
}

#[test]
fn minor_sizes_are_prefixes_of_the_full_structs() {
    assert_eq!(
        abi::SPX_PLUGIN_DESC_V1_0_SIZE,
        size_of::<abi::spx_plugin_desc>()
    );
    // 1.1 appended four functions to the host table and nothing else.
    assert_eq!(abi::SPX_HOST_API_V1_1_SIZE, size_of::<abi::spx_host_api>());
    assert_eq!(
        abi::SPX_HOST_API_V1_0_SIZE,
        offset_of!(abi::spx_host_api, registration_get)
    );
    assert_eq!(
        abi::SPX_HOST_API_V1_1_SIZE - abi::SPX_HOST_API_V1_0_SIZE,
        4 * size_of::<usize>()
    );
}

#[test]
fn header_is_clean_c99_and_cplusplus() {
    let header = include_dir().join("siproxd_plugin.h");
    let dir = scratch("strict");
    run(Command::new("cc")
        .args([
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-fsyntax-only",
            "-x",
            "c",
        ])
        .arg(&header));
    let cpp = dir.join("use.cpp");
    std::fs::write(
        &cpp,
        "#include \"siproxd_plugin.h\"\n\
         static int i(const spx_host_api *, spx_host *, void **) { return SPX_OK; }\n\
         static int p(void *, uint32_t, spx_msg *) { return SPX_CONTINUE; }\n\
         static void f(void *) {}\n\
         SPX_DECLARE_PLUGIN = { sizeof(spx_plugin_desc), SPX_ABI_MAJOR, SPX_ABI_MINOR,\n\
             \"plugin_cpp\", \"C++ syntax check\", SPX_STAGE_TIMER, 0, i, p, f };\n",
    )
    .unwrap();
    run(Command::new("c++")
        .args([
            "-x",
            "c++",
            "-fsyntax-only",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-I",
        ])
        .arg(include_dir())
        .arg(&cpp));
}
