//! The handshake phases, one type each.

use super::{LocalKeys, PeerPolicy};
use crate::cert::verify_cert;
use crate::error::HandshakeError;
use crate::hello::HelloFacts;
use crate::keys::{Role, derive_mac_keys};
use crate::mac::MacChannel;
use overlay_proto::frame::encode_unauthenticated;
use overlay_proto::version::{AUTH_FLAGS_FLOW_CONTROL_BYTES, versions_compatible};
use overlay_proto::xdr::{Auth, AuthCert, Hello, StellarMessage};
use overlay_proto::{NetworkId, NodeId};
use std::collections::VecDeque;
use std::sync::Arc;

type Outbox = VecDeque<Vec<u8>>;

/// An authenticated channel: the result of a successful handshake.
#[derive(Debug)]
pub struct Established {
    /// The MAC channel, with both sequences past the AUTH messages.
    pub channel: MacChannel,
    /// The remote's HELLO facts.
    pub remote: HelloFacts,
    /// Our role.
    pub role: Role,
}

/// Initiator, HELLO sent, waiting for the acceptor's HELLO.
pub struct InitiatorHello {
    keys: Arc<LocalKeys>,
    nonce: [u8; 32],
}

/// Initiator, AUTH sent, waiting for the acceptor's AUTH.
pub struct InitiatorAuth {
    channel: MacChannel,
    remote: HelloFacts,
}

/// Acceptor, waiting for the initiator's HELLO.
pub struct AcceptorHello {
    keys: Arc<LocalKeys>,
    cert: AuthCert,
    nonce: [u8; 32],
}

/// Acceptor, HELLO sent, waiting for the initiator's AUTH.
pub struct AcceptorAuth {
    channel: MacChannel,
    remote: HelloFacts,
}

fn push_hello(keys: &LocalKeys, cert: &AuthCert, nonce: &[u8; 32], out: &mut Outbox) {
    let hello = keys.hello.build(&keys.identity.node_id(), &keys.network_id, cert, nonce);
    let mut frame = Vec::with_capacity(300);
    encode_unauthenticated(&StellarMessage::Hello(hello), &mut frame).expect("a HELLO always encodes");
    out.push_back(frame);
}

fn push_auth(channel: &mut MacChannel, out: &mut Outbox) {
    let mut frame = Vec::with_capacity(56);
    let auth = StellarMessage::Auth(Auth { flags: AUTH_FLAGS_FLOW_CONTROL_BYTES });
    channel.seal(&auth, &mut frame).expect("an AUTH always encodes");
    out.push_back(frame);
}

/// §3.5 steps 2–4: certificate, ban list, key agreement. Returns the channel with both keys
/// installed.
fn authenticate_hello(
    keys: &LocalKeys,
    role: Role,
    nonce: &[u8; 32],
    hello: &Hello,
    now_unix: u64,
    policy: &impl PeerPolicy,
) -> Result<MacChannel, HandshakeError> {
    let peer = NodeId::from_xdr(&hello.peer_id);
    verify_cert(&hello.cert, &peer, &keys.network_id, now_unix).map_err(HandshakeError::BadCert)?;
    if policy.is_banned(&peer) {
        return Err(HandshakeError::Banned);
    }
    let remote_public = &hello.cert.pubkey.key;
    let q = keys.ecdh.shared_secret(remote_public).map_err(HandshakeError::Crypto)?;
    let mac_keys = derive_mac_keys(role, &q, keys.ecdh.public(), remote_public, nonce, &hello.nonce.0);
    Ok(MacChannel::new(&mac_keys))
}

/// §3.5 steps 8–11 and 13: the terms of the connection.
fn check_hello_terms(keys: &LocalKeys, hello: &Hello, policy: &impl PeerPolicy) -> Result<HelloFacts, HandshakeError> {
    let local = &keys.hello;
    if !versions_compatible(
        hello.overlay_min_version,
        hello.overlay_version,
        local.overlay_min_version,
        local.overlay_version,
    ) {
        return Err(HandshakeError::WrongVersion);
    }
    let peer = NodeId::from_xdr(&hello.peer_id);
    if peer == keys.identity.node_id() {
        return Err(HandshakeError::ConnectingToSelf);
    }
    if NetworkId(hello.network_id.0) != keys.network_id {
        return Err(HandshakeError::WrongNetwork);
    }
    let port = u16::try_from(hello.listening_port).ok().filter(|p| *p != 0).ok_or(HandshakeError::BadAddress)?;
    if policy.is_already_connected(&peer) {
        return Err(HandshakeError::AlreadyConnected(peer));
    }
    Ok(HelloFacts::from_hello(hello, port))
}

fn check_auth_flags(auth: &Auth) -> Result<(), HandshakeError> {
    if auth.flags == AUTH_FLAGS_FLOW_CONTROL_BYTES { Ok(()) } else { Err(HandshakeError::FlowControlBytesDisabled) }
}

impl InitiatorHello {
    /// Start: queue our HELLO.
    pub fn new(keys: Arc<LocalKeys>, cert: AuthCert, nonce: [u8; 32], out: &mut VecDeque<Vec<u8>>) -> Self {
        push_hello(&keys, &cert, &nonce, out);
        InitiatorHello { keys, nonce }
    }

    /// The acceptor's HELLO: verify it, install the keys, and queue our AUTH (§3.5 step 14).
    pub fn receive_hello(
        self,
        hello: &Hello,
        now_unix: u64,
        policy: &impl PeerPolicy,
        out: &mut VecDeque<Vec<u8>>,
    ) -> Result<InitiatorAuth, HandshakeError> {
        let mut channel = authenticate_hello(&self.keys, Role::Initiator, &self.nonce, hello, now_unix, policy)?;
        let remote = check_hello_terms(&self.keys, hello, policy)?;
        push_auth(&mut channel, out);
        Ok(InitiatorAuth { channel, remote })
    }
}

impl InitiatorAuth {
    /// The remote's HELLO facts.
    pub fn remote(&self) -> &HelloFacts {
        &self.remote
    }

    /// The channel, for verifying the next message before it is dispatched.
    pub fn channel_mut(&mut self) -> &mut MacChannel {
        &mut self.channel
    }

    /// The acceptor's AUTH, already MAC-verified by the caller (§3.6).
    pub fn receive_auth(self, auth: &Auth) -> Result<Established, HandshakeError> {
        check_auth_flags(auth)?;
        Ok(Established { channel: self.channel, remote: self.remote, role: Role::Initiator })
    }
}

impl AcceptorHello {
    /// Start: nothing is sent until the remote HELLO arrives.
    pub fn new(keys: Arc<LocalKeys>, cert: AuthCert, nonce: [u8; 32]) -> Self {
        AcceptorHello { keys, cert, nonce }
    }

    /// The initiator's HELLO: verify it, install the keys, and queue our HELLO before the
    /// remaining checks so that the initiator can read an ERROR that follows (§3.5 step 7).
    pub fn receive_hello(
        self,
        hello: &Hello,
        now_unix: u64,
        policy: &impl PeerPolicy,
        out: &mut VecDeque<Vec<u8>>,
    ) -> Result<AcceptorAuth, HandshakeError> {
        let channel = authenticate_hello(&self.keys, Role::Acceptor, &self.nonce, hello, now_unix, policy)?;
        push_hello(&self.keys, &self.cert, &self.nonce, out);
        let remote = check_hello_terms(&self.keys, hello, policy)?;
        Ok(AcceptorAuth { channel, remote })
    }
}

impl AcceptorAuth {
    /// The remote's HELLO facts.
    pub fn remote(&self) -> &HelloFacts {
        &self.remote
    }

    /// The channel, for verifying the next message before it is dispatched.
    pub fn channel_mut(&mut self) -> &mut MacChannel {
        &mut self.channel
    }

    /// The initiator's AUTH, already MAC-verified by the caller: queue our AUTH, then check
    /// the flags (so a bad-flags initiator has received our AUTH before the ERROR, §3.6).
    pub fn receive_auth(mut self, auth: &Auth, out: &mut VecDeque<Vec<u8>>) -> Result<Established, HandshakeError> {
        push_auth(&mut self.channel, out);
        check_auth_flags(auth)?;
        Ok(Established { channel: self.channel, remote: self.remote, role: Role::Acceptor })
    }
}
