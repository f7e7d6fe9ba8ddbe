//! The SIP listening sockets: UDP and TCP on `sip_listen_port` on the
//! wildcard address, with `sip_dscp` marking.
//!
//! Layer: shell. Mirrors upstream `sock.c:sipsock_listen` (both sockets on
//! `0.0.0.0:sip_listen_port`, so pfSense's redirect of LAN SIP to 127.0.0.1
//! reaches us), with two fixes: DSCP is set on TCP too (upstream marks only
//! the UDP socket), and needs no root (IP_TOS is unprivileged for these
//! values; upstream regains root with seteuid(0) to set it).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// IP_TOS / IPV6_TCLASS value for a DSCP code point (RFC 2474: the upper
/// six bits of the old TOS byte).
pub fn tos_of_dscp(dscp: u8) -> u32 {
    u32::from(dscp & 0x3f) << 2
}

/// Marks `socket`'s outgoing packets with `dscp` (0 leaves the default).
pub fn set_dscp(socket: SockRef<'_>, dscp: u8, ipv6: bool) -> io::Result<()> {
    if dscp == 0 {
        return Ok(());
    }
    if ipv6 {
        socket.set_tclass_v6(tos_of_dscp(dscp))
    } else {
        socket.set_tos_v4(tos_of_dscp(dscp))
    }
}

/// The UDP socket for SIP: `0.0.0.0:port`, non-blocking, reusable address,
/// DSCP set.
pub fn bind_udp(port: u16, dscp: u8) -> io::Result<mio::net::UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    set_dscp(SockRef::from(&socket), dscp, false)?;
    // Bursts of REGISTERs from many phones should queue, not drop.
    let _ = socket.set_recv_buffer_size(1 << 20);
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    Ok(mio::net::UdpSocket::from_std(socket.into()))
}

/// The TCP listener for SIP: `0.0.0.0:port`, non-blocking, DSCP set (it is
/// inherited by accepted connections on Linux and FreeBSD).
pub fn bind_tcp(port: u16, dscp: u8) -> io::Result<mio::net::TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    set_dscp(SockRef::from(&socket), dscp, false)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    socket.listen(128)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// Starts a non-blocking TCP connect to `peer` from an ephemeral port, with
/// DSCP and TCP_NODELAY set (upstream leaves Nagle on, which delayed a 200 OK
/// by 43 ms in the on-the-wire capture). Completion is signalled by the
/// socket becoming writable.
pub fn connect_tcp(peer: SocketAddr, dscp: u8) -> io::Result<mio::net::TcpStream> {
    let socket = Socket::new(Domain::for_address(peer), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    set_dscp(SockRef::from(&socket), dscp, peer.is_ipv6())?;
    match socket.connect(&peer.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tos(socket: SockRef<'_>) -> u32 {
        socket.tos_v4().unwrap()
    }

    #[test]
    fn dscp_46_is_tos_0xb8() {
        assert_eq!(tos_of_dscp(46), 0xb8);
        assert_eq!(tos_of_dscp(26), 0x68);
    }

    #[test]
    fn sockets_carry_the_configured_dscp() {
        let udp = bind_udp(0, 26).unwrap();
        assert_eq!(tos(SockRef::from(&udp)), 0x68);
        let tcp = bind_tcp(0, 26).unwrap();
        assert_eq!(tos(SockRef::from(&tcp)), 0x68);
        let port = tcp.local_addr().unwrap().port();
        let out = connect_tcp(SocketAddr::from(([127, 0, 0, 1], port)), 46).unwrap();
        assert_eq!(tos(SockRef::from(&out)), 0xb8);
        assert!(SockRef::from(&out).tcp_nodelay().unwrap());
    }

    #[test]
    fn the_listeners_are_on_the_wildcard_address() {
        let udp = bind_udp(0, 0).unwrap();
        assert!(udp.local_addr().unwrap().ip().is_unspecified());
        let tcp = bind_tcp(0, 0).unwrap();
        assert!(tcp.local_addr().unwrap().ip().is_unspecified());
    }
}
