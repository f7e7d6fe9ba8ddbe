//! Reference relays for the CPU figure: the least work any user-space relay on sockets can do
//! on this machine, measured in the same run as the real engine.
//!
//! A floor relay moves each call's packets between its LAN and WAN socket pair and does nothing
//! else: no latching, no source check, no counters, no dejitter, no commands. It runs on the
//! same kind of sockets (one bound socket per side and call), in one thread at the engine's
//! scheduling (SCHED_RR where allowed) and with the engine's wake-up coalescing, so the
//! difference to the engine is the engine's own work. Two I/O styles:
//! - `epoll`: readiness via epoll, one `recvmmsg` and one `sendmmsg` per ready socket — the
//!   engine's style;
//! - `uring`: io_uring with multishot `recvmsg` into provided buffers and `sendmsg` SQEs, all
//!   sends of a wake-up submitted together, waiting with `min_wait` (Linux 6.12+) — no
//!   readiness syscalls and no per-packet syscalls.
//!
//! Not production code: errors end the thread (the step then shows loss).

use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sys;
use crate::{GEN_IP, GEN_PORT, LAN_RELAY_IP, SINK_IP, SINK_PORT, WAN_RELAY_IP};

/// First port of the floor relays' sockets (the engine's table is idle while they run).
const BASE_PORT: u16 = 10_000;
/// Wake-up coalescing, as `RelayConfig::default().coalesce`.
const COALESCE: Duration = Duration::from_micros(300);
const BATCH: usize = 32;
const BUF: usize = 2048;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Epoll,
    Uring,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "epoll" => Some(Kind::Epoll),
            "uring" => Some(Kind::Uring),
            _ => None,
        }
    }
}

/// A running floor relay; `stop` ends it and closes its sockets.
pub struct Floor {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl Floor {
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

/// Socket `2i` is call i's LAN socket, `2i + 1` its WAN socket; a packet received on one
/// leaves from the other, to the peer on that side.
struct Calls {
    socks: Vec<UdpSocket>,
    lan_peer: libc::sockaddr_in,
    wan_peer: libc::sockaddr_in,
}

impl Calls {
    fn out(&self, from: usize) -> (&UdpSocket, &libc::sockaddr_in) {
        if from % 2 == 0 {
            (&self.socks[from + 1], &self.wan_peer)
        } else {
            (&self.socks[from - 1], &self.lan_peer)
        }
    }
}

/// Bind `n` calls and start the floor relay; returns it and the `L/W` port of each call.
pub fn start(kind: Kind, n: usize) -> std::io::Result<(Floor, Vec<(u16, u16)>)> {
    let mut socks = Vec::with_capacity(2 * n);
    let mut ports = Vec::with_capacity(n);
    for i in 0..n {
        let port = BASE_PORT + 2 * i as u16;
        for ip in [LAN_RELAY_IP, WAN_RELAY_IP] {
            let s = UdpSocket::bind(SocketAddrV4::new(ip, port))?;
            s.set_nonblocking(true)?;
            socks.push(s);
        }
        ports.push((port, port));
    }
    let calls = Calls {
        socks,
        lan_peer: sys::sockaddr_in(SocketAddrV4::new(GEN_IP, GEN_PORT)),
        wan_peer: sys::sockaddr_in(SocketAddrV4::new(SINK_IP, SINK_PORT)),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    // The name starts with "rtp-relay" so the relay role's CPU figure counts it.
    let join = std::thread::Builder::new()
        .name("rtp-relay-floor".into())
        .spawn(move || {
            sys::realtime_like_engine();
            let r = match kind {
                Kind::Epoll => epoll(&calls, &stop2),
                Kind::Uring => uring::run(&calls, &stop2),
            };
            if let Err(e) = r {
                eprintln!("floor relay ({kind:?}) stopped: {e}");
            }
        })?;
    Ok((
        Floor {
            stop,
            join: Some(join),
        },
        ports,
    ))
}

/// Whether this kernel has what the io_uring floor needs (DEFER_TASKRUN, min_wait).
pub fn uring_available() -> Result<(), String> {
    uring::probe()
}

fn coalesce(woke: Instant, last: &mut Instant) {
    let gap = woke.saturating_duration_since(*last);
    *last = woke;
    if gap < COALESCE {
        if let Some(rest) = COALESCE.checked_sub(woke.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}

fn epoll(calls: &Calls, stop: &AtomicBool) -> std::io::Result<()> {
    use mio::unix::SourceFd;
    use mio::{Events, Interest, Poll, Token};
    let mut poll = Poll::new()?;
    for (i, s) in calls.socks.iter().enumerate() {
        poll.registry()
            .register(&mut SourceFd(&s.as_raw_fd()), Token(i), Interest::READABLE)?;
    }
    let mut events = Events::with_capacity(1024);
    let mut bufs = vec![[0u8; BUF]; BATCH];
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_millis(100))) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let now = Instant::now();
        for ev in events.iter() {
            let from = ev.token().0;
            let (out, to) = calls.out(from);
            let (fd_in, fd_out) = (calls.socks[from].as_raw_fd(), out.as_raw_fd());
            // SAFETY: zeroed iovec/mmsghdr arrays are valid (null pointers, zero lengths).
            let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
            for (k, b) in bufs.iter_mut().enumerate() {
                iov[k] = libc::iovec {
                    iov_base: b.as_mut_ptr().cast(),
                    iov_len: BUF,
                };
                hdrs[k].msg_hdr.msg_iov = &mut iov[k];
                hdrs[k].msg_hdr.msg_iovlen = 1;
            }
            // SAFETY: every header points at a live iovec and BUF-byte buffer of this frame.
            let n = unsafe {
                libc::recvmmsg(
                    fd_in,
                    hdrs.as_mut_ptr(),
                    BATCH as _,
                    libc::MSG_DONTWAIT as _,
                    std::ptr::null_mut(),
                )
            };
            if n <= 0 {
                continue;
            }
            for k in 0..n as usize {
                iov[k].iov_len = hdrs[k].msg_len as usize;
                hdrs[k].msg_hdr.msg_name = (to as *const libc::sockaddr_in) as *mut _;
                hdrs[k].msg_hdr.msg_namelen =
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            // SAFETY: headers 0..n point at the received buffers and at `to`, all live; the
            // kernel only reads them.
            unsafe { libc::sendmmsg(fd_out, hdrs.as_mut_ptr(), n as _, libc::MSG_DONTWAIT as _) };
        }
        coalesce(now, &mut last);
    }
    Ok(())
}

mod uring {
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};

    use io_uring::{cqueue, opcode, types, IoUring};

    use super::{Calls, BUF, COALESCE};

    /// Provided receive buffers (a power of two).
    const NBUF: u16 = 4096;
    /// user_data bit of a send; the low 16 bits are the buffer id.
    const SEND: u64 = 1 << 40;

    pub fn probe() -> Result<(), String> {
        let ring: IoUring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(8)
            .map_err(|e| format!("io_uring with DEFER_TASKRUN: {e}"))?;
        if !ring.params().is_feature_min_timeout() {
            return Err("io_uring without min_wait (Linux < 6.12)".into());
        }
        Ok(())
    }

    /// The provided-buffer ring: NBUF entries shared with the kernel, and the buffers.
    struct BufRing {
        entries: *mut types::BufRingEntry,
        data: Vec<u8>,
        tail: u16,
    }

    impl BufRing {
        fn new() -> std::io::Result<BufRing> {
            let bytes = NBUF as usize * std::mem::size_of::<types::BufRingEntry>();
            // SAFETY: an anonymous private mapping; checked for MAP_FAILED below and unmapped
            // in Drop. Page alignment is what the kernel requires of a buffer ring.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    bytes,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                return Err(std::io::Error::last_os_error());
            }
            Ok(BufRing {
                entries: p.cast(),
                data: vec![0; NBUF as usize * BUF],
                tail: 0,
            })
        }

        fn give(&mut self, bid: u16) {
            let slot = (self.tail & (NBUF - 1)) as usize;
            // SAFETY: `slot` < NBUF entries of the mapping; the buffer address stays valid as
            // long as `data` (never resized) lives, which outlives the ring registration.
            unsafe {
                let e = &mut *self.entries.add(slot);
                e.set_addr(self.data.as_mut_ptr().add(bid as usize * BUF) as u64);
                e.set_len(BUF as u32);
                e.set_bid(bid);
            }
            self.tail = self.tail.wrapping_add(1);
        }

        fn publish(&self) {
            // SAFETY: the tail field overlays entry 0's reserved u16, which the kernel reads
            // with acquire semantics; AtomicU16 has the same layout as u16.
            unsafe {
                let t = types::BufRingEntry::tail(self.entries) as *const AtomicU16;
                (*t).store(self.tail, Ordering::Release);
            }
        }

        fn buf(&self, bid: u16, len: usize) -> &[u8] {
            let start = bid as usize * BUF;
            &self.data[start..start + len.min(BUF)]
        }
    }

    impl Drop for BufRing {
        fn drop(&mut self) {
            let bytes = NBUF as usize * std::mem::size_of::<types::BufRingEntry>();
            // SAFETY: the mapping made in `new`, unmapped once.
            unsafe { libc::munmap(self.entries.cast(), bytes) };
        }
    }

    pub fn run(calls: &Calls, stop: &AtomicBool) -> std::io::Result<()> {
        let mut ring: IoUring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(65_536)
            .build(8192)?;
        let mut bufs = BufRing::new()?;
        // SAFETY: the ring memory is valid for NBUF entries until `bufs` drops, which happens
        // after every request was cancelled and the ring dropped (end of this function).
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(bufs.entries as u64, NBUF, 0, 0)?;
        }
        for b in 0..NBUF {
            bufs.give(b);
        }
        bufs.publish();
        // SAFETY: msghdr is a plain C struct; all-zero is valid. Only msg_namelen is used
        // as the template of the multishot receives.
        let mut rmsg: libc::msghdr = unsafe { std::mem::zeroed() };
        rmsg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let arm = |ring: &mut IoUring, i: usize| {
            let e = opcode::RecvMsgMulti::new(types::Fd(calls.socks[i].as_raw_fd()), &rmsg, 0)
                .build()
                .user_data(i as u64);
            // SAFETY: `rmsg` lives until the ring is dropped; the SQ has room (checked by the
            // caller's submit below when full).
            while unsafe { ring.submission().push(&e) }.is_err() {
                let _ = ring.submit();
            }
        };
        for i in 0..calls.socks.len() {
            arm(&mut ring, i);
        }
        // One send header per buffer: a buffer is in at most one send at a time.
        // SAFETY: as for `rmsg`.
        let mut smsg: Vec<libc::msghdr> = vec![unsafe { std::mem::zeroed() }; NBUF as usize];
        let mut siov = vec![
            libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0
            };
            NBUF as usize
        ];
        let ts = types::Timespec::from(std::time::Duration::from_millis(100));
        let mut cqes = Vec::with_capacity(4096);
        let mut rearm = Vec::new();
        let mut result = Ok(());
        while !stop.load(Ordering::Relaxed) {
            let args = types::SubmitArgs::new()
                .timespec(&ts)
                .min_wait_usec(COALESCE.as_micros() as u32);
            if let Err(e) = ring.submitter().submit_with_args(64, &args) {
                match e.raw_os_error() {
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY) => {}
                    _ => {
                        result = Err(e);
                        break;
                    }
                }
            }
            cqes.clear();
            cqes.extend(
                ring.completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            let mut returned = false;
            for &(ud, res, flags) in &cqes {
                if ud & SEND != 0 {
                    bufs.give((ud & 0xffff) as u16);
                    returned = true;
                    continue;
                }
                let from = ud as usize;
                if !cqueue::more(flags) {
                    rearm.push(from);
                }
                let Some(bid) = cqueue::buffer_select(flags) else {
                    continue;
                };
                let Ok(msg) = types::RecvMsgOut::parse(bufs.buf(bid, res.max(0) as usize), &rmsg)
                else {
                    bufs.give(bid);
                    returned = true;
                    continue;
                };
                let payload = msg.payload_data();
                let (out, to) = calls.out(from);
                let b = bid as usize;
                siov[b] = libc::iovec {
                    iov_base: payload.as_ptr() as *mut _,
                    iov_len: payload.len(),
                };
                smsg[b].msg_name = (to as *const libc::sockaddr_in) as *mut _;
                smsg[b].msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                smsg[b].msg_iov = &mut siov[b];
                smsg[b].msg_iovlen = 1;
                let e = opcode::SendMsg::new(types::Fd(out.as_raw_fd()), &smsg[b])
                    .flags(libc::MSG_DONTWAIT as u32)
                    .build()
                    .user_data(SEND | u64::from(bid));
                // SAFETY: the header, iovec, payload (buffer `bid`, not given back before the
                // send's completion) and `to` all outlive the operation.
                while unsafe { ring.submission().push(&e) }.is_err() {
                    let _ = ring.submit();
                }
            }
            if returned {
                bufs.publish();
            }
            for i in rearm.drain(..) {
                arm(&mut ring, i);
            }
        }
        // Cancel the receives and let the sends finish before the buffers and headers go:
        // a request still armed would otherwise write into freed memory during the ring's
        // asynchronous teardown, and would keep the sockets (their ports) alive.
        let _ = ring.submit();
        let wait = types::Timespec::from(std::time::Duration::from_secs(1));
        let _ = ring
            .submitter()
            .register_sync_cancel(Some(wait), types::CancelBuilder::any());
        drop(ring);
        drop(bufs);
        result
    }
}
