//! Small networks of Floodgate + PullMode nodes on a virtual clock, wired the way the node
//! crate will wire them. Equivalents, at the level of this crate, of stellar-core's
//! `FloodTests.cpp` ("Flooding") and of the pull-mode cases of `OverlayTests.cpp` and
//! `OverlayManagerTests.cpp` that only need flooding logic (no Herder, no sockets).

use overlay_flood::{FloodConfig, Floodgate, LedgerLimits, PullMessageKind, PullMode, TxAvailability};
use overlay_proto::{Hash256, Timestamp};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Clone, Debug)]
enum Msg {
    Scp(Hash256),
    Tx(Hash256),
    Advert(Vec<Hash256>),
    Demand(Vec<Hash256>),
}

struct Node {
    gate: Floodgate<u32>,
    pull: PullMode<u32>,
    /// The Herder's transaction queue.
    pool: BTreeSet<Hash256>,
    scp: BTreeSet<Hash256>,
    peers: Vec<u32>,
    ledger: u32,
    tx_recv: u64,
}

struct Net {
    nodes: Vec<Node>,
    queue: BTreeMap<(Timestamp, u64), (u32, u32, Msg)>,
    seq: u64,
    now: Timestamp,
    rng: ChaCha8Rng,
    latency: Duration,
    /// Messages per directed link and message id: (from, to, id) → count.
    scp_link_uses: BTreeMap<(u32, u32, Hash256), u32>,
}

fn tx_msg_id(h: &Hash256) -> Hash256 {
    Hash256::sha256(&[&b"TRANSACTION"[..], &h.0].concat())
}

fn limits() -> LedgerLimits {
    LedgerLimits { max_tx_set_size_ops: 1000, max_queue_size_ops: 2000, ..LedgerLimits::default() }
}

impl Net {
    fn new(n: u32, edges: &[(u32, u32)], seed: u64) -> Self {
        let cfg = FloodConfig::default();
        let start = Timestamp::from_secs(1);
        let mut nodes: Vec<Node> = (0..n)
            .map(|i| Node {
                gate: Floodgate::new(&cfg, seed + u64::from(i)),
                pull: PullMode::new(&cfg, limits(), seed * 31 + u64::from(i), start),
                pool: BTreeSet::new(),
                scp: BTreeSet::new(),
                peers: Vec::new(),
                ledger: 1,
                tx_recv: 0,
            })
            .collect();
        for &(a, b) in edges {
            nodes[a as usize].peers.push(b);
            nodes[b as usize].peers.push(a);
            nodes[a as usize].pull.add_peer(b).unwrap();
            nodes[b as usize].pull.add_peer(a).unwrap();
        }
        Net {
            nodes,
            queue: BTreeMap::new(),
            seq: 0,
            now: start,
            rng: ChaCha8Rng::seed_from_u64(seed),
            latency: Duration::from_millis(20),
            scp_link_uses: BTreeMap::new(),
        }
    }

    fn send(&mut self, from: u32, to: u32, msg: Msg) {
        if let Msg::Scp(id) = &msg {
            *self.scp_link_uses.entry((from, to, *id)).or_default() += 1;
        }
        self.seq += 1;
        self.queue.insert((self.now + self.latency, self.seq), (from, to, msg));
    }

    fn drain(&mut self, i: u32) {
        while let Some(t) = self.nodes[i as usize].pull.poll_transmit() {
            let msg = match t.kind {
                PullMessageKind::Advert => Msg::Advert(t.hashes),
                PullMessageKind::Demand => Msg::Demand(t.hashes),
            };
            self.send(i, t.peer, msg);
        }
    }

    /// The Herder accepted `h` at node `i`: broadcast it (as an advert to each new peer).
    fn broadcast_tx(&mut self, i: u32, h: Hash256) {
        let now = self.now;
        let node = &mut self.nodes[i as usize];
        let told = node.gate.broadcast(tx_msg_id(&h), node.ledger, &node.peers).unwrap();
        for p in told {
            node.pull.queue_outgoing_advert(now, p, h);
        }
        self.drain(i);
    }

    fn inject_tx(&mut self, i: u32, h: Hash256) {
        self.nodes[i as usize].pool.insert(h);
        self.broadcast_tx(i, h);
    }

    fn inject_scp(&mut self, i: u32, id: Hash256) {
        let node = &mut self.nodes[i as usize];
        node.scp.insert(id);
        let told = node.gate.broadcast(id, node.ledger, &node.peers).unwrap();
        for p in told {
            self.send(i, p, Msg::Scp(id));
        }
    }

    fn deliver(&mut self, from: u32, to: u32, msg: Msg) {
        let now = self.now;
        let node = &mut self.nodes[to as usize];
        match msg {
            Msg::Scp(id) => {
                if node.gate.record_received(id, from, node.ledger).unwrap() {
                    node.scp.insert(id);
                    let told = node.gate.broadcast(id, node.ledger, &node.peers).unwrap();
                    assert!(!told.contains(&from), "sent back to its sender");
                    for p in told {
                        self.send(to, p, Msg::Scp(id));
                    }
                }
            }
            Msg::Tx(h) => {
                node.tx_recv += 1;
                node.pull.handle_transaction(now, from, &h);
                node.gate.record_received(tx_msg_id(&h), from, node.ledger).unwrap();
                if node.pool.insert(h) {
                    self.broadcast_tx(to, h);
                }
            }
            Msg::Advert(hashes) => {
                let ledger = node.ledger;
                node.pull.handle_flood_advert(from, &hashes, ledger, &mut self.rng);
            }
            Msg::Demand(hashes) => {
                let pool = &node.pool;
                let have = node.pull.handle_flood_demand(&hashes, |h| {
                    if pool.contains(h) { TxAvailability::Have } else { TxAvailability::Unknown }
                });
                for h in have {
                    self.send(to, from, Msg::Tx(h));
                }
            }
        }
        self.drain(to);
    }

    /// Run the network until `until` (virtual time).
    fn run_until(&mut self, until: Timestamp) {
        loop {
            let next_msg = self.queue.first_key_value().map(|(k, _)| k.0);
            let next_timer = self.nodes.iter().filter_map(|n| n.pull.poll_timeout()).min();
            let next = match (next_msg, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(until),
            };
            if next > until {
                self.now = until;
                return;
            }
            self.now = self.now.max(next);
            if next_msg == Some(next) {
                let ((_, _), (from, to, msg)) = self.queue.pop_first().unwrap();
                self.deliver(from, to, msg);
            } else {
                for i in 0..self.nodes.len() {
                    if self.nodes[i].pull.poll_timeout().is_some_and(|t| t <= self.now) {
                        let Node { pull, pool, .. } = &mut self.nodes[i];
                        pull.handle_timeout(self.now, &mut self.rng, |h| pool.contains(h));
                        self.drain(i as u32);
                    }
                }
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// The Herder's cleanup after `n` more ledgers close on every node.
    fn close_ledgers(&mut self, n: u32) {
        let keep = FloodConfig::default().max_slots_to_remember;
        for node in &mut self.nodes {
            node.ledger += n;
            let min = (node.ledger + 1).saturating_sub(keep);
            node.gate.clear_below(min);
            node.pull.clear_below(min);
        }
    }
}

fn mesh(n: u32) -> Vec<(u32, u32)> {
    let mut e = Vec::new();
    for a in 0..n {
        for b in a + 1..n {
            e.push((a, b));
        }
    }
    e
}

/// stellar-core `hierarchicalQuorumSimplified(core, outer)`: a core mesh, each outer node
/// connected to one core node, round robin.
fn hierarchical(core: u32, outer: u32) -> (u32, Vec<(u32, u32)>) {
    let mut e = mesh(core);
    for o in 0..outer {
        e.push((core + o, o % core));
    }
    (core + outer, e)
}

fn tx(i: u32) -> Hash256 {
    Hash256::sha256(format!("tx{i}").as_bytes())
}

fn scp(i: u32) -> Hash256 {
    Hash256::sha256(format!("scp{i}").as_bytes())
}

fn check_scp_flooding(n: u32, edges: &[(u32, u32)]) {
    let mut net = Net::new(n, edges, 11);
    let nb = 20;
    for i in 0..nb {
        net.inject_scp(i % n, scp(i));
    }
    net.run_for(Duration::from_secs(2));
    for (k, node) in net.nodes.iter().enumerate() {
        assert_eq!(node.scp.len(), nb as usize, "node {k} is missing SCP messages");
    }
    // Each message crosses each directed link at most once.
    assert!(net.scp_link_uses.values().all(|&c| c == 1));
    assert!(net.scp_link_uses.len() <= nb as usize * 2 * edges.len());
}

// C++: FloodTests "Flooding" / "scp messages flooding" / "core" / "loopback"
#[test]
fn scp_messages_flooding_core() {
    check_scp_flooding(4, &mesh(4));
}

// C++: FloodTests "Flooding" / "scp messages flooding" / "outer nodes" / "loopback"
#[test]
fn scp_messages_flooding_outer_nodes() {
    let (n, e) = hierarchical(5, 10);
    check_scp_flooding(n, &e);
}

// C++: FloodTests "Flooding" / "transaction flooding" / "pull mode with 2 nodes" and
// "advertise same transaction after some time"
#[test]
fn transaction_flooding_pull_mode_with_2_nodes() {
    let mut net = Net::new(2, &[(0, 1)], 12);
    let nb_tx = 20;
    for i in 0..nb_tx {
        net.inject_tx(i % 2, tx(i));
    }
    net.run_for(Duration::from_secs(5));
    for (k, node) in net.nodes.iter().enumerate() {
        assert_eq!(node.pool.len(), nb_tx as usize, "node {k}");
        let m = node.pull.metrics();
        assert!(m.adverts_sent >= 1 && m.demands_sent >= 1, "node {k}: {m:?}");
        assert_eq!(m.advertised, u64::from(nb_tx / 2), "node {k}: each advertises exactly its half");
        assert!(m.fulfilled >= 1);
        assert_eq!(m.unfulfilled_unknown + m.unfulfilled_banned, 0);
        assert_eq!(node.pull.demand_metrics().timeouts, 0);
    }
    // "advertise same transaction after some time": an immediate re-broadcast advertises
    // nothing ...
    let test_tx = tx(0);
    for i in 0..2 {
        let before = net.nodes[i].pull.metrics().advertised;
        net.broadcast_tx(i as u32, test_tx);
        assert_eq!(net.nodes[i].pull.metrics().advertised, before);
    }
    // ... but after MAX_SLOTS_TO_REMEMBER ledgers the records are gone and it is advertised
    // again.
    net.close_ledgers(FloodConfig::default().max_slots_to_remember);
    for i in 0..2 {
        let before = net.nodes[i].pull.metrics().advertised;
        net.broadcast_tx(i as u32, test_tx);
        assert_eq!(net.nodes[i].pull.metrics().advertised, before + 1);
    }
}

// C++: FloodTests "Flooding" / "transaction flooding" / "pull mode with 4 nodes"
#[test]
fn transaction_flooding_pull_mode_with_4_nodes() {
    let mut net = Net::new(4, &mesh(4), 13);
    let nb_tx = 100u64;
    for i in 0..nb_tx as u32 {
        net.inject_tx(i % 4, tx(i));
    }
    net.run_for(Duration::from_secs(10));
    for (k, node) in net.nodes.iter().enumerate() {
        assert_eq!(node.pool.len(), nb_tx as usize, "node {k}");
        let m = node.pull.metrics();
        assert!((1..=3 * nb_tx).contains(&m.adverts_sent), "node {k}: {m:?}");
        assert!((nb_tx / 4..=3 * nb_tx).contains(&m.advertised), "node {k}: {m:?}");
        assert!((nb_tx / 4..=3 * nb_tx).contains(&m.fulfilled), "node {k}: {m:?}");
        assert!((1..=3 * nb_tx).contains(&m.demands_sent), "node {k}: {m:?}");
        assert!(m.adverts_sent <= m.advertised);
        assert!(m.fulfilled <= m.advertised);
        assert_eq!(m.unfulfilled_unknown, 0);
    }
}

// C++: FloodTests "Flooding" / "transaction flooding" / "core" / "loopback" (4-node mesh)
#[test]
fn transaction_flooding_core() {
    let mut net = Net::new(4, &mesh(4), 14);
    for i in 0..20 {
        net.inject_tx(i % 4, tx(i));
    }
    net.run_for(Duration::from_secs(5));
    assert!(net.nodes.iter().all(|n| n.pool.len() == 20));
}

// C++: FloodTests "Flooding" / "transaction flooding" / "outer nodes" / "loopback"
#[test]
fn transaction_flooding_outer_nodes() {
    let (n, e) = hierarchical(5, 10);
    let mut net = Net::new(n, &e, 15);
    for i in 0..20 {
        net.inject_tx(i % n, tx(i));
    }
    net.run_for(Duration::from_secs(10));
    for (k, node) in net.nodes.iter().enumerate() {
        assert_eq!(node.pool.len(), 20, "node {k}");
        assert_eq!(node.pull.metrics().unfulfilled_unknown, 0);
    }
}

// C++: OverlayTests "overlay pull mode" / "do not advertise to peers that know about tx" /
// "pull mode enabled on all"
#[test]
fn do_not_advertise_to_peers_that_know_about_tx() {
    let mut net = Net::new(3, &[(0, 1), (1, 2), (2, 0)], 16);
    let h = tx(0);
    net.inject_tx(0, h);
    net.inject_tx(1, h);
    net.run_for(Duration::from_secs(1));
    let n2 = &net.nodes[2];
    assert_eq!(n2.pull.demand_metrics().demanded, 1);
    let fulfilled = net.nodes[0].pull.metrics().fulfilled + net.nodes[1].pull.metrics().fulfilled;
    assert_eq!(fulfilled, 1);
    assert_eq!(n2.pull.metrics().advert_hashes_received, 2);
    assert_eq!(n2.tx_recv, 1);
    // Node 2 advertises nothing: one peer sent it the tx, the other advertised it.
    assert_eq!(n2.pull.metrics().advertised, 0);
    assert_eq!(n2.pull.metrics().advert_skipped_known, 1);
}

// C++: OverlayManagerTests "broadcast() broadcasts"
#[test]
fn broadcast_broadcasts() {
    let cfg = FloodConfig::default();
    let t = Timestamp::from_secs(1);
    let mut gate: Floodgate<u32> = Floodgate::new(&cfg, 1);
    let mut pull: PullMode<u32> = PullMode::new(&cfg, limits(), 2, t);
    let peers = [0, 1, 2, 3, 4];
    for p in peers {
        pull.add_peer(p).unwrap();
    }
    let broadcast = |gate: &mut Floodgate<u32>, pull: &mut PullMode<u32>, h: Hash256| {
        let mut n = 0;
        for p in gate.broadcast(tx_msg_id(&h), 1, &peers).unwrap() {
            n += usize::from(pull.queue_outgoing_advert(t, p, h));
        }
        n
    };
    // A tx received from peer 0 is advertised to the 4 others.
    gate.record_received(tx_msg_id(&tx(1)), 0, 1).unwrap();
    assert_eq!(broadcast(&mut gate, &mut pull, tx(1)), 4);
    assert_eq!(pull.outgoing_len(&0), 0);
    assert!((1..5).all(|p| pull.outgoing_len(&p) == 1));
    // Broadcasting it again does nothing.
    assert_eq!(broadcast(&mut gate, &mut pull, tx(1)), 0);
    // A new tx goes to all 5.
    assert_eq!(broadcast(&mut gate, &mut pull, tx(2)), 5);
    assert_eq!(pull.metrics().advertised, 9);
}

#[test]
fn simulation_is_deterministic_for_a_seed() {
    let trace = |seed| {
        let mut net = Net::new(4, &mesh(4), seed);
        for i in 0..40 {
            net.inject_tx(i % 4, tx(i));
        }
        net.run_for(Duration::from_secs(3));
        net.nodes.iter().map(|n| (n.pull.metrics(), n.pull.demand_metrics(), n.tx_recv)).collect::<Vec<_>>()
    };
    assert_eq!(format!("{:?}", trace(5)), format!("{:?}", trace(5)));
}
