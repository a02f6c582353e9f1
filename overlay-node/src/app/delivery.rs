//! What the node hands the application ([`Delivery`]) and what it takes back
//! ([`AppInput`]): the application boundary as plain data (DESIGN.md, STYLE rule 5).

use super::SharedTransaction;
use crate::ledger::LedgerState;
use overlay_proto::xdr::{ScpEnvelope, ScpQuorumSet, StellarMessage};
use overlay_proto::{Hash256, NodeId};
use std::sync::Arc;

/// Something the application must see. Transactions and SCP envelopes each wait for a
/// verdict ([`AppInput::TxVerdict`], [`AppInput::ScpVerdict`]), sent at any later time and
/// keyed by the delivery's hash; items (tx sets, quorum sets) need no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// A transaction seen for the first time (§9.5).
    Transaction(TxDelivery),
    /// An SCP envelope seen for the first time, or one handed back after the items it
    /// waited for arrived (§8.3).
    ScpEnvelope(ScpDelivery),
    /// A tx set the node fetched for a waiting envelope (TX_SET or GENERALIZED_TX_SET).
    /// The node already holds it and serves it to peers (§8.2).
    TxSet {
        /// Its contents hash (§8.2).
        hash: Hash256,
        /// The peer that sent it; `None` when it is delivered again because the node already
        /// held it when the application asked for it.
        from: Option<NodeId>,
        /// The TX_SET or GENERALIZED_TX_SET message.
        message: Arc<StellarMessage>,
    },
    /// A quorum set the node fetched for a waiting envelope; the node holds it and serves it.
    QuorumSet {
        /// SHA-256 of its XDR.
        hash: Hash256,
        /// The peer that sent it (`None`: delivered again, see [`Delivery::TxSet`]).
        from: Option<NodeId>,
        /// The quorum set.
        quorum_set: Arc<ScpQuorumSet>,
    },
}

/// A transaction for the application. Answer with [`AppInput::TxVerdict`] for `hash`.
#[derive(Debug, Clone, PartialEq)]
pub struct TxDelivery {
    /// Its pull-mode hash, SHA-256 of the envelope XDR (§9); the key of the verdict.
    pub hash: Hash256,
    /// The peer that sent it.
    pub from: NodeId,
    /// The envelope, shared with the node's message event and subscribers.
    pub envelope: SharedTransaction,
    /// The TRANSACTION message as it travelled (StellarMessage XDR), shared: the node serves
    /// FLOOD_DEMANDs with these bytes once the transaction is accepted.
    pub xdr: Arc<[u8]>,
}

/// An SCP envelope for the application. Answer with [`AppInput::ScpVerdict`] for `id`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScpDelivery {
    /// Its Floodgate identity, SHA-256 of the SCP_MESSAGE XDR; the key of the verdict.
    pub id: Hash256,
    /// The peer that sent it first, if it came from a peer.
    pub from: Option<NodeId>,
    /// The envelope.
    pub envelope: Arc<ScpEnvelope>,
    /// The SCP_MESSAGE as it travelled (StellarMessage XDR): 4 bytes of type, the statement,
    /// then the signature. The relay checks the signature over these bytes.
    pub xdr: Arc<[u8]>,
    /// Whether this is the envelope handed back after an item it waited for arrived (it
    /// was delivered before and answered with [`ScpVerdict::Fetch`]).
    pub refetched: bool,
}

impl ScpDelivery {
    /// The XDR of the envelope's statement, cut from the message bytes without encoding
    /// again: what the signature covers after the network ID and the envelope type. `None`
    /// if the bytes are not an SCP_MESSAGE ending in the envelope's signature.
    pub fn statement_xdr(&self) -> Option<&[u8]> {
        let sig_len = self.envelope.signature.0.len();
        let tail = 4 + sig_len.div_ceil(4) * 4;
        let end = self.xdr.len().checked_sub(tail)?;
        (end >= 4).then(|| &self.xdr[4..end])
    }

    /// The slot of the statement.
    pub fn slot_index(&self) -> u64 {
        self.envelope.statement.slot_index
    }
}

/// What the application made of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxVerdict {
    /// New and valid: the node keeps its bytes to serve demands (§9.4) and advertises it to
    /// every peer that does not know it.
    Accepted,
    /// Already known: nothing to do.
    Duplicate,
    /// Invalid: its Floodgate record is dropped so that it could be accepted later (§8.1).
    Rejected,
}

/// What the application made of an SCP envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScpVerdict {
    /// Ready (signature checked, every item it references held, §8.7): the node floods it
    /// to the peers that do not know it and keeps it in the SCP state it serves (§8.5).
    Ready,
    /// It needs these items first: the node fetches each one it does not hold (from the
    /// peers that sent the envelope first, §8.3), then delivers the items and hands the
    /// envelope back (`refetched`). Items the node already holds are delivered again at once.
    Fetch {
        /// Tx sets to fetch, by contents hash.
        tx_sets: Vec<Hash256>,
        /// A quorum set to fetch.
        quorum_set: Option<Hash256>,
    },
    /// Invalid or useless: dropped, its Floodgate record too.
    Discard,
}

/// What the application tells the node. Feed it with
/// [`Node::handle_app`](crate::Node::handle_app).
#[derive(Debug, Clone, PartialEq)]
pub enum AppInput {
    /// The verdict on the transaction delivered with this pull-mode hash.
    TxVerdict {
        /// The delivery's hash.
        hash: Hash256,
        /// The verdict.
        verdict: TxVerdict,
    },
    /// The verdict on the SCP envelope delivered with this identity.
    ScpVerdict {
        /// The delivery's identity.
        id: Hash256,
        /// The verdict.
        verdict: ScpVerdict,
    },
    /// A ledger closed, or the node went in or out of sync: new limits for flow control and
    /// pull mode, and records older than the window of §8.1 are cleared.
    Ledger(LedgerState),
    /// Serve this tx set (TX_SET or GENERALIZED_TX_SET) to peers that ask (§8.2); the node
    /// computes its hash.
    HoldTxSet(Arc<StellarMessage>),
    /// Serve this quorum set to peers that ask (§8.2).
    HoldQuorumSet(Arc<ScpQuorumSet>),
    /// Include this envelope in the SCP state served for GET_SCP_STATE (§8.5), as the
    /// latest of its node for its slot.
    HoldScpEnvelope(Arc<ScpEnvelope>),
    /// The validators of the node's transitive quorum: the surveyors it hears when
    /// `SURVEYOR_KEYS` is empty (§12.3).
    TransitiveQuorum(Vec<overlay_proto::NodeId>),
}
