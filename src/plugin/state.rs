//! What plugins may read of the daemon's state (ABI 1.1
//! `registration_get`, `rtp_stream_get`): a snapshot of the registrations
//! and RTP streams, refreshed by the event loop every second.
//!
//! Plugins run inside the core's processing, while the core is borrowed, so
//! they cannot read it live; upstream's plugins read the global tables
//! directly (plugin_stats even without the lock). A second of staleness is
//! far below a registration's lifetime and plugin_stats' period.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use spx::Direction;

use super::{HostState, Registration, RtpStream};
use crate::proxy::rtp_table::{CallDirection, Peer, StreamInfo};
use crate::proxy::{Now, Proxy};

/// The snapshot plugins read.
#[derive(Default)]
pub struct Snapshot {
    inner: Mutex<(Vec<Registration>, Vec<RtpStream>)>,
}

impl HostState for Snapshot {
    fn registration(&self, index: usize) -> Option<Registration> {
        self.inner.lock().ok()?.0.get(index).cloned()
    }

    fn rtp_stream(&self, index: usize) -> Option<RtpStream> {
        self.inner.lock().ok()?.1.get(index).cloned()
    }
}

impl Snapshot {
    /// Copies the live, unexpired registrations and the open streams.
    pub fn refresh(&self, proxy: &Proxy, now: Now) {
        let regs = proxy
            .registrations()
            .iter()
            .filter(|(_, b)| b.expires > now.wall)
            .map(|(_, b)| Registration {
                aor: b.aor.clone(),
                contact: b.contact.clone(),
                masq: b.masq.clone(),
                expires_at: now.mono + Duration::from_secs(b.expires - now.wall),
            })
            .collect();
        let streams = proxy
            .rtp_table()
            .streams()
            .into_iter()
            .flat_map(|(_, info)| entries(&info))
            .collect();
        if let Ok(mut inner) = self.inner.lock() {
            *inner = (regs, streams);
        }
    }

    /// How many registrations and stream entries it holds.
    pub fn len(&self) -> (usize, usize) {
        self.inner.lock().map_or((0, 0), |i| (i.0.len(), i.1.len()))
    }

    /// True when it holds neither registrations nor streams.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

/// A stream as upstream's `rtp_proxytable` held it: one entry per relay
/// direction. The entry receiving on the WAN address sends to the LAN phone
/// (`DIR_INCOMING`); the one receiving on the LAN address sends to the WAN
/// party (`DIR_OUTGOING`).
fn entries(info: &StreamInfo) -> Vec<RtpStream> {
    let call_direction = match info.key.call_direction {
        CallDirection::Incoming => Direction::RequestIncoming,
        CallDirection::Outgoing => Direction::RequestOutgoing,
    };
    let leg = |local: Option<SocketAddr>, peer: Option<Peer>, stream_direction| {
        Some(RtpStream {
            client_id: info.key.client_id.clone(),
            call_id: info.key.call_id.clone(),
            call_direction,
            stream_direction,
            media_stream_no: u32::from(info.key.media_stream_no),
            local: local?,
            remote: match peer {
                Some(Peer::Media { rtp, .. }) => rtp,
                _ => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            },
        })
    };
    [
        leg(
            info.outbound_local,
            info.inbound_peer,
            Direction::RequestIncoming,
        ),
        leg(
            info.inbound_local,
            info.outbound_peer,
            Direction::RequestOutgoing,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}
