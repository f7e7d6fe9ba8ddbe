//! The media side of a message: SDP rewriting through the RTP table and stream teardown on
//! BYE, CANCEL and final errors (proxy.c: the rtp_start_fwd / rtp_stop_fwd calls of
//! proxy_request and proxy_response). PURE.
//!
//! The stream key's client id is the LAN party of the dialog (upstream's client_id): the
//! sender of a request from the LAN, the recipient of one from the WAN, and the same party
//! in their responses — so both directions of in-dialog requests find the same streams,
//! and the two legs of a LAN → provider → LAN call stay apart.

use crate::sip::{Message, Uri};

use super::action::{Now, Ticket};
use super::rtp_table::{CallDirection, Leg, RtpCommand, Txn};
use super::sdp_media::{self, SdpContext, SdpError};
use super::Proxy;

/// `user@host` of a URI (upstream's client_id).
fn user_host(uri: &Uri<'_>) -> String {
    let user = String::from_utf8_lossy(uri.user().unwrap_or_default());
    format!("{user}@{}", String::from_utf8_lossy(uri.host()))
}

/// True when the body is SDP (Content-Type application/sdp, or none with a `v=` body).
fn has_sdp(msg: &Message) -> bool {
    if msg.body().is_empty() {
        return false;
    }
    match msg.content_type() {
        Ok(Some(ct)) => ct.is_sdp(),
        Ok(None) => msg.body().starts_with(b"v="),
        Err(_) => false,
    }
}

/// The media side of a request or response written by `from`'s peer (LAN phone =
/// Inbound): SDP rewrite through the RTP table, teardown on BYE/CANCEL and final errors.
/// Returns false when the request was answered 503 because no relay port was free.
pub fn process(
    p: &mut Proxy,
    now: Now,
    ticket: &mut Ticket,
    from: Leg,
) -> Result<bool, crate::sip::Error> {
    if !p.settings.rtp_enabled {
        return Ok(true);
    }
    let cseq = ticket.msg.cseq()?;
    let (seq, method) = (cseq.seq, cseq.method.to_vec());
    let call_id = String::from_utf8_lossy(ticket.msg.call_id()?).into_owned();
    let request = ticket.msg.is_request();
    let requested_by = if request { from } else { from.opposite() };
    let txn = Txn {
        cseq: seq,
        requested_by,
    };
    let code = ticket.msg.status_code().unwrap_or(0);
    let commands = match (request, method.as_slice()) {
        (true, b"BYE") => p.rtp.close_call(&call_id),
        (true, b"CANCEL") => p.rtp.cancel(
            &call_id,
            Txn {
                cseq: seq,
                requested_by,
            },
        ),
        (false, b"INVITE" | b"UPDATE") if code >= 300 => p.rtp.final_response(&call_id, txn, code),
        _ => Vec::new(),
    };
    if commands
        .iter()
        .any(|c| matches!(c, RtpCommand::Close { .. }))
    {
        p.rtp_commands.extend(commands);
        p.forget_finished_calls();
    } else {
        p.rtp_commands.extend(commands);
    }
    let carries = matches!(method.as_slice(), b"INVITE" | b"ACK" | b"PRACK" | b"UPDATE");
    if !carries || !has_sdp(&ticket.msg) || (!request && !(101..300).contains(&code)) {
        return Ok(true);
    }
    let ok = rewrite_sdp(p, now, ticket, from, txn, &call_id)?;
    if !request && (200..300).contains(&code) {
        let cmds = p.rtp.final_response(&call_id, txn, code);
        p.rtp_commands.extend(cmds);
    }
    Ok(ok)
}

/// The LAN party of a message written by `from`'s peer: the sender of a request from the
/// LAN or the recipient of one from the WAN (From / To accordingly).
fn lan_party(msg: &Message, from: Leg) -> String {
    let use_from = msg.is_request() == (from == Leg::Inbound);
    let party = if use_from { msg.from() } else { msg.to() };
    party
        .ok()
        .and_then(|a| a.uri().ok().map(|u| user_host(&u)))
        .unwrap_or_default()
}

fn sdp_context(
    p: &mut Proxy,
    ticket: &Ticket,
    from: Leg,
    txn: Txn,
    call_id: &str,
) -> Option<SdpContext> {
    let client_id = lan_party(&ticket.msg, from);
    let placed_by_lan = ticket.msg.is_request() == (from == Leg::Inbound);
    let guess = if placed_by_lan {
        CallDirection::Outgoing
    } else {
        CallDirection::Incoming
    };
    let record = p
        .calls
        .entry((call_id.to_string(), client_id.clone()))
        .or_default();
    let call_direction = *record.direction.get_or_insert(guess);
    let (bind_ip, advertise) = match from {
        Leg::Inbound => (
            p.ifaces.outbound.or(p.ifaces.host_outbound)?,
            p.ifaces.advertised_outbound()?,
        ),
        Leg::Outbound => (p.ifaces.inbound?, p.ifaces.inbound?),
    };
    Some(SdpContext {
        call_id: call_id.to_string(),
        call_direction,
        client_id,
        txn,
        from,
        bind_ip,
        advertise,
    })
}

fn rewrite_sdp(
    p: &mut Proxy,
    now: Now,
    ticket: &mut Ticket,
    from: Leg,
    txn: Txn,
    call_id: &str,
) -> Result<bool, crate::sip::Error> {
    let Some(ctx) = sdp_context(p, ticket, from, txn, call_id) else {
        return Ok(true);
    };
    match sdp_media::rewrite(ticket.msg.body(), &ctx, &mut p.rtp, now.mono) {
        Ok(done) => {
            note_streams(p, &ctx, &done.commands);
            p.rtp_commands.extend(done.commands);
            ticket.msg.set_body(&done.body);
            Ok(true)
        }
        Err(SdpError::Rtp(e)) => {
            note_streams(p, &ctx, &[]);
            p.counters.rtp_ports_exhausted += 1;
            log::error!("call {call_id}: {e}");
            if ticket.msg.is_request() && ticket.msg.method() != Some(b"ACK".as_slice()) {
                super::response::reply(p, ticket, 503, "Service Unavailable", &[]);
                return Ok(false);
            }
            Ok(true)
        }
        Err(e) => {
            log::warn!("call {call_id}: SDP left unchanged: {e}");
            Ok(true)
        }
    }
}

/// Remembers the streams a call leg opened; a leg that opened none is forgotten again.
fn note_streams(p: &mut Proxy, ctx: &SdpContext, commands: &[RtpCommand]) {
    let key = (ctx.call_id.clone(), ctx.client_id.clone());
    let Some(record) = p.calls.get_mut(&key) else {
        return;
    };
    for c in commands {
        if let RtpCommand::Open { id, .. } = c {
            if !record.streams.contains(id) {
                record.streams.push(*id);
            }
        }
    }
    if record.streams.is_empty() {
        p.calls.remove(&key);
    }
}
