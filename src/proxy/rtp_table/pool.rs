//! The RTP port pool: even/odd port pairs in `rtp_port_low..=rtp_port_high`, counted per
//! local IP address. PURE.
//!
//! Mirrors rtpproxy_relay.c:rtp_start_fwd's port search (inventory §5.6 "Port allocation"):
//! only even ports carry RTP, `port + 1` carries RTCP, the search starts right after the pair
//! used last and wraps, so a port just released is not handed out again at once (on-the-wire
//! §6: call 1 got 7070 + 7072, call 2 got 7074 + 7076). The cursor is shared by all local
//! addresses (that is what produces the wire order above) while the in-use sets are kept per
//! address, so a router with distinct LAN and WAN addresses gets one pair on each per stream.
//!
//! Differs from upstream: upstream finds "free" ports by scanning its 1024-entry table; here a
//! bitmap per address answers in O(pairs/64), and releasing a port that is not allocated is an
//! error instead of a silent no-op, so double releases show up in tests.

use std::collections::HashMap;
use std::net::IpAddr;

use super::RtpTableError;

/// Free/used pairs for one range, per local address, with upstream's round-robin cursor.
#[derive(Debug)]
pub struct PortPool {
    low: u16,
    high: u16,
    pairs: u32,
    /// Index of the pair handed out last (shared by all addresses), `None` before the first.
    cursor: Option<u32>,
    /// One bit per pair; an address disappears from the map when its last pair is released.
    used: HashMap<IpAddr, Vec<u64>>,
    allocated: usize,
}

impl PortPool {
    /// A pool over `low..=high` (both even, `low > 0`); the top pair's RTCP port is `high + 1`.
    pub fn new(low: u16, high: u16) -> Result<Self, RtpTableError> {
        let invalid = |reason| RtpTableError::InvalidRange { low, high, reason };
        if low == 0 {
            return Err(invalid("rtp_port_low is 0, so no port can be allocated"));
        }
        if !low.is_multiple_of(2) || !high.is_multiple_of(2) {
            return Err(invalid("both ends must be even (RTP even, RTCP on port+1)"));
        }
        if high < low {
            return Err(invalid("rtp_port_high is below rtp_port_low"));
        }
        let pairs = u32::from((high - low) / 2) + 1;
        Ok(Self {
            low,
            high,
            pairs,
            cursor: None,
            used: HashMap::new(),
            allocated: 0,
        })
    }

    /// Number of even/odd pairs each local address can use.
    pub fn pairs_per_address(&self) -> u32 {
        self.pairs
    }

    /// Pairs currently allocated, over all addresses.
    pub fn allocated(&self) -> usize {
        self.allocated
    }

    /// Allocate the next free RTP port (even; RTCP is `port + 1`) on `ip`.
    pub fn allocate(&mut self, ip: IpAddr) -> Result<u16, RtpTableError> {
        let start = self.cursor.map_or(0, |c| (c + 1) % self.pairs);
        let words = self.words_for(ip);
        let bits = self.used.entry(ip).or_insert_with(|| vec![0; words]);
        let found = (0..self.pairs)
            .map(|step| (start + step) % self.pairs)
            .find(|&idx| !bit(bits, idx));
        let Some(idx) = found else {
            if bits.iter().all(|w| *w == 0) {
                self.used.remove(&ip);
            }
            return Err(RtpTableError::PortsExhausted {
                ip,
                low: self.low,
                high: self.high,
                pairs: self.pairs,
            });
        };
        set_bit(bits, idx, true);
        self.cursor = Some(idx);
        self.allocated += 1;
        Ok(self.port_of(idx))
    }

    /// Release a pair given by its RTP port; releasing a pair that is not allocated is an error.
    pub fn release(&mut self, ip: IpAddr, port: u16) -> Result<(), RtpTableError> {
        let not_allocated = RtpTableError::NotAllocated { ip, port };
        let idx = self.index_of(port).ok_or(not_allocated.clone())?;
        let bits = self.used.get_mut(&ip).ok_or(not_allocated.clone())?;
        if !bit(bits, idx) {
            return Err(not_allocated);
        }
        set_bit(bits, idx, false);
        if bits.iter().all(|w| *w == 0) {
            self.used.remove(&ip);
        }
        self.allocated = self.allocated.saturating_sub(1);
        Ok(())
    }

    fn words_for(&self, _ip: IpAddr) -> usize {
        usize::try_from(self.pairs.div_ceil(64)).unwrap_or(usize::MAX)
    }

    fn port_of(&self, idx: u32) -> u16 {
        // idx < pairs, so low + 2*idx <= high fits in u16.
        let offset = u16::try_from(idx * 2).unwrap_or(0);
        self.low.saturating_add(offset)
    }

    fn index_of(&self, port: u16) -> Option<u32> {
        if port < self.low || port > self.high || !port.is_multiple_of(2) {
            return None;
        }
        Some(u32::from((port - self.low) / 2))
    }
}

fn bit(bits: &[u64], idx: u32) -> bool {
    let (word, mask) = locate(idx);
    bits.get(word).is_some_and(|w| w & mask != 0)
}

fn set_bit(bits: &mut [u64], idx: u32, on: bool) {
    let (word, mask) = locate(idx);
    if let Some(w) = bits.get_mut(word) {
        if on {
            *w |= mask;
        } else {
            *w &= !mask;
        }
    }
}

fn locate(idx: u32) -> (usize, u64) {
    let word = usize::try_from(idx / 64).unwrap_or(usize::MAX);
    (word, 1u64 << (idx % 64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAN: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const WAN: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));

    #[test]
    fn allocation_order_matches_upstream_wire_capture() {
        // on-the-wire §6: outgoing call WAN 7070 + LAN 7072, next call LAN 7074 + WAN 7076.
        let mut pool = PortPool::new(7070, 7089 - 1).unwrap();
        assert_eq!(pool.allocate(WAN).unwrap(), 7070);
        assert_eq!(pool.allocate(LAN).unwrap(), 7072);
        pool.release(WAN, 7070).unwrap();
        pool.release(LAN, 7072).unwrap();
        assert_eq!(pool.allocate(LAN).unwrap(), 7074);
        assert_eq!(pool.allocate(WAN).unwrap(), 7076);
    }

    #[test]
    fn pairs_are_counted_per_address_and_exhaust_with_numbers() {
        // pfSense default 7070-7079 → pairs 7070..=7078 = 5 per address.
        let mut pool = PortPool::new(7070, 7078).unwrap();
        assert_eq!(pool.pairs_per_address(), 5);
        for _ in 0..5 {
            pool.allocate(LAN).unwrap();
            pool.allocate(WAN).unwrap();
        }
        let err = pool.allocate(LAN).unwrap_err();
        assert_eq!(
            err,
            RtpTableError::PortsExhausted {
                ip: LAN,
                low: 7070,
                high: 7078,
                pairs: 5
            }
        );
        assert!(err.to_string().contains("7070-7078"), "{err}");
        assert!(pool.allocate(WAN).is_err());
        assert_eq!(pool.allocated(), 10);
    }

    #[test]
    fn search_wraps_and_skips_used_pairs() {
        let mut pool = PortPool::new(7070, 7076).unwrap();
        let a = pool.allocate(LAN).unwrap();
        let b = pool.allocate(LAN).unwrap();
        let c = pool.allocate(LAN).unwrap();
        let d = pool.allocate(LAN).unwrap();
        assert_eq!([a, b, c, d], [7070, 7072, 7074, 7076]);
        pool.release(LAN, 7072).unwrap();
        // cursor was at 7076; wraps to 7070 (used) then finds 7072.
        assert_eq!(pool.allocate(LAN).unwrap(), 7072);
    }

    #[test]
    fn double_release_and_foreign_ports_are_errors() {
        let mut pool = PortPool::new(7070, 7078).unwrap();
        let p = pool.allocate(LAN).unwrap();
        pool.release(LAN, p).unwrap();
        assert_eq!(
            pool.release(LAN, p),
            Err(RtpTableError::NotAllocated { ip: LAN, port: p })
        );
        assert!(pool.release(LAN, 7071).is_err());
        assert!(pool.release(LAN, 9000).is_err());
        assert!(pool.release(WAN, 7072).is_err());
        assert_eq!(pool.allocated(), 0);
    }

    #[test]
    fn invalid_ranges_are_rejected() {
        assert!(PortPool::new(0, 0).is_err());
        assert!(PortPool::new(7071, 7078).is_err());
        assert!(PortPool::new(7070, 7079).is_err());
        assert!(PortPool::new(7080, 7070).is_err());
        let top = PortPool::new(65534, 65534).unwrap();
        assert_eq!(top.pairs_per_address(), 1);
    }
}
