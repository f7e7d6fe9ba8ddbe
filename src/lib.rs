//! siproxd-rs: a SIP/RTP masquerading proxy, drop-in for siproxd.
//!
//! Layers, in reading order (see ARCHITECTURE.md):
//!
//! - [`cli`]: the command line.
//! - [`config`]: siproxd.conf, read the way upstream's users expect.
//! - [`sip`]: the lossless SIP/SDP message core (pure).
//! - [`log`]: the logging backend (stderr, syslog(3), debug_port).
//! - [`daemon`]: fork, pid file, chroot, privilege drop, signals.
//! - [`net`]: the network edge of the shell (interfaces, sockets, DNS, RTP relay).
//! - [`proxy`]: the pure core (registration file, ACLs, digest auth, RTP stream table).
//! - [`plugin`]: the plugin host (loading and checking cdylibs behind the C ABI).
//! - [`app`]: start-up order, main loop, shutdown.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod app;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod log;
pub mod net;
pub mod plugin;
pub mod proxy;
pub mod sip;
