//! The shell's network edge: sockets, the event loop and the RTP relay threads.
pub mod rtp_relay;
