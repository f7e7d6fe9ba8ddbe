//! siproxd-rs: a SIP/RTP masquerading proxy, drop-in for siproxd.
//!
//! Layers, in reading order (see ARCHITECTURE.md):
//! - [`proxy`]: the pure core (today: the RTP stream table and port allocator).
//! - [`net`]: the I/O shell (today: the RTP relay engine on its own threads).

pub mod net;
pub mod proxy;
