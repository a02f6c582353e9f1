//! The receive side of a [`Peer`](super::Peer)'s state: handshake frames, then authenticated
//! messages once opened (by the peer's own reader or the driver's): traffic counters, flow
//! control's accounting and grants, and what the peer handles itself.

use super::{DropReason, Inner, Opened, PeerEvent, Phase};
use overlay_auth::{PeerPolicy, Progress, Role};
use overlay_proto::frame::HEADER_LEN;
use overlay_proto::wire::{self, RawMessage};
use overlay_proto::xdr::{DontHave, MessageType, StellarMessage};
use overlay_proto::{Hash256, Timestamp};
use std::sync::Arc;

impl Inner {
    pub(super) fn note_read(&mut self, now: Timestamp, type_code: i32, frame_len: usize) {
        self.last_read = now;
        self.stats.messages_read += 1;
        self.stats.bytes_read += frame_len as u64;
        self.traffic.note_read(type_code, frame_len);
    }

    pub(super) fn handle_handshake_frame(
        &mut self,
        now: Timestamp,
        now_unix: u64,
        body: &[u8],
        policy: &impl PeerPolicy,
    ) {
        let code = RawMessage::parse(body).map_or(-1, |raw| raw.message_type_code());
        self.note_read(now, code, body.len() + HEADER_LEN);
        match &mut self.phase {
            Phase::Handshaking(hs) => {
                let result = hs.handle_frame(body, now_unix, policy);
                self.take_handshake_output(now);
                match result {
                    Ok(Progress::Pending) => {}
                    Ok(Progress::GotHello) => self.got_hello(),
                    Ok(Progress::Established(est)) => self.established(now, est),
                    Err(e) => {
                        // The handshake queued its ERROR already.
                        self.phase = Phase::Closed;
                        self.events.push_back(PeerEvent::Closed(DropReason::Handshake(e)));
                    }
                }
            }
            Phase::Authenticated { .. } | Phase::Closed => {}
        }
    }

    pub(super) fn got_hello(&mut self) {
        let Phase::Handshaking(hs) = &self.phase else {
            return;
        };
        if let Some(facts) = hs.remote() {
            self.address.port = facts.listening_port;
            self.remote = Some(facts.clone());
            self.events.push_back(PeerEvent::GotHello(facts.clone()));
        }
    }

    pub(super) fn established(&mut self, now: Timestamp, est: Box<overlay_auth::Established>) {
        let est = *est;
        self.stats.authenticated_at = Some(now);
        self.remote = Some(est.remote.clone());
        let (sealer, opener) = est.channel.split();
        self.opener = Some(opener);
        self.phase = Phase::Authenticated { sealer: Some(Box::new(sealer)), admitted: false };
        self.events.push_back(PeerEvent::Authenticated(est.remote));
    }

    pub(super) fn take_handshake_output(&mut self, now: Timestamp) {
        if let Phase::Handshaking(hs) = &mut self.phase {
            while let Some(frame) = hs.poll_transmit() {
                if let Ok(raw) = RawMessage::parse(frame.get(HEADER_LEN..).unwrap_or_default()) {
                    self.traffic.note_written(raw.message_type_code(), frame.len());
                }
                self.urgent.extend_from_slice(&frame);
                self.urgent_frames += 1;
                self.urgent_last_enqueued = now;
            }
        }
    }

    /// An authenticated message that passed framing, decoding and the MAC check.
    pub(super) fn handle_opened(&mut self, now: Timestamp, opened: Opened) {
        let Opened { message: msg, size, frame_len, flood } = opened;
        self.note_read(now, msg.discriminant() as i32, frame_len);
        let receipt = match self.flow.handle_received(now, msg.discriminant(), size) {
            Ok(r) => r,
            Err(e) => return self.close(now, DropReason::Flow(e)),
        };
        self.dispatch(now, msg, size, flood);
        self.flow.handle_processed(now, receipt);
        if !matches!(self.phase, Phase::Closed) {
            self.send_grants(now);
        }
    }

    /// What the peer handles itself; the rest goes to the owner.
    pub(super) fn dispatch(
        &mut self,
        now: Timestamp,
        msg: Arc<StellarMessage>,
        size: usize,
        flood: Option<(Arc<[u8]>, Hash256)>,
    ) {
        match &*msg {
            StellarMessage::ErrorMsg(e) => self.close(now, DropReason::RemoteError(e.clone())),
            StellarMessage::Hello(_) => self.close(now, DropReason::UnexpectedHello),
            StellarMessage::Auth(_) => self.close(now, DropReason::OutOfOrderAuth),
            StellarMessage::SendMore(_) => {
                let e = self.flow.handle_legacy_send_more(now).err();
                self.close(now, DropReason::Flow(e.unwrap_or(overlay_flow::FlowError::LegacySendMore)));
            }
            StellarMessage::SendMoreExtended(g) => match self.flow.handle_send_more(now, g) {
                Ok(()) => {
                    self.events.push_back(PeerEvent::Handled { message_type: MessageType::SendMoreExtended, size })
                }
                Err(e) => self.close(now, DropReason::Flow(e)),
            },
            StellarMessage::Peers(_) if self.role == Role::Acceptor => self.close(now, DropReason::ReceivedPeers),
            StellarMessage::Peers(_) if self.got_peers => self.close(now, DropReason::TooManyPeers),
            StellarMessage::Peers(_) => {
                self.got_peers = true;
                self.events.push_back(PeerEvent::Message { message: msg, size, flood });
            }
            other => {
                self.check_ping_reply(now, other);
                self.events.push_back(PeerEvent::Message { message: msg, size, flood });
            }
        }
    }

    pub(super) fn check_ping_reply(&mut self, now: Timestamp, msg: &StellarMessage) {
        let Some((hash, sent)) = self.ping else {
            return;
        };
        let answered = match msg {
            StellarMessage::DontHave(DontHave { type_: MessageType::ScpQuorumset, req_hash }) => req_hash.0 == hash.0,
            StellarMessage::ScpQuorumset(q) => wire::encode_message(&StellarMessage::ScpQuorumset(q.clone()))
                .map(|x| Hash256::sha256(&x[4..]) == hash)
                .unwrap_or(false),
            _ => false,
        };
        if answered {
            self.stats.latency_ms = Some(now.saturating_duration_since(sent).as_millis() as u64);
            self.ping = None;
        }
    }
}
