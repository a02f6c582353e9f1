//! [`OverlayManager`]: the handle of a node run by the mio driver. Every operation is a
//! command queued to the loop's thread, which answers through a reply queue: the
//! inherent methods wait for it on the caller's thread; the [`Overlay`](overlay_host::Overlay)
//! implementation returns futures any executor can poll.

use crate::channels::{Deliveries, Events, Fanout, Subscription};
use crate::driver::{Command, Driver, Inputs, Job, Parts, Settings, Shared};
use crate::queue::{self, Receiver, Sender, Wake};
use overlay_host::app::delivery_capacity;
use overlay_host::{Assemble, BoxedStore, LocalNode, OverlayConfig, OverlayError, PeerInfo, setup};
use overlay_node::app::{Application, Delivery};
use overlay_node::discovery::PeerStore;
use overlay_proto::NodeId;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Events kept for each log reader that falls behind.
const EVENT_CAPACITY: usize = 16 * 1024;
/// Commands waiting for the loop; callers wait while it is full.
const COMMAND_QUEUE_LEN: usize = 1024;
/// Batches of application inputs waiting for the loop (one per batch of deliveries the
/// application thread handled); the application thread waits while it is full.
const APP_INPUT_QUEUE_LEN: usize = 64;

/// Who takes the node's deliveries.
enum AppSide {
    /// An application on a thread of the overlay's.
    Thread(Box<dyn Application + Send>),
    /// An application outside, reading [`Deliveries`].
    External(Sender<Delivery>),
}

struct Running {
    commands: Sender<Command>,
    threads: Vec<JoinHandle<()>>,
}

enum State {
    Ready(AppSide, Option<Box<dyn PeerStore + Send>>),
    Running(Running),
    Stopped,
}

struct Inner {
    config: OverlayConfig,
    local: LocalNode,
    shared: Shared,
    state: Mutex<State>,
    /// Cached after start, so that commands need no lock on `state` for long.
    commands: Mutex<Option<Sender<Command>>>,
    local_addr: Mutex<Option<SocketAddr>>,
}

/// The overlay of one node, run on a mio event loop of its own thread. Cheap to clone:
/// every clone drives the same node; the node shuts down at [`shutdown`](Self::shutdown) or
/// when the last clone is dropped. The operations are those of
/// `overlay_tokio::OverlayManager`, under the same names and with the same types, except
/// that they wait on the caller's thread instead of being `async` (the
/// [`Overlay`](overlay_host::Overlay) trait has them as futures).
#[derive(Clone)]
pub struct OverlayManager {
    inner: Arc<Inner>,
}

impl core::fmt::Debug for OverlayManager {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OverlayManager").field("node", &self.inner.local.node_id()).finish_non_exhaustive()
    }
}

/// Builds an [`OverlayManager`] with a chosen application and peer store.
pub type OverlayBuilder = overlay_host::OverlayBuilder<OverlayManager>;

impl Assemble for OverlayManager {
    type Deliveries = Deliveries;

    fn assemble(
        config: OverlayConfig,
        local: LocalNode,
        app: Box<dyn Application + Send>,
        store: Option<BoxedStore>,
    ) -> Result<Self, OverlayError> {
        OverlayManager::assemble_with(config, local, AppSide::Thread(app), store)
    }

    fn assemble_with_deliveries(
        config: OverlayConfig,
        local: LocalNode,
        store: Option<BoxedStore>,
    ) -> Result<(Self, Deliveries), OverlayError> {
        let (tx, rx) = queue::channel(delivery_capacity(&config), None);
        let m = OverlayManager::assemble_with(config, local, AppSide::External(tx), store)?;
        Ok((m, Deliveries::new(rx)))
    }
}

impl OverlayManager {
    /// A manager with the relay application (stellar-core's watcher behaviour). The peer
    /// store is the SQLite file of `config.database`, or memory.
    pub fn new(config: OverlayConfig, local: LocalNode) -> Result<Self, OverlayError> {
        Self::builder(config, local).build()
    }

    /// A manager with `app` behind the node, on a thread of its own.
    pub fn with_application(
        config: OverlayConfig,
        local: LocalNode,
        app: Box<dyn Application + Send>,
    ) -> Result<Self, OverlayError> {
        Self::builder(config, local).application(app).build()
    }

    /// A builder, to choose the application and the peer store.
    pub fn builder(config: OverlayConfig, local: LocalNode) -> OverlayBuilder {
        OverlayBuilder::new(config, local)
    }

    fn assemble_with(
        config: OverlayConfig,
        local: LocalNode,
        app: AppSide,
        store: Option<BoxedStore>,
    ) -> Result<Self, OverlayError> {
        setup::validate(&config, &local)?;
        let store = setup::store_for(&config, store)?;
        let shared = Shared {
            subscribers: Arc::new(Fanout::new(config.subscriber_capacity)),
            events: Arc::new(Fanout::new(EVENT_CAPACITY)),
            peers: Arc::new(Mutex::new(Vec::new())),
            store_failures: Arc::new(AtomicU64::new(0)),
        };
        let inner = Inner {
            config,
            local,
            shared,
            state: Mutex::new(State::Ready(app, store)),
            commands: Mutex::new(None),
            local_addr: Mutex::new(None),
        };
        Ok(OverlayManager { inner: Arc::new(inner) })
    }

    /// Bind the listener, resolve the configured peers, load the peer database, start the
    /// node and its event loop (and the application's thread). Blocks while it resolves
    /// and reads.
    pub fn start(&self) -> Result<(), OverlayError> {
        let (app, store) = {
            let mut state = lock(&self.inner.state);
            match std::mem::replace(&mut *state, State::Stopped) {
                State::Ready(app, store) => (app, store),
                other => {
                    let running = matches!(other, State::Running(_));
                    *state = other;
                    return Err(if running { OverlayError::AlreadyRunning } else { OverlayError::NotRunning });
                }
            }
        };
        let config = &self.inner.config;
        let failed = |key: &'static str| move |e: std::io::Error| OverlayError::Config { key, reason: e.to_string() };
        let mut node_config = config.node_config()?;
        let listener = if config.listen_enabled {
            let addr = SocketAddr::new(config.listen_ip, config.listen_port);
            Some(mio::net::TcpListener::bind(addr).map_err(OverlayError::Listen)?)
        } else {
            None
        };
        let local_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        if let Some(a) = local_addr {
            node_config.peer_port = a.port();
        }
        node_config.known_peers = overlay_host::dns::resolve_all(&config.known_peers);
        node_config.preferred_peers = overlay_host::dns::resolve_all(&config.preferred_peers);
        let events = self.inner.shared.events.clone();
        let (view, writer) =
            setup::load_store(store, self.inner.shared.store_failures.clone(), move |e| drop(events.publish_now(&e)))?;
        let node = setup::start_node(config, &self.inner.local, node_config, view)?;

        let poll = mio::Poll::new().map_err(failed("event loop"))?;
        let wake = Wake::new(mio::Waker::new(poll.registry(), Driver::WAKE_TOKEN).map_err(failed("event loop"))?);
        let (cmd_tx, commands) = queue::channel(COMMAND_QUEUE_LEN, Some(wake.clone()));
        let (app_tx, app_inputs) = queue::channel(APP_INPUT_QUEUE_LEN, Some(wake.clone()));
        let (resolved_tx, resolved) = queue::channel(4, Some(wake.clone()));
        let (resolver_stop, stop_rx) = queue::channel(1, None);
        let mut threads = Vec::new();
        let deliveries = match app {
            AppSide::External(tx) => tx,
            AppSide::Thread(app) => {
                let (tx, rx) = queue::channel(delivery_capacity(config), None);
                let inputs = app_tx.clone();
                let next = move |wait| if wait { rx.recv() } else { rx.try_recv() };
                let t = overlay_host::app::spawn_thread(app, next, move |i| inputs.send(i).is_ok())
                    .map_err(failed("application"))?;
                threads.push(t);
                tx
            }
        };
        drop(app_tx);
        let inputs = Inputs { commands, app: app_inputs, resolved, deliveries, _resolver_stop: resolver_stop };
        let settings = Settings {
            connect_timeout: std::time::Duration::from_secs(config.connect_timeout_secs),
            read_chunk_bytes: config.read_chunk_bytes,
            write_buffer_bytes: config.write_queue_batches.max(1) * 64 * 1024,
        };
        let shared = self.inner.shared.clone();
        let parts = Parts { node, poll, wake, listener, inputs, shared, settings, writer };
        let driver = Driver::new(parts).map_err(OverlayError::Listen)?;
        let loop_thread = std::thread::Builder::new()
            .name("overlay-mio".into())
            .spawn(move || driver.run())
            .map_err(failed("event loop"))?;
        threads.insert(0, loop_thread);
        if let Some(t) = crate::resolver::spawn(config, resolved_tx, stop_rx).map_err(failed("resolver"))? {
            threads.push(t);
        }
        *lock(&self.inner.commands) = Some(cmd_tx.clone());
        *lock(&self.inner.local_addr) = local_addr;
        *lock(&self.inner.state) = State::Running(Running { commands: cmd_tx, threads });
        Ok(())
    }

    /// Drop every peer with ERR_MISC "shutdown", flush, write the peer database, end the
    /// subscriptions and event feeds, and join every thread this manager started. Any clone
    /// may call it; a second call returns at once.
    pub fn shutdown(&self) {
        let running = {
            let mut state = lock(&self.inner.state);
            match std::mem::replace(&mut *state, State::Stopped) {
                State::Running(r) => r,
                _ => return,
            }
        };
        *lock(&self.inner.commands) = None;
        let (tx, rx) = queue::reply();
        if running.commands.send(Command::Shutdown(tx)).is_ok() {
            let _ = rx.recv();
        }
        drop(running.commands);
        for t in running.threads {
            let _ = t.join();
        }
    }

    /// The address the listener is bound to, once started.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *lock(&self.inner.local_addr)
    }

    /// Our NodeID.
    pub fn node_id(&self) -> NodeId {
        self.inner.local.node_id()
    }

    /// The configuration.
    pub fn config(&self) -> &OverlayConfig {
        &self.inner.config
    }

    /// Every message received from now on, with its sender. Works before `start`; a
    /// subscriber that falls behind misses messages (see [`Subscription`]).
    pub fn subscribe(&self) -> Subscription {
        self.inner.shared.subscribers.subscribe()
    }

    /// Connection events and every received message's type and size, for logs. May be
    /// called before `start` to see the first events; ends (with `Closed`) at shutdown.
    pub fn events(&self) -> Events {
        self.inner.shared.events.subscribe()
    }

    /// The authenticated peers: a snapshot refreshed at every connect and drop, with
    /// counters at most a second old. Empty before `start` and after shutdown.
    pub fn peer_infos(&self) -> Vec<PeerInfo> {
        lock(&self.inner.shared.peers).clone()
    }

    /// Queue `command` for the loop.
    pub(crate) fn send(&self, command: Command) -> Result<(), OverlayError> {
        let commands = lock(&self.inner.commands).clone().ok_or(OverlayError::NotRunning)?;
        commands.send(command).map_err(|_| OverlayError::NotRunning)
    }

    /// Run `f` on the loop; the reply queue its answer comes on.
    pub(crate) fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Driver) -> T + Send + 'static,
    ) -> Result<Receiver<T>, OverlayError> {
        let (tx, rx) = queue::reply();
        let job: Job = Box::new(move |d| {
            // A caller that gave up waiting dropped its receiver; nothing to tell it.
            let _ = tx.try_send(f(d));
        });
        self.send(Command::Job(job))?;
        Ok(rx)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing held under these locks can be left half-updated by a panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
