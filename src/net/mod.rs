//! The I/O shell's network edge: interfaces, sockets, the event loop and the
//! RTP relay. Nothing here decides anything about SIP.

pub mod dns;
pub mod event_loop;
pub mod iface;
pub mod rtp_relay;
pub mod sockets;
pub mod tcp;
