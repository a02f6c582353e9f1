//! Frame encode and decode of a 220-byte TRANSACTION, beside the bare XDR encode and decode
//! of the same message (the baseline: what framing adds on top of XDR).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use overlay_proto::fixtures::transaction_message;
use overlay_proto::frame::{FrameDecoder, encode_authenticated_with};
use overlay_proto::wire::{self, RawMessage};
use overlay_proto::xdr::{Limits, ReadXdr, StellarMessage, WriteXdr};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let msg = transaction_message(1);
    let xdr = wire::encode_message(&msg).unwrap();
    let mut frame = Vec::new();
    encode_authenticated_with(5, &xdr, &mut frame, |_| [7; 32]);
    // 64 frames back to back, as one socket read would deliver them.
    let stream: Vec<u8> = frame.iter().copied().cycle().take(frame.len() * 64).collect();

    let mut g = c.benchmark_group("frame_220B");
    g.throughput(Throughput::Elements(1));
    g.bench_function("baseline_xdr_encode", |b| b.iter(|| black_box(&msg).to_xdr(Limits::none()).unwrap()));
    g.bench_function("encode_frame", |b| {
        let mut out = Vec::with_capacity(512);
        b.iter(|| {
            out.clear();
            wire::encode_message_into(black_box(&msg), &mut out).unwrap();
            let n = out.len();
            let mut framed = Vec::with_capacity(n + 48);
            encode_authenticated_with(5, &out, &mut framed, |_| [7; 32]);
            black_box(framed);
        })
    });
    g.bench_function("baseline_xdr_decode", |b| {
        b.iter(|| StellarMessage::from_xdr(black_box(&xdr), Limits::none()).unwrap())
    });
    g.bench_function("decode_frame", |b| {
        let mut d = FrameDecoder::new();
        d.set_authenticated();
        let mut i = 0usize;
        b.iter(|| {
            if i % 64 == 0 {
                d.feed(&stream);
            }
            i += 1;
            let body = d.next_frame().unwrap().unwrap();
            black_box(RawMessage::parse(body).unwrap().decode().unwrap());
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
