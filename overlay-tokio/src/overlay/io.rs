//! Socket tasks: the listener, dials, and a reader and a writer per connection. They move
//! bytes and report; no protocol decision is made here.

use super::task::Input;
use overlay_host::connect::DialError;
use overlay_node::{ConnId, DropReason};
use overlay_proto::PeerAddress;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

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

pub(crate) async fn read_loop(conn: ConnId, mut rd: OwnedReadHalf, chunk: usize, inputs: mpsc::Sender<Input>) {
    let mut buf = vec![0u8; chunk.max(4096)];
    loop {
        let input = match rd.read(&mut buf).await {
            Ok(0) => Input::Closed(conn, DropReason::RemoteClosed),
            Ok(n) => Input::Bytes(conn, buf[..n].to_vec()),
            Err(e) => Input::Closed(conn, DropReason::Io(format!("error during read: {e}").into())),
        };
        let last = matches!(input, Input::Closed(..));
        if inputs.send(input).await.is_err() || last {
            return;
        }
    }
}

/// Bytes gathered into one write at most (beyond one batch).
const WRITE_COALESCE_BYTES: usize = 256 * 1024;

pub(crate) async fn write_loop(
    conn: ConnId,
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Vec<u8>>,
    blocked: Arc<AtomicBool>,
    inputs: mpsc::Sender<Input>,
) {
    while let Some(mut batch) = rx.recv().await {
        // Batches that queued up while the last write was in flight go out in the same
        // write: one syscall for many frames on a busy connection (PERF.md).
        while batch.len() < WRITE_COALESCE_BYTES {
            match rx.try_recv() {
                Ok(more) => batch.extend_from_slice(&more),
                Err(_) => break,
            }
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
