//! The peer database written behind the node: the node's [`StoreChange`] outputs are
//! coalesced by row and applied on a thread of their own, so that a slow or failing
//! database never blocks the node (DESIGN.md).

use overlay_node::discovery::{PeerStore, StoreChange, StoreKey};
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Changes waiting to be written: the latest per row. Bound: `max` rows; past it the
/// oldest change is dropped and reported (the database then misses it; the node's view is
/// unaffected).
struct Queue {
    by_key: BTreeMap<StoreKey, (u64, StoreChange)>,
    next: u64,
    closed: bool,
    max: usize,
}

/// What the writer reports.
pub enum WriterReport {
    /// A change could not be written.
    Failed(String),
    /// The queue was full and a change was dropped.
    Dropped,
}

/// The writer thread and its queue.
pub struct StoreWriter {
    shared: Arc<(Mutex<Queue>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl StoreWriter {
    /// Write to `store` on a new thread; `report` is called (on that thread) for failures.
    pub fn start(
        mut store: Box<dyn PeerStore + Send>,
        max: usize,
        report: impl Fn(WriterReport) + Send + 'static,
    ) -> std::io::Result<StoreWriter> {
        let queue = Queue { by_key: BTreeMap::new(), next: 0, closed: false, max: max.max(1) };
        let shared = Arc::new((Mutex::new(queue), Condvar::new()));
        let theirs = shared.clone();
        let thread = std::thread::Builder::new().name("overlay-store".into()).spawn(move || {
            let (lock, cv) = &*theirs;
            loop {
                let batch: Vec<StoreChange> = {
                    let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
                    while q.by_key.is_empty() && !q.closed {
                        q = cv.wait(q).unwrap_or_else(|p| p.into_inner());
                    }
                    if q.by_key.is_empty() {
                        return;
                    }
                    let mut all: Vec<(u64, StoreChange)> = std::mem::take(&mut q.by_key).into_values().collect();
                    all.sort_by_key(|(seq, _)| *seq);
                    all.into_iter().map(|(_, c)| c).collect()
                };
                for c in &batch {
                    if let Err(e) = store.apply(c) {
                        report(WriterReport::Failed(format!("{e} (writing {c:?})")));
                    }
                }
            }
        })?;
        Ok(StoreWriter { shared, thread: Some(thread) })
    }

    /// Queue a change (coalesced with a queued change of the same row).
    pub fn push(&self, change: StoreChange) -> Option<WriterReport> {
        let (lock, cv) = &*self.shared;
        let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
        let seq = q.next;
        q.next += 1;
        q.by_key.insert(change.key(), (seq, change));
        let mut dropped = None;
        if q.by_key.len() > q.max {
            let oldest = q.by_key.iter().min_by_key(|(_, (s, _))| *s).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                q.by_key.remove(&k);
                dropped = Some(WriterReport::Dropped);
            }
        }
        cv.notify_one();
        dropped
    }

    /// Write what is queued, then stop; returns the thread to join.
    pub fn close(mut self) -> Option<JoinHandle<()>> {
        let (lock, cv) = &*self.shared;
        lock.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        cv.notify_one();
        self.thread.take()
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        let (lock, cv) = &*self.shared;
        lock.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        cv.notify_one();
    }
}
