//! Issue 13 acceptance 4: our sealed box (`overlay_node::survey::seal`) and libsodium's
//! `crypto_box_seal` open each other's boxes. `tests/vectors/sealed_box.json` holds boxes that
//! libsodium made (PyNaCl's `SealedBox`), and boxes built with libsodium's primitives from a
//! chosen ephemeral secret that our `seal` must reproduce byte for byte; the last test also
//! has PyNaCl open boxes our code makes now.

#[path = "../../testing/python.rs"]
mod python;

use overlay_node::survey::seal::{self, SEAL_OVERHEAD};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/sealed_box.json")).unwrap()
}

fn bytes(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap()).unwrap()
}

fn key(v: &Value, name: &str) -> [u8; 32] {
    bytes(v, name).try_into().unwrap()
}

#[test]
fn boxes_sealed_by_libsodium_open_with_ours() {
    let v = vectors();
    let cases = v["libsodium_sealed"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for c in cases {
        let secret = key(c, "recipient_secret_hex");
        assert_eq!(seal::public_key(&secret), key(c, "recipient_public_hex"));
        let sealed = bytes(c, "sealed_hex");
        assert_eq!(seal::open(&secret, &sealed).unwrap(), bytes(c, "message_hex"));
        // Altered anywhere (ephemeral key, tag, ciphertext), it does not open.
        for i in [0, 33, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 0x80;
            assert!(seal::open(&secret, &bad).is_err(), "byte {i} altered");
        }
    }
}

#[test]
fn our_boxes_match_libsodium_byte_for_byte() {
    let v = vectors();
    for c in v["our_sealed"].as_array().unwrap() {
        let recipient = key(c, "recipient_public_hex");
        let message = bytes(c, "message_hex");
        let ours = seal::seal(&recipient, &key(c, "ephemeral_secret_hex"), &message);
        assert_eq!(ours.len(), message.len() + SEAL_OVERHEAD);
        assert_eq!(hex::encode(&ours), c["sealed_hex"].as_str().unwrap());
    }
}

#[test]
fn libsodium_opens_boxes_sealed_now_by_ours() {
    python::ensure("nacl", "pynacl");
    // Fresh recipients and messages, not those of the vectors.
    let mut lines = String::new();
    for i in 0u8..8 {
        let secret = [i.wrapping_mul(31).wrapping_add(5); 32];
        let message: Vec<u8> = (0..usize::from(i) * 37).map(|j| j as u8 ^ i).collect();
        let sealed = seal::seal(&seal::public_key(&secret), &[i ^ 0xa5; 32], &message);
        lines += &format!("{} {} {}\n", hex::encode(secret), hex::encode(&sealed), hex::encode(&message));
    }
    let script = r#"
import sys
from nacl.public import PrivateKey, SealedBox
n = 0
for line in sys.stdin:
    secret, sealed, message = line.split(" ") if line.count(" ") == 2 else (None, None, None)
    opened = SealedBox(PrivateKey(bytes.fromhex(secret))).decrypt(bytes.fromhex(sealed))
    assert opened == bytes.fromhex(message.strip()), "different plaintext"
    n += 1
print(n)
"#;
    let out = python::run(script, &lines).expect("PyNaCl opens every box");
    assert_eq!(out.trim(), "8");
}
