//! [`PeerReader`]: the receive half of an authenticated connection. Framing, the MAC check,
//! XDR decoding and the flood identity (a SHA-256) are per-connection work that needs no
//! node-wide state, so a driver may take the reader out of the node
//! ([`Node::take_reader`](crate::Node::take_reader)) and run it on the connection's own
//! thread or task, handing the node [`Opened`] messages instead of bytes
//! ([`Node::handle_read`](crate::Node::handle_read)). A driver that does not keeps
//! feeding bytes, and the peer runs the same reader inside the node.

use super::DropReason;
use overlay_auth::MacOpener;
use overlay_proto::Hash256;
use overlay_proto::frame::{FrameDecoder, HEADER_LEN};
use overlay_proto::wire::RawMessage;
use overlay_proto::xdr::StellarMessage;
use std::sync::Arc;

/// A message that passed framing, XDR decoding and the MAC check, in the order it came.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    /// The message, put behind an `Arc` as it is decoded: from here to the application and
    /// subscribers it moves as a pointer.
    pub message: Arc<StellarMessage>,
    /// Its XDR size, the unit of byte flow control.
    pub size: usize,
    /// Its frame's size on the wire (record mark included), for traffic counters.
    pub frame_len: usize,
    /// For SCP_MESSAGE and TRANSACTION: the XDR as received (forwarded to other peers
    /// without encoding it again) and its flood identity.
    pub flood: Option<(Arc<[u8]>, Hash256)>,
}

/// The receive half of an authenticated connection: a frame decoder holding what was read
/// and not yet taken, and the MAC state of the receive direction.
///
/// ```no_run
/// # fn demo(node: &mut overlay_node::Node, conn: overlay_node::ConnId, now: overlay_proto::Timestamp, chunk: &[u8]) {
/// // On the connection's task: bytes in, messages out.
/// let mut reader = node.take_reader(conn).expect("an admitted peer");
/// let mut opened = Vec::new();
/// let result = reader.read(chunk, &mut opened);
/// // Back on the node's task: what was opened, and the error if there was one.
/// node.handle_read(now, 0, conn, opened, result);
/// # }
/// ```
#[derive(Debug)]
pub struct PeerReader {
    decoder: FrameDecoder,
    opener: MacOpener,
}

impl PeerReader {
    /// A reader continuing where the handshake left `decoder` (already at the authenticated
    /// frame limit) and `opener`.
    pub(crate) fn new(decoder: FrameDecoder, opener: MacOpener) -> Self {
        PeerReader { decoder, opener }
    }

    /// Add received bytes; [`next_message`](Self::next_message) takes the messages they complete.
    pub fn feed(&mut self, data: &[u8]) {
        self.decoder.feed(data);
    }

    /// The next complete message, or why the connection must be dropped (the reader is of no
    /// further use then). `None` when the bytes so far hold no complete frame.
    pub fn next_message(&mut self) -> Option<Result<Opened, DropReason>> {
        let body = match self.decoder.next_frame() {
            Ok(Some(body)) => body,
            Ok(None) => return None,
            Err(e) => return Some(Err(DropReason::Frame(e))),
        };
        Some(open(&mut self.opener, body))
    }

    /// Feed `data` and append every message it completes to `out`. On an error, `out` holds
    /// the messages before it.
    pub fn read(&mut self, data: &[u8], out: &mut Vec<Opened>) -> Result<(), DropReason> {
        self.feed(data);
        while let Some(opened) = self.next_message() {
            out.push(opened?);
        }
        Ok(())
    }
}

/// Decode and check one frame body (§2.2, §7 steps 1–3).
fn open(opener: &mut MacOpener, body: &[u8]) -> Result<Opened, DropReason> {
    let decoded = RawMessage::parse(body).and_then(|raw| raw.decode().map(|m| (raw, m)));
    let (raw, message) = decoded.map_err(DropReason::CorruptXdr)?;
    opener.open(&raw).map_err(DropReason::Mac)?;
    let flood = matches!(message, StellarMessage::ScpMessage(_) | StellarMessage::Transaction(_)).then(|| {
        let xdr = raw.message_xdr();
        (Arc::<[u8]>::from(xdr), overlay_flood::identity::flood_message_id_from_xdr(xdr))
    });
    let message = Arc::new(message);
    Ok(Opened { message, size: raw.message_len(), frame_len: body.len() + HEADER_LEN, flood })
}
