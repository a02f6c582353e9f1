//! The loop's socket work: accepting, dialing, reading, writing and closing. Each result
//! goes to the node as an input; what it asks for comes back as outputs.

use super::socket::{Phase, ReadOutcome, Socket, dial_error};
use super::{CLOSE_LINGER, Driver, INPUTS_PER_TURN, LISTENER, WAKE, token};
use mio::Interest;
use mio::net::TcpStream;
use overlay_host::clock::{now, unix_now};
use overlay_host::connect::DialError;
use overlay_node::{ConnId, DropReason};
use overlay_proto::PeerAddress;
use std::io::ErrorKind;
use std::net::Shutdown;
use std::time::Instant;

impl Driver {
    /// Drain the node's outputs and write what they left, until writing frees no more
    /// room for the node's held output.
    pub(super) fn settle(&mut self) {
        loop {
            self.drain_outputs();
            if !self.flush_all() {
                return;
            }
        }
    }

    /// What the last poll reported.
    pub(super) fn socket_events(&mut self) {
        let ready: Vec<(mio::Token, bool, bool)> = self
            .events
            .iter()
            .map(|e| {
                (e.token(), e.is_readable() || e.is_read_closed() || e.is_error(), e.is_writable() || e.is_error())
            })
            .collect();
        for (tok, readable, writable) in ready {
            match tok {
                WAKE => {}
                LISTENER => self.accept(),
                tok => self.connection_event(ConnId(tok.0 as u64), readable, writable),
            }
        }
    }

    fn connection_event(&mut self, conn: ConnId, readable: bool, writable: bool) {
        let Some(s) = self.sockets.get_mut(&conn) else { return };
        match s.phase {
            Phase::Dialing { .. } => match s.dial_outcome() {
                Ok(false) => {}
                Ok(true) => {
                    let _ = s.stream.set_nodelay(true);
                    s.phase = Phase::Open;
                    s.readable = true;
                    self.to_read.push_back(conn);
                    self.node.handle_connected(now(), unix_now(), conn);
                    self.drain_outputs();
                }
                Err(e) => self.dial_failed(conn, e),
            },
            Phase::Open => {
                if readable && !s.readable && !s.read_done {
                    s.readable = true;
                    self.to_read.push_back(conn);
                }
                if writable {
                    self.to_flush.insert(conn);
                }
            }
            Phase::Closing { .. } => {
                if writable {
                    self.to_flush.insert(conn);
                }
            }
        }
    }

    /// Accept every connection waiting; each is the node's to admit or refuse.
    pub(super) fn accept(&mut self) {
        loop {
            let Some(listener) = self.listener.as_ref() else { return };
            match listener.accept() {
                Ok((mut stream, remote)) => {
                    match self.node.handle_inbound(now(), unix_now(), PeerAddress::from(remote)) {
                        Some(conn) => {
                            let _ = stream.set_nodelay(true);
                            match self.poll.registry().register(
                                &mut stream,
                                token(conn),
                                Interest::READABLE | Interest::WRITABLE,
                            ) {
                                Ok(()) => {
                                    self.sockets.insert(conn, Socket::new(stream, remote, Phase::Open));
                                }
                                Err(e) => {
                                    let reason = DropReason::Io(format!("cannot watch the socket: {e}").into());
                                    self.node.handle_socket_closed(now(), unix_now(), conn, reason);
                                }
                            }
                        }
                        // No pending slot: closed at once, with no HELLO (§11.2).
                        None => drop(stream),
                    }
                    self.drain_outputs();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; retrying shortly");
                    self.listener_retry = Some(Instant::now() + super::ACCEPT_RETRY);
                    return;
                }
            }
        }
    }

    /// Read a turn's worth from each socket that has something; those with more wait for
    /// the next turn.
    pub(super) fn read_ready(&mut self) {
        for _ in 0..self.to_read.len() {
            let Some(conn) = self.to_read.pop_front() else { return };
            if self.read_some(conn) {
                self.to_read.push_back(conn);
            } else if let Some(s) = self.sockets.get_mut(&conn) {
                s.readable = false;
            }
        }
    }

    /// Up to a turn's worth of reads from `conn`, each handed to the node; whether there may
    /// be more.
    fn read_some(&mut self, conn: ConnId) -> bool {
        for _ in 0..INPUTS_PER_TURN {
            let Some(s) = self.sockets.get_mut(&conn) else { return false };
            if s.phase != Phase::Open || s.read_done {
                return false;
            }
            let reason = match s.read(&mut self.read_buf) {
                ReadOutcome::Data(n) => {
                    let bytes = &self.read_buf[..n];
                    self.processing.handle_bytes(&mut self.node, now(), unix_now(), conn, bytes);
                    self.drain_outputs();
                    continue;
                }
                ReadOutcome::WouldBlock => return false,
                ReadOutcome::Eof => DropReason::RemoteClosed,
                ReadOutcome::Failed(e) => DropReason::Io(format!("error during read: {e}").into()),
            };
            s.read_done = true;
            self.node.handle_socket_closed(now(), unix_now(), conn, reason);
            self.drain_outputs();
            return false;
        }
        true
    }

    /// Write every socket with bytes waiting. Returns whether the node was told a
    /// connection can take more again (it may have output for it now).
    fn flush_all(&mut self) -> bool {
        let mut unblocked = false;
        while let Some(conn) = self.to_flush.pop_first() {
            unblocked |= self.flush(conn);
        }
        unblocked
    }

    fn flush(&mut self, conn: ConnId) -> bool {
        let high = self.settings.write_buffer_bytes.max(1);
        let Some(s) = self.sockets.get_mut(&conn) else { return false };
        let result = s.flush();
        match (s.phase, result) {
            (Phase::Open, Ok(())) => {
                let pending = s.pending_bytes();
                if !s.blocked && pending > high {
                    s.blocked = true;
                    self.node.set_writable(conn, false);
                } else if s.blocked && pending <= high / 4 {
                    s.blocked = false;
                    self.node.set_writable(conn, true);
                    return true;
                }
            }
            (Phase::Open, Err(e)) => {
                s.discard();
                s.read_done = true;
                let reason = DropReason::Io(format!("error during write: {e}").into());
                self.node.handle_socket_closed(now(), unix_now(), conn, reason);
            }
            (Phase::Closing { .. }, Ok(())) if s.pending_bytes() > 0 => {}
            (Phase::Closing { .. }, _) => self.drop_socket(conn),
            (Phase::Dialing { .. }, _) => {}
        }
        false
    }

    /// Dial for the node's `Output::Connect`.
    pub(super) fn dial(&mut self, conn: ConnId, address: PeerAddress) {
        let Some(remote) = address.socket_addr() else {
            return self.dial_failed(conn, DialError::Other(format!("{address} is not an IP address")));
        };
        let mut stream = match TcpStream::connect(remote) {
            Ok(s) => s,
            Err(e) => return self.dial_failed(conn, dial_error(&e)),
        };
        if let Err(e) = self.poll.registry().register(&mut stream, token(conn), Interest::READABLE | Interest::WRITABLE)
        {
            return self.dial_failed(conn, DialError::Other(e.to_string()));
        }
        let deadline = Instant::now() + self.settings.connect_timeout;
        self.sockets.insert(conn, Socket::new(stream, remote, Phase::Dialing { deadline }));
    }

    /// A dial failed: the caller of `connect` hears why, and so does the node.
    pub(super) fn dial_failed(&mut self, conn: ConnId, error: DialError) {
        if let Some(mut s) = self.sockets.remove(&conn) {
            let _ = self.poll.registry().deregister(&mut s.stream);
        }
        if let Some((reply, e)) = self.connecting.dial_failed(conn, &error) {
            let _ = reply.try_send(Err(e));
        }
        self.node.handle_connect_failed(now(), unix_now(), conn, &error.to_string());
        self.drain_outputs();
    }

    /// The node closed `conn`: write what it holds (within the linger), then close.
    pub(super) fn close(&mut self, conn: ConnId) {
        let Some(s) = self.sockets.get_mut(&conn) else { return };
        if s.phase == Phase::Open && s.flush().is_ok() && s.pending_bytes() > 0 {
            s.phase = Phase::Closing { deadline: Instant::now() + CLOSE_LINGER };
            return;
        }
        self.drop_socket(conn);
    }

    /// Close the socket of `conn` now (our side's end of stream first).
    pub(super) fn drop_socket(&mut self, conn: ConnId) {
        self.to_flush.remove(&conn);
        if let Some(mut s) = self.sockets.remove(&conn) {
            if !matches!(s.phase, Phase::Dialing { .. }) {
                let _ = s.stream.shutdown(Shutdown::Write);
            }
            let _ = self.poll.registry().deregister(&mut s.stream);
        }
    }
}
