//! Call-ID obscuring (`obscure_loops`): mirrors sip_utils.c:sip_obscure_callid. Outgoing
//! requests get `-siproxd<From tag>` appended once, so a call forked or redirected back to
//! the same UA does not look like a loop; incoming responses lose it again; incoming
//! requests lose it unless the marker is the sender's own From tag; outgoing responses to
//! BYE get `-siproxd<To tag>`. REGISTER is never touched. PURE.

use crate::sip::{HeaderName, Message};

use super::Proxy;

/// upstream's obscure_loops marker.
const OBSCURE_MARK: &str = "-siproxd";

fn from_tag(msg: &Message) -> Option<String> {
    let tag = msg.from().ok()?.tag()?.to_vec();
    String::from_utf8(tag).ok().filter(|t| !t.is_empty())
}

fn to_tag(msg: &Message) -> Option<String> {
    let tag = msg.to().ok()?.tag()?.to_vec();
    String::from_utf8(tag).ok().filter(|t| !t.is_empty())
}

fn set_call_id(msg: &mut Message, id: &str) -> Result<(), crate::sip::Error> {
    msg.set_header(HeaderName::CallId, id.as_bytes());
    Ok(())
}

fn is_register_related(msg: &Message) -> bool {
    msg.cseq().is_ok_and(|c| c.method == b"REGISTER")
}

/// sip_utils.c:sip_obscure_callid for outgoing requests (append `-siproxd<From tag>` once)
/// and outgoing responses to BYE (append `-siproxd<To tag>`).
pub fn obscure(p: &Proxy, msg: &mut Message) -> Result<(), crate::sip::Error> {
    if !p.settings.obscure_loops || is_register_related(msg) {
        return Ok(());
    }
    let call_id = String::from_utf8_lossy(msg.call_id()?).into_owned();
    if call_id.contains(OBSCURE_MARK) {
        return Ok(());
    }
    let tag = if msg.is_request() {
        from_tag(msg)
    } else if msg.cseq()?.method == b"BYE" {
        to_tag(msg)
    } else {
        None
    };
    match tag {
        Some(tag) => set_call_id(msg, &format!("{call_id}{OBSCURE_MARK}{tag}")),
        None => Ok(()),
    }
}

/// The obscuring undone: incoming responses always; incoming requests when the marker is
/// not the sender's own From tag.
pub fn unobscure(p: &Proxy, msg: &mut Message) -> Result<(), crate::sip::Error> {
    if !p.settings.obscure_loops || is_register_related(msg) {
        return Ok(());
    }
    let call_id = String::from_utf8_lossy(msg.call_id()?).into_owned();
    let Some(at) = call_id.rfind(OBSCURE_MARK) else {
        return Ok(());
    };
    let marker_tag = call_id.get(at + OBSCURE_MARK.len()..).unwrap_or_default();
    if msg.is_request() && from_tag(msg).as_deref() == Some(marker_tag) {
        return Ok(());
    }
    set_call_id(msg, call_id.get(..at).unwrap_or_default())
}
