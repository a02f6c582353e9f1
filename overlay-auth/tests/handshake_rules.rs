//! Every validation rule of PROTOCOL.md §3.5, §3.6 and §3.7, each shown with the ERROR code
//! it sends or the silent drop the spec gives; out-of-order, replayed and tampered messages.

use overlay_auth::cert::make_cert;
use overlay_auth::keys::{EcdhKeypair, Role, derive_mac_keys};
use overlay_auth::{
    Handshake, HandshakeError, HelloParams, LocalAuth, MacChannel, MacError, NodeIdentity, OpenPolicy, PeerPolicy,
    Progress,
};
use overlay_proto::frame::{FrameDecoder, encode_unauthenticated};
use overlay_proto::wire::RawMessage;
use overlay_proto::xdr::{Auth, ErrorCode, Hello, MessageType, SError, StellarMessage, Uint256};
use overlay_proto::{MessageClass, Network, NetworkId, NodeId};

const NOW: u64 = 1_800_000_000;

fn net() -> NetworkId {
    Network::Testnet.id()
}

fn local(seed: u8) -> LocalAuth {
    LocalAuth::new(NodeIdentity::from_seed([seed; 32]), net(), [seed.wrapping_add(100); 32], HelloParams::default())
}

fn body(frame: &[u8]) -> Vec<u8> {
    let mut d = FrameDecoder::new();
    d.set_authenticated();
    d.feed(frame);
    d.next_frame().unwrap().unwrap().to_vec()
}

fn decode(frame: &[u8]) -> StellarMessage {
    RawMessage::parse(&body(frame)).unwrap().decode().unwrap()
}

fn drain(hs: &mut Handshake) -> Vec<StellarMessage> {
    std::iter::from_fn(|| hs.poll_transmit()).map(|f| decode(&f)).collect()
}

/// A hand-driven remote peer that can send anything.
struct Remote {
    identity: NodeIdentity,
    ecdh: EcdhKeypair,
    nonce: [u8; 32],
    channel: Option<MacChannel>,
    send_key: Option<[u8; 32]>,
}

impl Remote {
    fn new(seed: u8) -> Self {
        Remote {
            identity: NodeIdentity::from_seed([seed; 32]),
            ecdh: EcdhKeypair::from_secret([seed ^ 0x55; 32]),
            nonce: [seed ^ 0xaa; 32],
            channel: None,
            send_key: None,
        }
    }

    fn hello(&self) -> Hello {
        let cert = make_cert(&self.identity, &net(), self.ecdh.public(), NOW + 3600);
        HelloParams::default().build(&self.identity.node_id(), &net(), &cert, &self.nonce)
    }

    fn hello_frame_with(&self, edit: impl FnOnce(&mut Hello)) -> Vec<u8> {
        let mut h = self.hello();
        edit(&mut h);
        let mut f = Vec::new();
        encode_unauthenticated(&StellarMessage::Hello(h), &mut f).unwrap();
        f
    }

    fn hello_frame(&self) -> Vec<u8> {
        self.hello_frame_with(|_| {})
    }

    /// Install keys from the other side's HELLO, as a correct peer would.
    fn learn(&mut self, their_hello: &StellarMessage, role: Role) {
        let StellarMessage::Hello(h) = their_hello else { panic!("not a HELLO") };
        let q = self.ecdh.shared_secret(&h.cert.pubkey.key).unwrap();
        let keys = derive_mac_keys(role, &q, self.ecdh.public(), &h.cert.pubkey.key, &self.nonce, &h.nonce.0);
        self.send_key = Some(keys.send);
        self.channel = Some(MacChannel::new(&keys));
    }

    fn sealed(&mut self, msg: &StellarMessage) -> Vec<u8> {
        let mut f = Vec::new();
        self.channel.as_mut().expect("keys installed").seal(msg, &mut f).unwrap();
        f
    }

    fn auth(&mut self, flags: i32) -> Vec<u8> {
        self.sealed(&StellarMessage::Auth(Auth { flags }))
    }
}

fn feed(hs: &mut Handshake, frame: &[u8]) -> Result<Progress, HandshakeError> {
    hs.handle_frame(&body(frame), NOW, &OpenPolicy)
}

fn assert_error_sent(sent: &[StellarMessage], code: ErrorCode, text: &str) {
    match sent.last() {
        Some(StellarMessage::ErrorMsg(SError { code: c, msg })) => {
            assert_eq!(*c, code);
            assert_eq!(msg.to_utf8_string_lossy(), text);
        }
        other => panic!("expected ERROR {code:?} {text:?}, got {other:?}"),
    }
}

fn assert_silent(sent: &[StellarMessage]) {
    assert!(!sent.iter().any(|m| matches!(m, StellarMessage::ErrorMsg(_))), "no ERROR expected: {sent:?}");
}

/// An acceptor fed a HELLO from `remote` edited by `edit`; returns the error and what it sent.
fn acceptor_rejects(edit: impl FnOnce(&mut Hello)) -> (HandshakeError, Vec<StellarMessage>) {
    let mut hs = local(1).accept(NOW, [9; 32]);
    let remote = Remote::new(2);
    let err = feed(&mut hs, &remote.hello_frame_with(edit)).unwrap_err();
    assert!(hs.is_finished());
    (err, drain(&mut hs))
}

// §3.5 step 2: a certificate that does not verify → silent drop.
// C++: OverlayTests "reject peers with invalid cert" (damaged cert = expiration + 1).
#[test]
fn damaged_certificate_is_a_silent_drop() {
    let (err, sent) = acceptor_rejects(|h| h.cert.expiration += 1);
    assert!(matches!(err, HandshakeError::BadCert(_)));
    assert_eq!(err.reason(), "failed to verify auth cert");
    assert!(sent.is_empty(), "the acceptor has not sent its HELLO yet");
}

#[test]
fn expired_and_malformed_certificates_are_silent_drops() {
    let remote = Remote::new(2);
    for edit in [
        Box::new(|h: &mut Hello| {
            // Correctly signed, but expired a second ago.
            h.cert = make_cert(&NodeIdentity::from_seed([2; 32]), &net(), &h.cert.pubkey.key, NOW - 1);
        }) as Box<dyn FnOnce(&mut Hello)>,
        Box::new(|h: &mut Hello| h.cert.sig = vec![0u8; 63].try_into().unwrap()),
        Box::new(|h: &mut Hello| h.cert.sig = vec![].try_into().unwrap()),
        Box::new(|h: &mut Hello| h.cert.pubkey.key[0] ^= 1),
    ] {
        let mut hs = local(1).accept(NOW, [9; 32]);
        let err = feed(&mut hs, &remote.hello_frame_with(edit)).unwrap_err();
        assert!(matches!(err, HandshakeError::BadCert(_)), "{err:?}");
        assert!(drain(&mut hs).is_empty());
    }
    // Expiration equal to now is still valid.
    let mut hs = local(1).accept(NOW, [9; 32]);
    let ok = remote.hello_frame_with(|h| {
        h.cert = make_cert(&NodeIdentity::from_seed([2; 32]), &net(), &h.cert.pubkey.key, NOW);
    });
    assert!(matches!(feed(&mut hs, &ok), Ok(Progress::GotHello)));
}

// C++: OverlayTests "reject peers with differing network passphrases": the certificate hash
// covers the network id, so the cert check fails first and nothing is sent.
#[test]
fn other_network_fails_at_the_certificate() {
    let remote = Remote::new(2);
    let frame = remote.hello_frame_with(|h| {
        let other = Network::Pubnet.id();
        h.network_id = overlay_proto::xdr::Hash(other.0);
        h.cert = make_cert(&NodeIdentity::from_seed([2; 32]), &other, &h.cert.pubkey.key, NOW + 3600);
    });
    let mut hs = local(1).accept(NOW, [9; 32]);
    assert!(matches!(feed(&mut hs, &frame), Err(HandshakeError::BadCert(_))));
    assert!(drain(&mut hs).is_empty());
}

// §3.5 step 10: a cert valid for our network but a HELLO naming another network.
#[test]
fn wrong_network_id_in_hello_sends_err_conf() {
    let (err, sent) = acceptor_rejects(|h| h.network_id = overlay_proto::xdr::Hash(Network::Pubnet.id().0));
    assert_eq!(err, HandshakeError::WrongNetwork);
    assert!(matches!(sent[0], StellarMessage::Hello(_)), "acceptor HELLO goes first (§3.5 step 7)");
    assert_error_sent(&sent, ErrorCode::Conf, "wrong network passphrase");
}

// §3.5 step 3. C++: OverlayTests "reject banned peers".
#[test]
fn banned_peer_is_a_silent_drop() {
    struct Bans(NodeId);
    impl PeerPolicy for Bans {
        fn is_banned(&self, p: &NodeId) -> bool {
            *p == self.0
        }
        fn is_already_connected(&self, _: &NodeId) -> bool {
            false
        }
    }
    let remote = Remote::new(2);
    let mut hs = local(1).accept(NOW, [9; 32]);
    let err = hs.handle_frame(&body(&remote.hello_frame()), NOW, &Bans(remote.identity.node_id())).unwrap_err();
    assert_eq!(err, HandshakeError::Banned);
    assert_eq!(err.reason(), "node is banned");
    assert!(drain(&mut hs).is_empty());
}

// §3.5 step 8. C++: OverlayTests "reject peers with incompatible overlay versions" (cfg2 above/below).
#[test]
fn incompatible_versions_send_err_conf() {
    let cases: [(u32, u32); 4] = [(30, 40), (43, 44), (42, 41), (10, 20)];
    for (min, version) in cases {
        let (err, sent) = acceptor_rejects(|h| {
            h.overlay_min_version = min;
            h.overlay_version = version;
        });
        assert_eq!(err, HandshakeError::WrongVersion, "{min}..{version}");
        assert_error_sent(&sent, ErrorCode::Conf, "wrong protocol version");
    }
    // v27.1.0 (41/40) is compatible with our 42/41.
    let remote = Remote::new(2);
    let mut hs = local(1).accept(NOW, [9; 32]);
    let old = remote.hello_frame_with(|h| {
        h.overlay_min_version = 40;
        h.overlay_version = 41;
    });
    assert!(feed(&mut hs, &old).is_ok());
}

// §3.5 step 9. C++: OverlayTests "reject peers with the same nodeid" (inbound).
#[test]
fn connecting_to_self_sends_err_conf() {
    let mut hs = local(2).accept(NOW, [9; 32]);
    let me = Remote::new(2); // same identity seed as the local node
    let err = feed(&mut hs, &me.hello_frame()).unwrap_err();
    assert_eq!(err, HandshakeError::ConnectingToSelf);
    assert_error_sent(&drain(&mut hs), ErrorCode::Conf, "connecting to self");
}

// §3.5 step 11. C++: OverlayTests "loopback peer with 0 port".
#[test]
fn bad_listening_port_sends_err_conf() {
    for port in [0, -1, 65536, i32::MIN] {
        let (err, sent) = acceptor_rejects(|h| h.listening_port = port);
        assert_eq!(err, HandshakeError::BadAddress, "port {port}");
        assert_error_sent(&sent, ErrorCode::Conf, "bad address");
    }
}

// §3.5 step 13.
#[test]
fn already_connected_peer_sends_err_conf_with_short_id() {
    struct Connected;
    impl PeerPolicy for Connected {
        fn is_banned(&self, _: &NodeId) -> bool {
            false
        }
        fn is_already_connected(&self, _: &NodeId) -> bool {
            true
        }
    }
    let remote = Remote::new(2);
    let mut hs = local(1).accept(NOW, [9; 32]);
    let err = hs.handle_frame(&body(&remote.hello_frame()), NOW, &Connected).unwrap_err();
    let text = format!("already-connected peer: {}", remote.identity.node_id().short());
    assert_eq!(err.reason(), text);
    assert_error_sent(&drain(&mut hs), ErrorCode::Conf, &text);
}

// §3.5 step 4: an X25519 key of small order gives an all-zero secret.
#[test]
fn small_order_ecdh_key_is_a_bad_crypto_drop() {
    let (err, sent) = acceptor_rejects(|h| {
        h.cert = make_cert(&NodeIdentity::from_seed([2; 32]), &net(), &[0u8; 32], NOW + 3600);
    });
    assert!(matches!(err, HandshakeError::Crypto(_)));
    assert_eq!(err.reason(), "Bad crypto request");
    assert_silent(&sent);
}

// §3.6 step 1. C++: OverlayTests "loopback peer send auth before hello".
#[test]
fn auth_before_hello_sends_err_misc() {
    let mut hs = local(1).accept(NOW, [9; 32]);
    let mut remote = Remote::new(2);
    // Any MAC: before GOT_HELLO nothing is verified.
    remote.channel = Some(MacChannel::new(&overlay_auth::MacKeys { send: [7; 32], recv: [8; 32] }));
    let err = feed(&mut hs, &remote.auth(200)).unwrap_err();
    assert_eq!(err, HandshakeError::OutOfOrderAuth);
    assert_error_sent(&drain(&mut hs), ErrorCode::Misc, "out-of-order AUTH message");
}

// §3.6 step 1: a second AUTH (authenticated) is also out of order; §3.6 step 4: flags.
#[test]
fn bad_auth_flags_send_err_conf_after_our_auth() {
    let mut hs = local(1).accept(NOW, [9; 32]);
    let mut remote = Remote::new(2);
    feed(&mut hs, &remote.hello_frame()).unwrap();
    let sent = drain(&mut hs);
    remote.learn(&sent[0], Role::Initiator);
    let err = feed(&mut hs, &remote.auth(100)).unwrap_err();
    assert_eq!(err, HandshakeError::FlowControlBytesDisabled);
    let sent = drain(&mut hs);
    assert!(matches!(sent[0], StellarMessage::Auth(_)), "acceptor AUTH precedes the ERROR (§3.6 step 4)");
    assert_error_sent(&sent, ErrorCode::Conf, "flow control bytes disabled");
}

#[test]
fn initiator_rejects_bad_auth_flags_too() {
    let mut hs = local(1).initiate(NOW, [9; 32]);
    let ours = drain(&mut hs);
    let mut remote = Remote::new(2);
    remote.learn(&ours[0], Role::Acceptor);
    assert!(matches!(feed(&mut hs, &remote.hello_frame()), Ok(Progress::GotHello)));
    assert!(matches!(drain(&mut hs)[..], [StellarMessage::Auth(_)]));
    let err = feed(&mut hs, &remote.auth(0)).unwrap_err();
    assert_eq!(err, HandshakeError::FlowControlBytesDisabled);
    assert_error_sent(&drain(&mut hs), ErrorCode::Conf, "flow control bytes disabled");
}

// §3.7: before authentication only HELLO, AUTH and ERROR are accepted.
// C++: OverlayTests "peers during auth" is the PEERS-specific node case; here every type.
#[test]
fn other_messages_before_the_handshake_are_silent_drops() {
    let early = [
        StellarMessage::Peers(vec![].try_into().unwrap()),
        StellarMessage::GetScpState(1),
        StellarMessage::SendMoreExtended(overlay_proto::xdr::SendMoreExtended { num_messages: 1, num_bytes: 1 }),
        StellarMessage::GetTxSet(Uint256([0; 32])),
    ];
    for msg in early {
        // Before HELLO: unauthenticated frames.
        let mut hs = local(1).accept(NOW, [9; 32]);
        let mut f = Vec::new();
        overlay_proto::frame::encode_authenticated_with(
            0,
            &overlay_proto::wire::encode_message(&msg).unwrap(),
            &mut f,
            |_| [0; 32],
        );
        let err = feed(&mut hs, &f).unwrap_err();
        assert_eq!(err, HandshakeError::BeforeHandshake(msg.discriminant()));
        assert_eq!(err.reason(), format!("received {} before completed handshake", msg.wire_name()));
        assert_silent(&drain(&mut hs));

        // After HELLO, correctly MAC'd but still before AUTH.
        let mut hs = local(1).accept(NOW, [9; 32]);
        let mut remote = Remote::new(2);
        feed(&mut hs, &remote.hello_frame()).unwrap();
        remote.learn(&drain(&mut hs)[0], Role::Initiator);
        let err = feed(&mut hs, &remote.sealed(&msg)).unwrap_err();
        assert_eq!(err, HandshakeError::BeforeHandshake(msg.discriminant()));
        assert_silent(&drain(&mut hs));
    }
}

// §2.2: a second HELLO after GOT_HELLO is MAC-checked first, and fails with ERR_AUTH.
#[test]
fn second_hello_fails_authentication() {
    let mut hs = local(1).accept(NOW, [9; 32]);
    let remote = Remote::new(2);
    feed(&mut hs, &remote.hello_frame()).unwrap();
    drain(&mut hs);
    let err = feed(&mut hs, &remote.hello_frame()).unwrap_err();
    assert_eq!(err, HandshakeError::Mac(MacError::BadMac));
    assert_error_sent(&drain(&mut hs), ErrorCode::Auth, "unexpected MAC");
}

// §3.5 step 1: a HELLO that does pass authentication is still "unexpected" (silent).
#[test]
fn authenticated_second_hello_is_unexpected() {
    use hmac::{Hmac, KeyInit, Mac};
    let mut hs = local(1).accept(NOW, [9; 32]);
    let mut remote = Remote::new(2);
    feed(&mut hs, &remote.hello_frame()).unwrap();
    let our_hello = drain(&mut hs).remove(0);
    remote.learn(&our_hello, Role::Initiator);
    let send_key = remote.send_key.unwrap();
    // MAC a HELLO with sequence 0 as if it were an ordinary message.
    let xdr = overlay_proto::wire::encode_message(&decode(&remote.hello_frame())).unwrap();
    let mut f = Vec::new();
    overlay_proto::frame::encode_authenticated_with(0, &xdr, &mut f, |input| {
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(&send_key).unwrap();
        m.update(input);
        m.finalize().into_bytes().into()
    });
    let err = feed(&mut hs, &f).unwrap_err();
    assert_eq!(err, HandshakeError::UnexpectedHello);
    assert_eq!(err.reason(), "received unexpected HELLO");
    assert_silent(&drain(&mut hs));
}

// §2.2: tampered, replayed and skipped AUTH. C++: OverlayTests "failed auth" (a damaged MAC
// key makes every MAC fail with "unexpected MAC").
#[test]
fn tampered_replayed_and_skipped_auth_send_err_auth() {
    for case in ["tamper", "skip", "zero-mac"] {
        let mut hs = local(1).accept(NOW, [9; 32]);
        let mut remote = Remote::new(2);
        feed(&mut hs, &remote.hello_frame()).unwrap();
        remote.learn(&drain(&mut hs)[0], Role::Initiator);
        let frame = match case {
            "tamper" => {
                let mut f = remote.auth(200);
                let n = f.len();
                f[n - 1] ^= 1;
                f
            }
            "skip" => {
                let _lost = remote.auth(200);
                remote.auth(200)
            }
            _ => {
                let mut f = Vec::new();
                overlay_proto::frame::encode_authenticated_with(0, &[0, 0, 0, 2, 0, 0, 0, 200], &mut f, |_| [0; 32]);
                f
            }
        };
        let err = feed(&mut hs, &frame).unwrap_err();
        let (text, kind) = match case {
            "skip" => ("unexpected auth sequence", "seq"),
            _ => ("unexpected MAC", "mac"),
        };
        assert!(matches!(err, HandshakeError::Mac(_)), "{case}: {err:?} ({kind})");
        assert_error_sent(&drain(&mut hs), ErrorCode::Auth, text);
    }
}

// §1.2 / §4.2: corrupt XDR in the handshake sends ERR_DATA.
#[test]
fn corrupt_xdr_sends_err_data() {
    let mut hs = local(1).accept(NOW, [9; 32]);
    let mut f = Remote::new(2).hello_frame();
    // An unknown message type.
    f[16..20].copy_from_slice(&99i32.to_be_bytes());
    let err = feed(&mut hs, &f).unwrap_err();
    assert!(matches!(err, HandshakeError::CorruptXdr(_)));
    assert_error_sent(&drain(&mut hs), ErrorCode::Data, "received corrupt XDR");
}

// §4.1: a received ERROR drops at once, without a reply; the reason masks odd characters.
#[test]
fn remote_error_drops_without_reply() {
    let mut hs = local(1).initiate(NOW, [9; 32]);
    drain(&mut hs);
    let err_msg = StellarMessage::ErrorMsg(SError { code: ErrorCode::Load, msg: "peer rejected!".try_into().unwrap() });
    let mut f = Vec::new();
    encode_unauthenticated(&err_msg, &mut f).unwrap();
    let err = feed(&mut hs, &f).unwrap_err();
    assert_eq!(err.reason(), "ERR_LOAD (peer rejected*)");
    assert!(drain(&mut hs).is_empty());
}

// After a failure the machine accepts nothing more.
#[test]
fn finished_machine_refuses_input() {
    let (_, _) = acceptor_rejects(|h| h.listening_port = 0);
    let mut hs = local(1).accept(NOW, [9; 32]);
    let remote = Remote::new(2);
    let _ = feed(&mut hs, &remote.hello_frame_with(|h| h.listening_port = 0));
    drain(&mut hs);
    assert_eq!(feed(&mut hs, &remote.hello_frame()).unwrap_err(), HandshakeError::Finished);
    assert!(drain(&mut hs).is_empty());
    assert_eq!(MessageType::Hello as i32, 13);
}
