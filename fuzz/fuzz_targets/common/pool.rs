//! Messages recorded from stellar-core (`../shared/spec/vectors`, built into the fuzz
//! binary), for targets to send and refer to by index: every StellarMessage of the five
//! sessions, and by kind the SCP envelopes, transactions, tx sets, quorum sets and survey
//! messages among them, with the hashes that name them.

#![allow(dead_code)]

use overlay_proto::Hash256;
use overlay_proto::xdr::{Limits, ReadXdr, ScpEnvelope, ScpQuorumSet, StellarMessage, TransactionEnvelope, WriteXdr};
use std::sync::{Arc, LazyLock};

const CONSENSUS: &str = include_str!("../../../../shared/spec/vectors/stellar-core-v27.1.0-consensus.json");
const PULL_MODE: &str = include_str!("../../../../shared/spec/vectors/stellar-core-v27.1.0-pull-mode.json");
const SESSION: &str = include_str!("../../../../shared/spec/vectors/stellar-core-v27.1.0-session.json");
const SESSION_ACCEPTOR: &str =
    include_str!("../../../../shared/spec/vectors/stellar-core-v27.1.0-session-acceptor.json");
const SURVEY: &str = include_str!("../../../../shared/spec/vectors/stellar-core-v27.1.0-survey.json");

/// The recorded messages, decoded once per process.
pub struct Pool {
    /// The XDR of every recorded StellarMessage (both directions, every session), in file
    /// order.
    pub xdr: Vec<Vec<u8>>,
    /// SCP envelopes.
    pub envelopes: Vec<Arc<ScpEnvelope>>,
    /// Transactions, with their pull-mode hash (SHA-256 of the envelope XDR).
    pub transactions: Vec<(Hash256, TransactionEnvelope)>,
    /// GENERALIZED_TX_SET messages, with their contents hash.
    pub tx_sets: Vec<(Hash256, Arc<StellarMessage>)>,
    /// Quorum sets, with their hash.
    pub quorum_sets: Vec<(Hash256, Arc<ScpQuorumSet>)>,
    /// The four TimeSlicedSurvey* messages as recorded.
    pub surveys: Vec<StellarMessage>,
    /// HELLO messages as recorded.
    pub hellos: Vec<StellarMessage>,
    /// The surveyors of the recorded surveys (stellar-core in part A, the client in B).
    pub surveyors: Vec<overlay_proto::NodeId>,
}

pub static POOL: LazyLock<Pool> = LazyLock::new(Pool::load);

impl Pool {
    fn load() -> Pool {
        let mut xdr = Vec::new();
        let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).expect("a recorded session is JSON");
        let consensus = json(CONSENSUS);
        xdr.push(base64(consensus["peer_hello_xdr"].as_str().unwrap_or("")));
        for m in consensus["messages"].as_array().into_iter().flatten() {
            xdr.push(base64(m["xdr"].as_str().unwrap_or("")));
        }
        let survey = json(SURVEY);
        let mut surveyors = Vec::new();
        let key =
            |h: &serde_json::Value| <[u8; 32]>::try_from(hex::decode(h.as_str().unwrap_or("")).unwrap_or_default());
        if let Ok(k) = key(&survey["A_core_surveys_us"]["core_node_public_hex"]) {
            surveyors.push(overlay_proto::NodeId(k));
        }
        if let Ok(seed) = key(&survey["B_we_survey_core"]["our_node_seed_hex"]) {
            surveyors.push(overlay_auth::NodeIdentity::from_seed(seed).node_id());
        }
        for part in ["A_core_surveys_us", "B_we_survey_core"] {
            for m in survey[part]["messages"].as_array().into_iter().flatten() {
                xdr.push(base64(m["xdr"].as_str().unwrap_or("")));
            }
        }
        for s in [SESSION, SESSION_ACCEPTOR, PULL_MODE] {
            let v = json(s);
            for f in v["frames"].as_array().into_iter().flatten() {
                if let Some(h) = f["stellar_message_xdr_hex"].as_str() {
                    xdr.push(hex::decode(h).unwrap_or_default());
                }
            }
            for t in v["submitted_transactions"].as_array().into_iter().flatten() {
                if let Some(b) = t["envelope_xdr_b64"].as_str() {
                    let env = base64(b);
                    // A TRANSACTION message is the type word then the envelope.
                    let mut m = 8i32.to_be_bytes().to_vec();
                    m.extend_from_slice(&env);
                    xdr.push(m);
                }
            }
        }
        xdr.retain(|x| !x.is_empty());

        let mut pool = Pool {
            xdr: Vec::new(),
            envelopes: Vec::new(),
            transactions: Vec::new(),
            tx_sets: Vec::new(),
            quorum_sets: Vec::new(),
            surveys: Vec::new(),
            hellos: Vec::new(),
            surveyors,
        };
        for x in &xdr {
            let Ok(msg) = StellarMessage::from_xdr(x, Limits::none()) else { continue };
            match &msg {
                StellarMessage::ScpMessage(e) => pool.envelopes.push(Arc::new(e.clone())),
                StellarMessage::Transaction(t) => {
                    let h = tx_hash(t);
                    if !pool.transactions.iter().any(|(k, _)| *k == h) {
                        pool.transactions.push((h, t.clone()));
                    }
                }
                StellarMessage::GeneralizedTxSet(_) | StellarMessage::TxSet(_) => {
                    if let Some((h, _)) = overlay_node::node::tx_set_hash(&msg) {
                        pool.tx_sets.push((h, Arc::new(msg.clone())));
                    }
                }
                StellarMessage::ScpQuorumset(q) => pool.quorum_sets.push((quorum_set_hash(q), Arc::new(q.clone()))),
                StellarMessage::TimeSlicedSurveyStartCollecting(_)
                | StellarMessage::TimeSlicedSurveyStopCollecting(_)
                | StellarMessage::TimeSlicedSurveyRequest(_)
                | StellarMessage::TimeSlicedSurveyResponse(_) => pool.surveys.push(msg.clone()),
                StellarMessage::Hello(_) => pool.hellos.push(msg.clone()),
                _ => {}
            }
        }
        pool.xdr = xdr;
        assert!(
            !pool.envelopes.is_empty()
                && !pool.transactions.is_empty()
                && !pool.tx_sets.is_empty()
                && !pool.quorum_sets.is_empty()
                && pool.surveys.len() >= 4,
            "the recorded sessions hold every kind"
        );
        pool
    }
}

/// SHA-256 of a transaction envelope's XDR: its pull-mode hash and Floodgate identity.
pub fn tx_hash(t: &TransactionEnvelope) -> Hash256 {
    Hash256::sha256(&t.to_xdr(Limits::none()).unwrap_or_default())
}

/// SHA-256 of a quorum set's XDR.
pub fn quorum_set_hash(q: &ScpQuorumSet) -> Hash256 {
    Hash256::sha256(&q.to_xdr(Limits::none()).unwrap_or_default())
}

/// Standard base64 with padding; invalid characters are skipped.
fn base64(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let (mut out, mut acc, mut bits) = (Vec::with_capacity(s.len() * 3 / 4), 0u32, 0u32);
    for v in s.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
