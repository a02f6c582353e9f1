//! Unit tests of the [`FlowControl`] facade: one test per rule of PROTOCOL.md §6 (`rules`)
//! and one per flow-control case of the C++ checklist of §16 (`cpp`), on a two-node harness
//! that steps virtual time.

mod cpp;
mod rules;

use crate::{FlowConfig, FlowControl, FlowError, LedgerLimits, OutboundMessage, Receipt};
use crate::{MessageMeta, WriteTicket};
use core::time::Duration;
use overlay_proto::xdr::{MessageType, ScpEnvelope, ScpStatement, SendMoreExtended};
use overlay_proto::{MessageClass, Timestamp};
use std::collections::VecDeque;

/// The payload the tests enqueue: enough to identify and replay the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Payload {
    pub id: u64,
    pub ty: MessageType,
    pub size: usize,
}

pub(crate) type Fc = FlowControl<Payload>;

pub(crate) fn secs(s: u64) -> Timestamp {
    Timestamp::from_secs(s)
}

pub(crate) fn tx(id: u64, size: usize) -> OutboundMessage<Payload> {
    OutboundMessage::from_meta(MessageMeta::transaction(size), Payload { id, ty: MessageType::Transaction, size })
}

pub(crate) fn advert(id: u64, hashes: usize) -> OutboundMessage<Payload> {
    let size = 8 + 32 * hashes;
    OutboundMessage::from_meta(MessageMeta::advert(hashes, size), Payload { id, ty: MessageType::FloodAdvert, size })
}

pub(crate) fn demand(id: u64, hashes: usize) -> OutboundMessage<Payload> {
    let size = 8 + 32 * hashes;
    OutboundMessage::from_meta(MessageMeta::demand(hashes, size), Payload { id, ty: MessageType::FloodDemand, size })
}

pub(crate) fn scp(id: u64, statement: ScpStatement) -> OutboundMessage<Payload> {
    let env = overlay_proto::xdr::StellarMessage::ScpMessage(ScpEnvelope { statement, signature: Default::default() });
    let size = overlay_proto::wire::encode_message(&env).unwrap().len();
    OutboundMessage::new(&env, size, Payload { id, ty: MessageType::ScpMessage, size }).unwrap()
}

pub(crate) fn grant(m: u32, b: u32) -> SendMoreExtended {
    SendMoreExtended { num_messages: m, num_bytes: b }
}

/// An authenticated machine that has received `g` from its peer, with its own initial grant
/// already polled.
pub(crate) fn sender_with_credit(config: &FlowConfig, g: SendMoreExtended) -> Fc {
    let mut fc = Fc::new(config, LedgerLimits::default(), secs(0));
    fc.handle_authenticated(secs(0));
    while fc.poll_grant().is_some() {}
    fc.handle_send_more(secs(0), &g).unwrap();
    fc
}

/// An authenticated machine whose initial grant has been polled.
pub(crate) fn receiver(config: &FlowConfig, ledger: LedgerLimits) -> Fc {
    let mut fc = Fc::new(config, ledger, secs(0));
    fc.handle_authenticated(secs(0));
    assert_eq!(fc.poll_grant(), Some(fc.initial_grant()));
    assert_eq!(fc.poll_grant(), None);
    fc
}

/// What travels on the simulated wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    Flood(Payload),
    Grant(SendMoreExtended),
    LegacySendMore,
}

/// One side of a [`Pair`].
pub(crate) struct Node {
    pub fc: Fc,
    /// Frames on the wire towards this node.
    pub inbox: VecDeque<Frame>,
    /// Received, capacity locked, waiting to be processed.
    pub processing: VecDeque<(Receipt, Payload)>,
    /// Flood messages processed, in order.
    pub delivered: Vec<Payload>,
    /// SEND_MORE_EXTENDED messages this node sent.
    pub grants_sent: Vec<SendMoreExtended>,
    /// Why this node dropped its peer, if it did.
    pub dropped: Option<FlowError>,
    /// Process received messages at once (else they wait in `processing`).
    pub auto_process: bool,
    /// Complete writes at once (else the link is "corked": nothing reaches the peer).
    pub corked: bool,
    pub in_flight: Vec<(WriteTicket, Payload)>,
}

impl Node {
    fn new(config: &FlowConfig, ledger: LedgerLimits, now: Timestamp) -> Self {
        Node {
            fc: Fc::new(config, ledger, now),
            inbox: VecDeque::new(),
            processing: VecDeque::new(),
            delivered: Vec::new(),
            grants_sent: Vec::new(),
            dropped: None,
            auto_process: true,
            corked: false,
            in_flight: Vec::new(),
        }
    }

    /// Process up to `n` received messages (as the application would).
    pub fn process(&mut self, now: Timestamp, n: usize) {
        for _ in 0..n {
            let Some((receipt, payload)) = self.processing.pop_front() else {
                return;
            };
            self.fc.handle_processed(now, receipt);
            self.delivered.push(payload);
        }
    }
}

/// Two connected machines, `a` (initiator) and `b` (acceptor), on a virtual clock.
pub(crate) struct Pair {
    pub a: Node,
    pub b: Node,
    pub now: Timestamp,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    A,
    B,
}

impl Pair {
    /// Authenticated pair whose initial grants have been exchanged.
    pub fn new(config_a: &FlowConfig, config_b: &FlowConfig, ledger: LedgerLimits) -> Pair {
        let now = secs(1);
        let mut p = Pair { a: Node::new(config_a, ledger, now), b: Node::new(config_b, ledger, now), now };
        p.a.fc.handle_authenticated(now);
        p.b.fc.handle_authenticated(now);
        p.crank();
        p
    }

    pub fn node(&mut self, side: Side) -> &mut Node {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    pub fn send(&mut self, from: Side, msg: OutboundMessage<Payload>) -> crate::EnqueueReport {
        let now = self.now;
        let report = self.node(from).fc.enqueue(now, msg);
        self.crank();
        report
    }

    /// Puts a frame on the wire, bypassing the sender's flow control.
    pub fn inject(&mut self, to: Side, frame: Frame) {
        self.node(to).inbox.push_back(frame);
        self.crank();
    }

    /// Runs both sides until nothing moves.
    pub fn crank(&mut self) {
        loop {
            let moved = step(&mut self.a, &mut self.b, self.now) | step(&mut self.b, &mut self.a, self.now);
            if !moved {
                break;
            }
        }
    }

    /// Advances the clock in 1-second steps, checking timeouts, then cranks.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now = (self.now + Duration::from_secs(1)).min(end);
            for node in [&mut self.a, &mut self.b] {
                if node.dropped.is_none() {
                    if let Err(e) = node.fc.handle_timeout(self.now) {
                        node.dropped = Some(e);
                    }
                }
            }
            self.crank();
        }
    }

    /// Whether both sides are still connected (a drop by one side closes both).
    pub fn connected(&self) -> bool {
        self.a.dropped.is_none() && self.b.dropped.is_none()
    }
}

/// One round for `me`: read my inbox, send my grants and queued messages to `peer`.
fn step(me: &mut Node, peer: &mut Node, now: Timestamp) -> bool {
    if me.dropped.is_some() || peer.dropped.is_some() {
        return false;
    }
    let mut moved = false;
    while !me.fc.is_read_throttled() {
        let Some(frame) = me.inbox.pop_front() else {
            break;
        };
        moved = true;
        let result = match frame {
            Frame::Grant(g) => {
                let receipt = me.fc.handle_received(now, MessageType::SendMoreExtended, 12);
                let r = me.fc.handle_send_more(now, &g);
                me.fc.handle_processed(now, receipt.unwrap());
                r
            }
            Frame::LegacySendMore => me.fc.handle_legacy_send_more(now),
            Frame::Flood(p) => match me.fc.handle_received(now, p.ty, p.size) {
                Ok(receipt) => {
                    assert!(p.ty.is_flood());
                    me.processing.push_back((receipt, p));
                    Ok(())
                }
                Err(e) => Err(e),
            },
        };
        if let Err(e) = result {
            me.dropped = Some(e);
            return true;
        }
    }
    if me.auto_process && !me.processing.is_empty() {
        me.process(now, usize::MAX);
        moved = true;
    }
    while let Some(g) = me.fc.poll_grant() {
        me.grants_sent.push(g.clone());
        peer.inbox.push_back(Frame::Grant(g));
        moved = true;
    }
    while let Some(out) = me.fc.poll_send(now) {
        moved = true;
        if me.corked {
            me.in_flight.push((out.ticket, out.payload));
        } else {
            me.fc.handle_write_complete(now, out.ticket);
            peer.inbox.push_back(Frame::Flood(out.payload));
        }
    }
    me.fc.check_invariants().unwrap();
    moved
}
