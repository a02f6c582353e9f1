//! SCP's "newer statement" order, used to replace an obsolete queued SCP message by a newer
//! one from the same node for the same slot (PROTOCOL.md §6.4).
//!
//! It corresponds to stellar-core's `Slot::isNewerNominationOrBallotSt`,
//! `NominationProtocol::isNewerStatement` and `BallotProtocol::isNewerStatement`:
//! - the two statements must be from the same node for the same slot;
//! - a nomination is only compared with a nomination, a ballot statement with a ballot
//!   statement;
//! - nomination: newer iff the old `votes` and `accepted` are each a subset of the new ones
//!   and at least one of them grew;
//! - ballot statements: PREPARE < CONFIRM < EXTERNALIZE; two PREPAREs compare
//!   lexicographically by (ballot, prepared, preparedPrime, nH); two CONFIRMs by
//!   (ballot, nPrepared, nH); two EXTERNALIZEs are never newer than each other.
//!
//! Ballots compare by counter, then by value bytes (lexicographic, shorter first on a common
//! prefix); an absent optional ballot is lower than any present one.
//!
//! stellar-core answers "not newer" when its SCP has no state for the slot; flow control has
//! no SCP state, so this module compares as if the slot were known. \[UNSURE\] the difference
//! only matters for slots the local SCP has already forgotten, which the old-slot trimming
//! of §6.4 removes anyway.

use core::cmp::Ordering;
use overlay_proto::xdr::{ScpBallot, ScpNomination, ScpStatement, ScpStatementPledges, Value};

/// Whether `new` supersedes `old`: same node, same slot, and newer in SCP's order.
pub fn is_newer_statement(old: &ScpStatement, new: &ScpStatement) -> bool {
    if old.slot_index != new.slot_index || old.node_id != new.node_id {
        return false;
    }
    match (&old.pledges, &new.pledges) {
        (ScpStatementPledges::Nominate(o), ScpStatementPledges::Nominate(n)) => is_newer_nomination(o, n),
        (ScpStatementPledges::Nominate(_), _) | (_, ScpStatementPledges::Nominate(_)) => false,
        (o, n) => is_newer_ballot_statement(o, n),
    }
}

/// Nomination order: both sets only grow, and at least one grows.
fn is_newer_nomination(old: &ScpNomination, new: &ScpNomination) -> bool {
    let Some(votes_grew) = subset_growth(&old.votes, &new.votes) else {
        return false;
    };
    let Some(accepted_grew) = subset_growth(&old.accepted, &new.accepted) else {
        return false;
    };
    votes_grew || accepted_grew
}

/// `Some(grew)` when `small` is included in `large` (`grew`: `large` has more elements),
/// `None` when it is not.
///
/// Both lists are sorted in valid statements; inclusion is decided by one merge walk over
/// the two sorted lists, which is also what stellar-core computes for unsorted input.
fn subset_growth(small: &[Value], large: &[Value]) -> Option<bool> {
    if small.len() > large.len() || !sorted_includes(large, small) {
        return None;
    }
    Some(small.len() != large.len())
}

/// Merge walk: every element of sorted `needles` appears in sorted `haystack`.
fn sorted_includes(haystack: &[Value], needles: &[Value]) -> bool {
    let mut hay = haystack.iter();
    'needles: for needle in needles {
        for candidate in hay.by_ref() {
            match value_cmp(candidate, needle) {
                Ordering::Less => continue,
                Ordering::Equal => continue 'needles,
                Ordering::Greater => return false,
            }
        }
        return false;
    }
    true
}

/// Rank of a ballot-protocol statement type: PREPARE < CONFIRM < EXTERNALIZE.
fn ballot_rank(p: &ScpStatementPledges) -> u8 {
    match p {
        ScpStatementPledges::Prepare(_) => 0,
        ScpStatementPledges::Confirm(_) => 1,
        ScpStatementPledges::Externalize(_) => 2,
        ScpStatementPledges::Nominate(_) => 3,
    }
}

fn is_newer_ballot_statement(old: &ScpStatementPledges, new: &ScpStatementPledges) -> bool {
    match (old, new) {
        (ScpStatementPledges::Prepare(o), ScpStatementPledges::Prepare(n)) => {
            let order = ballot_cmp(&o.ballot, &n.ballot)
                .then_with(|| opt_ballot_cmp(o.prepared.as_ref(), n.prepared.as_ref()))
                .then_with(|| opt_ballot_cmp(o.prepared_prime.as_ref(), n.prepared_prime.as_ref()))
                .then_with(|| o.n_h.cmp(&n.n_h));
            order == Ordering::Less
        }
        (ScpStatementPledges::Confirm(o), ScpStatementPledges::Confirm(n)) => {
            let order = ballot_cmp(&o.ballot, &n.ballot)
                .then_with(|| o.n_prepared.cmp(&n.n_prepared))
                .then_with(|| o.n_h.cmp(&n.n_h));
            order == Ordering::Less
        }
        (ScpStatementPledges::Externalize(_), ScpStatementPledges::Externalize(_)) => false,
        (o, n) => ballot_rank(o) < ballot_rank(n),
    }
}

fn value_cmp(a: &Value, b: &Value) -> Ordering {
    a.0.as_slice().cmp(b.0.as_slice())
}

fn ballot_cmp(a: &ScpBallot, b: &ScpBallot) -> Ordering {
    a.counter.cmp(&b.counter).then_with(|| value_cmp(&a.value, &b.value))
}

fn opt_ballot_cmp(a: Option<&ScpBallot>, b: Option<&ScpBallot>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => ballot_cmp(a, b),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use overlay_proto::xdr::{
        Hash, NodeId as XdrNodeId, PublicKey, ScpStatementConfirm, ScpStatementExternalize, ScpStatementPrepare,
        Uint256,
    };

    pub(crate) fn node(n: u8) -> XdrNodeId {
        XdrNodeId(PublicKey::PublicKeyTypeEd25519(Uint256([n; 32])))
    }

    pub(crate) fn value(bytes: &[u8]) -> Value {
        Value(bytes.to_vec().try_into().unwrap())
    }

    pub(crate) fn ballot(counter: u32, v: &[u8]) -> ScpBallot {
        ScpBallot { counter, value: value(v) }
    }

    pub(crate) fn statement(n: u8, slot: u64, pledges: ScpStatementPledges) -> ScpStatement {
        ScpStatement { node_id: node(n), slot_index: slot, pledges }
    }

    pub(crate) fn nominate(votes: &[&[u8]], accepted: &[&[u8]]) -> ScpStatementPledges {
        ScpStatementPledges::Nominate(ScpNomination {
            quorum_set_hash: Hash([0; 32]),
            votes: votes.iter().map(|v| value(v)).collect::<Vec<_>>().try_into().unwrap(),
            accepted: accepted.iter().map(|v| value(v)).collect::<Vec<_>>().try_into().unwrap(),
        })
    }

    pub(crate) fn prepare(b: ScpBallot, p: Option<ScpBallot>, pp: Option<ScpBallot>, n_h: u32) -> ScpStatementPledges {
        ScpStatementPledges::Prepare(ScpStatementPrepare {
            quorum_set_hash: Hash([0; 32]),
            ballot: b,
            prepared: p,
            prepared_prime: pp,
            n_c: 0,
            n_h,
        })
    }

    pub(crate) fn confirm(b: ScpBallot, n_prepared: u32, n_h: u32) -> ScpStatementPledges {
        ScpStatementPledges::Confirm(ScpStatementConfirm {
            ballot: b,
            n_prepared,
            n_commit: 0,
            n_h,
            quorum_set_hash: Hash([0; 32]),
        })
    }

    pub(crate) fn externalize(b: ScpBallot) -> ScpStatementPledges {
        ScpStatementPledges::Externalize(ScpStatementExternalize {
            commit: b,
            n_h: 1,
            commit_quorum_set_hash: Hash([0; 32]),
        })
    }

    fn newer(old: ScpStatementPledges, new: ScpStatementPledges) -> bool {
        is_newer_statement(&statement(1, 10, old), &statement(1, 10, new))
    }

    #[test]
    fn different_node_or_slot_is_never_newer() {
        let old = statement(1, 10, prepare(ballot(1, b"a"), None, None, 0));
        let other_node = statement(2, 10, externalize(ballot(5, b"a")));
        let other_slot = statement(1, 11, externalize(ballot(5, b"a")));
        assert!(!is_newer_statement(&old, &other_node));
        assert!(!is_newer_statement(&old, &other_slot));
        let same = statement(1, 10, externalize(ballot(5, b"a")));
        assert!(is_newer_statement(&old, &same));
    }

    #[test]
    fn nomination_and_ballot_statements_are_not_compared() {
        let n = nominate(&[b"a"], &[]);
        let p = prepare(ballot(1, b"a"), None, None, 0);
        assert!(!newer(n.clone(), p.clone()));
        assert!(!newer(p, n));
    }

    #[test]
    fn nomination_is_newer_when_a_set_grows_and_none_shrinks() {
        assert!(newer(nominate(&[b"a"], &[]), nominate(&[b"a", b"b"], &[])));
        assert!(newer(nominate(&[b"a"], &[]), nominate(&[b"a"], &[b"a"])));
        // Equal sets: not newer.
        assert!(!newer(nominate(&[b"a"], &[b"a"]), nominate(&[b"a"], &[b"a"])));
        // Votes grow but accepted loses an element: not newer.
        assert!(!newer(nominate(&[b"a"], &[b"a"]), nominate(&[b"a", b"b"], &[])));
        // Same size, different element: not a subset.
        assert!(!newer(nominate(&[b"a"], &[]), nominate(&[b"b"], &[])));
        // Superset with an element before and after the old one.
        assert!(newer(nominate(&[b"b"], &[]), nominate(&[b"a", b"b", b"c"], &[])));
        // Shrinking is never newer.
        assert!(!newer(nominate(&[b"a", b"b"], &[]), nominate(&[b"a"], &[])));
    }

    #[test]
    fn ballot_statement_types_are_ordered() {
        let p = prepare(ballot(9, b"z"), Some(ballot(9, b"z")), None, 9);
        let c = confirm(ballot(1, b"a"), 1, 1);
        let e = externalize(ballot(1, b"a"));
        assert!(newer(p.clone(), c.clone()));
        assert!(newer(p.clone(), e.clone()));
        assert!(newer(c.clone(), e.clone()));
        assert!(!newer(c.clone(), p.clone()));
        assert!(!newer(e.clone(), p));
        assert!(!newer(e.clone(), c));
        assert!(!newer(e.clone(), e));
    }

    #[test]
    fn prepare_statements_compare_lexicographically() {
        let base = || prepare(ballot(2, b"b"), Some(ballot(1, b"b")), None, 1);
        // Ballot counter, then ballot value.
        assert!(newer(base(), prepare(ballot(3, b"a"), None, None, 0)));
        assert!(newer(base(), prepare(ballot(2, b"c"), None, None, 0)));
        assert!(!newer(base(), prepare(ballot(2, b"a"), Some(ballot(9, b"z")), None, 9)));
        // Longer value with a common prefix is greater.
        assert!(newer(base(), prepare(ballot(2, b"bb"), None, None, 0)));
        // Prepared: present beats absent, then by ballot.
        assert!(newer(base(), prepare(ballot(2, b"b"), Some(ballot(1, b"c")), None, 0)));
        assert!(!newer(base(), prepare(ballot(2, b"b"), None, Some(ballot(1, b"b")), 5)));
        // Prepared prime, then nH.
        assert!(newer(base(), prepare(ballot(2, b"b"), Some(ballot(1, b"b")), Some(ballot(1, b"a")), 0)));
        assert!(newer(base(), prepare(ballot(2, b"b"), Some(ballot(1, b"b")), None, 2)));
        assert!(!newer(base(), base()));
    }

    #[test]
    fn confirm_statements_compare_by_ballot_then_prepared_then_h() {
        let base = || confirm(ballot(2, b"b"), 2, 2);
        assert!(newer(base(), confirm(ballot(3, b"a"), 0, 0)));
        assert!(newer(base(), confirm(ballot(2, b"b"), 3, 0)));
        assert!(newer(base(), confirm(ballot(2, b"b"), 2, 3)));
        assert!(!newer(base(), confirm(ballot(2, b"b"), 2, 2)));
        assert!(!newer(base(), confirm(ballot(2, b"a"), 9, 9)));
    }
}
