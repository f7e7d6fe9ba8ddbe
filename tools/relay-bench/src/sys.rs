//! Small syscall helpers for the benchmark roles (Linux only).

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// CLOCK_MONOTONIC in ns (pacing).
pub fn mono_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CLOCK_REALTIME in ns: the clock of SO_TIMESTAMPNS receive timestamps, shared by all
/// network namespaces of the host.
pub fn realtime_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// CPU time of the calling thread in ns (user + system, including softirq work the kernel
/// runs in its syscalls, e.g. delivery over veth).
pub fn thread_cpu_self_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// Raise RLIMIT_NOFILE as far as allowed (the relay holds 4 sockets per stream).
pub fn raise_nofile(want: u64) {
    let lim = libc::rlimit {
        rlim_cur: want as libc::rlim_t,
        rlim_max: want as libc::rlim_t,
    };
    // SAFETY: setrlimit/getrlimit read or write one rlimit struct we own.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            let mut cur = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur);
            cur.rlim_cur = cur.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &cur);
        }
    }
}

/// The current RLIMIT_NOFILE soft limit.
#[allow(clippy::unnecessary_cast)] // rlim_t is u32 on some 32-bit targets
pub fn nofile() -> u64 {
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct we own.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) };
    cur.rlim_cur as u64
}

/// Force a socket buffer size past rmem_max/wmem_max (root only; falls back silently).
pub fn force_buffer(sock: &UdpSocket, opt: libc::c_int, bytes: i32) {
    let _ = set_int_opt(sock, libc::SOL_SOCKET, opt, bytes);
}

/// setsockopt with one int value.
pub fn set_int_opt(
    sock: &UdpSocket,
    level: libc::c_int,
    opt: libc::c_int,
    value: i32,
) -> io::Result<()> {
    // SAFETY: setsockopt reads one c_int from `value`, which lives across the call.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            opt,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(last_err())
    }
}

pub fn sockaddr_in(addr: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is a plain C struct; all-zero is a valid value.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = addr.port().to_be();
    sin.sin_addr.s_addr = u32::from(*addr.ip()).to_be();
    sin
}

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap_or_else(|_| panic!("bad IPv4 address {s}"))
}

/// Total CPU time (ns) of this process's threads whose name starts with `prefix`.
pub fn thread_cpu_ns(prefix: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut total = 0;
    for task in dir.flatten() {
        let p = task.path();
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        total += schedstat_ns(&p).unwrap_or_else(|| stat_ticks_ns(&p));
    }
    total
}

fn schedstat_ns(task: &std::path::Path) -> Option<u64> {
    let s = std::fs::read_to_string(task.join("schedstat")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn stat_ticks_ns(task: &std::path::Path) -> u64 {
    let s = std::fs::read_to_string(task.join("stat")).unwrap_or_default();
    // Fields after the ")" of comm: utime is field 14, stime 15 (1-based).
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    ticks * 1_000_000_000 / hz
}

/// VmRSS of this process in kB.
pub fn rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// UDP receive-buffer overflows in this network namespace (/proc/net/snmp RcvbufErrors).
pub fn udp_rcvbuf_errors() -> u64 {
    let s = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut lines = s.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

pub fn last_err() -> io::Error {
    io::Error::last_os_error()
}

/// SCHED_RR at a third of the priority range, as the relay engine's threads ask for
/// (`RelayConfig::realtime`); silently stays at normal priority where not allowed, or when
/// RELAY_NO_RT is set (as for the engine, see relay_role.rs).
pub fn realtime_like_engine() {
    if std::env::var_os("RELAY_NO_RT").is_some() {
        return;
    }
    // SAFETY: plain libc calls on the current thread with a sched_param we own.
    unsafe {
        let min = libc::sched_get_priority_min(libc::SCHED_RR);
        let max = libc::sched_get_priority_max(libc::SCHED_RR);
        let param = libc::sched_param {
            sched_priority: min + (max - min) / 3,
        };
        libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_RR, &param);
    }
}
