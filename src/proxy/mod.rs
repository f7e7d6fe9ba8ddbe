//! The proxy core: pure, sans-IO (DESIGN.md §1). Input is one datagram or
//! TCP frame with `now`; output is queued transmissions, RTP commands and the
//! next deadline. No sockets, no clock, no files in here.

pub mod acl;
pub mod auth;
pub mod regfile;
pub mod rtp_table;
