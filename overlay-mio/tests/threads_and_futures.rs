//! Shutdown joins every thread the manager started (its own test binary, so that no other
//! test's threads are counted), and the [`Overlay`] trait's futures complete on a
//! hand-written executor: the driver needs no async runtime.

mod common;

use common::{config, start, temp_db};
use overlay_mio::Overlay;
use overlay_proto::PeerAddress;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// The names of this process's threads that the overlay starts.
fn overlay_threads() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .filter(|n| n.starts_with("overlay-"))
        .collect();
    names.sort();
    names
}

/// Wait (bounded by [`common::WAIT`]) until the overlay's threads are exactly `names`.
fn threads_become(names: &[&str]) {
    let deadline = std::time::Instant::now() + common::WAIT;
    while overlay_threads() != names {
        assert!(std::time::Instant::now() < deadline, "threads {:?}, expected {names:?}", overlay_threads());
        std::thread::yield_now();
    }
}

/// Poll `fut` to completion on this thread, parking between wake-ups.
fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// Works with either driver's manager.
async fn connect_and_report<M: Overlay>(m: &M, to: PeerAddress) -> (usize, Vec<overlay_proto::NodeId>) {
    m.connect(&to).await.unwrap();
    let peers = m.peers_report().await.unwrap().authenticated.len();
    m.ban_peer(overlay_auth::NodeIdentity::from_seed([99; 32]).node_id()).await.unwrap();
    (peers, m.bans().await.unwrap())
}

#[test]
fn shutdown_joins_every_thread_and_the_trait_futures_need_no_runtime() {
    assert!(overlay_threads().is_empty(), "{:?}", overlay_threads());
    let db = temp_db("threads");
    let (a, _) = start(1, config(&[], Some(db.clone())));
    let (b, _) = start(2, config(&[], None));
    // Each: the loop and the relay's thread; A also writes its database. A thread names
    // itself once it runs, so the names may show a moment after start.
    let started = ["overlay-app", "overlay-app", "overlay-mio", "overlay-mio", "overlay-store"];
    threads_become(&started);

    let (peers, bans) = block_on(connect_and_report(&b, PeerAddress::from(a.local_addr().unwrap())));
    assert_eq!(peers, 1);
    assert_eq!(bans.len(), 1);
    let snapshot = block_on(Overlay::snapshot(&a)).unwrap();
    assert_eq!(snapshot.node.connections.authenticated_inbound, 1);

    block_on(Overlay::shutdown(&a));
    b.shutdown();
    threads_become(&[]);
    let _ = std::fs::remove_file(&db);
}
