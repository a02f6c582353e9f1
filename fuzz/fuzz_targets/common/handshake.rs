//! A scripted remote peer for the handshake fuzz targets: it can send valid HELLO and AUTH
//! messages with edits chosen by the fuzzer, correctly MAC'd messages of other types, raw
//! bodies and ERRORs, so the fuzzer reaches every phase of the machine.

use arbitrary::Arbitrary;
use overlay_auth::cert::make_cert;
use overlay_auth::keys::{EcdhKeypair, Role, derive_mac_keys};
use overlay_auth::{Handshake, HelloParams, LocalAuth, MacChannel, NodeIdentity, OpenPolicy, Progress};
use overlay_proto::Network;
use overlay_proto::frame::{FrameDecoder, encode_unauthenticated};
use overlay_proto::wire::RawMessage;
use overlay_proto::xdr::{Auth, ErrorCode, Hash, SError, StellarMessage, Uint256};

const NOW: u64 = 1_800_000_000;

#[derive(Arbitrary, Debug)]
pub enum HelloEdit {
    None,
    Versions(u32, u32),
    Port(i32),
    OtherNetwork,
    Expiration(i32),
    SelfId,
    ZeroEcdhKey,
    VersionStr(Vec<u8>),
    Nonce([u8; 32]),
    BadSignature,
}

#[derive(Arbitrary, Debug)]
pub enum Op {
    Hello(HelloEdit),
    Auth { flags: i32, skip: u8, tamper: bool },
    Sealed(u8),
    Raw(Vec<u8>),
    Error(u8),
}

struct Remote {
    identity: NodeIdentity,
    ecdh: EcdhKeypair,
    nonce: [u8; 32],
    channel: Option<MacChannel>,
    role: Role,
}

impl Remote {
    fn hello(&self, edit: &HelloEdit) -> StellarMessage {
        let net = Network::Testnet.id();
        let mut exp = NOW + 3600;
        let mut key = *self.ecdh.public();
        let mut id = self.identity.clone();
        match edit {
            HelloEdit::Expiration(d) => exp = NOW.saturating_add_signed(i64::from(*d)),
            HelloEdit::ZeroEcdhKey => key = [0; 32],
            HelloEdit::SelfId => id = NodeIdentity::from_seed([1; 32]),
            _ => {}
        }
        let cert = make_cert(&id, &net, &key, exp);
        let mut h = HelloParams::default().build(&id.node_id(), &net, &cert, &self.nonce);
        match edit {
            HelloEdit::Versions(min, v) => {
                h.overlay_min_version = *min;
                h.overlay_version = *v;
            }
            HelloEdit::Port(p) => h.listening_port = *p,
            HelloEdit::OtherNetwork => h.network_id = Hash(Network::Pubnet.id().0),
            HelloEdit::VersionStr(s) => {
                let mut s = s.clone();
                s.truncate(100);
                h.version_str = s.try_into().unwrap_or_default();
            }
            HelloEdit::Nonce(n) => h.nonce = Uint256(*n),
            HelloEdit::BadSignature => h.cert.expiration ^= 1,
            _ => {}
        }
        StellarMessage::Hello(h)
    }

    fn learn(&mut self, their: &StellarMessage) {
        if let StellarMessage::Hello(h) = their {
            if let Ok(q) = self.ecdh.shared_secret(&h.cert.pubkey.key) {
                let keys =
                    derive_mac_keys(self.role, &q, self.ecdh.public(), &h.cert.pubkey.key, &self.nonce, &h.nonce.0);
                self.channel = Some(MacChannel::new(&keys));
            }
        }
    }
}

fn body(frame: &[u8]) -> Vec<u8> {
    let mut d = FrameDecoder::new();
    d.set_authenticated();
    d.feed(frame);
    d.next_frame().ok().flatten().map(<[u8]>::to_vec).unwrap_or_default()
}

/// Deliver what our machine sent to the remote, which learns keys from our HELLO and verifies
/// everything authenticated after it.
fn drain(hs: &mut Handshake, remote: &mut Remote, remote_rx_ok: &mut bool) {
    while let Some(f) = hs.poll_transmit() {
        let b = body(&f);
        let raw = RawMessage::parse(&b).expect("we send well-formed frames");
        let msg = raw.decode().expect("we send well-formed messages");
        match (&msg, remote.channel.as_mut()) {
            (StellarMessage::Hello(_), _) => remote.learn(&msg),
            (StellarMessage::ErrorMsg(_), _) | (_, None) => {}
            (_, Some(ch)) => *remote_rx_ok &= ch.open(&raw).is_ok(),
        }
    }
}

/// Drive our machine in `our_role` against the scripted remote.
pub fn run(our_role: Role, ops: Vec<Op>) {
    let mut ours =
        LocalAuth::new(NodeIdentity::from_seed([1; 32]), Network::Testnet.id(), [2; 32], HelloParams::default());
    let mut hs: Handshake = match our_role {
        Role::Initiator => ours.initiate(NOW, [3; 32]),
        Role::Acceptor => ours.accept(NOW, [3; 32]),
    };
    let remote_role = if our_role == Role::Initiator { Role::Acceptor } else { Role::Initiator };
    let mut remote = Remote {
        identity: NodeIdentity::from_seed([4; 32]),
        ecdh: EcdhKeypair::from_secret([5; 32]),
        nonce: [6; 32],
        channel: None,
        role: remote_role,
    };
    let mut established: Option<MacChannel> = None;
    let mut finished = false;
    let mut remote_rx_ok = true;
    for op in ops.into_iter().take(32) {
        drain(&mut hs, &mut remote, &mut remote_rx_ok);
        let mut frame = Vec::new();
        match op {
            Op::Hello(edit) => {
                let _ = encode_unauthenticated(&remote.hello(&edit), &mut frame);
            }
            Op::Auth { flags, skip, tamper } => {
                let Some(ch) = remote.channel.as_mut() else { continue };
                for _ in 0..skip % 3 {
                    ch.seal(&StellarMessage::Auth(Auth { flags }), &mut Vec::new()).unwrap();
                }
                ch.seal(&StellarMessage::Auth(Auth { flags }), &mut frame).unwrap();
                if tamper {
                    let n = frame.len();
                    frame[n - 1] ^= 1;
                }
            }
            Op::Sealed(kind) => {
                let Some(ch) = remote.channel.as_mut() else { continue };
                let msg = match kind % 4 {
                    0 => StellarMessage::GetScpState(u32::from(kind)),
                    1 => StellarMessage::Peers(vec![].try_into().unwrap()),
                    2 => StellarMessage::GetTxSet(Uint256([kind; 32])),
                    _ => StellarMessage::Auth(Auth { flags: 200 }),
                };
                ch.seal(&msg, &mut frame).unwrap();
            }
            Op::Raw(bytes) => {
                let mut b = bytes;
                b.truncate(4096);
                overlay_proto::frame::write_header(&mut frame, b.len());
                frame.extend_from_slice(&b);
            }
            Op::Error(code) => {
                let e =
                    SError { code: ErrorCode::try_from(i32::from(code % 5)).unwrap(), msg: "x".try_into().unwrap() };
                let _ = encode_unauthenticated(&StellarMessage::ErrorMsg(e), &mut frame);
            }
        }
        let b = body(&frame);
        if b.is_empty() {
            continue;
        }
        match hs.handle_frame(&b, NOW, &OpenPolicy) {
            Ok(Progress::Established(e)) => {
                assert!(!finished);
                established = Some(e.channel);
                finished = true;
            }
            Ok(_) => assert!(!finished),
            Err(e) => {
                let _ = (e.reason(), e.error_to_send());
                finished = true;
                assert!(hs.is_finished());
            }
        }
    }
    drain(&mut hs, &mut remote, &mut remote_rx_ok);
    // An established channel must interoperate with the remote's: the remote verified all
    // we sent, and verifies one more message.
    if let (Some(mut ch), Some(rch)) = (established, remote.channel.as_mut()) {
        assert!(remote_rx_ok, "the remote could not verify what an established machine sent");
        let mut f = Vec::new();
        ch.seal(&StellarMessage::GetScpState(7), &mut f).unwrap();
        let b = body(&f);
        assert!(rch.open(&RawMessage::parse(&b).unwrap()).is_ok());
    }
}
