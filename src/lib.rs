//! siproxd-rs: a SIP/RTP masquerading proxy, drop-in for siproxd.
//!
//! Layers, in reading order (see ARCHITECTURE.md):
//!
//! - [`cli`], [`config`]: the command line and the typed siproxd.conf.
//! - [`log`]: the logging backend (stderr, syslog(3), debug_port).
//! - [`daemon`]: fork, pid file, chroot, privilege drop, signals.
//! - [`net`]: the network edge of the shell (interfaces, the RTP relay engine).
//! - [`sip`]: the lossless SIP message view and SDP rewriter.
//! - [`proxy`]: the pure core (registration file, ACLs, digest auth, the RTP
//!   stream table and port allocator).

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod cli;
pub mod config;
pub mod daemon;
pub mod log;
pub mod net;
pub mod proxy;
pub mod sip;
