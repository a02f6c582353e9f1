//! The handshake as a sans-IO machine (PROTOCOL.md §3.5–§3.7).
//!
//! Each phase is its own type, consumed on transition, so an out-of-order transition cannot
//! be written: [`InitiatorHello`] → [`InitiatorAuth`] → [`Established`] for the side that
//! dialed, [`AcceptorHello`] → [`AcceptorAuth`] → [`Established`] for the side that accepted.
//! [`Handshake`] wraps them for a driver that only has frames: feed each frame body to
//! [`Handshake::handle_frame`] in order, then drain [`Handshake::poll_transmit`] and write what
//! it yields. On success the result is an [`Established`] channel; on failure a
//! [`HandshakeError`] whose ERROR message (if the spec sends one) is already queued behind
//! anything that had to go out first (the acceptor's HELLO, the acceptor's AUTH).
//!
//! Frames are processed strictly in order, and from the moment the remote HELLO is processed
//! every message but ERROR_MSG is MAC-verified, AUTH included. stellar-core can let an AUTH
//! pipelined right behind a HELLO escape verification (a race between its I/O and main
//! threads, §2.2); this machine never does.

mod states;

pub use states::{AcceptorAuth, AcceptorHello, Established, InitiatorAuth, InitiatorHello};

use crate::cert::CertIssuer;
use crate::error::HandshakeError;
use crate::hello::{HelloFacts, HelloParams};
use crate::identity::NodeIdentity;
use crate::keys::{EcdhKeypair, Role};
use overlay_proto::frame::encode_unauthenticated;
use overlay_proto::wire::RawMessage;
use overlay_proto::xdr::{SError, StellarMessage};
use overlay_proto::{NetworkId, NodeId};
use std::collections::VecDeque;
use std::sync::Arc;

/// What the node knows about other connections, asked during HELLO processing.
pub trait PeerPolicy {
    /// Whether `peer` is banned (§3.5 step 3, §10.6).
    fn is_banned(&self, peer: &NodeId) -> bool;
    /// Whether another pending or authenticated connection already has `peer` (§3.5 step 13).
    fn is_already_connected(&self, peer: &NodeId) -> bool;
}

/// A policy that bans nobody and knows of no other connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenPolicy;

impl PeerPolicy for OpenPolicy {
    fn is_banned(&self, _: &NodeId) -> bool {
        false
    }
    fn is_already_connected(&self, _: &NodeId) -> bool {
        false
    }
}

/// The process-wide keys every handshake uses.
#[derive(Debug)]
pub struct LocalKeys {
    /// Our long-term identity.
    pub identity: NodeIdentity,
    /// The network we are on.
    pub network_id: NetworkId,
    /// Our Curve25519 key.
    pub ecdh: EcdhKeypair,
    /// What we advertise in HELLO.
    pub hello: HelloParams,
}

/// Our side of every handshake: the keys and the certificate issuer.
///
/// ```
/// use overlay_auth::{LocalAuth, NodeIdentity, HelloParams, OpenPolicy, Progress};
/// use overlay_proto::{Network, frame::FrameDecoder};
///
/// let mut a = LocalAuth::new(NodeIdentity::from_seed([1; 32]), Network::Testnet.id(), [2; 32], HelloParams::default());
/// let mut b = LocalAuth::new(NodeIdentity::from_seed([3; 32]), Network::Testnet.id(), [4; 32], HelloParams::default());
/// let now = 1_700_000_000;
/// let mut dialer = a.initiate(now, [5; 32]);
/// let mut listener = b.accept(now, [6; 32]);
/// // Shuttle frames until both sides are established.
/// let (mut da, mut db) = (FrameDecoder::new(), FrameDecoder::new());
/// let mut done = 0;
/// while done < 2 {
///     while let Some(f) = dialer.poll_transmit() { db.feed(&f); }
///     while let Some(body) = db.next_frame().unwrap() {
///         if let Progress::Established(_) = listener.handle_frame(body, now, &OpenPolicy).unwrap() { done += 1; }
///     }
///     while let Some(f) = listener.poll_transmit() { da.feed(&f); }
///     while let Some(body) = da.next_frame().unwrap() {
///         if let Progress::Established(_) = dialer.handle_frame(body, now, &OpenPolicy).unwrap() { done += 1; }
///     }
/// }
/// ```
#[derive(Debug)]
pub struct LocalAuth {
    keys: Arc<LocalKeys>,
    certs: CertIssuer,
}

impl LocalAuth {
    /// Our identity on `network_id`, with the process's X25519 secret and HELLO parameters.
    pub fn new(identity: NodeIdentity, network_id: NetworkId, ecdh_secret: [u8; 32], hello: HelloParams) -> Self {
        let ecdh = EcdhKeypair::from_secret(ecdh_secret);
        LocalAuth { keys: Arc::new(LocalKeys { identity, network_id, ecdh, hello }), certs: CertIssuer::new() }
    }

    /// Our NodeID.
    pub fn node_id(&self) -> NodeId {
        self.keys.identity.node_id()
    }

    /// The network we are on.
    pub fn network_id(&self) -> NetworkId {
        self.keys.network_id
    }

    /// The process-wide keys.
    pub fn keys(&self) -> &Arc<LocalKeys> {
        &self.keys
    }

    /// A handshake for a connection we dialed; its HELLO is queued at once. `nonce` must be
    /// fresh random bytes for this connection; `now_unix` is wall-clock seconds.
    pub fn initiate(&mut self, now_unix: u64, nonce: [u8; 32]) -> Handshake {
        let cert = self.cert(now_unix);
        let mut outbox = VecDeque::new();
        let s = InitiatorHello::new(self.keys.clone(), cert, nonce, &mut outbox);
        Handshake { state: State::InitiatorHello(s), outbox, remote: None }
    }

    /// A handshake for a connection we accepted; it sends nothing until the remote HELLO.
    pub fn accept(&mut self, now_unix: u64, nonce: [u8; 32]) -> Handshake {
        let cert = self.cert(now_unix);
        let s = AcceptorHello::new(self.keys.clone(), cert, nonce);
        Handshake { state: State::AcceptorHello(s), outbox: VecDeque::new(), remote: None }
    }

    fn cert(&mut self, now_unix: u64) -> overlay_proto::xdr::AuthCert {
        let k = &self.keys;
        self.certs.cert(&k.identity, &k.network_id, k.ecdh.public(), now_unix).clone()
    }
}

/// What a frame did to the handshake.
#[derive(Debug)]
pub enum Progress {
    /// Nothing to report; wait for more frames.
    Pending,
    /// The remote HELLO passed every check; [`Handshake::remote`] now has its facts.
    GotHello,
    /// Both AUTHs are done: the channel is authenticated.
    Established(Box<Established>),
}

enum State {
    InitiatorHello(InitiatorHello),
    InitiatorAuth(InitiatorAuth),
    AcceptorHello(AcceptorHello),
    AcceptorAuth(AcceptorAuth),
    Done,
}

/// A handshake in progress, driven by whole frame bodies. See the [module docs](self).
pub struct Handshake {
    state: State,
    outbox: VecDeque<Vec<u8>>,
    remote: Option<HelloFacts>,
}

impl core::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let phase = match self.state {
            State::InitiatorHello(_) => "InitiatorHello",
            State::InitiatorAuth(_) => "InitiatorAuth",
            State::AcceptorHello(_) => "AcceptorHello",
            State::AcceptorAuth(_) => "AcceptorAuth",
            State::Done => "Done",
        };
        f.debug_struct("Handshake").field("phase", &phase).field("remote", &self.remote).finish()
    }
}

impl Handshake {
    /// Our role on this connection.
    pub fn role(&self) -> Option<Role> {
        match self.state {
            State::InitiatorHello(_) | State::InitiatorAuth(_) => Some(Role::Initiator),
            State::AcceptorHello(_) | State::AcceptorAuth(_) => Some(Role::Acceptor),
            State::Done => None,
        }
    }

    /// The remote's HELLO facts, once its HELLO passed every check.
    pub fn remote(&self) -> Option<&HelloFacts> {
        self.remote.as_ref()
    }

    /// Whether the remote HELLO has been processed (state `GOT_HELLO` or later).
    pub fn got_hello(&self) -> bool {
        matches!(self.state, State::InitiatorAuth(_) | State::AcceptorAuth(_))
    }

    /// Whether the machine has finished, with success or failure.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The next frame to write, header included.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outbox.pop_front()
    }

    /// Process one frame body. `now_unix` (wall-clock seconds) checks certificate expiry.
    ///
    /// On error the machine is finished, and any ERROR to send is queued in
    /// [`poll_transmit`](Self::poll_transmit) after the frames that precede it.
    pub fn handle_frame(
        &mut self,
        body: &[u8],
        now_unix: u64,
        policy: &impl PeerPolicy,
    ) -> Result<Progress, HandshakeError> {
        let result = self.step(body, now_unix, policy);
        if let Err(e) = &result {
            self.state = State::Done;
            if let Some((code, text)) = e.error_to_send() {
                let msg = StellarMessage::ErrorMsg(SError {
                    code,
                    msg: text.as_bytes().to_vec().try_into().unwrap_or_default(),
                });
                let mut frame = Vec::new();
                if encode_unauthenticated(&msg, &mut frame).is_ok() {
                    self.outbox.push_back(frame);
                }
            }
        }
        result
    }

    fn step(&mut self, body: &[u8], now_unix: u64, policy: &impl PeerPolicy) -> Result<Progress, HandshakeError> {
        let raw = RawMessage::parse(body).map_err(HandshakeError::CorruptXdr)?;
        let msg = raw.decode().map_err(HandshakeError::CorruptXdr)?;
        // From GOT_HELLO on, everything but ERROR_MSG is authenticated (§2.2).
        match &mut self.state {
            State::InitiatorAuth(s) => s.channel_mut().open(&raw).map_err(HandshakeError::Mac)?,
            State::AcceptorAuth(s) => s.channel_mut().open(&raw).map_err(HandshakeError::Mac)?,
            State::Done => return Err(HandshakeError::Finished),
            _ => {}
        }
        let state = core::mem::replace(&mut self.state, State::Done);
        match (state, msg) {
            (_, StellarMessage::ErrorMsg(e)) => Err(HandshakeError::RemoteError(e)),
            (State::InitiatorHello(s), StellarMessage::Hello(h)) => {
                let next = s.receive_hello(&h, now_unix, policy, &mut self.outbox)?;
                self.remote = Some(next.remote().clone());
                self.state = State::InitiatorAuth(next);
                Ok(Progress::GotHello)
            }
            (State::AcceptorHello(s), StellarMessage::Hello(h)) => {
                let next = s.receive_hello(&h, now_unix, policy, &mut self.outbox)?;
                self.remote = Some(next.remote().clone());
                self.state = State::AcceptorAuth(next);
                Ok(Progress::GotHello)
            }
            (State::InitiatorAuth(s), StellarMessage::Auth(a)) => {
                Ok(Progress::Established(Box::new(s.receive_auth(&a)?)))
            }
            (State::AcceptorAuth(s), StellarMessage::Auth(a)) => {
                Ok(Progress::Established(Box::new(s.receive_auth(&a, &mut self.outbox)?)))
            }
            (_, StellarMessage::Hello(_)) => Err(HandshakeError::UnexpectedHello),
            (_, StellarMessage::Auth(_)) => Err(HandshakeError::OutOfOrderAuth),
            (_, other) => Err(HandshakeError::BeforeHandshake(other.discriminant())),
        }
    }
}
