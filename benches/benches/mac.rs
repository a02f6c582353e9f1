//! MAC seal and open at 200 B, 1 KiB and 100 KiB, each beside a raw HMAC-SHA256 of the same
//! bytes with a freshly keyed HMAC (the baseline). Read results as ratios within a group.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use overlay_auth::{MacChannel, MacKeys};
use overlay_proto::wire::RawMessage;
use sha2::Sha256;
use std::hint::black_box;

fn message_xdr(size: usize) -> Vec<u8> {
    // A TRANSACTION-typed message of `size` bytes; sealing does not look past the type.
    let mut v = vec![0xa5u8; size];
    v[..4].copy_from_slice(&8i32.to_be_bytes());
    v
}

fn bench(c: &mut Criterion) {
    for size in [200usize, 1024, 100 * 1024] {
        let xdr = message_xdr(size);
        let keys = MacKeys { send: [1; 32], recv: [2; 32] };
        let mut g = c.benchmark_group(format!("mac_{size}B"));
        g.throughput(Throughput::Bytes(size as u64));

        // The same bytes the MAC covers: sequence and message.
        let mut mac_input = 7u64.to_be_bytes().to_vec();
        mac_input.extend_from_slice(&xdr);
        g.bench_function(BenchmarkId::new("baseline_raw_hmac", size), |b| {
            b.iter(|| {
                let mut m = Hmac::<Sha256>::new_from_slice(&keys.send).unwrap();
                m.update(black_box(&mac_input));
                black_box(m.finalize().into_bytes())
            })
        });

        let mut tx = MacChannel::new(&keys);
        let mut out = Vec::with_capacity(size + 64);
        g.bench_function(BenchmarkId::new("seal", size), |b| {
            b.iter(|| {
                out.clear();
                tx.seal_xdr(black_box(&xdr), &mut out);
            })
        });

        // Open: pre-seal a run of frames with consecutive sequences and open them in order;
        // a fresh receiver is made once per run (1/1024 of the openings).
        let mut sender = MacChannel::new(&keys);
        let frames: Vec<Vec<u8>> = (0..1024)
            .map(|_| {
                let mut f = Vec::new();
                sender.seal_xdr(&xdr, &mut f);
                f[4..].to_vec()
            })
            .collect();
        let rx_keys = MacKeys { send: keys.recv, recv: keys.send };
        let mut rx = MacChannel::new(&rx_keys);
        let mut i = 0usize;
        g.bench_function(BenchmarkId::new("open", size), |b| {
            b.iter(|| {
                if i == frames.len() {
                    rx = MacChannel::new(&rx_keys);
                    i = 0;
                }
                rx.open(&RawMessage::parse(black_box(&frames[i])).unwrap()).unwrap();
                i += 1;
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
