//! PROTOCOL.md §3.8: the worked byte-level example, reproduced byte for byte.

use overlay_auth::cert::{cert_signed_hash, make_cert};
use overlay_auth::keys::{EcdhKeypair, Role, derive_mac_keys, expand, shared_key};
use overlay_auth::{HelloParams, MacChannel, MacKeys, NodeIdentity};
use overlay_proto::NetworkId;
use overlay_proto::frame::encode_unauthenticated;
use overlay_proto::xdr::{Auth, SendMoreExtended, StellarMessage};

fn h32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

const NETWORK: &str = "Test SDF Network ; September 2015";
const SEED_A: &str = "f0934ed2e74464427bb880590c72bbbb9348535d6eae92b66b0a4f0e817eed74";
const SEED_B: &str = "e80206708adceec3deee4cb7ea44853db297199aade820d01fb5ab8de06e1460";
const E_SECRET_A: &str = "3cf75f5b1fab2264e0200f1c8e3b37c8bc48c23fda01025da90ce17f13058e0b";
const E_SECRET_B: &str = "0f6de22db34ceae75be2b1212fdad6d625597c51ab98c4f905de7d1ea8fb7c0e";
const N_A: &str = "4e1ce45a65d9ba8655a1bacd9d9ec348dbf7a8ab2b719f1b1bb0cf3897c0a2ab";
const N_B: &str = "e8d367535d9bcc2460d229673c78c8b11427e74f643926c64f2178996169c5d7";
const EXPIRATION: u64 = 1_700_003_600;

#[test]
fn inputs_are_the_hashes_the_spec_names() {
    use sha2::{Digest, Sha256};
    let sha = |s: &str| hex::encode(Sha256::digest(s.as_bytes()));
    assert_eq!(sha("node-A-seed"), SEED_A);
    assert_eq!(sha("node-B-seed"), SEED_B);
    assert_eq!(sha("ecdh-A"), E_SECRET_A);
    assert_eq!(sha("nonce-B"), N_B);
}

#[test]
fn keys_and_certificates() {
    let net = NetworkId::from_passphrase(NETWORK);
    assert_eq!(net.to_string(), "cee0302d59844d32bdca915c8203dd44b33fbb7edc19051ea37abedf28ecd472");
    let a = NodeIdentity::from_seed(h32(SEED_A));
    let b = NodeIdentity::from_seed(h32(SEED_B));
    assert_eq!(hex::encode(a.node_id().0), "af4f530c47f8b0d5b1e9ea66a6e6354d0fd827dfc1edef0fb30895ef8c1bc5cd");
    assert_eq!(hex::encode(b.node_id().0), "7c2179cc4e11fbc5fe6f1041a79c624df2f47ebbef1854250563e8345dabcf36");
    let ea = EcdhKeypair::from_secret(h32(E_SECRET_A));
    let eb = EcdhKeypair::from_secret(h32(E_SECRET_B));
    assert_eq!(hex::encode(ea.public()), "6fd610f4064a6a3811c071cac8c46079784be1ee9f0659d114f565c804c87c64");
    assert_eq!(hex::encode(eb.public()), "00f7330a030f43d2bcedddf7c467340da11b89981d2b12dd246da4545b888c02");

    assert_eq!(
        hex::encode(cert_signed_hash(&net, EXPIRATION, ea.public())),
        "9efc97af0a6893a03b7ef2436b03890682a45c28520323d32bdaec4ca584bd69"
    );
    let cert_a = make_cert(&a, &net, ea.public(), EXPIRATION);
    assert_eq!(
        hex::encode(cert_a.sig.0.as_slice()),
        "13083a2d378e3be3fa7cac316b5c373fd64a48ea9d161b5a2541895c160d6c78\
         f61e3254ea1ab5e2d257489b9f03ae11ef2a61b3725348752fbef3da0eeef70f"
    );
    assert_eq!(
        hex::encode(cert_signed_hash(&net, EXPIRATION, eb.public())),
        "2685c614e690e4dd2945eb5f1a14ac6edba74fb7b0f712f4d52713dcfe140592"
    );
    let cert_b = make_cert(&b, &net, eb.public(), EXPIRATION);
    assert_eq!(
        hex::encode(cert_b.sig.0.as_slice()),
        "9bb3c9f0e1c5114baa765d096b88b3b612d4665a3a508c9a496b1a4f3deefc37\
         5384c08246c78f6b05b7135a7df504675b61f32ab3b29a5d26c593cbc16f7a0e"
    );
    overlay_auth::cert::verify_cert(&cert_a, &a.node_id(), &net, EXPIRATION).unwrap();
}

fn vector_keys() -> (MacKeys, MacKeys) {
    let ea = EcdhKeypair::from_secret(h32(E_SECRET_A));
    let eb = EcdhKeypair::from_secret(h32(E_SECRET_B));
    let q = ea.shared_secret(eb.public()).unwrap();
    assert_eq!(q, eb.shared_secret(ea.public()).unwrap());
    assert_eq!(hex::encode(q), "05e8345d751843e178f970dd710c3b2e9610043452696e6028d17e80bb6dc562");
    let k = shared_key(&q, ea.public(), eb.public());
    assert_eq!(hex::encode(k), "753220415ba526cc6a8a438732213b6269e6c5321a17d5faea0d9837659b8fc6");
    let mut info = vec![0u8];
    info.extend(h32(N_A));
    info.extend(h32(N_B));
    assert_eq!(hex::encode(expand(&k, &info)), "438609848e21279cd81212db87fdc9008b5fcad7e0546a40cd1706a70b515861");

    let keys_a = derive_mac_keys(Role::Initiator, &q, ea.public(), eb.public(), &h32(N_A), &h32(N_B));
    let keys_b = derive_mac_keys(Role::Acceptor, &q, eb.public(), ea.public(), &h32(N_B), &h32(N_A));
    assert_eq!(hex::encode(keys_a.send), "438609848e21279cd81212db87fdc9008b5fcad7e0546a40cd1706a70b515861");
    assert_eq!(hex::encode(keys_a.recv), "86c608a905b1c6018f358177d458dc0bdf323131a868013fec58899c5b45c70e");
    assert_eq!((keys_b.send, keys_b.recv), (keys_a.recv, keys_a.send));
    (keys_a, keys_b)
}

#[test]
fn derived_mac_keys() {
    vector_keys();
}

#[test]
fn auth_and_send_more_macs() {
    let (keys_a, keys_b) = vector_keys();
    let mut a = MacChannel::new(&keys_a);
    let mut b = MacChannel::new(&keys_b);
    let auth = StellarMessage::Auth(Auth { flags: 200 });

    let mut frame = Vec::new();
    a.seal(&auth, &mut frame).unwrap();
    let expected_a = "80000034 00000000 0000000000000000 00000002 000000c8 \
         635147b86bce9ceb68505bcd757a7ae90e50bb6b97df83b9a92a9ed1ef766600";
    assert_eq!(hex::encode(&frame), expected_a.replace([' ', '\n'], ""));

    let mut frame_b = Vec::new();
    b.seal(&auth, &mut frame_b).unwrap();
    assert_eq!(
        hex::encode(&frame_b[frame_b.len() - 32..]),
        "ffcc238f85fcdfa7850759ba8498d4d875bf31a52dd13e2b1911e5ed1fcf97de"
    );

    let mut sm = Vec::new();
    a.seal(&StellarMessage::SendMoreExtended(SendMoreExtended { num_messages: 200, num_bytes: 300_000 }), &mut sm)
        .unwrap();
    assert_eq!(hex::encode(&sm[4..28]), "00000000000000000000000100000014000000c8000493e0");
    assert_eq!(hex::encode(&sm[sm.len() - 32..]), "7e2afe37addb574ff9f3679c797bf4e8ea6c37cd71eeb878be9c07f8d21260c3");
}

#[test]
fn hello_frame_of_a() {
    let net = NetworkId::from_passphrase(NETWORK);
    let a = NodeIdentity::from_seed(h32(SEED_A));
    let ea = EcdhKeypair::from_secret(h32(E_SECRET_A));
    let cert = make_cert(&a, &net, ea.public(), EXPIRATION);
    let params = HelloParams {
        ledger_version: 28,
        overlay_version: 42,
        overlay_min_version: 41,
        version_str: "v27.1.0".into(),
        listening_port: 11625,
    };
    let hello = params.build(&a.node_id(), &net, &cert, &h32(N_A));
    let mut frame = Vec::new();
    encode_unauthenticated(&StellarMessage::Hello(hello), &mut frame).unwrap();
    let expected = "8000011c000000000000000000000000 0000000d0000001c0000002a00000029
        cee0302d59844d32bdca915c8203dd44 b33fbb7edc19051ea37abedf28ecd472
        000000077632372e312e300000002d69 00000000af4f530c47f8b0d5b1e9ea66
        a6e6354d0fd827dfc1edef0fb30895ef 8c1bc5cd6fd610f4064a6a3811c071ca
        c8c46079784be1ee9f0659d114f565c8 04c87c64000000006553ff1000000040
        13083a2d378e3be3fa7cac316b5c373f d64a48ea9d161b5a2541895c160d6c78
        f61e3254ea1ab5e2d257489b9f03ae11 ef2a61b3725348752fbef3da0eeef70f
        4e1ce45a65d9ba8655a1bacd9d9ec348 dbf7a8ab2b719f1b1bb0cf3897c0a2ab
        00000000000000000000000000000000 00000000000000000000000000000000";
    let expected: String = expected.split_whitespace().collect();
    assert_eq!(frame.len(), 288);
    assert_eq!(hex::encode(&frame), expected);
}
