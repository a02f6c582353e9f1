//! Per-message cost of flow-control bookkeeping for a 220-byte TRANSACTION message, beside
//! one HMAC-SHA256 over the same 220 bytes, so the group reads as a ratio
//! (PERF.md target: bookkeeping <= 10 % of one HMAC).
//!
//! - `hmac_sha256_220B_keyed`: one MAC with a pre-keyed HMAC state (clone, update,
//!   finalize), as a channel that keeps its key schedule does per message;
//! - `hmac_sha256_220B_new_key`: the same including `new_from_slice` (key schedule);
//! - `send_enqueue_poll_complete_grant_every_message`: the sending side per message:
//!   `enqueue`, `poll_send` (charges credit), `handle_write_complete`, and one
//!   SEND_MORE_EXTENDED `handle_send_more` returning the credit (the pessimistic case); the
//!   payload is an index;
//! - `send_enqueue_poll_complete_grant_every_40`: the same with one grant of 40 messages per
//!   40 messages, as stellar-core's default batch does;
//! - `send_enqueue_poll_complete_grant_every_40_arc_payload`: the same with an `Arc<[u8]>`
//!   payload cloned per message and dropped after the write, as a node does per peer (the
//!   two atomic operations are the caller's, whatever the flow control);
//! - `receive_lock_release_grant`: the receiving side per message: `handle_received`
//!   (locks total and flood capacity), `handle_processed` (releases, batch accounting) and
//!   draining `poll_grant` (a grant every 40 messages).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use overlay_flow::{FlowConfig, FlowControl, LedgerLimits, MessageMeta, OutboundMessage};
use overlay_proto::Timestamp;
use overlay_proto::xdr::{MessageType, SendMoreExtended};
use std::hint::black_box;
use std::sync::Arc;

const MSG_BYTES: usize = 220;

fn flow(c: &mut Criterion) {
    let mut group = c.benchmark_group("flow_per_message_220B");
    group.throughput(Throughput::Elements(1));

    let key = [7u8; 32];
    let msg = [0x5au8; MSG_BYTES];
    let keyed = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
    group.bench_function("hmac_sha256_220B_keyed", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(black_box(&msg));
            black_box(mac.finalize().into_bytes())
        })
    });
    group.bench_function("hmac_sha256_220B_new_key", |b| {
        b.iter(|| {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(black_box(&key)).expect("any key length");
            mac.update(black_box(&msg));
            black_box(mac.finalize().into_bytes())
        })
    });

    let config = FlowConfig::default();
    let now = Timestamp::from_secs(1);
    let meta = MessageMeta::transaction(MSG_BYTES);
    let regrant = SendMoreExtended { num_messages: 1, num_bytes: MSG_BYTES as u32 };
    let initial = SendMoreExtended { num_messages: 200, num_bytes: 300_000 };

    // Sender: an authenticated peer that has granted its initial credit. The payload is an
    // index (pure bookkeeping).
    let mut sender: FlowControl<u64> = FlowControl::new(&config, LedgerLimits::default(), now);
    sender.handle_authenticated(now);
    while sender.poll_grant().is_some() {}
    sender.handle_send_more(now, &initial).expect("valid grant");
    let mut index = 0u64;
    group.bench_function("send_enqueue_poll_complete_grant_every_message", |b| {
        b.iter(|| {
            index += 1;
            let report = sender.enqueue(now, OutboundMessage::from_meta(meta.clone(), index));
            black_box(report.shed_anything());
            let out = sender.poll_send(now).expect("credit is returned every message");
            sender.handle_write_complete(now, out.ticket);
            black_box(out.payload);
            sender.handle_send_more(now, black_box(&regrant)).expect("valid grant");
        })
    });

    // As stellar-core runs: the peer grants back a batch of 40 messages.
    let batch = SendMoreExtended { num_messages: 40, num_bytes: 40 * MSG_BYTES as u32 };
    group.bench_function("send_enqueue_poll_complete_grant_every_40", |b| {
        b.iter(|| {
            index += 1;
            let report = sender.enqueue(now, OutboundMessage::from_meta(meta.clone(), index));
            black_box(report.shed_anything());
            let out = sender.poll_send(now).expect("credit is returned every 40 messages");
            sender.handle_write_complete(now, out.ticket);
            black_box(out.payload);
            if index % 40 == 0 {
                sender.handle_send_more(now, black_box(&batch)).expect("valid grant");
            }
        })
    });

    // The same with the payload a node would use: an `Arc` of the encoded message, cloned
    // for this peer and dropped after the write (two atomic operations the caller pays
    // whatever the flow control).
    let mut sender_arc: FlowControl<Arc<[u8]>> = FlowControl::new(&config, LedgerLimits::default(), now);
    sender_arc.handle_authenticated(now);
    while sender_arc.poll_grant().is_some() {}
    sender_arc.handle_send_more(now, &initial).expect("valid grant");
    let encoded: Arc<[u8]> = Arc::from(vec![0u8; MSG_BYTES + 48]);
    let mut arc_index = 0u64;
    group.bench_function("send_enqueue_poll_complete_grant_every_40_arc_payload", |b| {
        b.iter(|| {
            arc_index += 1;
            let msg = OutboundMessage::from_meta(meta.clone(), encoded.clone());
            let report = sender_arc.enqueue(now, msg);
            black_box(report.shed_anything());
            let out = sender_arc.poll_send(now).expect("credit is returned every 40 messages");
            sender_arc.handle_write_complete(now, out.ticket);
            black_box(out.payload);
            if arc_index % 40 == 0 {
                sender_arc.handle_send_more(now, black_box(&batch)).expect("valid grant");
            }
        })
    });

    // Receiver: authenticated, initial grant sent.
    let mut receiver: FlowControl<u64> = FlowControl::new(&config, LedgerLimits::default(), now);
    receiver.handle_authenticated(now);
    while receiver.poll_grant().is_some() {}
    group.bench_function("receive_lock_release_grant", |b| {
        b.iter(|| {
            let receipt = receiver
                .handle_received(now, black_box(MessageType::Transaction), black_box(MSG_BYTES))
                .expect("capacity is released every message");
            receiver.handle_processed(now, receipt);
            while let Some(g) = receiver.poll_grant() {
                black_box(g);
            }
        })
    });

    group.finish();
    sender.check_invariants().expect("sender accounting");
    sender_arc.check_invariants().expect("sender accounting");
    receiver.check_invariants().expect("receiver accounting");
}

criterion_group!(benches, flow);
criterion_main!(benches);
