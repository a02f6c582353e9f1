//! Socket tasks: the listener, dials, and a reader and a writer per connection. They move
//! bytes and report; no protocol decision is made here (the reader runs the peer's
//! `PeerReader` and the writer its `PeerWriter`, which the node hands over once the peer is
//! admitted).

use super::task::Input;
use overlay_host::connect::DialError;
use overlay_node::{ConnId, DropReason, Opened, PeerReader, PeerWriter};
use overlay_proto::PeerAddress;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};

/// Dial `address` for `conn` and report the outcome.
pub(crate) async fn dial(conn: ConnId, address: PeerAddress, timeout: Duration, inputs: mpsc::Sender<Input>) {
    let result = match address.socket_addr() {
        Some(sa) => match tokio::time::timeout(timeout, TcpStream::connect(sa)).await {
            Ok(Ok(s)) => s.set_nodelay(true).map(|_| s).map_err(|e| DialError::Other(e.to_string())),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(DialError::Refused),
            Ok(Err(e)) => Err(DialError::Other(e.to_string())),
            Err(_) => Err(DialError::TimedOut),
        },
        None => Err(DialError::Other(format!("{address} is not an IP address"))),
    };
    let _ = inputs.send(Input::Dialed(conn, result)).await;
}

/// Batches of opened messages a connection's reader may have waiting for the node task.
pub(crate) const OPENED_IN_FLIGHT: usize = 4;

/// Opened messages handed to the node task at most at once: flow control's grant batch
/// (SEND_MORE_BATCH_SIZE, 40). A 64 KiB read holds up to some 250 transactions; in batches,
/// the node task takes the first (and its grant leaves) while this task opens the next.
const OPENED_BATCH: usize = 40;

/// What the node task answers each read of a connection that is not admitted yet: the
/// connection's [`PeerReader`] once it can be taken, `None` until then.
pub(crate) type Handover = Option<PeerReader>;

/// Read the socket of `conn` until it ends. Until the peer is admitted, each read goes to the
/// node task as bytes, and the next waits for its answer; once the answer is the peer's
/// reader, framing, the MAC check, decoding and hashing happen here, and the node task gets
/// opened messages.
pub(crate) async fn read_loop(
    conn: ConnId,
    mut rd: OwnedReadHalf,
    chunk: usize,
    inputs: mpsc::Sender<Input>,
    mut handover: mpsc::Receiver<Handover>,
    credit: Arc<Semaphore>,
) {
    let mut buf = vec![0u8; chunk.max(4096)];
    let mut reader = loop {
        let n = match read(conn, &mut rd, &mut buf, &inputs).await {
            Some(n) => n,
            None => return,
        };
        if inputs.send(Input::Bytes(conn, buf[..n].to_vec())).await.is_err() {
            return;
        }
        match handover.recv().await {
            Some(Some(reader)) => break reader,
            Some(None) => {}
            None => return,
        }
    };
    // The reader may hold whole frames already.
    let mut n = 0;
    loop {
        reader.feed(&buf[..n]);
        loop {
            let (opened, result) = next_batch(&mut reader);
            let more = result.is_ok() && opened.len() == OPENED_BATCH;
            if opened.is_empty() && result.is_ok() {
                break;
            }
            // Decoded messages take more memory than their bytes: a connection has at most
            // OPENED_IN_FLIGHT batches waiting for the node task.
            match credit.acquire().await {
                Ok(permit) => permit.forget(),
                Err(_) => return,
            }
            let failed = result.is_err();
            if inputs.send(Input::Read(conn, opened, result)).await.is_err() || failed {
                return;
            }
            if !more {
                break;
            }
        }
        n = match read(conn, &mut rd, &mut buf, &inputs).await {
            Some(n) => n,
            None => return,
        };
    }
}

/// The next messages the reader can open, at most OPENED_BATCH, and the reason to drop the
/// connection if it met one after them.
fn next_batch(reader: &mut PeerReader) -> (Vec<Opened>, Result<(), DropReason>) {
    let mut opened = Vec::with_capacity(OPENED_BATCH);
    while opened.len() < OPENED_BATCH {
        match reader.next_message() {
            Some(Ok(o)) => opened.push(o),
            Some(Err(reason)) => return (opened, Err(reason)),
            None => break,
        }
    }
    (opened, Ok(()))
}

/// One read; at the end of the stream or on an error, the node task is told and `None` is
/// returned.
async fn read(conn: ConnId, rd: &mut OwnedReadHalf, buf: &mut [u8], inputs: &mpsc::Sender<Input>) -> Option<usize> {
    let reason = match rd.read(buf).await {
        Ok(0) => DropReason::RemoteClosed,
        Ok(n) => return Some(n),
        Err(e) => DropReason::Io(format!("error during read: {e}").into()),
    };
    let _ = inputs.send(Input::Closed(conn, reason)).await;
    None
}

/// Bytes gathered into one write at most (beyond one batch).
const WRITE_COALESCE_BYTES: usize = 256 * 1024;

/// What the node task hands a connection's writer, in order.
pub(crate) enum Write {
    /// A batch of the node's frames: sealed, or unsealed once the writer has the sealer.
    Frames(Vec<u8>),
    /// The peer's [`PeerWriter`]: every batch after it is sealed here.
    Sealer(Box<PeerWriter>),
}

/// Write the node's batches on the socket until the node task lets go of the queue. Once
/// the connection's [`PeerWriter`] arrives, each batch gets its sequences and MACs here, on
/// this task, rather than on the node task.
pub(crate) async fn write_loop(
    conn: ConnId,
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Write>,
    blocked: Arc<AtomicBool>,
    inputs: mpsc::Sender<Input>,
) {
    let mut sealer: Option<Box<PeerWriter>> = None;
    while let Some(item) = rx.recv().await {
        let mut batch = match item {
            Write::Frames(b) => b,
            Write::Sealer(s) => {
                sealer = Some(s);
                continue;
            }
        };
        let mut sealed = seal(&mut sealer, &mut batch);
        // Batches that queued up while the last write was in flight go out in the same
        // write: one syscall for many frames on a busy connection (PERF.md).
        while sealed.is_ok() && batch.len() < WRITE_COALESCE_BYTES {
            match rx.try_recv() {
                Ok(Write::Frames(mut more)) => {
                    sealed = seal(&mut sealer, &mut more);
                    batch.extend_from_slice(&more);
                }
                Ok(Write::Sealer(s)) => sealer = Some(s),
                Err(_) => break,
            }
        }
        if let Err(reason) = sealed {
            let _ = inputs.send(Input::Closed(conn, reason)).await;
            return;
        }
        if let Err(e) = wr.write_all(&batch).await {
            let reason = DropReason::Io(format!("error during write: {e}").into());
            let _ = inputs.send(Input::Closed(conn, reason)).await;
            return;
        }
        if blocked.swap(false, Ordering::AcqRel) {
            let _ = inputs.send(Input::Writable(conn)).await;
        }
    }
    let _ = wr.shutdown().await;
}

fn seal(sealer: &mut Option<Box<PeerWriter>>, batch: &mut [u8]) -> Result<(), DropReason> {
    match sealer {
        Some(s) => s.seal(batch),
        None => Ok(()),
    }
}

/// Accept connections and hand them to the node task until it stops.
pub(crate) async fn accept_loop(listener: TcpListener, inputs: mpsc::Sender<Input>) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                if inputs.send(Input::Accepted(stream, addr)).await.is_err() {
                    return;
                }
            }
            // Out of file descriptors and similar: wait a little instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
