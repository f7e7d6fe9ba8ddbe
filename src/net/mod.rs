//! The I/O shell's network edge: interfaces, sockets, the event loop and the
//! RTP relay. Nothing here decides anything about SIP.

pub mod iface;
pub mod rtp_relay;
