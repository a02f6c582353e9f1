//! One full in-memory handshake, both sides, beside its unavoidable cryptography (two
//! X25519 agreements and two strict Ed25519 verifications: the baseline).

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey};
use overlay_auth::{HelloParams, LocalAuth, NodeIdentity, OpenPolicy, Progress};
use overlay_proto::Network;
use overlay_proto::frame::FrameDecoder;
use std::hint::black_box;
use x25519_dalek::{PublicKey, StaticSecret};

const NOW: u64 = 1_800_000_000;

fn handshake(a: &mut LocalAuth, b: &mut LocalAuth, n: u8) {
    let mut ia = a.initiate(NOW, [n; 32]);
    let mut ib = b.accept(NOW, [n ^ 0xff; 32]);
    let (mut da, mut db) = (FrameDecoder::new(), FrameDecoder::new());
    let mut done = 0;
    while done < 2 {
        while let Some(f) = ia.poll_transmit() {
            db.feed(&f);
        }
        while let Some(body) = db.next_frame().unwrap() {
            if let Progress::Established(_) = ib.handle_frame(body, NOW, &OpenPolicy).unwrap() {
                done += 1;
            }
        }
        while let Some(f) = ib.poll_transmit() {
            da.feed(&f);
        }
        while let Some(body) = da.next_frame().unwrap() {
            if let Progress::Established(_) = ia.handle_frame(body, NOW, &OpenPolicy).unwrap() {
                done += 1;
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    let net = Network::Testnet.id();
    let mut a = LocalAuth::new(NodeIdentity::from_seed([1; 32]), net, [2; 32], HelloParams::default());
    let mut b = LocalAuth::new(NodeIdentity::from_seed([3; 32]), net, [4; 32], HelloParams::default());
    let mut g = c.benchmark_group("handshake");
    let sk = SigningKey::from_bytes(&[9; 32]);
    let vk = sk.verifying_key();
    let sig = sk.sign(&[1; 32]);
    let secret = StaticSecret::from([5; 32]);
    let other = PublicKey::from(&StaticSecret::from([6; 32]));
    g.bench_function("baseline_2x_x25519_2x_verify", |bch| {
        bch.iter(|| {
            for _ in 0..2 {
                black_box(secret.diffie_hellman(black_box(&other)));
                vk.verify_strict(black_box(&[1; 32]), &sig).unwrap();
            }
        })
    });
    let mut n = 0u8;
    g.bench_function("both_sides_in_memory", |bch| {
        bch.iter(|| {
            n = n.wrapping_add(1);
            handshake(&mut a, &mut b, n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
