//! A peer: one per edge namespace, standing for the phones (LAN) or the provider (WAN).
//! ONE UDP socket, bound to the address the relay role puts in the SDP, both sends and
//! receives (symmetric RTP, as a phone does), so the relay's latching sees the SDP address.
//!
//! - Sending (control thread, on command): see `send.rs`.
//! - Receiving (its own thread, all the time): a *lazy* receiver — non-blocking `recvmmsg` in
//!   a loop, sleeping 1 ms whenever the socket is empty. On veth the receiver's wake-up
//!   (try_to_wake_up, IPI) runs inside the sender's syscall, so a receiver that blocks in
//!   `recv` charges its own wake-ups to the relay thread's CPU; real phones and providers are
//!   other hosts. Latency therefore comes from kernel receive timestamps (SO_TIMESTAMPNS,
//!   CLOCK_REALTIME, one SCM_TIMESTAMPNS cmsg per datagram) minus the CLOCK_REALTIME send
//!   time in the payload (one clock for all namespaces), not from when the thread got round
//!   to reading. `RELAY_BENCH_EAGER_SINK=1` makes the receiver block per batch instead
//!   (MSG_WAITFORONE, woken by every sender), for comparison.
//!   It counts delivered packets, reordering (a sequence number below the highest seen for
//!   its stream) and one-way latency (1 µs histogram).
//!
//! Control protocol on stdin/stdout, one line each:
//! `reset` → `reset` (queued packets drained, counters zeroed) ·
//! `send DST_IP RATE MILLIS PORT,PORT,…` → when done, `sent S target T failed F
//! behind_max_us B cpu_ns C` (C: the sending thread's CPU during the run) ·
//! `report` → `recv N reordered R p50_us A p99_us B max_us C rcvbuf_errors E` · `quit`.

use std::io::{BufRead, Write};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

use crate::send::{self, PACKET};
use crate::sys::{self, realtime_ns};

const BATCH: usize = 64;
/// Latency histogram: 1 µs buckets up to 1 s.
const BUCKETS: usize = 1_000_000;

struct Stats {
    recv: u64,
    reordered: u64,
    max_seq: Vec<u32>,
    hist: Vec<u32>,
    max_ns: u64,
    rcvbuf_base: u64,
}

impl Stats {
    fn new() -> Self {
        Stats {
            recv: 0,
            reordered: 0,
            max_seq: Vec::new(),
            hist: vec![0; BUCKETS + 1],
            max_ns: 0,
            rcvbuf_base: sys::udp_rcvbuf_errors(),
        }
    }

    /// One datagram, `stamp` = its kernel receive time (CLOCK_REALTIME ns).
    fn observe(&mut self, pkt: &[u8], stamp: u64) {
        if pkt.len() < 28 {
            return;
        }
        let stream = u32::from_be_bytes(pkt[12..16].try_into().unwrap_or_default()) as usize;
        let seq = u32::from_be_bytes(pkt[16..20].try_into().unwrap_or_default());
        let ts = u64::from_be_bytes(pkt[20..28].try_into().unwrap_or_default());
        self.recv += 1;
        if stream < 1_000_000 {
            if stream >= self.max_seq.len() {
                self.max_seq.resize(stream + 1, 0);
            }
            if seq < self.max_seq[stream] {
                self.reordered += 1;
            }
            self.max_seq[stream] = self.max_seq[stream].max(seq);
        }
        let lat = stamp.saturating_sub(ts);
        self.max_ns = self.max_ns.max(lat);
        self.hist[((lat / 1000) as usize).min(BUCKETS)] += 1;
    }

    fn percentile_us(&self, p: f64) -> u64 {
        let want = ((self.recv as f64) * p).ceil() as u64;
        let mut acc = 0u64;
        for (us, n) in self.hist.iter().enumerate() {
            acc += u64::from(*n);
            if acc >= want.max(1) {
                return us as u64;
            }
        }
        BUCKETS as u64
    }

    fn report(&self) -> String {
        format!(
            "recv {} reordered {} p50_us {} p99_us {} max_us {} rcvbuf_errors {}",
            self.recv,
            self.reordered,
            self.percentile_us(0.50),
            self.percentile_us(0.99),
            self.max_ns / 1000,
            sys::udp_rcvbuf_errors().saturating_sub(self.rcvbuf_base)
        )
    }
}

enum Cmd {
    Reset,
    Report,
}

pub fn run(bind: SocketAddrV4) {
    let sock = UdpSocket::bind(bind).unwrap_or_else(|e| panic!("bind peer {bind}: {e}"));
    sys::force_buffer(&sock, libc::SO_SNDBUFFORCE, 16 << 20);
    sys::force_buffer(&sock, libc::SO_RCVBUFFORCE, 64 << 20);
    sys::set_int_opt(&sock, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1).expect("SO_TIMESTAMPNS");
    let eager = std::env::var("RELAY_BENCH_EAGER_SINK").is_ok_and(|v| v == "1");
    // Bounds the eager receiver's blocking wait, so it still sees commands.
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    let rx_sock = sock.try_clone().expect("clone socket");
    let (cmd_tx, cmd_rx) = mpsc::channel::<(Cmd, Sender<String>)>();
    std::thread::Builder::new()
        .name("peer-recv".into())
        .spawn(move || receive(&rx_sock, &cmd_rx, eager))
        .expect("spawn receiver");
    let ask = |cmd: Cmd| -> String {
        let (tx, rx) = mpsc::channel();
        if cmd_tx.send((cmd, tx)).is_err() {
            return "error receiver gone".into();
        }
        rx.recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| "error receiver not answering".into())
    };
    let mut out = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["reset"] => ask(Cmd::Reset),
            ["report"] => ask(Cmd::Report),
            ["send", dst, rate, millis, ports] => send_run(
                &sock,
                sys::ip(dst),
                rate.parse().expect("send rate"),
                millis.parse().expect("send millis"),
                ports,
            ),
            ["quit"] | [] => break,
            _ => format!("error unknown command {line}"),
        };
        writeln!(out, "{answer}").ok();
        out.flush().ok();
    }
}

fn send_run(sock: &UdpSocket, dst: Ipv4Addr, rate: u64, millis: u64, ports: &str) -> String {
    let dests: Vec<libc::sockaddr_in> = ports
        .split(',')
        .filter_map(|p| p.parse().ok())
        .map(|p| sys::sockaddr_in(SocketAddrV4::new(dst, p)))
        .collect();
    let cpu0 = sys::thread_cpu_self_ns();
    let r = send::pace(sock, &dests, rate, millis);
    format!(
        "sent {} target {} failed {} behind_max_us {} cpu_ns {}",
        r.sent,
        r.target,
        r.failed,
        r.behind_max_ns / 1000,
        sys::thread_cpu_self_ns().saturating_sub(cpu0)
    )
}

/// The receiver thread: counts until the control thread is gone.
fn receive(sock: &UdpSocket, cmds: &Receiver<(Cmd, Sender<String>)>, eager: bool) {
    let mut stats = Stats::new();
    let mut batch = RecvBatch::new();
    let flags = if eager {
        libc::MSG_WAITFORONE
    } else {
        libc::MSG_DONTWAIT
    };
    loop {
        match cmds.try_recv() {
            Ok((Cmd::Reset, reply)) => {
                // Drain what is queued (bounded), then acknowledge: the orchestrator starts
                // sending only after this answer, so no packet of a step is wiped.
                let until = Instant::now() + Duration::from_secs(2);
                while batch.recv(sock, libc::MSG_DONTWAIT) > 0 && Instant::now() < until {}
                stats = Stats::new();
                let _ = reply.send("reset".into());
            }
            Ok((Cmd::Report, reply)) => {
                let _ = reply.send(stats.report());
            }
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => {}
        }
        let n = batch.recv(sock, flags);
        for i in 0..n {
            stats.observe(&batch.bufs[i][..batch.lens[i].min(PACKET)], batch.stamps[i]);
        }
        if n == 0 && !eager {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Buffers for one `recvmmsg`: payloads, control space for one timespec cmsg each, and the
/// results (length and kernel receive time per datagram).
struct RecvBatch {
    bufs: Vec<[u8; 256]>,
    /// CMSG_SPACE(sizeof(timespec)) = 32 bytes on 64-bit; 8-byte aligned as cmsghdr needs.
    ctrl: Vec<[u64; 8]>,
    lens: [usize; BATCH],
    stamps: [u64; BATCH],
}

impl RecvBatch {
    fn new() -> Self {
        RecvBatch {
            bufs: vec![[0; 256]; BATCH],
            ctrl: vec![[0; 8]; BATCH],
            lens: [0; BATCH],
            stamps: [0; BATCH],
        }
    }

    /// One `recvmmsg` with `flags`; returns how many datagrams it read (0 on empty/timeout).
    fn recv(&mut self, sock: &UdpSocket, flags: libc::c_int) -> usize {
        // SAFETY: zeroed iovec/mmsghdr are valid (null pointers, zero lengths).
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..BATCH {
            iov[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: self.bufs[i].len(),
            };
            let h = &mut hdrs[i].msg_hdr;
            h.msg_iov = &mut iov[i];
            h.msg_iovlen = 1;
            h.msg_control = self.ctrl[i].as_mut_ptr().cast();
            h.msg_controllen = std::mem::size_of::<[u64; 8]>() as _;
        }
        // SAFETY: every header points at a live iovec, buffer and control buffer of this
        // frame or of `self`, with their true lengths; no source addresses wanted.
        let r = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                hdrs.as_mut_ptr(),
                BATCH as _,
                flags as _,
                std::ptr::null_mut(),
            )
        };
        if r <= 0 {
            return 0;
        }
        let now = realtime_ns();
        let n = r as usize;
        for (i, h) in hdrs.iter().enumerate().take(n) {
            self.lens[i] = h.msg_len as usize;
            self.stamps[i] = kernel_stamp(&h.msg_hdr).unwrap_or(now);
        }
        n
    }
}

/// The SCM_TIMESTAMPNS receive time (CLOCK_REALTIME ns) of a message `recvmmsg` filled in.
fn kernel_stamp(msg: &libc::msghdr) -> Option<u64> {
    // SAFETY: `msg` was filled by recvmmsg: msg_control points at its live control buffer and
    // msg_controllen is what the kernel wrote there; CMSG_FIRSTHDR/CMSG_NXTHDR stay inside it
    // (null at the end), and the timespec is read unaligned from a cmsg the kernel wrote.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}
