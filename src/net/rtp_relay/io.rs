//! Batched datagram I/O for the relay: `recvmmsg`/`sendmmsg` on Linux and Android, a
//! `recv_from`/`send_to` loop elsewhere. Buffers are allocated once per relay thread; nothing
//! here allocates per packet.
//!
//! Mirrors rtpproxy_relay.c's 1520-byte `rtp_buff` read/`sendto` pair, but one syscall moves up
//! to [`BATCH`] datagrams and oversized datagrams are dropped and counted instead of forwarded
//! truncated (a truncated RTP packet is garbage to the receiver).

use std::io;
use std::net::SocketAddr;

use mio::net::UdpSocket;

/// Datagrams per syscall.
pub const BATCH: usize = 32;
/// Receive buffer per datagram: above any Ethernet MTU, so only jumbo or fragmented datagrams
/// are truncated.
pub const BUF_SIZE: usize = 2048;

/// Outcome of sending one selection of a batch.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sent {
    pub packets: u64,
    pub bytes: u64,
    pub errors: u64,
}

/// One thread's receive batch: datagrams, their lengths, sources and truncation flags.
pub struct RecvBatch {
    bufs: Box<[[u8; BUF_SIZE]; BATCH]>,
    lens: [usize; BATCH],
    srcs: [Option<SocketAddr>; BATCH],
    truncated: [bool; BATCH],
    count: usize,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    sys: linux::Scratch,
}

impl RecvBatch {
    pub fn new() -> Self {
        Self {
            bufs: Box::new([[0; BUF_SIZE]; BATCH]),
            lens: [0; BATCH],
            srcs: [None; BATCH],
            truncated: [false; BATCH],
            count: 0,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            sys: linux::Scratch::new(),
        }
    }

    /// Datagrams held by the last successful [`RecvBatch::recv`].
    pub fn len(&self) -> usize {
        self.count
    }

    /// Datagram `i` of the batch: bytes, source, truncated flag.
    pub fn get(&self, i: usize) -> Option<(&[u8], Option<SocketAddr>, bool)> {
        if i >= self.count {
            return None;
        }
        let len = *self.lens.get(i)?;
        let buf = self.bufs.get(i)?.get(..len)?;
        Some((buf, *self.srcs.get(i)?, *self.truncated.get(i)?))
    }

    /// Receive up to [`BATCH`] datagrams; `Err(WouldBlock)` when the socket is empty.
    pub fn recv(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        self.count = 0;
        let n = self.recv_sys(sock)?;
        self.count = n;
        Ok(n)
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn recv_sys(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let n = self.sys.recvmmsg(sock.as_raw_fd(), &mut self.bufs)?.len();
        for i in 0..n.min(BATCH) {
            let (len, trunc) = self.sys.received(i);
            self.lens[i] = len;
            self.truncated[i] = trunc;
            self.srcs[i] = self.sys.source(i);
        }
        Ok(n)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn recv_sys(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        let mut n = 0;
        while n < BATCH {
            match sock.recv_from(&mut self.bufs[n]) {
                Ok((len, src)) => {
                    self.lens[n] = len;
                    self.srcs[n] = Some(src);
                    // Without MSG_TRUNC a full buffer is the only truncation hint we get.
                    self.truncated[n] = len == BUF_SIZE;
                    n += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if n == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(n)
    }

    /// Send the datagrams with `keep[i]` set to `target` from `sock`. ENOBUFS, ECONNREFUSED
    /// and the like skip one datagram and are counted; a full socket buffer (EAGAIN) drops the
    /// rest of the selection and counts it. The stream is never torn down for a send error
    /// (upstream stops the stream on any error other than ECONNREFUSED/ENOBUFS).
    pub fn send(
        &mut self,
        sock: &UdpSocket,
        target: &socket2::SockAddr,
        keep: &[bool; BATCH],
    ) -> Sent {
        self.send_sys(sock, target, keep)
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn send_sys(
        &mut self,
        sock: &UdpSocket,
        target: &socket2::SockAddr,
        keep: &[bool; BATCH],
    ) -> Sent {
        use std::os::fd::AsRawFd;
        let selected = (0..self.count)
            .filter(|&i| keep[i])
            .map(|i| (i, self.lens[i]));
        self.sys
            .sendmmsg(sock.as_raw_fd(), target, &self.bufs, selected)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn send_sys(
        &mut self,
        sock: &UdpSocket,
        target: &socket2::SockAddr,
        keep: &[bool; BATCH],
    ) -> Sent {
        let mut sent = Sent::default();
        let Some(to) = target.as_socket() else {
            sent.errors = keep.iter().filter(|k| **k).count() as u64;
            return sent;
        };
        for i in (0..self.count).filter(|&i| keep[i]) {
            match sock.send_to(&self.bufs[i][..self.lens[i]], to) {
                Ok(n) => {
                    sent.packets += 1;
                    sent.bytes += n as u64;
                }
                Err(_) => sent.errors += 1,
            }
        }
        sent
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux {
    use super::{Sent, BATCH, BUF_SIZE};
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::RawFd;
    use std::ptr;

    /// The kernel-facing arrays. They hold raw pointers into the batch buffers, so they are
    /// (re)pointed right before every syscall and never trusted across calls.
    pub struct Scratch {
        hdrs: [libc::mmsghdr; BATCH],
        iov: [libc::iovec; BATCH],
        addrs: [libc::sockaddr_storage; BATCH],
        got: [(usize, bool); BATCH],
    }

    impl Scratch {
        pub fn new() -> Self {
            // SAFETY: mmsghdr, iovec and sockaddr_storage are plain C structs for which the
            // all-zero bit pattern is valid (null pointers, zero lengths).
            unsafe {
                Self {
                    hdrs: zeroed(),
                    iov: zeroed(),
                    addrs: zeroed(),
                    got: [(0, false); BATCH],
                }
            }
        }

        /// `recvmmsg` into `bufs`; returns (length, truncated) per datagram.
        pub fn recvmmsg(
            &mut self,
            fd: RawFd,
            bufs: &mut [[u8; BUF_SIZE]; BATCH],
        ) -> io::Result<&[(usize, bool)]> {
            for (i, buf) in bufs.iter_mut().enumerate() {
                self.iov[i] = libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: BUF_SIZE,
                };
                let hdr = &mut self.hdrs[i].msg_hdr;
                hdr.msg_name = ptr::addr_of_mut!(self.addrs[i]).cast();
                hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                hdr.msg_iov = ptr::addr_of_mut!(self.iov[i]);
                hdr.msg_iovlen = 1;
                hdr.msg_control = ptr::null_mut();
                hdr.msg_controllen = 0;
                hdr.msg_flags = 0;
            }
            let n = loop {
                // SAFETY: every header points at a live iovec/sockaddr_storage of this struct
                // and at a BUF_SIZE buffer of `bufs`, all borrowed mutably for the call; the
                // kernel writes at most `msg_namelen`/`iov_len` bytes into them.
                let r = unsafe {
                    libc::recvmmsg(
                        fd,
                        self.hdrs.as_mut_ptr(),
                        BATCH as _,
                        libc::MSG_DONTWAIT as _,
                        ptr::null_mut(),
                    )
                };
                if r >= 0 {
                    break r as usize;
                }
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            };
            for i in 0..n.min(BATCH) {
                let h = &self.hdrs[i];
                let trunc = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
                self.got[i] = ((h.msg_len as usize).min(BUF_SIZE), trunc);
            }
            Ok(&self.got[..n.min(BATCH)])
        }

        /// Length and truncation flag of datagram `i` of the last `recvmmsg`.
        pub fn received(&self, i: usize) -> (usize, bool) {
            self.got.get(i).copied().unwrap_or((0, false))
        }

        /// The source address of datagram `i` of the last `recvmmsg`.
        pub fn source(&self, i: usize) -> Option<SocketAddr> {
            let ss = self.addrs.get(i)?;
            let len = self.hdrs.get(i)?.msg_hdr.msg_namelen as usize;
            to_socket_addr(ss, len)
        }

        /// `sendmmsg` of `(index, len)` datagrams of `bufs` to `target`.
        pub fn sendmmsg(
            &mut self,
            fd: RawFd,
            target: &socket2::SockAddr,
            bufs: &[[u8; BUF_SIZE]; BATCH],
            selected: impl Iterator<Item = (usize, usize)>,
        ) -> Sent {
            let mut n = 0;
            let mut bytes = [0usize; BATCH];
            for (i, len) in selected.take(BATCH) {
                // The kernel only reads through iov_base for a send; the cast to *mut is what
                // the C struct requires.
                self.iov[n] = libc::iovec {
                    iov_base: bufs[i].as_ptr() as *mut _,
                    iov_len: len,
                };
                let hdr = &mut self.hdrs[n].msg_hdr;
                hdr.msg_name = target.as_ptr() as *mut _;
                hdr.msg_namelen = target.len();
                hdr.msg_iov = ptr::addr_of_mut!(self.iov[n]);
                hdr.msg_iovlen = 1;
                hdr.msg_control = ptr::null_mut();
                hdr.msg_controllen = 0;
                hdr.msg_flags = 0;
                bytes[n] = len;
                n += 1;
            }
            self.send_all(fd, n, &bytes)
        }

        fn send_all(&mut self, fd: RawFd, n: usize, bytes: &[usize; BATCH]) -> Sent {
            let mut sent = Sent::default();
            let mut done = 0;
            while done < n {
                // SAFETY: headers done..n were filled by `sendmmsg` above and point at the
                // caller's buffers and target, which outlive this call; the kernel only reads.
                let r = unsafe {
                    libc::sendmmsg(
                        fd,
                        self.hdrs.as_mut_ptr().add(done),
                        (n - done) as _,
                        libc::MSG_DONTWAIT as _,
                    )
                };
                if r > 0 {
                    let r = r as usize;
                    sent.packets += r as u64;
                    sent.bytes += bytes[done..done + r].iter().sum::<usize>() as u64;
                    done += r;
                    continue;
                }
                match io::Error::last_os_error().raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => {
                        sent.errors += (n - done) as u64;
                        break;
                    }
                    // ENOBUFS, ECONNREFUSED (ICMP from an earlier datagram), EHOSTUNREACH …:
                    // skip the datagram that failed, keep the stream.
                    _ => {
                        sent.errors += 1;
                        done += 1;
                    }
                }
            }
            sent
        }
    }

    fn to_socket_addr(ss: &libc::sockaddr_storage, len: usize) -> Option<SocketAddr> {
        match i32::from(ss.ss_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a sockaddr_in of `len` bytes, and
                // sockaddr_storage is sized and aligned for every sockaddr type.
                let sin =
                    unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6 =
                    unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                let port = u16::from_be(sin6.sin6_port);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    port,
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}
