//! The sending half of a peer: N concurrent streams of 172-byte RTP packets (12-byte header +
//! 160 bytes of payload, G.711 at 20 ms) at R packets/s each, evenly interleaved, sent with
//! `sendmmsg` from the peer's one socket. The payload starts with the stream index, the
//! sequence number and the CLOCK_REALTIME send time in ns (the clock of the kernel receive
//! timestamps the other peer reads).

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::sys::{self, mono_ns, realtime_ns};

pub const PACKET: usize = 172;
const BATCH: usize = 64;

pub struct SendReport {
    /// Packets the kernel accepted.
    pub sent: u64,
    /// Packets planned (streams × rate × duration).
    pub target: u64,
    /// Packets the kernel refused (ENOBUFS …).
    pub failed: u64,
    /// How far the sender fell behind its schedule at worst.
    pub behind_max_ns: u64,
}

/// Send `streams × rate` packets/s for `millis` ms, packet k going to stream k % streams.
/// `sent < target` means the sender itself could not keep up: the rate was not offered.
pub fn pace(sock: &UdpSocket, dests: &[libc::sockaddr_in], rate: u64, millis: u64) -> SendReport {
    let streams = dests.len() as u64;
    let total_rate = streams * rate;
    let target = total_rate * millis / 1000;
    let mut bufs = vec![[0u8; PACKET]; BATCH];
    let (mut sent, mut failed, mut behind_max_ns) = (0u64, 0u64, 0u64);
    let start = mono_ns();
    let end = start + millis * 1_000_000;
    while sent < target {
        let now = mono_ns();
        if now >= end + 200_000_000 {
            break; // bounded: give up 200 ms after the planned end
        }
        let due = (((now - start) as u128 * total_rate as u128) / 1_000_000_000) as u64;
        let due = due.min(target);
        if due > sent {
            let lag_ns = (due - sent) * 1_000_000_000 / total_rate.max(1);
            behind_max_ns = behind_max_ns.max(lag_ns);
            let n = ((due - sent) as usize).min(BATCH);
            let ok = send_batch(sock, dests, &mut bufs, sent, n);
            failed += n as u64 - ok;
            sent += n as u64;
            continue;
        }
        let next_ns = start + (sent + 1) * 1_000_000_000 / total_rate.max(1);
        let wait = next_ns.saturating_sub(mono_ns());
        if wait > 20_000 {
            std::thread::sleep(Duration::from_nanos(wait.min(1_000_000)));
        }
    }
    SendReport {
        sent: sent - failed,
        target,
        failed,
        behind_max_ns,
    }
}

/// Fill and send packets `first..first+n`; returns how many the kernel accepted.
fn send_batch(
    sock: &UdpSocket,
    dests: &[libc::sockaddr_in],
    bufs: &mut [[u8; PACKET]],
    first: u64,
    n: usize,
) -> u64 {
    let streams = dests.len() as u64;
    // SAFETY: zeroed iovec/mmsghdr are valid (null pointers, zero lengths).
    let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    let ts = realtime_ns();
    for i in 0..n {
        let k = first + i as u64;
        let (stream, seq) = (k % streams, k / streams);
        fill(&mut bufs[i], stream as u32, seq as u32, ts);
        iov[i] = libc::iovec {
            iov_base: bufs[i].as_mut_ptr().cast(),
            iov_len: PACKET,
        };
        hdrs[i].msg_hdr.msg_name = (&dests[stream as usize] as *const libc::sockaddr_in) as *mut _;
        hdrs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        hdrs[i].msg_hdr.msg_iov = &mut iov[i];
        hdrs[i].msg_hdr.msg_iovlen = 1;
    }
    let mut done = 0usize;
    let mut ok = 0u64;
    while done < n {
        // SAFETY: headers done..n point at live buffers, iovecs and addresses of this frame.
        let r = unsafe {
            libc::sendmmsg(
                sock.as_raw_fd(),
                hdrs.as_mut_ptr().add(done),
                (n - done) as _,
                0,
            )
        };
        if r > 0 {
            done += r as usize;
            ok += r as u64;
        } else if sys::last_err().kind() == std::io::ErrorKind::Interrupted {
            continue;
        } else {
            done += 1; // ENOBUFS etc.: that packet is lost at the sender
        }
    }
    ok
}

fn fill(buf: &mut [u8; PACKET], stream: u32, seq: u32, ts: u64) {
    buf[0] = 0x80;
    buf[1] = 0; // PCMU
    buf[2..4].copy_from_slice(&(seq as u16).to_be_bytes());
    buf[4..8].copy_from_slice(&(seq.wrapping_mul(160)).to_be_bytes());
    buf[8..12].copy_from_slice(&stream.to_be_bytes());
    buf[12..16].copy_from_slice(&stream.to_be_bytes());
    buf[16..20].copy_from_slice(&seq.to_be_bytes());
    buf[20..28].copy_from_slice(&ts.to_be_bytes());
}
