//! A validator-shaped application on loopback: deliveries in; signature checks on its own
//! threads; verdicts, held items and ledger closes out.
//!
//! Three nodes on 127.0.0.1: W plays a remote validator (it signs SCP envelopes for its own
//! tx sets and quorum set, which only it holds at first), R is a relay (the default
//! application), and V is ours. W and V reach each other only through R: R fetches W's items
//! before flooding W's envelopes, V fetches them from R.
//!
//! `cargo run -p overlay-tokio --example validator`

use overlay_auth::NodeIdentity;
use overlay_node::LedgerState;
use overlay_node::app::{Delivery, ScpDelivery, ScpVerdict, TxVerdict};
use overlay_node::relay::{references, verify};
use overlay_proto::xdr::{
    GeneralizedTransactionSet, Hash, Limits, ScpBallot, ScpEnvelope, ScpNomination, ScpQuorumSet, ScpStatement,
    ScpStatementExternalize, ScpStatementPledges, Signature, StellarMessage, StellarValue, StellarValueExt, TimePoint,
    TransactionSetV1, Value, WriteXdr,
};
use overlay_proto::{Hash256, Network, NetworkId, PeerAddress};
use overlay_tokio::{Deliveries, LocalNode, OverlayConfig, OverlayManager};
use std::collections::HashSet;
use std::time::Duration;

type Error = Box<dyn std::error::Error + Send + Sync>;

const NET: Network = Network::Standalone;
const SLOTS: u64 = 3;

fn config() -> OverlayConfig {
    OverlayConfig { listen_ip: [127, 0, 0, 1].into(), listen_port: 0, run_standalone: true, ..OverlayConfig::default() }
}

/// An envelope signed by `id`: Ed25519 over networkID ‖ ENVELOPE_TYPE_SCP ‖ statement.
fn signed(
    id: &NodeIdentity,
    network: &NetworkId,
    slot: u64,
    pledges: ScpStatementPledges,
) -> Result<ScpEnvelope, Error> {
    let statement = ScpStatement { node_id: id.node_id().to_xdr(), slot_index: slot, pledges };
    let mut bytes = network.0.to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 1]);
    bytes.extend_from_slice(&statement.to_xdr(Limits::none())?);
    let signature = Signature(id.sign(&bytes).to_vec().try_into()?);
    Ok(ScpEnvelope { statement, signature })
}

/// Remote validator W: for each slot, a tx set and a quorum set that only it holds, and a
/// NOMINATE then an EXTERNALIZE naming them.
async fn remote_validator(w: OverlayManager, id: NodeIdentity) -> Result<(), Error> {
    let qset = ScpQuorumSet {
        threshold: 1,
        validators: vec![id.node_id().to_xdr()].try_into()?,
        inner_sets: Default::default(),
    };
    let qset_hash = Hash(Hash256::sha256(&qset.to_xdr(Limits::none())?).0);
    w.hold_quorum_set(qset).await?;
    for slot in 1..=SLOTS {
        let set = GeneralizedTransactionSet::V1(TransactionSetV1 {
            previous_ledger_hash: Hash([slot as u8; 32]),
            phases: Default::default(),
        });
        let tx_set_hash = Hash(Hash256::sha256(&set.to_xdr(Limits::none())?).0);
        w.hold_tx_set(StellarMessage::GeneralizedTxSet(set)).await?;
        let value = StellarValue {
            tx_set_hash,
            close_time: TimePoint(1_800_000_000 + slot),
            upgrades: Default::default(),
            ext: StellarValueExt::Basic,
        };
        let value = Value(value.to_xdr(Limits::none())?.try_into()?);
        let nominate = ScpStatementPledges::Nominate(ScpNomination {
            quorum_set_hash: qset_hash.clone(),
            votes: vec![value.clone()].try_into()?,
            accepted: Default::default(),
        });
        w.broadcast(StellarMessage::ScpMessage(signed(&id, &NET.id(), slot, nominate)?)).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let externalize = ScpStatementPledges::Externalize(ScpStatementExternalize {
            commit: ScpBallot { counter: 1, value },
            n_h: 1,
            commit_quorum_set_hash: qset_hash.clone(),
        });
        w.broadcast(StellarMessage::ScpMessage(signed(&id, &NET.id(), slot, externalize)?)).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(())
}

/// Ours: the verdict on one envelope, given the items held. The signature check runs on
/// the blocking pool, off the overlay's loop and off this task.
async fn judge(e: &ScpDelivery, held: &HashSet<Hash256>) -> Result<ScpVerdict, Error> {
    let d = e.clone();
    let signature_ok = tokio::task::spawn_blocking(move || verify(&NET.id(), &d).is_ok()).await?;
    if !signature_ok {
        return Ok(ScpVerdict::Discard);
    }
    let refs = references(&e.envelope.statement.pledges)?;
    let tx_sets: Vec<Hash256> = refs.tx_sets.into_iter().filter(|h| !held.contains(h)).collect();
    let quorum_set = Some(refs.quorum_set).filter(|h| !held.contains(h));
    Ok(if tx_sets.is_empty() && quorum_set.is_none() {
        ScpVerdict::Ready
    } else {
        ScpVerdict::Fetch { tx_sets, quorum_set }
    })
}

/// Our validator's loop: deliveries in, verdicts and ledger closes out, until `SLOTS`
/// ledgers closed.
async fn validator(v: OverlayManager, mut deliveries: Deliveries) -> Result<(), Error> {
    let mut held = HashSet::new();
    let mut ledger = LedgerState::relay();
    while let Some(d) = deliveries.recv().await {
        match d {
            Delivery::Transaction(t) => v.tx_verdict(t.hash, TxVerdict::Accepted).await?,
            Delivery::ScpEnvelope(e) => {
                let verdict = judge(&e, &held).await?;
                let kind = match e.envelope.statement.pledges {
                    ScpStatementPledges::Externalize(_) => "EXTERNALIZE",
                    ScpStatementPledges::Nominate(_) => "NOMINATE",
                    _ => "ballot",
                };
                println!("V: slot {} {kind:<11} -> {verdict:?}", e.slot_index());
                let closes = kind == "EXTERNALIZE" && verdict == ScpVerdict::Ready;
                v.scp_verdict(e.id, verdict).await?;
                if closes {
                    ledger.tracking_ledger = u32::try_from(e.slot_index())?;
                    v.ledger_closed(ledger).await?;
                    println!("V: ledger {} closed", ledger.tracking_ledger);
                    if u64::from(ledger.tracking_ledger) == SLOTS {
                        return Ok(());
                    }
                }
            }
            Delivery::TxSet { hash, .. } => {
                println!("V: fetched tx set {hash:?}");
                held.insert(hash);
            }
            Delivery::QuorumSet { hash, .. } => {
                println!("V: fetched quorum set {hash:?}");
                held.insert(hash);
            }
        }
    }
    Err("the overlay stopped".into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let relay = OverlayManager::new(config(), LocalNode::generate(NET.id()))?;
    relay.start().await?;
    let r_addr = PeerAddress::from(relay.local_addr().ok_or("no address")?);

    let w_id = NodeIdentity::from_seed(*b"a remote validator for the demo!");
    let (w, mut w_deliveries) =
        OverlayManager::builder(config(), LocalNode::new(w_id.clone(), NET.id())).build_with_deliveries()?;
    w.start().await?;
    let (v, v_deliveries) = OverlayManager::builder(config(), LocalNode::generate(NET.id())).build_with_deliveries()?;
    v.start().await?;
    w.connect(&r_addr).await?;
    v.connect(&r_addr).await?;
    println!("W {} and V {} both reach only R {}", w.node_id(), v.node_id(), relay.node_id());

    // W's own application: it has nothing to check.
    let w_app = w.clone();
    tokio::spawn(async move {
        while let Some(d) = w_deliveries.recv().await {
            if let Delivery::ScpEnvelope(e) = d {
                let _ = w_app.scp_verdict(e.id, ScpVerdict::Ready).await;
            }
        }
    });
    let ours = tokio::spawn(validator(v.clone(), v_deliveries));
    remote_validator(w.clone(), w_id).await?;
    tokio::time::timeout(Duration::from_secs(30), ours).await???;
    println!("V closed {SLOTS} ledgers from envelopes it got through the relay");
    for m in [v, w, relay] {
        m.shutdown().await;
    }
    Ok(())
}
