//! [`PeerWriter`]: the send half of an authenticated connection's MAC channel. Sealing (a
//! sequence number and an HMAC per frame) is per-connection work that needs no node-wide
//! state, so a driver may take the writer out of the node
//! ([`Node::take_writer`](crate::Node::take_writer)) and seal on the connection's own thread
//! or task. From then on the node writes that connection's frames with their sequence and
//! MAC left zero, and the driver seals each batch, in order, just before writing it.

use super::DropReason;
use overlay_auth::MacSealer;

/// The send half of an authenticated connection: the MAC key and the next sequence.
///
/// ```no_run
/// # fn demo(node: &mut overlay_node::Node, conn: overlay_node::ConnId) {
/// use overlay_node::Output;
///
/// // On the node's task, after every output so far for `conn` went to its socket queue.
/// let mut writer = node.take_writer(conn).expect("an admitted peer with nothing queued");
/// // Later outputs for `conn` are unsealed frames: seal each batch where it is written.
/// while let Some(output) = node.poll_output() {
///     if let Output::Transmit { conn: c, mut bytes } = output {
///         if c == conn {
///             writer.seal(&mut bytes).expect("whole frames from the node");
///         }
///         // write `bytes` to the socket of `c`
///     }
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct PeerWriter {
    sealer: MacSealer,
}

impl PeerWriter {
    pub(crate) fn new(sealer: MacSealer) -> Self {
        PeerWriter { sealer }
    }

    /// Fill in the sequence and MAC of every frame of a batch the node gave for this
    /// connection after the writer was taken. Batches must be sealed in the order the node
    /// gave them. An error means the bytes are not the node's frames (a driver bug): drop the
    /// connection with the reason returned.
    pub fn seal(&mut self, frames: &mut [u8]) -> Result<(), DropReason> {
        self.sealer.seal_in_place(frames).map_err(|_| DropReason::LocalSilent("a write batch is not whole frames"))
    }
}
