//! Helpers shared by the bundled plugins (compiled into each plugin cdylib):
//! SIP URI and name-addr handling ([`SipUri`], [`name_addr_uri`]), siproxd's
//! `ip/mask` network lists ([`Networks`]) and the redirect cache of
//! `redirect_cache.c` ([`RedirectCache`]). Pure code, no `unsafe`, no panics
//! on input data.

mod networks;
mod redirect;
mod uri;

pub use networks::Networks;
pub use redirect::RedirectCache;
pub use uri::{call_id_parts, name_addr_uri, replace_name_addr_uri, SipUri};
