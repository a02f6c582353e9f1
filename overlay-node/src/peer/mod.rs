//! [`Peer`]: one connection's whole life as one sans-IO machine, composing framing, the
//! handshake, the MAC channel and flow control (PROTOCOL.md §1–§7).
//!
//! # Drain contract
//!
//! After every input (`handle_bytes`, `handle_timeout`, `admit`, `send*`, `close`), the
//! driver:
//! 1. drains [`Peer::poll_event`] until `None` and acts on each event;
//! 2. drains [`Peer::poll_transmit`] while it can write, writing each batch in order;
//! 3. closes the socket once [`Peer::is_finished`] (closed and everything flushed);
//! 4. arms a timer for [`Peer::poll_timeout`] and calls [`Peer::handle_timeout`] then.
//!
//! After [`PeerEvent::Authenticated`] the peer reads no further frame until the owner calls
//! [`Peer::admit`] (with the PEERS to send, if any) or [`Peer::close`]: that is where the
//! overlay manager decides on the authenticated slot (§3.6 step 6).

mod config;
mod reader;
mod reason;
mod receive;
mod stats;
mod writer;

pub use config::PeerConfig;
pub use reader::{Opened, PeerReader};
pub use reason::DropReason;
pub use stats::PeerStats;
pub use writer::PeerWriter;

use crate::metrics::{Histogram, Traffic};
use overlay_auth::{Handshake, HelloFacts, MacOpener, MacSealer, PeerPolicy, Role};
use overlay_flow::{FlowControl, LedgerLimits, OutboundMessage};
use overlay_proto::frame::{FrameDecoder, HEADER_LEN, encode_unauthenticated};
use overlay_proto::wire::{self, RawMessage};
use overlay_proto::xdr::{MessageType, SError, StellarMessage, Uint256};
use overlay_proto::{Hash256, MessageClass, PeerAddress, Timestamp};
use std::collections::VecDeque;
use std::sync::Arc;

/// Something the owner of a [`Peer`] must act on.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    /// The remote HELLO passed every check (the moment stellar-core updates the peer's
    /// record type, §3.5 step 12).
    GotHello(HelloFacts),
    /// Both AUTHs are done. Call [`Peer::admit`] or [`Peer::close`].
    Authenticated(HelloFacts),
    /// An authenticated message for the node. Flow-control messages, pings and protocol
    /// violations are handled inside the peer and never appear here.
    Message {
        /// The message (shared with nothing yet: the owner may take it out of the `Arc`).
        message: Arc<StellarMessage>,
        /// Its XDR size, the unit of byte flow control.
        size: usize,
        /// For SCP_MESSAGE and TRANSACTION: its XDR as received (forwarded to other peers
        /// without encoding it again) and its flood identity.
        flood: Option<(Arc<[u8]>, Hash256)>,
    },
    /// An authenticated message the peer handled itself (SEND_MORE_EXTENDED), reported for
    /// logs and metrics; nothing to do.
    Handled {
        /// Its type.
        message_type: MessageType,
        /// Its XDR size.
        size: usize,
    },
    /// The connection is over. Final: exactly one per peer.
    Closed(DropReason),
}

enum Phase {
    Handshaking(Box<Handshake>),
    /// Authenticated; `admitted` is false until the owner calls `admit`. `sealer` is `None`
    /// once the driver took the [`PeerWriter`]: frames then go out unsealed, for it to seal.
    Authenticated {
        sealer: Option<Box<MacSealer>>,
        admitted: bool,
    },
    Closed,
}

/// Why [`Peer::send`] did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The peer is not authenticated yet.
    #[error("peer not authenticated")]
    NotAuthenticated,
    /// The peer is closed.
    #[error("peer closed")]
    Closed,
    /// The message does not encode.
    #[error("message does not encode")]
    Encode,
}

/// One peer connection. See the [module docs](self) for the drain contract.
pub struct Peer {
    reading: Reading,
    inner: Inner,
}

/// Where received bytes go.
enum Reading {
    /// Handshake frames, to the handshake.
    Handshake(FrameDecoder),
    /// Authenticated frames, opened here.
    Authenticated(Box<PeerReader>),
    /// The driver took the reader and hands in what it opened.
    Elsewhere,
}

struct Inner {
    role: Role,
    address: PeerAddress,
    config: Arc<PeerConfig>,
    phase: Phase,
    remote: Option<HelloFacts>,
    /// The receive half of the MAC channel, between the handshake's end and the reader's
    /// creation.
    opener: Option<MacOpener>,
    flow: FlowControl<Arc<[u8]>>,
    /// Sealed frames waiting for the next write batch: handshake, control and response
    /// messages (everything that bypasses flow control). Bounded by `max_unsent_bytes`.
    urgent: Vec<u8>,
    urgent_frames: usize,
    urgent_last_enqueued: Timestamp,
    events: VecDeque<PeerEvent>,
    got_peers: bool,
    last_read: Timestamp,
    last_write: Timestamp,
    enqueue_time_of_last_write: Timestamp,
    next_tick: Timestamp,
    ping_key: u64,
    ping: Option<(Hash256, Timestamp)>,
    stats: PeerStats,
    /// Messages and bytes per type, both ways.
    traffic: Traffic,
    /// How long flood messages waited in the outbound queues, per priority.
    queue_delay: [Histogram; 4],
    /// Time spent with flood messages queued and no outbound credit, before `throttled_since`.
    throttled: core::time::Duration,
    /// Since when that is the case now.
    throttled_since: Option<Timestamp>,
}

impl core::fmt::Debug for Peer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Peer")
            .field("role", &self.inner.role)
            .field("address", &self.inner.address)
            .field("remote", &self.inner.remote.as_ref().map(|r| r.node_id))
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// A connection whose handshake is `handshake` (from `LocalAuth::initiate` for a
    /// connection we dialed, `LocalAuth::accept` for one we accepted), to or from `address`.
    /// `ping_key` varies the ping hashes; pass a random value.
    pub fn new(
        handshake: Handshake,
        address: PeerAddress,
        config: Arc<PeerConfig>,
        ledger: LedgerLimits,
        now: Timestamp,
        ping_key: u64,
    ) -> Self {
        let role = handshake.role().unwrap_or(Role::Acceptor);
        let flow = FlowControl::new(&config.flow, ledger, now);
        let mut inner = Inner {
            role,
            address,
            phase: Phase::Handshaking(Box::new(handshake)),
            remote: None,
            opener: None,
            flow,
            urgent: Vec::new(),
            urgent_frames: 0,
            urgent_last_enqueued: now,
            events: VecDeque::new(),
            got_peers: false,
            last_read: now,
            last_write: now,
            enqueue_time_of_last_write: now,
            next_tick: now + config.recurrent_timer_period,
            ping_key,
            ping: None,
            stats: PeerStats { created_at: now, ..PeerStats::default() },
            traffic: Traffic::default(),
            queue_delay: [Histogram::default(); 4],
            throttled: core::time::Duration::ZERO,
            throttled_since: None,
            config,
        };
        inner.take_handshake_output(now);
        Peer { reading: Reading::Handshake(FrameDecoder::new()), inner }
    }

    /// Our role on this connection.
    pub fn role(&self) -> Role {
        self.inner.role
    }

    /// The remote address: as connected until the remote HELLO, then `(IP, listening port)`.
    pub fn address(&self) -> &PeerAddress {
        &self.inner.address
    }

    /// The remote's HELLO facts, once its HELLO passed every check.
    pub fn remote(&self) -> Option<&HelloFacts> {
        self.inner.remote.as_ref()
    }

    /// Whether the handshake completed and the connection is open.
    pub fn is_authenticated(&self) -> bool {
        matches!(self.inner.phase, Phase::Authenticated { .. })
    }

    /// Whether the connection is closed (it may still have bytes to flush).
    pub fn is_closed(&self) -> bool {
        matches!(self.inner.phase, Phase::Closed)
    }

    /// Closed with nothing left to write: the driver may close the socket.
    pub fn is_finished(&self) -> bool {
        self.is_closed() && self.inner.urgent.is_empty()
    }

    /// Counters.
    pub fn stats(&self) -> PeerStats {
        self.inner.stats
    }

    /// Messages and bytes read and written, per type.
    pub fn traffic(&self) -> &Traffic {
        &self.inner.traffic
    }

    /// How long flood messages waited in each outbound queue (by `Priority::index`).
    pub fn queue_delay(&self) -> &[Histogram; 4] {
        &self.inner.queue_delay
    }

    /// Time spent with flood messages queued and no outbound credit, up to `now`.
    pub fn throttled(&self, now: Timestamp) -> core::time::Duration {
        let current = self.inner.throttled_since.map_or(core::time::Duration::ZERO, |t| now - t);
        self.inner.throttled + current
    }

    /// Flow-control counters.
    pub fn flow_stats(&self) -> overlay_flow::FlowStats {
        self.inner.flow.stats()
    }

    /// Flow control, for inspection (invariant checks, metrics).
    pub fn flow(&self) -> &FlowControl<Arc<[u8]>> {
        &self.inner.flow
    }

    /// Whether a flood message of `priority` can be queued now without making its queue
    /// shed (§6.4): messages waiting in that queue stay below the ledger's maximum tx set
    /// size in operations. A sender that wants every message delivered waits for this
    /// instead of queueing into load shedding.
    pub fn has_queue_room(&self, priority: overlay_proto::Priority) -> bool {
        let q = self.inner.flow.stats().queues[priority.index()];
        let limit = self.inner.flow.ledger_limits().max_tx_set_size_ops as usize;
        q.len_msgs.saturating_sub(q.in_flight_msgs) < limit.max(1)
    }

    /// Bytes sealed but not yet handed to the driver.
    pub fn unsent_bytes(&self) -> usize {
        self.inner.urgent.len()
    }

    /// Bytes received. `now_unix` is wall-clock seconds (certificate expiry); `policy`
    /// answers the ban and duplicate questions of the handshake.
    pub fn handle_bytes(&mut self, now: Timestamp, now_unix: u64, data: &[u8], policy: &impl PeerPolicy) {
        if self.is_closed() {
            return;
        }
        match &mut self.reading {
            Reading::Handshake(decoder) => decoder.feed(data),
            Reading::Authenticated(reader) => reader.feed(data),
            // The driver reads elsewhere: bytes here are its mistake, and ignored.
            Reading::Elsewhere => return,
        }
        self.process_frames(now, now_unix, policy);
    }

    fn process_frames(&mut self, now: Timestamp, now_unix: u64, policy: &impl PeerPolicy) {
        while self.inner.ready_to_read() {
            match &mut self.reading {
                Reading::Handshake(decoder) => {
                    let body = match decoder.next_frame() {
                        Ok(Some(body)) => body,
                        Ok(None) => break,
                        Err(e) => {
                            self.inner.close(now, DropReason::Frame(e));
                            break;
                        }
                    };
                    self.inner.handle_handshake_frame(now, now_unix, body, policy);
                    if let Some(opener) = self.inner.opener.take() {
                        // After AUTH, frames up to MAX_MESSAGE_SIZE are allowed (§1.2); the
                        // next header is read under the new limit.
                        let mut decoder = core::mem::take(decoder);
                        decoder.set_authenticated();
                        self.reading = Reading::Authenticated(Box::new(PeerReader::new(decoder, opener)));
                    }
                }
                Reading::Authenticated(reader) => match reader.next_message() {
                    None => break,
                    Some(Ok(opened)) => self.inner.handle_opened(now, opened),
                    Some(Err(reason)) => self.inner.close(now, reason),
                },
                Reading::Elsewhere => break,
            }
        }
    }

    /// Take the receive half out of an admitted peer, for the driver to run where it likes
    /// (see [`PeerReader`]). From then on the peer takes [`handle_opened`](Self::handle_opened)
    /// instead of bytes. `None` before admission, once closed, or if taken already.
    pub fn take_reader(&mut self) -> Option<PeerReader> {
        if !matches!(self.inner.phase, Phase::Authenticated { admitted: true, .. }) {
            return None;
        }
        match core::mem::replace(&mut self.reading, Reading::Elsewhere) {
            Reading::Authenticated(reader) => Some(*reader),
            other => {
                self.reading = other;
                None
            }
        }
    }

    /// Take the send half of the MAC channel out of an admitted peer, for the driver to seal
    /// where it writes (see [`PeerWriter`]). Every batch [`poll_transmit`](Self::poll_transmit)
    /// returns from then on holds unsealed frames. `None` before admission, once closed, if
    /// taken already, or while frames sealed here wait to be polled: take it only after
    /// draining every batch, so that no sealed frame comes after an unsealed one.
    pub fn take_writer(&mut self) -> Option<PeerWriter> {
        let Phase::Authenticated { sealer, admitted: true } = &mut self.inner.phase else {
            return None;
        };
        if !self.inner.urgent.is_empty() {
            return None;
        }
        sealer.take().map(|s| PeerWriter::new(*s))
    }

    /// A message the driver's [`PeerReader`] opened: handled as if its bytes had been read
    /// here. Ignored unless the reader was taken and the peer is open.
    pub fn handle_opened(&mut self, now: Timestamp, opened: Opened) {
        if matches!(self.reading, Reading::Elsewhere) && !self.is_closed() {
            self.inner.handle_opened(now, opened);
        }
    }

    /// Admit an authenticated peer: send `peers` (PEERS, acceptor only, §10.4), then the
    /// initial SEND_MORE_EXTENDED and GET_SCP_STATE(`scp_state_ledger`) (§3.6 steps 7–9),
    /// and resume reading.
    pub fn admit(&mut self, now: Timestamp, peers: Option<StellarMessage>, scp_state_ledger: u32) {
        let Phase::Authenticated { admitted, .. } = &mut self.inner.phase else {
            return;
        };
        if *admitted {
            return;
        }
        *admitted = true;
        if let Some(p) = peers {
            self.inner.send_now(now, &p);
        }
        self.inner.flow.handle_authenticated(now);
        self.inner.send_grants(now);
        self.inner.send_now(now, &StellarMessage::GetScpState(scp_state_ledger));
        self.process_frames(now, 0, &overlay_auth::OpenPolicy);
    }

    /// Send a message: flood messages go through flow control (§6), everything else is
    /// sealed at once.
    pub fn send(&mut self, now: Timestamp, msg: &StellarMessage) -> Result<(), SendError> {
        self.inner.check_can_send()?;
        if msg.is_flood() {
            let xdr: Arc<[u8]> = wire::encode_message(msg).map_err(|_| SendError::Encode)?.into();
            let out = OutboundMessage::new(msg, xdr.len(), xdr).map_err(|_| SendError::Encode)?;
            self.send_flood(now, out)
        } else {
            self.inner.send_now(now, msg);
            Ok(())
        }
    }

    /// Queue a flood message already encoded, with its flow-control metadata: build it once
    /// and clone it for every peer (the clone shares the bytes and the SCP statement).
    pub fn send_flood(&mut self, now: Timestamp, out: OutboundMessage<Arc<[u8]>>) -> Result<(), SendError> {
        self.inner.check_can_send()?;
        let report = self.inner.flow.enqueue(now, out);
        self.inner.stats.outbound_dropped += report.dropped_msgs;
        Ok(())
    }

    /// New ledger-driven limits for flow control.
    pub fn handle_ledger_limits(&mut self, now: Timestamp, limits: LedgerLimits) {
        self.inner.flow.handle_ledger_limits(now, limits);
        if self.is_authenticated() {
            self.inner.send_grants(now);
        }
    }

    /// Drop the connection for a local reason; its ERROR, if any, is flushed first.
    pub fn close(&mut self, now: Timestamp, reason: DropReason) {
        self.inner.close(now, reason);
    }

    /// The driver saw the socket end (`reason` is [`DropReason::RemoteClosed`] or
    /// [`DropReason::Io`]). Nothing more will be written.
    pub fn handle_socket_closed(&mut self, now: Timestamp, reason: DropReason) {
        self.inner.close(now, reason);
        self.inner.urgent.clear();
    }

    /// The flood identities of the messages among the events not yet taken.
    pub fn pending_flood_ids(&self) -> impl Iterator<Item = &Hash256> {
        self.inner.events.iter().filter_map(|e| match e {
            PeerEvent::Message { flood: Some((_, id)), .. } => Some(id),
            _ => None,
        })
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.inner.events.pop_front()
    }

    /// The next batch of bytes to write, if any: queued frames first, then flood messages
    /// released by flow control, up to the batch limits.
    pub fn poll_transmit(&mut self, now: Timestamp) -> Option<Vec<u8>> {
        self.inner.poll_transmit(now)
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        (!self.is_closed()).then_some(self.inner.next_tick)
    }

    /// Timers: the recurrent tick checks, in order, idle, no outbound credit and
    /// straggling, then sends a ping if due (§4.3, §4.4).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.is_closed() || now < self.inner.next_tick {
            return;
        }
        self.inner.next_tick = now + self.inner.config.recurrent_timer_period;
        self.inner.tick(now);
    }
}

impl Inner {
    fn ready_to_read(&self) -> bool {
        match &self.phase {
            Phase::Handshaking(_) => true,
            Phase::Authenticated { admitted, .. } => *admitted && !self.flow.is_read_throttled(),
            Phase::Closed => false,
        }
    }

    fn check_can_send(&self) -> Result<(), SendError> {
        match self.phase {
            Phase::Authenticated { .. } => Ok(()),
            Phase::Handshaking(_) => Err(SendError::NotAuthenticated),
            Phase::Closed => Err(SendError::Closed),
        }
    }

    fn push_frame(&mut self, now: Timestamp, frame: &[u8]) {
        if let Ok(raw) = RawMessage::parse(frame.get(HEADER_LEN..).unwrap_or_default()) {
            self.traffic.note_written(raw.message_type_code(), frame.len());
        }
        self.urgent.extend_from_slice(frame);
        self.urgent_frames += 1;
        self.urgent_last_enqueued = now;
    }

    fn send_grants(&mut self, now: Timestamp) {
        while let Some(g) = self.flow.poll_grant() {
            self.send_now(now, &StellarMessage::SendMoreExtended(g));
        }
    }

    /// Seal a non-flood message into the urgent buffer.
    fn send_now(&mut self, now: Timestamp, msg: &StellarMessage) {
        let Phase::Authenticated { sealer, .. } = &mut self.phase else {
            return;
        };
        let Ok(xdr) = wire::encode_message(msg) else {
            return;
        };
        let before = self.urgent.len();
        seal_xdr(sealer, &xdr, &mut self.urgent);
        self.traffic.note_written(msg.discriminant() as i32, self.urgent.len() - before);
        self.urgent_frames += 1;
        self.urgent_last_enqueued = now;
        if self.urgent.len() > self.config.max_unsent_bytes {
            self.close(now, DropReason::SendBufferFull);
        }
    }

    fn close(&mut self, now: Timestamp, reason: DropReason) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        self.phase = Phase::Closed;
        if let Some((code, text)) = reason.error_to_send() {
            let msg =
                StellarMessage::ErrorMsg(SError { code, msg: text.as_bytes().to_vec().try_into().unwrap_or_default() });
            let mut frame = Vec::new();
            if encode_unauthenticated(&msg, &mut frame).is_ok() {
                self.push_frame(now, &frame);
            }
        }
        self.events.push_back(PeerEvent::Closed(reason));
    }

    fn poll_transmit(&mut self, now: Timestamp) -> Option<Vec<u8>> {
        let mut batch = core::mem::take(&mut self.urgent);
        let mut frames = core::mem::take(&mut self.urgent_frames);
        let mut last_enqueued = (!batch.is_empty()).then_some(self.urgent_last_enqueued);
        if let Phase::Authenticated { sealer, admitted: true } = &mut self.phase {
            while frames < self.config.max_batch_write_count && batch.len() < self.config.max_batch_write_bytes {
                let Some(s) = self.flow.poll_send(now) else {
                    break;
                };
                let before = batch.len();
                seal_xdr(sealer, &s.payload, &mut batch);
                let code = s.payload.get(..4).map_or(-1, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                self.traffic.note_written(code, batch.len() - before);
                self.queue_delay[s.priority.index()].observe(now - s.enqueued_at);
                frames += 1;
                last_enqueued = Some(s.enqueued_at);
                self.flow.handle_write_complete(now, s.ticket);
            }
        }
        if batch.is_empty() {
            return None;
        }
        self.last_write = now;
        if let Some(t) = last_enqueued {
            self.enqueue_time_of_last_write = t;
        }
        self.stats.messages_written += frames as u64;
        self.stats.bytes_written += batch.len() as u64;
        self.note_throttle(now);
        Some(batch)
    }

    /// Account the time spent with flood messages queued and no outbound credit.
    fn note_throttle(&mut self, now: Timestamp) {
        match (self.throttled_since, self.flow.no_capacity_since()) {
            (None, Some(t)) => self.throttled_since = Some(t),
            (Some(t), None) => {
                self.throttled += now - t;
                self.throttled_since = None;
            }
            _ => {}
        }
    }

    fn tick(&mut self, now: Timestamp) {
        let authenticated = matches!(self.phase, Phase::Authenticated { .. });
        let idle_limit = if authenticated { self.config.idle_timeout } else { self.config.authentication_timeout };
        if now - self.last_read >= idle_limit && now - self.last_write >= idle_limit {
            return self.close(now, DropReason::IdleTimeout);
        }
        if authenticated {
            if let Err(e) = self.flow.handle_timeout(now) {
                return self.close(now, DropReason::Flow(e));
            }
        }
        if now - self.enqueue_time_of_last_write >= self.config.straggler_timeout {
            return self.close(now, DropReason::Straggling);
        }
        if matches!(self.phase, Phase::Authenticated { admitted: true, .. }) && self.config.ping && self.ping.is_none()
        {
            let mut seed = self.ping_key.to_be_bytes().to_vec();
            seed.extend_from_slice(&now.as_nanos().to_be_bytes());
            let digest = Hash256::sha256(&seed);
            let mut hash = [0u8; 32];
            hash[..8].copy_from_slice(&digest.0[..8]);
            self.ping = Some((Hash256(hash), now));
            self.send_now(now, &StellarMessage::GetScpQuorumset(Uint256(hash)));
        }
    }
}

/// Append the frame of `xdr`: sealed, or with its sequence and MAC left for the driver's
/// [`PeerWriter`] once the sealer is out.
fn seal_xdr(sealer: &mut Option<Box<MacSealer>>, xdr: &[u8], out: &mut Vec<u8>) {
    match sealer {
        Some(s) => s.seal_xdr(xdr, out),
        None => MacSealer::frame_unsealed(xdr, out),
    }
}
