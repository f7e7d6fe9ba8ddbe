//! SIP and SDP message core (PURE: no sockets, no clock, no files).
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod error;
mod lex;
pub mod message;
pub mod name;

pub use error::Error;
pub use message::{Message, Span, Transport};
pub use name::HeaderName;
mod params;
pub mod uri;
pub mod via;
pub use uri::{Scheme, Uri};
pub use via::Via;
pub mod addr;
pub mod digest;
pub use addr::{Contact, NameAddr};
pub use digest::AuthParams;
mod check;
pub mod headers;
pub use headers::{CSeq, ContentType, Element};
pub mod edit;
#[doc(hidden)]
pub mod fuzz_oracles;
pub use edit::Position;
pub mod sdp;
pub use sdp::{Sdp, SdpRewriter};
pub mod framing;
pub use framing::{Frame, StreamFramer};
pub mod response;
pub use response::build_response;
