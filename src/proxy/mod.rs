//! The proxy core: PURE (no sockets, no clock, no files).
//!
//! For now only the RTP session table and its port allocator live here; the SIP request and
//! response handling (`proxy.c`) joins later. The core decides *which* relay ports a stream
//! uses and *when* it opens, changes or closes; `net::rtp_relay` carries the packets.
pub mod rtp_table;
