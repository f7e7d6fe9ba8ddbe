//! SDP rewriting for the RTP relay: `o=`, `c=`, `m=` ports and `a=rtcp`; every other line
//! leaves as it came. PURE; the relay ports come from [`RtpTable`].
//!
//! Mirrors proxy.c:proxy_rewrite_invitation_body (inventory §5.5) with these differences:
//! every `c=` gets the advertised address (upstream writes the private real address into
//! media-level `c=` of later `m=` lines when `host_outbound` is set); `IN IP6` works;
//! `a=rtcp` (RFC 3605) is rewritten to the relay's RTCP port; `a=sendonly|recvonly|inactive`
//! are passed to the table (hold keeps the stream alive longer there).

use std::net::IpAddr;
use std::time::Instant;

use super::rtp_table::{
    CallDirection, Leg, MediaDescription, MediaMode, RtpCommand, RtpTable, RtpTableError,
    StreamKey, Txn,
};

/// Why an SDP body could not be rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    #[error("SDP body is not UTF-8")]
    NotText,
    #[error("SDP m= line {line} has no c= address (neither media- nor session-level)")]
    NoConnection { line: usize },
    #[error("SDP line {line}: {reason}")]
    BadLine { line: usize, reason: &'static str },
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

/// One `m=` section: line indexes and facts.
#[derive(Debug, Default)]
struct Media {
    m_line: usize,
    port: u16,
    c_addr: Option<IpAddr>,
    rtcp_line: Option<usize>,
    rtcp_port: Option<u16>,
    mode: Option<MediaMode>,
}

fn addr_type(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    }
}

fn mode_of(line: &str) -> Option<MediaMode> {
    match line {
        "a=sendrecv" => Some(MediaMode::SendRecv),
        "a=sendonly" => Some(MediaMode::SendOnly),
        "a=recvonly" => Some(MediaMode::RecvOnly),
        "a=inactive" => Some(MediaMode::Inactive),
        _ => None,
    }
}

/// The address of `c=IN IP4 a.b.c.d[/ttl]`.
fn connection_addr(line: &str) -> Option<IpAddr> {
    let addr = line.strip_prefix("c=")?.split_whitespace().nth(2)?;
    addr.split('/').next()?.parse().ok()
}

/// The port of `m=audio 6000[/2] RTP/AVP …`.
fn media_port(line: &str) -> Option<u16> {
    let port = line.split_whitespace().nth(1)?;
    port.split('/').next()?.parse().ok()
}

/// Splits into lines without terminators, remembering each terminator.
fn lines(body: &str) -> Vec<(&str, &str)> {
    body.split_inclusive('\n')
        .map(|l| {
            let content = l.trim_end_matches(['\r', '\n']);
            (content, l.get(content.len()..).unwrap_or(""))
        })
        .collect()
}

struct Scan {
    session_c: Option<IpAddr>,
    session_mode: Option<MediaMode>,
    media: Vec<Media>,
}

fn scan(ls: &[(&str, &str)]) -> Scan {
    let mut s = Scan {
        session_c: None,
        session_mode: None,
        media: Vec::new(),
    };
    for (i, (l, _)) in ls.iter().enumerate() {
        if l.starts_with("m=") {
            s.media.push(Media {
                m_line: i,
                port: media_port(l).unwrap_or(0),
                ..Media::default()
            });
            continue;
        }
        let current = s.media.last_mut();
        match (current, l) {
            (None, l) if l.starts_with("c=") => s.session_c = connection_addr(l),
            (None, l) => s.session_mode = s.session_mode.or(mode_of(l)),
            (Some(m), l) if l.starts_with("c=") => m.c_addr = connection_addr(l),
            (Some(m), l) if l.starts_with("a=rtcp:") => {
                m.rtcp_line = Some(i);
                m.rtcp_port = l
                    .get(7..)
                    .and_then(|r| r.split_whitespace().next()?.parse().ok());
            }
            (Some(m), l) => m.mode = m.mode.or(mode_of(l)),
        }
    }
    s
}

/// Replaces the address of an `o=` or `c=` line (keeping a `/ttl`).
fn with_addr(line: &str, keep_fields: usize, ip: IpAddr) -> String {
    let mut parts: Vec<&str> = line.split(' ').collect();
    let ttl = parts
        .get(keep_fields + 1)
        .and_then(|a| a.find('/').and_then(|p| a.get(p..)))
        .unwrap_or("");
    parts.truncate(keep_fields);
    format!("{} {} {ip}{ttl}", parts.join(" "), addr_type(ip))
}

fn with_port(line: &str, index: usize, port: u16) -> String {
    let mut parts: Vec<String> = line.split(' ').map(str::to_string).collect();
    if let Some(p) = parts.get_mut(index) {
        let suffix = p
            .find('/')
            .and_then(|i| p.get(i..))
            .unwrap_or("")
            .to_string();
        let prefix = if index == 0 { "a=rtcp:" } else { "" };
        *p = format!("{prefix}{port}{suffix}");
    }
    parts.join(" ")
}

/// Rewrites an SDP body; see the module doc.
pub fn rewrite(
    body: &[u8],
    ctx: &SdpContext,
    rtp: &mut RtpTable,
    now: Instant,
) -> Result<Rewritten, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotText)?;
    let ls = lines(text);
    let sc = scan(&ls);
    let mut out: Vec<String> = ls.iter().map(|(l, _)| (*l).to_string()).collect();
    let mut commands = Vec::new();
    for (no, m) in sc.media.iter().enumerate() {
        let addr = m
            .c_addr
            .or(sc.session_c)
            .ok_or(SdpError::NoConnection { line: m.m_line + 1 })?;
        if m.port == 0 {
            continue; // a disabled stream is not relayed (RFC 3264 §8.2)
        }
        let desc = MediaDescription {
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
            mode: m.mode.or(sc.session_mode).unwrap_or_default(),
        };
        let outcome = match rtp.media(now, &desc) {
            Ok(o) => o,
            Err(e) => {
                commands.extend(rtp.cancel(&ctx.call_id, ctx.txn));
                return Err(SdpError::Rtp(e));
            }
        };
        commands.extend(outcome.commands);
        if let Some(l) = out.get_mut(m.m_line) {
            *l = with_port(l, 1, outcome.port);
        }
        if let Some(l) = m.rtcp_line.and_then(|i| out.get_mut(i)) {
            *l = rtcp_line(l, outcome.port.saturating_add(1), ctx.advertise);
        }
    }
    rewrite_addresses(&mut out, ctx.advertise);
    let body = out
        .iter()
        .zip(ls.iter())
        .flat_map(|(l, (_, eol))| [l.as_bytes(), eol.as_bytes()].concat())
        .collect();
    Ok(Rewritten { body, commands })
}

/// `a=rtcp:<port> [IN IP4 <addr>]` with the relay's port (and address).
fn rtcp_line(line: &str, port: u16, ip: IpAddr) -> String {
    let has_addr = line.split(' ').count() >= 4;
    let with = with_port(line, 0, port);
    if has_addr {
        with_addr(&with, 2, ip)
    } else {
        with
    }
}

/// `o=` and every `c=` that is not a hold address get `ip`.
fn rewrite_addresses(out: &mut [String], ip: IpAddr) {
    for l in out.iter_mut() {
        if l.starts_with("o=") && l.split(' ').count() >= 6 {
            *l = with_addr(l, 4, ip);
        } else if l.starts_with("c=") && connection_addr(l).is_some_and(|a| !a.is_unspecified()) {
            *l = with_addr(l, 1, ip);
        }
    }
}
