//! Playout delay for `rtp_input_dejitter` (WAN→LAN) and `rtp_output_dejitter` (LAN→WAN).
//! No I/O: [`Playout`] computes when a packet should leave, [`DelayQueue`] holds the copies.
//!
//! Mirrors dejitter.c: learn how many µs one RTP timestamp unit lasts from the arrivals
//! (directly over the first 10 packets, then smoothed with weights 0.05 and 0.01), relay the
//! first 30 packets with a constant delay, afterwards schedule each packet at its *expected*
//! arrival (a smoothed anchor advanced by the timestamp difference) plus the configured
//! delay, never earlier than its real arrival and never later than arrival + 2 × delay.
//! RTCP is never delayed. Differences: the anchor and rate restart on a new SSRC or a new
//! peer (upstream: only on re-INVITE); packets of one leg never overtake each other (upstream
//! can reorder DTMF events, whose timestamp stays constant, ahead of delayed voice); the queue
//! is bounded ([`MAX_DELAYED`]) and overflowing packets are sent at once and counted instead
//! of forcing out the head of a global queue early.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::proxy::rtp_table::StreamId;

/// Packets held per relay thread at most (bounded memory: packets, not a static pool).
pub const MAX_DELAYED: usize = 16_384;
const LEARN_DIRECT: u32 = 10;
const LEARN_FAST: u32 = 20;
const CONSTANT_DELAY_PACKETS: u32 = 30;
/// How far each packet pulls the anchor toward its real arrival.
const ANCHOR_WEIGHT: f64 = 0.05;

/// Timing state of one dejittered direction.
#[derive(Debug, Clone)]
pub struct Playout {
    delay_us: f64,
    ssrc: Option<u32>,
    first_arrival: Option<Instant>,
    first_ts: u32,
    count: u32,
    us_per_tick: f64,
    anchor_us: f64,
    anchor_ts: u32,
    last_out: Option<Instant>,
}

impl Playout {
    pub fn new(delay_us: u32) -> Self {
        Playout {
            delay_us: f64::from(delay_us),
            ssrc: None,
            first_arrival: None,
            first_ts: 0,
            count: 0,
            us_per_tick: 0.0,
            anchor_us: 0.0,
            anchor_ts: 0,
            last_out: None,
        }
    }

    /// Forget the learnt timing (new peer); the delay stays.
    pub fn reset(&mut self) {
        *self = Playout::new(0).with_delay(self.delay_us);
    }

    fn with_delay(mut self, delay_us: f64) -> Self {
        self.delay_us = delay_us;
        self
    }

    /// When an RTP packet with timestamp `ts` and `ssrc` that arrived at `arrival` leaves.
    pub fn schedule(&mut self, arrival: Instant, ts: u32, ssrc: u32) -> Instant {
        if self.ssrc != Some(ssrc) {
            let last_out = self.last_out;
            self.reset();
            self.ssrc = Some(ssrc);
            self.last_out = last_out;
        }
        let first = *self.first_arrival.get_or_insert(arrival);
        if self.count == 0 {
            self.first_ts = ts;
        }
        let elapsed = arrival.saturating_duration_since(first).as_secs_f64() * 1e6;
        self.learn_rate(elapsed, ts);
        let expected = self.expected(elapsed, ts);
        self.count = self.count.saturating_add(1);
        let out_us = (expected + self.delay_us).clamp(elapsed, elapsed + 2.0 * self.delay_us);
        let offset = Duration::try_from_secs_f64(out_us.max(0.0) / 1e6).unwrap_or_default();
        let mut out = first.checked_add(offset).unwrap_or(arrival);
        if let Some(last) = self.last_out {
            out = out.max(last);
        }
        self.last_out = Some(out);
        out
    }

    fn learn_rate(&mut self, elapsed: f64, ts: u32) {
        let ticks = f64::from(ts.wrapping_sub(self.first_ts) as i32);
        if ticks <= 0.0 {
            return;
        }
        let sample = elapsed / ticks;
        self.us_per_tick = match self.count {
            c if c < LEARN_DIRECT => sample,
            c if c < LEARN_FAST => 0.95 * self.us_per_tick + 0.05 * sample,
            _ => 0.99 * self.us_per_tick + 0.01 * sample,
        };
    }

    /// The arrival time (µs since the first packet) this timestamp should have had.
    fn expected(&mut self, elapsed: f64, ts: u32) -> f64 {
        if self.count < CONSTANT_DELAY_PACKETS || self.us_per_tick <= 0.0 {
            self.anchor_us = elapsed;
            self.anchor_ts = ts;
            return elapsed;
        }
        let ticks = f64::from(ts.wrapping_sub(self.anchor_ts) as i32);
        let predicted = self.anchor_us + ticks * self.us_per_tick;
        if ticks > 0.0 {
            self.anchor_us = (1.0 - ANCHOR_WEIGHT) * predicted + ANCHOR_WEIGHT * elapsed;
            self.anchor_ts = ts;
        }
        predicted
    }
}

/// One delayed datagram.
#[derive(Debug)]
pub struct Delayed {
    pub due: Instant,
    order: u64,
    pub slot: usize,
    pub id: StreamId,
    /// Socket index (within the stream) to send from.
    pub out_k: usize,
    buf: usize,
}

impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.order) == (other.due, other.order)
    }
}
impl Eq for Delayed {}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delayed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.order).cmp(&(other.due, other.order))
    }
}

/// A relay thread's delayed packets, earliest first, with reusable buffers. Buffers are
/// allocated only while the queue grows past its previous high-water mark, never per packet
/// in steady state, and only on threads that relay dejittered streams.
#[derive(Debug, Default)]
pub struct DelayQueue {
    heap: BinaryHeap<Reverse<Delayed>>,
    bufs: Vec<Vec<u8>>,
    free: Vec<usize>,
    order: u64,
}

impl DelayQueue {
    /// Queue a copy of `pkt`; `false` when the queue is full (send it now instead).
    pub fn push(
        &mut self,
        due: Instant,
        slot: usize,
        id: StreamId,
        out_k: usize,
        pkt: &[u8],
    ) -> bool {
        let buf = match self.free.pop() {
            Some(b) => b,
            None if self.bufs.len() < MAX_DELAYED => {
                self.bufs.push(Vec::with_capacity(pkt.len()));
                self.bufs.len() - 1
            }
            None => return false,
        };
        if let Some(b) = self.bufs.get_mut(buf) {
            b.clear();
            b.extend_from_slice(pkt);
        }
        self.order = self.order.wrapping_add(1);
        self.heap.push(Reverse(Delayed {
            due,
            order: self.order,
            slot,
            id,
            out_k,
            buf,
        }));
        true
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|r| r.0.due)
    }

    /// The earliest packet if due by `now`; hand it back with [`DelayQueue::release`].
    pub fn pop_due(&mut self, now: Instant) -> Option<Delayed> {
        if self.next_due()? > now {
            return None;
        }
        self.heap.pop().map(|r| r.0)
    }

    pub fn bytes(&self, d: &Delayed) -> &[u8] {
        self.bufs.get(d.buf).map_or(&[], Vec::as_slice)
    }

    pub fn release(&mut self, d: Delayed) {
        self.free.push(d.buf);
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feed 40 regular packets (20 ms, 160 ticks); returns the start instant.
    fn learn(p: &mut Playout) -> Instant {
        let delay = Duration::from_secs_f64(p.delay_us / 1e6);
        let t0 = Instant::now();
        for i in 0..40u32 {
            let want = t0 + ms(20 * u64::from(i)) + delay;
            let out = p.schedule(t0 + ms(20 * u64::from(i)), 160 * i, 1);
            let err = if out > want { out - want } else { want - out };
            assert!(
                err < Duration::from_micros(10),
                "steady stream: constant delay ({err:?})"
            );
        }
        t0
    }

    #[test]
    fn a_burst_is_spread_back_to_its_timestamps() {
        let mut p = Playout::new(60_000);
        let t0 = learn(&mut p);
        // Packets 40..45 (due at 800..880 ms) were held up and arrive together at 850 ms.
        let arrival = t0 + ms(850);
        let outs: Vec<Instant> = (40..45u32)
            .map(|i| p.schedule(arrival, 160 * i, 1))
            .collect();
        for pair in outs.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap >= ms(15) && gap <= ms(25), "gap {gap:?}");
        }
        assert!(outs[0] >= arrival);
        assert!(
            outs[0] >= arrival + ms(5),
            "the first is still delayed past its arrival"
        );
        assert!(
            *outs.last().unwrap() <= arrival + ms(120),
            "never later than arrival + 2 × delay"
        );
    }

    #[test]
    fn constant_timestamp_events_never_overtake_delayed_voice() {
        let mut p = Playout::new(60_000);
        let t0 = learn(&mut p);
        let voice = p.schedule(t0 + ms(800), 160 * 40, 1);
        let dtmf = p.schedule(t0 + ms(801), 160 * 40, 1);
        assert!(dtmf >= voice);
    }

    #[test]
    fn a_new_ssrc_restarts_learning_with_a_constant_delay() {
        let mut p = Playout::new(40_000);
        let t0 = learn(&mut p);
        let at = t0 + ms(900);
        assert_eq!(p.schedule(at, 99_999, 2), at + ms(40));
    }

    #[test]
    fn queue_pops_in_due_order_and_reuses_buffers() {
        let mut q = DelayQueue::default();
        let t0 = Instant::now();
        assert!(q.push(t0 + ms(20), 0, StreamId(1), 2, b"late"));
        assert!(q.push(t0 + ms(10), 0, StreamId(1), 2, b"early"));
        assert!(q.pop_due(t0).is_none());
        let d = q.pop_due(t0 + ms(15)).unwrap();
        assert_eq!(q.bytes(&d), b"early");
        q.release(d);
        assert!(q.push(t0 + ms(30), 0, StreamId(1), 2, b"again"));
        assert_eq!(q.bufs.len(), 2, "released buffer reused");
        let d = q.pop_due(t0 + ms(40)).unwrap();
        assert_eq!(q.bytes(&d), b"late");
        assert_eq!(q.len(), 1);
    }
}
