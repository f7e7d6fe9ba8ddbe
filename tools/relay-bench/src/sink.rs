//! The WAN-namespace sink: one socket, `recvmmsg`, counting delivered packets, reordering
//! (a sequence number below the highest seen for its stream) and one-way latency (receive
//! time after `recvmmsg` returns minus the generator's CLOCK_MONOTONIC send time).
//!
//! Commands on stdin: `reset` → `reset` · `report` → `recv N reordered R p50_us A p99_us B max_us C
//! rcvbuf_errors E` · `quit`.

use std::io::{BufRead, Write};
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::mpsc::{self, TryRecvError};
use std::time::Duration;

use crate::gen::PACKET;
use crate::sys::{self, mono_ns};

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

    fn observe(&mut self, pkt: &[u8], now: u64) {
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
        let lat = now.saturating_sub(ts);
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
}

pub fn run() {
    let sock =
        UdpSocket::bind(SocketAddrV4::new(crate::SINK_IP, crate::SINK_PORT)).expect("bind sink");
    sys::force_buffer(&sock, libc::SO_RCVBUFFORCE, 64 << 20);
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let mut stats = Stats::new();
    let mut bufs = vec![[0u8; 256]; BATCH];
    loop {
        match rx.try_recv() {
            Ok(cmd) if cmd == "reset" => {
                // Drain what is queued, then acknowledge: the orchestrator starts the
                // generator only after this answer, so no packet of a step is wiped.
                while !recv_batch_nowait(&sock, &mut bufs) {}
                stats = Stats::new();
                println!("reset");
                std::io::stdout().flush().ok();
            }
            Ok(cmd) if cmd == "report" => report(&stats),
            Ok(_) | Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => {}
        }
        let n = recv_batch(&sock, &mut bufs);
        let now = mono_ns();
        for (buf, len) in n {
            stats.observe(&bufs[buf][..len.min(PACKET)], now);
        }
    }
}

fn report(s: &Stats) {
    println!(
        "recv {} reordered {} p50_us {} p99_us {} max_us {} rcvbuf_errors {}",
        s.recv,
        s.reordered,
        s.percentile_us(0.50),
        s.percentile_us(0.99),
        s.max_ns / 1000,
        sys::udp_rcvbuf_errors() - s.rcvbuf_base
    );
    std::io::stdout().flush().ok();
}

/// One blocking `recvmmsg` (MSG_WAITFORONE, SO_RCVTIMEO bounds the wait); (index, len) pairs.
fn recv_batch(sock: &UdpSocket, bufs: &mut [[u8; 256]]) -> Vec<(usize, usize)> {
    // SAFETY: zeroed iovec/mmsghdr are valid (null pointers, zero lengths).
    let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for (i, b) in bufs.iter_mut().enumerate().take(BATCH) {
        iov[i] = libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        };
        hdrs[i].msg_hdr.msg_iov = &mut iov[i];
        hdrs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: every header points at a live iovec/buffer of this frame; no addresses wanted.
    let r = unsafe {
        libc::recvmmsg(
            sock.as_raw_fd(),
            hdrs.as_mut_ptr(),
            BATCH as _,
            libc::MSG_WAITFORONE as _,
            std::ptr::null_mut(),
        )
    };
    if r <= 0 {
        return Vec::new();
    }
    (0..r as usize)
        .map(|i| (i, hdrs[i].msg_len as usize))
        .collect()
}

/// Read and discard one batch without waiting; `true` when the socket was empty.
fn recv_batch_nowait(sock: &UdpSocket, bufs: &mut [[u8; 256]]) -> bool {
    sock.set_nonblocking(true).ok();
    let empty = recv_batch(sock, bufs).is_empty();
    sock.set_nonblocking(false).ok();
    empty
}
