//! One connection's socket: non-blocking reads and writes, the outbound buffer, the state
//! of a dial. It moves bytes; every decision about them is the node's.

use mio::net::TcpStream;
use overlay_host::connect::DialError;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

/// Where a socket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// A dial in progress, abandoned at the deadline.
    Dialing { deadline: Instant },
    /// Connected: bytes flow both ways.
    Open,
    /// The node closed the connection: what is buffered goes out until the deadline, then
    /// the socket closes.
    Closing { deadline: Instant },
}

/// What a read found.
pub(super) enum ReadOutcome {
    /// Bytes, in the driver's buffer.
    Data(usize),
    /// Nothing more for now.
    WouldBlock,
    /// The remote closed its side.
    Eof,
    /// A socket error.
    Failed(std::io::Error),
}

/// A connection's socket and the bytes waiting to go out on it.
pub(super) struct Socket {
    pub stream: TcpStream,
    pub remote: SocketAddr,
    pub phase: Phase,
    /// Bytes handed over by the node and not yet written; `out_pos` of them are written.
    out: Vec<u8>,
    out_pos: usize,
    /// Whether the node was told the connection cannot take more.
    pub blocked: bool,
    /// Whether reading ended (end of stream or error, reported to the node once).
    pub read_done: bool,
    /// Whether the kernel may have more to read (edge-triggered readiness).
    pub readable: bool,
}

impl Socket {
    pub fn new(stream: TcpStream, remote: SocketAddr, phase: Phase) -> Self {
        Socket { stream, remote, phase, out: Vec::new(), out_pos: 0, blocked: false, read_done: false, readable: false }
    }

    /// Bytes buffered and not yet written.
    pub fn pending_bytes(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Buffer bytes of the node's for this connection (taken as they are when nothing else
    /// waits: no copy).
    pub fn queue(&mut self, bytes: Vec<u8>) {
        if self.out_pos == self.out.len() {
            self.out = bytes;
            self.out_pos = 0;
        } else {
            self.out.extend_from_slice(&bytes);
        }
    }

    /// Forget what is buffered (the socket failed).
    pub fn discard(&mut self) {
        self.out = Vec::new();
        self.out_pos = 0;
    }

    /// Write what is buffered until the socket takes no more. `Err` on a socket error.
    pub fn flush(&mut self) -> std::io::Result<()> {
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            // A buffer that grew for a burst is given back once empty.
            if self.out.capacity() > OUT_KEEP_BYTES {
                self.out = Vec::new();
            }
        }
        Ok(())
    }

    /// Read once into `buf`.
    pub fn read(&mut self, buf: &mut [u8]) -> ReadOutcome {
        loop {
            return match self.stream.read(buf) {
                Ok(0) => ReadOutcome::Eof,
                Ok(n) => ReadOutcome::Data(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => ReadOutcome::WouldBlock,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => ReadOutcome::Failed(e),
            };
        }
    }

    /// Whether a dial finished: `Ok(true)` connected, `Ok(false)` still in progress.
    pub fn dial_outcome(&self) -> Result<bool, DialError> {
        match self.stream.take_error() {
            Ok(Some(e)) | Err(e) => return Err(dial_error(&e)),
            Ok(None) => {}
        }
        match self.stream.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(dial_error(&e)),
        }
    }
}

/// An outbound buffer keeps at most this much room once drained (a burst's growth is given
/// back).
const OUT_KEEP_BYTES: usize = 256 * 1024;

/// The dial error of a socket error (as the tokio driver reports it: a refusal by name,
/// anything else in the system's words; [`DialError::TimedOut`] is the driver's own
/// deadline).
pub(super) fn dial_error(e: &std::io::Error) -> DialError {
    match e.kind() {
        ErrorKind::ConnectionRefused => DialError::Refused,
        _ => DialError::Other(e.to_string()),
    }
}
