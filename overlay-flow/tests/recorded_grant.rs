//! The pull-mode session recorded from stellar-core v27.1.0 (`shared/spec/vectors/`): core
//! granted {200, 300000} at first, and after we had sent 40 flood messages (1664 bytes of
//! StellarMessage XDR) it granted back exactly {40, 1664}. A receiver of ours fed the same
//! 40 messages must grant back the same, and a sender of ours must have been allowed to send
//! them under the first grant.

use overlay_flow::{FlowConfig, FlowControl, LedgerLimits};
use overlay_proto::wire::RawMessage;
use overlay_proto::xdr::SendMoreExtended;
use overlay_proto::{MessageClass, Timestamp};
use serde_json::Value;

fn vector() -> Value {
    let path = format!("{}/../../shared/spec/vectors/stellar-core-v27.1.0-pull-mode.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

#[test]
fn our_receiver_grants_back_what_stellar_core_granted_back() {
    let v = vector();
    let frames = v["frames"].as_array().unwrap();
    let t = Timestamp::from_secs(1);
    let mut receiver: FlowControl<()> = FlowControl::new(&FlowConfig::default(), LedgerLimits::default(), t);
    receiver.handle_authenticated(t);
    assert_eq!(receiver.poll_grant(), Some(SendMoreExtended { num_messages: 200, num_bytes: 300_000 }));

    let mut sent_msgs = 0u32;
    let mut sent_bytes = 0u32;
    let mut grant = None;
    for f in frames.iter().filter(|f| f["direction"] == "send") {
        let frame = hex::decode(f["frame_hex"].as_str().unwrap()).unwrap();
        let raw = RawMessage::parse(&frame[4..]).unwrap();
        let ty = raw.message_type().unwrap();
        if !ty.is_flood() {
            continue;
        }
        let receipt = receiver.handle_received(t, ty, raw.message_len()).unwrap();
        receiver.handle_processed(t, receipt);
        sent_msgs += 1;
        sent_bytes += raw.message_len() as u32;
        if let Some(g) = receiver.poll_grant() {
            grant = Some(g);
            break;
        }
    }
    assert_eq!((sent_msgs, sent_bytes), (40, 1664), "the recorded flood messages");
    assert_eq!(grant, Some(SendMoreExtended { num_messages: 40, num_bytes: 1664 }));

    // And core's recorded grant-back says the same.
    let recorded = frames.iter().find(|f| f["index"] == 84).unwrap();
    assert_eq!(recorded["type"], "SEND_MORE_EXTENDED");
    assert_eq!(recorded["summary"]["numMessages"], 40);
    assert_eq!(recorded["summary"]["numBytes"], 1664);
}
