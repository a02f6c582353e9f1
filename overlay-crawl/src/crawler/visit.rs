//! One connection of the crawl ([`Visit`]), its stage, how it ended, and the verdict drawn
//! from that ([`judge`]).

use crate::results::{DialError, FailureKind, StopReason};
use overlay_auth::{HandshakeError, HelloFacts};
use overlay_node::{DropReason, Peer};
use overlay_proto::{PeerAddress, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Connecting,
    Handshaking,
    Authenticated,
}

/// How a visit ended.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum End {
    /// SEND_MORE_EXTENDED arrived after the handshake: the node admitted us.
    Admitted,
    /// The connection ended (the peer's reason).
    Closed(DropReason),
    /// The dial failed.
    DialFailed(DialError),
    /// The stage's timer fired.
    TimedOut,
    /// The crawl's deadline passed.
    Stopped,
}

/// One connection of the crawl.
pub(super) struct Visit {
    pub(super) address: PeerAddress,
    pub(super) stage: Stage,
    /// The current stage's deadline.
    pub(super) deadline: Timestamp,
    pub(super) peer: Option<Box<Peer>>,
    pub(super) hello: Option<HelloFacts>,
    /// Whether `hello` was taken into the node table.
    pub(super) hello_noted: bool,
    /// PEERS received and not yet taken into the frontier.
    pub(super) peers: Option<Vec<overlay_proto::xdr::PeerAddress>>,
    pub(super) peers_len: Option<usize>,
    pub(super) end: Option<End>,
}

/// Whether the node accepted us, the verdict's words, and the failure to report, from how
/// the visit ended and the stage it had reached.
pub(super) fn judge(end: &End, stage: Stage) -> (bool, String, Option<(FailureKind, String)>) {
    let fail = |kind: FailureKind, reason: String| (false, reason.clone(), Some((kind, reason)));
    let authenticated = stage == Stage::Authenticated;
    match end {
        End::Admitted => (true, "admitted".into(), None),
        // Authenticated and not refused within the wait (or by the crawl's end).
        End::TimedOut | End::Stopped if authenticated => (true, "authenticated".into(), None),
        End::TimedOut if stage == Stage::Connecting => fail(FailureKind::TimedOut, "connection timed out".into()),
        End::TimedOut => fail(FailureKind::TimedOut, "handshake timed out".into()),
        End::Stopped => fail(FailureKind::TimedOut, StopReason::Deadline.text().into()),
        End::DialFailed(DialError::Refused(text)) => fail(FailureKind::Refused, text.clone()),
        End::DialFailed(DialError::TimedOut) => fail(FailureKind::TimedOut, "connection timed out".into()),
        End::DialFailed(DialError::Unreachable(text)) => fail(FailureKind::Unreachable, text.clone()),
        End::Closed(reason) => {
            let kind = match reason {
                DropReason::RemoteError(_) | DropReason::Handshake(HandshakeError::RemoteError(_)) => {
                    FailureKind::Rejected
                }
                DropReason::RemoteClosed | DropReason::Io(_) => FailureKind::Closed,
                DropReason::IdleTimeout => FailureKind::TimedOut,
                _ if authenticated => FailureKind::Closed,
                _ => FailureKind::HandshakeFailed,
            };
            fail(kind, reason.text().into_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay_proto::xdr::{ErrorCode, SError};

    #[test]
    fn verdicts_name_the_failure_kind_with_stellar_core_words() {
        let err = SError { code: ErrorCode::Load, msg: "peer rejected".try_into().unwrap() };
        let (accepted, verdict, failure) = judge(&End::Closed(DropReason::RemoteError(err)), Stage::Authenticated);
        assert!(!accepted);
        assert_eq!(verdict, "ERR_LOAD (peer rejected)");
        assert_eq!(failure, Some((FailureKind::Rejected, "ERR_LOAD (peer rejected)".into())));
        let bad_cert = DropReason::Handshake(HandshakeError::BadCert(overlay_auth::CertError::BadSignature));
        let (_, _, failure) = judge(&End::Closed(bad_cert), Stage::Handshaking);
        assert_eq!(failure, Some((FailureKind::HandshakeFailed, "failed to verify auth cert".into())));
        assert_eq!(judge(&End::Admitted, Stage::Authenticated), (true, "admitted".into(), None));
        assert!(judge(&End::TimedOut, Stage::Authenticated).0, "authenticated and never refused");
        let timed_out = |stage| judge(&End::TimedOut, stage).2.unwrap();
        assert_eq!(timed_out(Stage::Connecting), (FailureKind::TimedOut, "connection timed out".into()));
        assert_eq!(timed_out(Stage::Handshaking), (FailureKind::TimedOut, "handshake timed out".into()));
        let refused = judge(&End::DialFailed(DialError::Refused("connection refused".into())), Stage::Connecting);
        assert_eq!(refused.2, Some((FailureKind::Refused, "connection refused".into())));
    }
}
