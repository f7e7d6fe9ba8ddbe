//! Per-stream relay state owned by one relay thread: where each leg sends, symmetric latching,
//! RTP sequence tracking and the plain-integer counters published to the core.
//! No I/O here; `io.rs` moves the bytes.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::dejitter::Playout;
use crate::proxy::rtp_table::{LegOptions, Peer, StreamId};

/// Counters of one leg, cumulative since the leg was opened. "rx" counts what this leg's
/// sockets received from its peer; "tx" what was sent *out of* this leg's sockets to its peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegStats {
    pub rx_rtp_packets: u64,
    pub rx_rtp_bytes: u64,
    pub rx_rtcp_packets: u64,
    pub rx_rtcp_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// RTP packets missing from the sequence numbers received on this leg (RFC 3550 A.3).
    pub rtp_lost: u64,
    /// Dropped because the other leg's peer was not known yet (no SDP) or is on hold.
    pub dropped_no_peer: u64,
    /// Dropped because they came from another source than the latched one (anti-injection).
    pub dropped_foreign_source: u64,
    /// Datagrams larger than the relay buffer; dropped.
    pub truncated: u64,
    /// Send errors (ENOBUFS, ECONNREFUSED, …) and packets the kernel would not queue.
    pub send_errors: u64,
    /// RTP packets sent without their playout delay because the delay queue was full.
    pub dejitter_overflow: u64,
    /// The source this leg's RTP is latched to, if latching is on and probation passed.
    pub latched_rtp: Option<SocketAddr>,
}

/// One relay-thread report entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamReport {
    pub id: StreamId,
    /// Last RTP (not RTCP, as upstream's aging) received on either leg.
    pub last_rtp: Option<Instant>,
    pub inbound: LegStats,
    pub outbound: LegStats,
}

/// Where one channel (RTP or RTCP) of a leg sends, and the latching state that decides it.
#[derive(Debug, Default)]
pub struct Channel {
    /// From SDP (`None`: no SDP yet or hold).
    sdp: Option<SocketAddr>,
    latched: Option<SocketAddr>,
    candidate: Option<SocketAddr>,
    candidate_packets: u32,
    /// The current send target in kernel form, rebuilt only when the target changes.
    target: Option<socket2::SockAddr>,
}

/// What to do with a packet from `src` arriving on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Forward,
    ForeignSource,
}

impl Channel {
    fn set_sdp(&mut self, addr: Option<SocketAddr>) {
        if self.sdp != addr {
            *self = Channel {
                sdp: addr,
                ..Channel::default()
            };
            self.retarget();
        }
    }

    /// Where packets for this channel's peer go now.
    pub fn target(&self) -> Option<&socket2::SockAddr> {
        self.target.as_ref()
    }

    fn retarget(&mut self) {
        self.target = self.latched.or(self.sdp).map(socket2::SockAddr::from);
    }

    /// Symmetric latching with probation. A source equal to the SDP address latches at once;
    /// any other source must send `probation` consecutive packets first (NATed parties whose
    /// source port differs from their SDP). Until latched everything is forwarded, as
    /// upstream does; once latched, other sources are dropped. A new SDP address (re-INVITE)
    /// restarts learning. `trusted_ip` (the latched RTP source's address, for the RTCP
    /// channel) also latches at once: RTCP comes every few seconds, so a probation of
    /// several packets would leave a NATed party without reports for a long time.
    pub fn admit(
        &mut self,
        src: SocketAddr,
        latch: bool,
        probation: u32,
        trusted_ip: Option<IpAddr>,
    ) -> Admit {
        if !latch {
            return Admit::Forward;
        }
        if let Some(latched) = self.latched {
            return if latched == src {
                Admit::Forward
            } else {
                Admit::ForeignSource
            };
        }
        if self.candidate == Some(src) {
            self.candidate_packets = self.candidate_packets.saturating_add(1);
        } else {
            self.candidate = Some(src);
            self.candidate_packets = 1;
        }
        let trusted = trusted_ip == Some(src.ip());
        if trusted || self.sdp == Some(src) || self.candidate_packets >= probation {
            self.latched = Some(src);
            self.retarget();
        }
        Admit::Forward
    }

    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }
}

/// RFC 3550 A.1-style extended sequence tracking, for the loss counter.
#[derive(Debug, Default)]
pub struct SeqTracker {
    ssrc: Option<u32>,
    base: u64,
    max: u64,
    received: u64,
    /// Loss accumulated under earlier SSRCs.
    lost_before: u64,
}

impl SeqTracker {
    /// Account one received datagram; non-RTP (too short, not version 2) is ignored.
    pub fn observe(&mut self, pkt: &[u8]) {
        let (Some(&b0), Some(seq), Some(ssrc)) = (pkt.first(), be16(pkt, 2), be32(pkt, 8)) else {
            return;
        };
        if b0 >> 6 != 2 {
            return;
        }
        if self.ssrc != Some(ssrc) {
            self.lost_before = self.lost();
            self.ssrc = Some(ssrc);
            self.base = u64::from(seq);
            self.max = self.base;
            self.received = 1;
            return;
        }
        let max16 = (self.max & 0xffff) as u16;
        let delta = seq.wrapping_sub(max16);
        if delta != 0 && delta < 0x8000 {
            let wrapped = u64::from(seq < max16) << 16;
            self.max = (self.max & !0xffff) + wrapped + u64::from(seq);
        }
        self.received += 1;
    }

    pub fn lost(&self) -> u64 {
        let expected = if self.ssrc.is_some() {
            self.max - self.base + 1
        } else {
            0
        };
        self.lost_before + expected.saturating_sub(self.received)
    }
}

/// RTP timestamp and SSRC of a version-2 RTP packet.
pub fn rtp_timing(pkt: &[u8]) -> Option<(u32, u32)> {
    if pkt.first()? >> 6 != 2 {
        return None;
    }
    Some((be32(pkt, 4)?, be32(pkt, 8)?))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Relay state of one leg (sockets live in the thread's socket table, not here).
#[derive(Debug, Default)]
pub struct LegState {
    pub options: Option<LegOptions>,
    pub rtp: Channel,
    pub rtcp: Channel,
    pub seq: SeqTracker,
    pub stats: LegStats,
    /// Playout delay for RTP sent *out of* this leg, if configured.
    pub playout: Option<Playout>,
}

impl LegState {
    /// A new peer from SDP; `Hold` stops sending to this leg.
    pub fn set_peer(&mut self, peer: Peer) {
        let (rtp, rtcp) = match peer {
            Peer::Hold => (None, None),
            Peer::Media { rtp, rtcp } => (Some(rtp), Some(rtcp)),
        };
        self.rtp.set_sdp(rtp);
        self.rtcp.set_sdp(rtcp);
        // Mirrors rtpproxy_relay.c: a re-INVITE resets the dejitter state.
        if let Some(p) = &mut self.playout {
            p.reset();
        }
    }

    pub fn latch(&self) -> bool {
        self.options.is_some_and(|o| o.latch)
    }

    pub fn snapshot(&self) -> LegStats {
        LegStats {
            rtp_lost: self.seq.lost(),
            latched_rtp: self.rtp.latched(),
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p[8..12].copy_from_slice(&ssrc.to_be_bytes());
        p
    }

    #[test]
    fn loss_counts_gaps_across_wraparound_and_ignores_reordering() {
        let mut t = SeqTracker::default();
        for seq in [65530u16, 65531, 65533, 65532, 65535, 0, 1, 4] {
            t.observe(&rtp(seq, 7));
        }
        // expected 65530..=65535 (6) + 0..=4 (5) = 11, received 8.
        assert_eq!(t.lost(), 3);
        t.observe(&rtp(100, 8)); // new SSRC keeps earlier loss
        t.observe(&rtp(101, 8));
        assert_eq!(t.lost(), 3);
        t.observe(&[0x00; 20]); // not RTP v2
        t.observe(&[0x80, 1]); // too short
        assert_eq!(t.lost(), 3);
    }

    #[test]
    fn latching_waits_for_probation_then_rejects_other_sources() {
        let sdp: SocketAddr = "198.51.100.3:6000".parse().unwrap();
        let nat: SocketAddr = "198.51.100.3:40123".parse().unwrap();
        let evil: SocketAddr = "203.0.113.9:6000".parse().unwrap();
        let mut ch = Channel::default();
        ch.set_sdp(Some(sdp));
        assert_eq!(ch.admit(nat, true, 3, None), Admit::Forward);
        assert_eq!(
            ch.admit(evil, true, 3, None),
            Admit::Forward,
            "probation restarts"
        );
        for _ in 0..3 {
            ch.admit(nat, true, 3, None);
        }
        assert_eq!(ch.latched(), Some(nat));
        assert_eq!(ch.target(), Some(&socket2::SockAddr::from(nat)));
        assert_eq!(ch.admit(evil, true, 3, None), Admit::ForeignSource);
        assert_eq!(ch.admit(sdp, true, 3, None), Admit::ForeignSource);
        // A re-INVITE with a new address restarts learning.
        ch.set_sdp(Some(evil));
        assert_eq!(ch.latched(), None);
        assert_eq!(ch.admit(evil, true, 3, None), Admit::Forward);
        assert_eq!(ch.latched(), Some(evil), "the SDP address latches at once");
    }

    #[test]
    fn rtcp_from_the_latched_rtp_address_latches_at_once() {
        let sdp_rtcp: SocketAddr = "198.51.100.3:6001".parse().unwrap();
        let nat_rtcp: SocketAddr = "198.51.100.3:40124".parse().unwrap();
        let mut ch = Channel::default();
        ch.set_sdp(Some(sdp_rtcp));
        ch.admit(nat_rtcp, true, 3, Some(nat_rtcp.ip()));
        assert_eq!(ch.latched(), Some(nat_rtcp));
        let other: SocketAddr = "203.0.113.9:40124".parse().unwrap();
        let mut ch = Channel::default();
        ch.set_sdp(Some(sdp_rtcp));
        ch.admit(other, true, 3, Some(nat_rtcp.ip()));
        assert_eq!(ch.latched(), None, "another address still needs probation");
    }

    #[test]
    fn without_latching_every_source_is_forwarded_to_the_sdp_address() {
        let sdp: SocketAddr = "192.0.2.10:6000".parse().unwrap();
        let mut ch = Channel::default();
        ch.set_sdp(Some(sdp));
        for port in 1..10 {
            let src = SocketAddr::new(sdp.ip(), port);
            assert_eq!(ch.admit(src, false, 3, None), Admit::Forward);
        }
        assert_eq!(ch.latched(), None);
        assert_eq!(ch.target(), Some(&socket2::SockAddr::from(sdp)));
    }
}
