#![no_main]
//! A node with a few authenticated peers fed arbitrary bytes on arbitrary connections,
//! interleaved with time passing and broadcasts. Checks: no panic, the harness sees no
//! connection used after its close, every slot limit holds, flow-control invariants hold.

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use overlay_node::harness::Harness;
use overlay_proto::fixtures::transaction_message;
use std::time::Duration;

#[derive(Arbitrary, Debug)]
enum Op {
    /// Bytes arriving at node 0 on its k-th connection.
    Bytes(u8, Vec<u8>),
    /// A frame header with this length, then bytes (to reach deep into frame bodies).
    Frame(u8, u32, Vec<u8>),
    Advance(u16),
    Broadcast(u16),
    Connect(u8),
}

fuzz_target!(|ops: Vec<Op>| {
    let mut h = Harness::new();
    for _ in 0..3 {
        h.add_node(Harness::config());
    }
    h.connect(1, 0);
    h.connect(0, 2);
    h.run_for(Duration::from_secs(1));
    for op in ops.into_iter().take(64) {
        let (now, unix) = (h.now, h.unix());
        let conns: Vec<_> = h.nodes[0].connections().map(|(c, _, _)| c).collect();
        let pick = |k: u8| (!conns.is_empty()).then(|| conns[usize::from(k) % conns.len()]);
        match op {
            Op::Bytes(k, b) => {
                if let Some(c) = pick(k) {
                    h.nodes[0].handle_bytes(now, unix, c, &b);
                }
            }
            Op::Frame(k, len, b) => {
                if let Some(c) = pick(k) {
                    let mut f = (len | 0x8000_0000).to_be_bytes().to_vec();
                    f.extend_from_slice(&b);
                    h.nodes[0].handle_bytes(now, unix, c, &f);
                }
            }
            Op::Advance(ms) => advance(&mut h, Duration::from_millis(u64::from(ms))),
            Op::Broadcast(n) => {
                let _ = h.nodes[0].broadcast(now, transaction_message(u64::from(n)));
            }
            Op::Connect(b) => {
                let _ = h.nodes[0].connect(now, Harness::address(usize::from(b % 4)));
            }
        }
        h.pump();
        assert!(h.violations.is_empty(), "{:?}", h.violations);
        let l = h.nodes[0].limits();
        let (pi, po, ai, ao) = h.nodes[0].connection_counts();
        assert!(pi <= l.max_inbound_pending + 2 && po <= l.max_outbound_pending);
        assert!(ai <= l.max_inbound && ao <= l.max_outbound);
        for (_, _, p) in h.nodes[0].connections() {
            if let Some(p) = p {
                assert!(p.flow().check_invariants().is_ok());
                assert!(p.unsent_bytes() <= 64 << 20);
            }
        }
    }
});

/// Let `d` pass: the first second timer by timer, the rest in one jump, as a driver that was
/// paused fires every due timer late and at once; minutes then cost no more than a second.
fn advance(h: &mut Harness, d: Duration) {
    let step = d.min(Duration::from_secs(1));
    h.run_for(step);
    h.now = h.now + (d - step);
    h.run_for(Duration::ZERO);
}
