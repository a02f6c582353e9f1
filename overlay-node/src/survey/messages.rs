//! Signed survey messages (§12.1, §12.2): Ed25519 over the raw XDR of the inner message, with
//! no hashing and no network ID; the response body sealed to the surveyor's key.

use super::seal;
use overlay_auth::NodeIdentity;
use overlay_auth::identity::verify_signature;
use overlay_proto::NodeId;
use overlay_proto::xdr::{
    Curve25519Public, Limits, ReadXdr, Signature, SignedTimeSlicedSurveyRequestMessage,
    SignedTimeSlicedSurveyResponseMessage, SignedTimeSlicedSurveyStartCollectingMessage,
    SignedTimeSlicedSurveyStopCollectingMessage, SurveyMessageCommandType, SurveyRequestMessage, SurveyResponseBody,
    SurveyResponseMessage, TimeSlicedSurveyRequestMessage, TimeSlicedSurveyResponseMessage,
    TimeSlicedSurveyStartCollectingMessage, TimeSlicedSurveyStopCollectingMessage, WriteXdr,
};

/// Why a survey response could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The sealed body did not open with our key.
    #[error("the response does not open with our survey key")]
    Seal(#[from] seal::SealError),
    /// It opened, but is not a SurveyResponseBody.
    #[error("the response body does not decode")]
    Body,
}

fn xdr(v: &impl WriteXdr) -> Vec<u8> {
    v.to_xdr(Limits::none()).unwrap_or_default()
}

fn signature(id: &NodeIdentity, bytes: &[u8]) -> Signature {
    Signature(id.sign(bytes).to_vec().try_into().unwrap_or_default())
}

fn verify(signer: &overlay_proto::xdr::NodeId, bytes: &[u8], sig: &Signature) -> bool {
    verify_signature(&NodeId::from_xdr(signer), bytes, &sig.0)
}

/// START_COLLECTING of `id`'s survey `nonce` at `ledger_num`.
pub fn start(id: &NodeIdentity, nonce: u32, ledger_num: u32) -> SignedTimeSlicedSurveyStartCollectingMessage {
    let start_collecting =
        TimeSlicedSurveyStartCollectingMessage { surveyor_id: id.node_id().to_xdr(), nonce, ledger_num };
    SignedTimeSlicedSurveyStartCollectingMessage { signature: signature(id, &xdr(&start_collecting)), start_collecting }
}

/// STOP_COLLECTING of `id`'s survey `nonce` at `ledger_num`.
pub fn stop(id: &NodeIdentity, nonce: u32, ledger_num: u32) -> SignedTimeSlicedSurveyStopCollectingMessage {
    let stop_collecting =
        TimeSlicedSurveyStopCollectingMessage { surveyor_id: id.node_id().to_xdr(), nonce, ledger_num };
    SignedTimeSlicedSurveyStopCollectingMessage { signature: signature(id, &xdr(&stop_collecting)), stop_collecting }
}

/// A topology request of `id` to `surveyed`, answered to `encryption_key`.
pub fn request(
    id: &NodeIdentity,
    surveyed: NodeId,
    ledger_num: u32,
    encryption_key: [u8; 32],
    nonce: u32,
    inbound_peers_index: u32,
    outbound_peers_index: u32,
) -> SignedTimeSlicedSurveyRequestMessage {
    let request = TimeSlicedSurveyRequestMessage {
        request: SurveyRequestMessage {
            surveyor_peer_id: id.node_id().to_xdr(),
            surveyed_peer_id: surveyed.to_xdr(),
            ledger_num,
            encryption_key: Curve25519Public { key: encryption_key },
            command_type: SurveyMessageCommandType::TimeSlicedSurveyTopology,
        },
        nonce,
        inbound_peers_index,
        outbound_peers_index,
    };
    SignedTimeSlicedSurveyRequestMessage { request_signature: signature(id, &xdr(&request)), request }
}

/// The response of `id` to `request`: `body` sealed to the request's key with the ephemeral
/// secret `ephemeral` (32 random bytes), signed.
pub fn response(
    id: &NodeIdentity,
    request: &TimeSlicedSurveyRequestMessage,
    body: &SurveyResponseBody,
    ephemeral: &[u8; 32],
) -> SignedTimeSlicedSurveyResponseMessage {
    let sealed = seal::seal(&request.request.encryption_key.key, ephemeral, &xdr(body));
    let response = TimeSlicedSurveyResponseMessage {
        response: SurveyResponseMessage {
            surveyor_peer_id: request.request.surveyor_peer_id.clone(),
            surveyed_peer_id: id.node_id().to_xdr(),
            ledger_num: request.request.ledger_num,
            command_type: SurveyMessageCommandType::TimeSlicedSurveyTopology,
            encrypted_body: sealed.try_into().unwrap_or_default(),
        },
        nonce: request.nonce,
    };
    SignedTimeSlicedSurveyResponseMessage { response_signature: signature(id, &xdr(&response)), response }
}

/// Whether START_COLLECTING is signed by its surveyor.
pub fn start_signed(m: &SignedTimeSlicedSurveyStartCollectingMessage) -> bool {
    verify(&m.start_collecting.surveyor_id, &xdr(&m.start_collecting), &m.signature)
}

/// Whether STOP_COLLECTING is signed by its surveyor.
pub fn stop_signed(m: &SignedTimeSlicedSurveyStopCollectingMessage) -> bool {
    verify(&m.stop_collecting.surveyor_id, &xdr(&m.stop_collecting), &m.signature)
}

/// Whether a request is signed by its surveyor (over the whole time-sliced request).
pub fn request_signed(m: &SignedTimeSlicedSurveyRequestMessage) -> bool {
    verify(&m.request.request.surveyor_peer_id, &xdr(&m.request), &m.request_signature)
}

/// Whether a response is signed by the surveyed node.
pub fn response_signed(m: &SignedTimeSlicedSurveyResponseMessage) -> bool {
    verify(&m.response.response.surveyed_peer_id, &xdr(&m.response), &m.response_signature)
}

/// Open a response's body with the surveyor's secret key.
pub fn open_response(secret: &[u8; 32], m: &SurveyResponseMessage) -> Result<SurveyResponseBody, ResponseError> {
    let plain = seal::open(secret, &m.encrypted_body.0)?;
    SurveyResponseBody::from_xdr(&plain, Limits { depth: 100, len: plain.len() }).map_err(|_| ResponseError::Body)
}
