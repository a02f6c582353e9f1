//! Simulated links: a sans-IO model of one direction of a TCP connection, with faults.
//!
//! A [`Pipe`] takes the byte chunks a node writes and says when (and in what shape) they
//! arrive at the other end. It owns no clock and no queue: the caller passes `now` and the
//! run's generator, and schedules the delivery it gets back.
//!
//! # How the faults map onto a byte stream
//!
//! TCP is reliable and ordered, so packet-level faults show up differently to the overlay:
//!
//! | knob | what the receiving node sees |
//! |---|---|
//! | `latency_ms`, `jitter_ms` | each chunk arrives after `latency + uniform(0, jitter)`, but never before the chunk written before it (TCP keeps order; jitter shows as bunching, not reordering) |
//! | `bandwidth_bytes_per_s` | a chunk takes `len / bandwidth` to put on the wire and waits for the chunks before it (serialization delay per direction); the backlog drives the writer's back-pressure |
//! | `loss_prob` | a lost segment is retransmitted after `rto_ms`, doubling on each further loss (at most 6): the chunk and every chunk behind it arrive late (head-of-line blocking). Nothing is lost from the stream |
//! | `reset_prob` | the connection is reset (RST): both ends see the socket close, bytes in flight are gone |
//! | `duplicate_prob` | a whole frame is delivered twice in a row, as stellar-core's LoopbackPeer does: a replayed sequence number the MAC check must reject |
//! | `reorder_prob` | a whole frame is moved behind the next frame (LoopbackPeer style): an out-of-order sequence number the MAC check must reject |
//! | `corrupt_prob` | 1 to 3 random bits of a chunk flip in flight: the MAC (or the framing or XDR checks) must catch it. A flip in a record mark's length throws the receiver's framing out of step: it is counted apart ([`LinkStats::corrupted_record_marks`]) because the receiver may only notice once the longer body it was announced has arrived |
//!
//! Cuts and partitions are properties of the network, not of one pipe (see
//! [`crate::network`]); a pipe only knows whether its path is blocked right now. While it is
//! blocked, chunks and the end-of-stream are held back (TCP keeps retransmitting) and
//! released when the path heals.

use crate::rng::SimRng;
use core::time::Duration;
use overlay_proto::Timestamp;
use serde::Serialize;

/// Most consecutive losses of one chunk (each doubles the retransmission delay).
const LOSS_RETRIES_MAX: u32 = 6;

/// Bound on chunks held back while a path is blocked, per direction. Why: a node keeps
/// writing to a connection whose far end is unreachable until its idle or straggler timer
/// drops it; past the bound the oldest chunks are merged into one, so the count stays
/// bounded while the bytes (already bounded by the node's own send limits) are kept.
const HELD_CHUNKS_MAX: usize = 1_024;

/// The properties of a link, one direction or both. All probabilities are per chunk
/// (a node's write) except `duplicate_prob` and `reorder_prob`, which are per frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LinkProfile {
    /// One-way propagation delay.
    pub latency_ms: u64,
    /// Extra delay drawn uniformly in `[0, jitter_ms]` per chunk.
    pub jitter_ms: u64,
    /// Serialization rate; 0 means unlimited.
    pub bandwidth_bytes_per_s: u64,
    /// Probability that a chunk is lost once and retransmitted.
    pub loss_prob: f64,
    /// Retransmission timeout for a lost chunk.
    pub rto_ms: u64,
    /// Probability that a chunk resets the connection.
    pub reset_prob: f64,
    /// Probability that a frame is delivered twice.
    pub duplicate_prob: f64,
    /// Probability that a frame is moved behind the next one.
    pub reorder_prob: f64,
    /// Probability that a chunk has bits flipped.
    pub corrupt_prob: f64,
}

impl Default for LinkProfile {
    /// A clean link: 20 ms, no jitter, unlimited bandwidth, no faults.
    fn default() -> Self {
        LinkProfile {
            latency_ms: 20,
            jitter_ms: 0,
            bandwidth_bytes_per_s: 0,
            loss_prob: 0.0,
            rto_ms: 200,
            reset_prob: 0.0,
            duplicate_prob: 0.0,
            reorder_prob: 0.0,
            corrupt_prob: 0.0,
        }
    }
}

impl LinkProfile {
    /// Whether any fault that damages the byte stream (dup, reorder, corrupt) is on.
    pub fn damages_stream(&self) -> bool {
        self.duplicate_prob > 0.0 || self.reorder_prob > 0.0 || self.corrupt_prob > 0.0
    }

    /// Check the values: probabilities in `[0, 1]`.
    pub fn validate(&self) -> Result<(), String> {
        let probs = [
            ("loss_prob", self.loss_prob),
            ("reset_prob", self.reset_prob),
            ("duplicate_prob", self.duplicate_prob),
            ("reorder_prob", self.reorder_prob),
            ("corrupt_prob", self.corrupt_prob),
        ];
        for (name, p) in probs {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} must be within [0, 1], not {p}"));
            }
        }
        Ok(())
    }
}

/// Counters of what the links did, summed over all pipes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LinkStats {
    /// Chunks carried.
    pub chunks: u64,
    /// Bytes carried (before duplication).
    pub bytes: u64,
    /// Chunk losses (each one a retransmission delay).
    pub losses: u64,
    /// Connections reset by `reset_prob`.
    pub resets: u64,
    /// Frames delivered twice.
    pub duplicated_frames: u64,
    /// Frames moved behind the next one.
    pub reordered_frames: u64,
    /// Chunks with flipped bits.
    pub corrupted_chunks: u64,
    /// Of those, chunks where a flipped bit changed the body length a record mark announces
    /// (bit 31, which receivers ignore, excluded): from that frame on the receiver's framing
    /// is out of step with the sender's, so nothing more crosses that direction intact.
    pub corrupted_record_marks: u64,
    /// Chunks held back by a partition.
    pub held_chunks: u64,
}

/// What became of a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carried {
    /// Deliver `bytes` to the far end at `at`.
    Deliver {
        /// Arrival time.
        at: Timestamp,
        /// The bytes as they arrive (possibly damaged).
        bytes: Vec<u8>,
    },
    /// The path is blocked: held until it heals.
    Held,
    /// The connection was reset.
    Reset,
    /// Nothing to deliver yet (a single frame held back by reordering).
    Nothing,
}

/// One direction of one connection.
#[derive(Debug, Clone, Default)]
pub struct Pipe {
    /// When the last chunk written finishes serializing.
    busy_until: Timestamp,
    /// Arrival time of the last chunk: later chunks never arrive before it.
    last_arrival: Timestamp,
    /// Chunks written while the path was blocked (bounded by [`HELD_CHUNKS_MAX`]).
    held: Vec<Vec<u8>>,
    /// End of stream written while the path was blocked.
    held_fin: bool,
    /// A frame moved behind the next frame written.
    reordered: Option<Vec<u8>>,
}

impl Pipe {
    /// Bytes written but not yet serialized at `now`, at `bandwidth_bytes_per_s`: the
    /// sender's socket buffer.
    pub fn backlog_bytes(&self, now: Timestamp, bandwidth_bytes_per_s: u64) -> u64 {
        if bandwidth_bytes_per_s == 0 || self.busy_until <= now {
            return 0;
        }
        let ns = self.busy_until.saturating_duration_since(now).as_nanos();
        (ns * u128::from(bandwidth_bytes_per_s) / 1_000_000_000) as u64
    }

    /// When the backlog will have drained to `bytes`.
    pub fn backlog_drains_to(&self, now: Timestamp, bytes: u64, bandwidth_bytes_per_s: u64) -> Timestamp {
        if bandwidth_bytes_per_s == 0 {
            return now;
        }
        let ns = u128::from(bytes) * 1_000_000_000 / u128::from(bandwidth_bytes_per_s);
        let t = Timestamp::from_nanos(self.busy_until.as_nanos().saturating_sub(ns as u64));
        t.max(now)
    }

    /// Whether chunks or an end of stream wait for the path to heal.
    pub fn has_held(&self) -> bool {
        !self.held.is_empty() || self.held_fin
    }

    /// Carry a chunk written at `now`.
    pub fn carry(
        &mut self,
        now: Timestamp,
        bytes: Vec<u8>,
        profile: &LinkProfile,
        blocked: bool,
        rng: &mut SimRng,
        stats: &mut LinkStats,
    ) -> Carried {
        stats.chunks += 1;
        stats.bytes += bytes.len() as u64;
        if blocked {
            stats.held_chunks += 1;
            self.hold(bytes);
            return Carried::Held;
        }
        if rng.chance(profile.reset_prob) {
            stats.resets += 1;
            return Carried::Reset;
        }
        let mut bytes = if profile.duplicate_prob > 0.0 || profile.reorder_prob > 0.0 || self.reordered.is_some() {
            self.reshape(bytes, profile, rng, stats)
        } else {
            bytes
        };
        if bytes.is_empty() {
            return Carried::Nothing;
        }
        if rng.chance(profile.corrupt_prob) {
            corrupt(&mut bytes, rng, stats);
        }
        let at = self.schedule(now, bytes.len(), profile, rng, stats);
        Carried::Deliver { at, bytes }
    }

    /// The end of stream written at `now`: when it arrives, or `None` while blocked.
    pub fn fin(&mut self, now: Timestamp, profile: &LinkProfile, blocked: bool) -> Option<Timestamp> {
        if blocked {
            self.held_fin = true;
            return None;
        }
        let depart = now.max(self.busy_until);
        let at = (depart + Duration::from_millis(profile.latency_ms)).max(self.last_arrival);
        self.last_arrival = at;
        Some(at)
    }

    /// The path healed at `now`: the held chunks (as one) and the held end of stream.
    pub fn release(
        &mut self,
        now: Timestamp,
        profile: &LinkProfile,
        rng: &mut SimRng,
        stats: &mut LinkStats,
    ) -> (Option<(Timestamp, Vec<u8>)>, Option<Timestamp>) {
        let held = core::mem::take(&mut self.held);
        let data = (!held.is_empty()).then(|| {
            let bytes = held.concat();
            let at = self.schedule(now, bytes.len(), profile, rng, stats);
            (at, bytes)
        });
        let fin = core::mem::take(&mut self.held_fin).then(|| self.fin(now, profile, false)).flatten();
        (data, fin)
    }

    fn hold(&mut self, bytes: Vec<u8>) {
        if self.held.len() >= HELD_CHUNKS_MAX {
            let merged: Vec<u8> = self.held.drain(..HELD_CHUNKS_MAX / 2).flatten().collect();
            self.held.insert(0, merged);
        }
        self.held.push(bytes);
    }

    /// Serialization, propagation, jitter and retransmission delay; FIFO.
    fn schedule(
        &mut self,
        now: Timestamp,
        len: usize,
        profile: &LinkProfile,
        rng: &mut SimRng,
        stats: &mut LinkStats,
    ) -> Timestamp {
        let serialize_ns = if profile.bandwidth_bytes_per_s == 0 {
            0
        } else {
            (len as u128 * 1_000_000_000 / u128::from(profile.bandwidth_bytes_per_s)) as u64
        };
        let depart = now.max(self.busy_until) + Duration::from_nanos(serialize_ns);
        self.busy_until = depart;
        let mut delay_ns = profile.latency_ms * 1_000_000;
        if profile.jitter_ms > 0 {
            delay_ns += rng.below(profile.jitter_ms * 1_000_000 + 1);
        }
        let mut rto_ms = profile.rto_ms;
        let mut losses = 0;
        while losses < LOSS_RETRIES_MAX && rng.chance(profile.loss_prob) {
            stats.losses += 1;
            delay_ns += rto_ms * 1_000_000;
            rto_ms = rto_ms.saturating_mul(2);
            losses += 1;
        }
        let at = (depart + Duration::from_nanos(delay_ns)).max(self.last_arrival);
        self.last_arrival = at;
        at
    }

    /// Frame-level duplication and reordering. A frame held back by the previous write is
    /// delivered behind the first frame of this one.
    fn reshape(&mut self, bytes: Vec<u8>, profile: &LinkProfile, rng: &mut SimRng, stats: &mut LinkStats) -> Vec<u8> {
        let carried_over = self.reordered.take();
        let mut frames: Vec<&[u8]> = split_frames(&bytes);
        if let Some(prev) = carried_over.as_deref() {
            frames.insert(frames.len().min(1), prev);
        }
        let mut out = Vec::with_capacity(bytes.len() + carried_over.as_ref().map_or(0, Vec::len));
        for i in 0..frames.len() {
            if rng.chance(profile.reorder_prob) {
                stats.reordered_frames += 1;
                if i + 1 < frames.len() {
                    frames.swap(i, i + 1);
                } else {
                    // The last frame of the write waits for the next write.
                    self.reordered = Some(frames[i].to_vec());
                    continue;
                }
            }
            let f = frames[i];
            out.extend_from_slice(f);
            if rng.chance(profile.duplicate_prob) {
                stats.duplicated_frames += 1;
                out.extend_from_slice(f);
            }
        }
        out
    }
}

/// Flip 1 to 3 random bits of a chunk; count it, and count it apart if a record mark now
/// announces another body length.
fn corrupt(bytes: &mut [u8], rng: &mut SimRng, stats: &mut LinkStats) {
    stats.corrupted_chunks += 1;
    let marks = record_marks(bytes);
    let flips = 1 + rng.below(3);
    for _ in 0..flips {
        let i = rng.index(bytes.len());
        bytes[i] ^= 1 << rng.below(8);
    }
    if marks.iter().any(|&(at, len)| announced_len(&bytes[at..]) != Some(len)) {
        stats.corrupted_record_marks += 1;
    }
}

/// The body length a record mark at the start of `bytes` announces, bit 31 ignored as
/// receivers do (PROTOCOL.md §1.2); `None` if fewer than 4 bytes.
fn announced_len(bytes: &[u8]) -> Option<u32> {
    let mark = bytes.first_chunk::<4>()?;
    Some(u32::from_be_bytes(*mark) & 0x7fff_ffff)
}

/// The record marks of a run of frames as the receiver reads them: the offset of each mark
/// and the body length it announces. A mark whose body runs past the end is included.
pub fn record_marks(bytes: &[u8]) -> Vec<(usize, u32)> {
    let mut marks = Vec::new();
    let mut at = 0usize;
    while let Some(len) = bytes.get(at..).and_then(announced_len) {
        marks.push((at, len));
        at = at.saturating_add(4).saturating_add(len as usize);
    }
    marks
}

/// Split a run of whole frames at their record marks. A trailing partial frame (which a
/// node never writes) is kept as one piece.
pub fn split_frames(bytes: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 4 {
        let len = (u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) & 0x7fff_ffff) as usize;
        let end = 4usize.saturating_add(len);
        if end > rest.len() {
            break;
        }
        frames.push(&rest[..end]);
        rest = &rest[end..];
    }
    if !rest.is_empty() {
        frames.push(rest);
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tag: u8, body_len: usize) -> Vec<u8> {
        let mut f = (0x8000_0000u32 | body_len as u32).to_be_bytes().to_vec();
        f.extend(core::iter::repeat_n(tag, body_len));
        f
    }

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn latency_and_fifo_under_jitter() {
        let p = LinkProfile { latency_ms: 10, jitter_ms: 50, ..LinkProfile::default() };
        let mut pipe = Pipe::default();
        let (mut rng, mut stats) = (SimRng::new(1), LinkStats::default());
        let mut last = Timestamp::ZERO;
        for k in 0..100 {
            match pipe.carry(t(k), frame(1, 8), &p, false, &mut rng, &mut stats) {
                Carried::Deliver { at, bytes } => {
                    assert!(at >= t(k + 10) && at <= t(k + 60) || at == last, "{at} for write at {k}");
                    assert!(at >= last, "order kept");
                    assert_eq!(bytes, frame(1, 8));
                    last = at;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(stats.chunks, 100);
    }

    #[test]
    fn bandwidth_serializes_and_reports_backlog() {
        let p = LinkProfile { latency_ms: 0, bandwidth_bytes_per_s: 1_000, ..LinkProfile::default() };
        let mut pipe = Pipe::default();
        let (mut rng, mut stats) = (SimRng::new(1), LinkStats::default());
        let first = pipe.carry(t(0), vec![0; 996], &p, false, &mut rng, &mut stats);
        let second = pipe.carry(t(0), vec![0; 996], &p, false, &mut rng, &mut stats);
        assert_eq!(first, Carried::Deliver { at: t(996), bytes: vec![0; 996] });
        assert_eq!(second, Carried::Deliver { at: t(1_992), bytes: vec![0; 996] });
        assert_eq!(pipe.backlog_bytes(t(0), 1_000), 1_992);
        assert_eq!(pipe.backlog_drains_to(t(0), 500, 1_000), t(1_492));
    }

    #[test]
    fn loss_delays_by_rto_and_blocks_the_line() {
        let p = LinkProfile { latency_ms: 5, loss_prob: 1.0, rto_ms: 100, ..LinkProfile::default() };
        let mut pipe = Pipe::default();
        let (mut rng, mut stats) = (SimRng::new(1), LinkStats::default());
        let Carried::Deliver { at, .. } = pipe.carry(t(0), frame(1, 4), &p, false, &mut rng, &mut stats) else {
            panic!()
        };
        // Six losses: 100 + 200 + ... + 3200.
        assert_eq!(at, t(5 + 6_300));
        let clean = LinkProfile { latency_ms: 5, ..LinkProfile::default() };
        let Carried::Deliver { at: next, .. } = pipe.carry(t(1), frame(2, 4), &clean, false, &mut rng, &mut stats)
        else {
            panic!()
        };
        assert_eq!(next, at, "head-of-line blocking");
        assert_eq!(stats.losses, 6);
    }

    #[test]
    fn duplication_and_reordering_work_on_whole_frames() {
        let dup = LinkProfile { duplicate_prob: 1.0, ..LinkProfile::default() };
        let mut pipe = Pipe::default();
        let (mut rng, mut stats) = (SimRng::new(1), LinkStats::default());
        let (a, b) = (frame(1, 4), frame(2, 8));
        let Carried::Deliver { bytes, .. } =
            pipe.carry(t(0), [a.clone(), b.clone()].concat(), &dup, false, &mut rng, &mut stats)
        else {
            panic!()
        };
        assert_eq!(bytes, [a.clone(), a.clone(), b.clone(), b.clone()].concat());

        let swap = LinkProfile { reorder_prob: 1.0, ..LinkProfile::default() };
        let mut pipe = Pipe::default();
        let Carried::Deliver { bytes, .. } =
            pipe.carry(t(0), [a.clone(), b.clone()].concat(), &swap, false, &mut rng, &mut stats)
        else {
            panic!()
        };
        // a is moved behind b; then a, last of the write, waits for the next write.
        assert_eq!(bytes, b);
        let c = frame(3, 4);
        let clean = LinkProfile::default();
        let Carried::Deliver { bytes, .. } = pipe.carry(t(1), c.clone(), &clean, false, &mut rng, &mut stats) else {
            panic!()
        };
        assert_eq!(bytes, [c, a].concat());
        assert_eq!(stats.duplicated_frames, 2);
    }

    #[test]
    fn corruption_flips_bits_and_keeps_length() {
        let p = LinkProfile { corrupt_prob: 1.0, ..LinkProfile::default() };
        let mut pipe = Pipe::default();
        let (mut rng, mut stats) = (SimRng::new(9), LinkStats::default());
        let f = frame(0, 64);
        let Carried::Deliver { bytes, .. } = pipe.carry(t(0), f.clone(), &p, false, &mut rng, &mut stats) else {
            panic!()
        };
        assert_eq!(bytes.len(), f.len());
        let flipped: u32 = bytes.iter().zip(&f).map(|(x, y)| (x ^ y).count_ones()).sum();
        assert!((1..=3).contains(&flipped), "{flipped} bits flipped");
        assert_eq!(stats.corrupted_chunks, 1);
    }

    #[test]
    fn record_marks_follow_the_announced_lengths() {
        let mut bytes = [frame(1, 4), frame(2, 8)].concat();
        assert_eq!(record_marks(&bytes), vec![(0, 4), (8, 8)]);
        // Bit 31 is ignored; a body running past the end still has its mark.
        bytes[8] &= 0x7f;
        bytes.extend_from_slice(&[0x80, 0, 1, 0, 9]);
        assert_eq!(record_marks(&bytes), vec![(0, 4), (8, 8), (20, 256)]);
        assert_eq!(record_marks(&[0x80, 0]), vec![]);
    }

    /// A corrupted chunk is counted apart exactly when a record mark announces another body
    /// length afterwards, whatever the bits hit: length bits, bit 31 or a body.
    #[test]
    fn corrupted_record_marks_are_told_apart() {
        let p = LinkProfile { corrupt_prob: 1.0, ..LinkProfile::default() };
        let (mut rng, mut stats) = (SimRng::new(3), LinkStats::default());
        // Short frames, so that the marks take a good share of the bits.
        let sent = [frame(1, 4), frame(2, 4), frame(3, 8)].concat();
        let (mut hit, mut missed) = (0, 0);
        for k in 0..2_000 {
            let before = stats.corrupted_record_marks;
            let Carried::Deliver { bytes, .. } =
                Pipe::default().carry(t(k), sent.clone(), &p, false, &mut rng, &mut stats)
            else {
                panic!()
            };
            let changed = record_marks(&bytes) != record_marks(&sent);
            assert_eq!(stats.corrupted_record_marks - before, u64::from(changed), "write {k}: {bytes:02x?}");
            if changed { hit += 1 } else { missed += 1 }
        }
        assert!(hit > 100 && missed > 100, "{hit} marks hit, {missed} not");
        assert_eq!(stats.corrupted_chunks, 2_000);
    }

    #[test]
    fn blocked_path_holds_then_releases_in_order() {
        let p = LinkProfile { latency_ms: 10, ..LinkProfile::default() };
        let mut pipe = Pipe::default();
        let (mut rng, mut stats) = (SimRng::new(1), LinkStats::default());
        assert_eq!(pipe.carry(t(0), frame(1, 4), &p, true, &mut rng, &mut stats), Carried::Held);
        assert_eq!(pipe.carry(t(1), frame(2, 4), &p, true, &mut rng, &mut stats), Carried::Held);
        assert_eq!(pipe.fin(t(2), &p, true), None);
        assert!(pipe.has_held());
        let (data, fin) = pipe.release(t(100), &p, &mut rng, &mut stats);
        assert_eq!(data, Some((t(110), [frame(1, 4), frame(2, 4)].concat())));
        assert_eq!(fin, Some(t(110)));
        assert!(!pipe.has_held());
    }

    #[test]
    fn reset_is_reported() {
        let p = LinkProfile { reset_prob: 1.0, ..LinkProfile::default() };
        let (mut rng, mut stats) = (SimRng::new(1), LinkStats::default());
        assert_eq!(Pipe::default().carry(t(0), frame(1, 4), &p, false, &mut rng, &mut stats), Carried::Reset);
        assert_eq!(stats.resets, 1);
    }

    #[test]
    fn split_frames_keeps_a_partial_tail() {
        let (a, b) = (frame(1, 4), frame(2, 8));
        let mut bytes = [a.clone(), b.clone()].concat();
        bytes.extend_from_slice(&[0x80, 0, 0]);
        let parts = split_frames(&bytes);
        assert_eq!(parts, vec![&a[..], &b[..], &[0x80, 0, 0][..]]);
    }
}
