//! SDP rewriting for the RTP relay: `o=`, `c=`, `m=` ports and `a=rtcp`; every other byte
//! leaves as it came. PURE; the line-level view and the field rewriter are the SIP core's
//! ([`crate::sip::sdp`]), the relay ports come from [`RtpTable`].
//!
//! Mirrors proxy.c:proxy_rewrite_invitation_body (inventory §5.5) with these differences:
//! every `c=` gets the advertised address (upstream writes the private real address into
//! media-level `c=` of later `m=` lines when `host_outbound` is set); `IN IP6` works;
//! `a=rtcp` (RFC 3605) is rewritten to the relay's RTCP port; `a=sendonly|recvonly|inactive`
//! are passed to the table (hold keeps the stream alive longer there). A hold address
//! (`0.0.0.0`) stays, as upstream.

use std::net::IpAddr;
use std::time::Instant;

use crate::sip::sdp::{Direction as SdpDirection, Media, Sdp};

use super::rtp_table::{
    CallDirection, Leg, MediaDescription, MediaMode, RtpCommand, RtpTable, RtpTableError,
    StreamKey, Txn,
};

/// Why an SDP body could not be rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    #[error("SDP: {0}")]
    Parse(#[from] crate::sip::Error),
    #[error(
        "SDP m= line number {index} has no usable c= address (neither media- nor session-level)"
    )]
    NoConnection { index: usize },
    #[error("relay ports: {0}")]
    Rtp(#[from] RtpTableError),
}

/// Who wrote the SDP and how it is rewritten.
#[derive(Debug, Clone)]
pub struct SdpContext {
    pub call_id: String,
    pub call_direction: CallDirection,
    /// The LAN party's `user@host` (upstream's client_id).
    pub client_id: String,
    pub txn: Txn,
    /// The leg whose peer wrote this SDP.
    pub from: Leg,
    /// The real local address the relay binds for the other leg.
    pub bind_ip: IpAddr,
    /// The address written into `o=`/`c=` (host_outbound on the WAN side).
    pub advertise: IpAddr,
}

/// The rewritten body and the relay commands to run before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub body: Vec<u8>,
    pub commands: Vec<RtpCommand>,
}

fn mode_of(d: SdpDirection) -> MediaMode {
    match d {
        SdpDirection::SendRecv => MediaMode::SendRecv,
        SdpDirection::SendOnly => MediaMode::SendOnly,
        SdpDirection::RecvOnly => MediaMode::RecvOnly,
        SdpDirection::Inactive => MediaMode::Inactive,
    }
}

/// The address in effect for media `m`: its own `c=`, else the session's.
fn media_addr(sdp: &Sdp<'_>, m: &Media<'_>) -> Option<IpAddr> {
    m.connection.as_ref().or(sdp.connection.as_ref())?.ip()
}

fn description(
    ctx: &SdpContext,
    sdp: &Sdp<'_>,
    no: usize,
    addr: IpAddr,
) -> Option<MediaDescription> {
    let m = sdp.media.get(no)?;
    Some(MediaDescription {
        key: StreamKey {
            call_id: ctx.call_id.clone(),
            call_direction: ctx.call_direction,
            client_id: ctx.client_id.clone(),
            media_stream_no: u16::try_from(no).unwrap_or(u16::MAX),
        },
        txn: ctx.txn,
        from: ctx.from,
        bind_ip: ctx.bind_ip,
        addr,
        port: m.port,
        rtcp_port: m.rtcp_port,
        mode: m
            .direction
            .or(sdp.direction)
            .map(mode_of)
            .unwrap_or_default(),
    })
}

/// Rewrites an SDP body; see the module doc.
pub fn rewrite(
    body: &[u8],
    ctx: &SdpContext,
    rtp: &mut RtpTable,
    now: Instant,
) -> Result<Rewritten, SdpError> {
    let sdp = Sdp::parse(body)?;
    // Upstream's step 1: every relayed m= needs an address, checked before any allocation.
    let unaddressed = sdp
        .media
        .iter()
        .position(|m| m.port != 0 && media_addr(&sdp, m).is_none());
    if let Some(index) = unaddressed {
        return Err(SdpError::NoConnection { index });
    }
    let mut w = sdp.rewriter();
    let mut commands = Vec::new();
    w.set_origin_address(ctx.advertise);
    rewrite_connections(&sdp, &mut w, ctx.advertise);
    for (no, m) in sdp.media.iter().enumerate() {
        if m.port == 0 {
            continue; // a disabled stream is not relayed (RFC 3264 §8.2)
        }
        let Some(desc) = media_addr(&sdp, m).and_then(|a| description(ctx, &sdp, no, a)) else {
            continue;
        };
        let outcome = match rtp.media(now, &desc) {
            Ok(o) => o,
            Err(e) => {
                // Undo what this SDP did; the relay never heard of it.
                let _ = rtp.cancel(&ctx.call_id, ctx.txn);
                return Err(SdpError::Rtp(e));
            }
        };
        commands.extend(outcome.commands);
        w.set_media_port(no, outcome.port);
        w.set_rtcp(no, outcome.port.saturating_add(1), Some(ctx.advertise));
    }
    Ok(Rewritten {
        body: w.to_bytes(),
        commands,
    })
}

/// Every `c=` that is not a hold address gets `ip`. Without any hold address all of them
/// are rewritten at once (a session `c=` shadowed by media ones included).
fn rewrite_connections(sdp: &Sdp<'_>, w: &mut crate::sip::SdpRewriter<'_, '_>, ip: IpAddr) {
    let connections = sdp
        .connection
        .iter()
        .chain(sdp.media.iter().filter_map(|m| m.connection.as_ref()));
    let hold = connections
        .clone()
        .any(|c| c.ip().is_some_and(|a| a.is_unspecified()));
    if !hold {
        w.set_connection_addresses(ip);
        return;
    }
    for (no, m) in sdp.media.iter().enumerate() {
        if media_addr(sdp, m).is_some_and(|a| !a.is_unspecified()) {
            w.set_media_connection(no, ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::rtp_table::RtpTableConfig;

    fn ctx() -> SdpContext {
        SdpContext {
            call_id: "c".into(),
            call_direction: CallDirection::Outgoing,
            client_id: "alice@example.test".into(),
            txn: Txn {
                cseq: 1,
                requested_by: Leg::Inbound,
            },
            from: Leg::Inbound,
            bind_ip: "198.51.100.1".parse().unwrap(),
            advertise: "203.0.113.50".parse().unwrap(),
        }
    }

    #[test]
    fn a_held_media_line_keeps_its_zero_address_while_the_other_moves() {
        let mut rtp = RtpTable::new(RtpTableConfig::default()).unwrap();
        let body = b"v=0\r\no=a 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\nm=video 6002 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\n";
        let out = rewrite(body, &ctx(), &mut rtp, Instant::now()).unwrap();
        assert_eq!(
            String::from_utf8(out.body).unwrap(),
            "v=0\r\no=a 1 1 IN IP4 203.0.113.50\r\ns=-\r\nc=IN IP4 203.0.113.50\r\nt=0 0\r\nm=audio 7070 RTP/AVP 0\r\nm=video 7072 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\n"
        );
        assert_eq!(rtp.stream_count(), 2);
    }

    #[test]
    fn media_without_any_address_is_an_error_that_leaves_nothing_open() {
        let mut rtp = RtpTable::new(RtpTableConfig::default()).unwrap();
        let body = b"v=0\r\no=a 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\nc=IN IP4 10.0.0.1\r\nm=audio 6002 RTP/AVP 0\r\n";
        let err = rewrite(body, &ctx(), &mut rtp, Instant::now()).unwrap_err();
        assert_eq!(err, SdpError::NoConnection { index: 1 });
        assert_eq!(rtp.stream_count(), 0);
    }
}
