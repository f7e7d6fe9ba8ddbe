//! siproxd-rs: a SIP/RTP masquerading proxy, drop-in for siproxd.
//!
//! Layers, in reading order (see ARCHITECTURE.md):

pub mod plugin;
