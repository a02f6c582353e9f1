//! Making a [`Crawler`] ([`Crawler::new`]) and reading its state (the getters).

use super::{ConnId, Crawler, Progress};
use crate::config::CrawlConfig;
use crate::frontier::{Frontier, Source};
use crate::results::FailureKind;
use overlay_auth::LocalAuth;
use overlay_proto::{NodeId, PeerAddress, Timestamp};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

impl Crawler {
    /// A crawl from `seeds` with our keys `auth` (its HELLO parameters are what we
    /// advertise: its listening port is also how we recognise our own address in PEERS), a
    /// generator seeded with `seed` (connection nonces), starting at `now`. The dials of the
    /// seeds are ready in [`poll_output`](Self::poll_output) at once.
    ///
    /// # Panics
    /// If `config` does not [validate](CrawlConfig::validate).
    pub fn new(
        config: CrawlConfig,
        auth: LocalAuth,
        seeds: impl IntoIterator<Item = PeerAddress>,
        seed: u64,
        now: Timestamp,
    ) -> Self {
        if let Err(e) = config.validate() {
            panic!("invalid crawl configuration: {e}");
        }
        let listening_port = auth.keys().hello.listening_port;
        let mut crawler = Crawler {
            peer_config: Arc::new(config.peer.clone()),
            config,
            auth,
            listening_port,
            rng: ChaCha8Rng::seed_from_u64(seed),
            started: now,
            now,
            now_unix: 0,
            seeds: Vec::new(),
            frontier: Frontier::default(),
            visits: BTreeMap::new(),
            next_conn: 1,
            dialed: 0,
            own: BTreeSet::new(),
            nodes: BTreeMap::new(),
            edges: BTreeSet::new(),
            failures: Vec::new(),
            invalid_entries: 0,
            stopped: None,
            finished_at: None,
            outputs: VecDeque::new(),
            events: VecDeque::new(),
            dirty: BTreeSet::new(),
        };
        for s in seeds {
            if crawler.frontier.learn(s.clone(), Source::Seed, crawler.config.max_addresses) {
                crawler.seeds.push(s);
            }
        }
        crawler.flush();
        crawler
    }

    // ---- getters -------------------------------------------------------------------------

    /// Our NodeID.
    pub fn node_id(&self) -> NodeId {
        self.auth.node_id()
    }

    /// The configuration.
    pub fn config(&self) -> &CrawlConfig {
        &self.config
    }

    /// Whether the crawl is over: nothing left to dial (or it stopped) and no connection
    /// open. Then [`report`](Self::report) is final.
    pub fn is_done(&self) -> bool {
        self.finished_at.is_some()
    }

    /// Counts so far.
    pub fn progress(&self) -> Progress {
        Progress {
            known: self.frontier.len(),
            queued: self.frontier.queued(),
            in_flight: self.visits.len(),
            dialed: self.dialed,
            nodes: self.nodes.len(),
            failures: self.failures.iter().filter(|f| f.kind != FailureKind::NotDialed).count(),
        }
    }

    /// The address a connection dialed, while it is open.
    pub fn address_of(&self, conn: ConnId) -> Option<&PeerAddress> {
        self.visits.get(&conn).map(|v| &v.address)
    }
}
