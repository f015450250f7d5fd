//! KIP-848's reconciliation of one member towards its target assignment (Kafka's
//! CurrentAssignmentBuilder): partitions to give up are revoked first, and the member
//! moves to the new epoch only once it has acknowledged the revocation (by no longer
//! reporting them as owned); partitions another member still owns are withheld
//! until released.

use uuid::Uuid;

use super::assignment::{self, Assignment};
use super::member::{MemberAssignment, MemberState};

/// The member's next state. `owned` is what its heartbeat reported (None when the
/// heartbeat left it out); `owned_by_other` says whether another member still holds
/// a partition (assigned or pending revocation).
pub(crate) fn reconcile(
    current: &MemberAssignment,
    target_epoch: i32,
    target: &Assignment,
    owned: Option<&Assignment>,
    owned_by_other: impl Fn(&Uuid, i32) -> bool,
) -> MemberAssignment {
    match current.state {
        MemberState::Stable if current.member_epoch == target_epoch => current.clone(),
        MemberState::UnrevokedPartitions
            if owned.is_none_or(|o| assignment::intersects(o, &current.pending_revocation)) =>
        {
            current.clone()
        }
        _ => next_assignment(current, target_epoch, target, owned, owned_by_other),
    }
}

fn next_assignment(
    current: &MemberAssignment,
    target_epoch: i32,
    target: &Assignment,
    owned: Option<&Assignment>,
    owned_by_other: impl Fn(&Uuid, i32) -> bool,
) -> MemberAssignment {
    let mut kept = Assignment::new();
    let mut to_revoke = Assignment::new();
    for (t, p) in assignment::pairs(&current.assigned) {
        if assignment::contains(target, &t, p) {
            assignment::insert(&mut kept, t, p);
        } else {
            assignment::insert(&mut to_revoke, t, p);
        }
    }
    let still_owns_revoked = owned.is_none_or(|o| assignment::intersects(o, &to_revoke));
    if !to_revoke.is_empty() && still_owns_revoked {
        // Stay in the current epoch until the member has let go.
        return MemberAssignment {
            member_epoch: current.member_epoch,
            previous_member_epoch: current.member_epoch,
            state: MemberState::UnrevokedPartitions,
            assigned: kept,
            pending_revocation: to_revoke,
        };
    }
    let mut unreleased = false;
    for (t, p) in assignment::pairs(target) {
        if assignment::contains(&kept, &t, p) {
            continue;
        }
        if owned_by_other(&t, p) {
            unreleased = true;
        } else {
            assignment::insert(&mut kept, t, p);
        }
    }
    MemberAssignment {
        member_epoch: target_epoch,
        previous_member_epoch: current.member_epoch,
        state: if unreleased {
            MemberState::UnreleasedPartitions
        } else {
            MemberState::Stable
        },
        assigned: kept,
        pending_revocation: Assignment::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn topic() -> Uuid {
        Uuid::from_u128(7)
    }

    fn a(ps: &[i32]) -> Assignment {
        let mut out = Assignment::new();
        for p in ps {
            assignment::insert(&mut out, topic(), *p);
        }
        out
    }

    fn stable(epoch: i32, ps: &[i32]) -> MemberAssignment {
        MemberAssignment {
            member_epoch: epoch,
            previous_member_epoch: epoch - 1,
            state: MemberState::Stable,
            assigned: a(ps),
            pending_revocation: Assignment::new(),
        }
    }

    #[test]
    fn partitions_to_give_up_are_revoked_before_the_epoch_moves() {
        let m = stable(3, &[0, 1, 2]);
        let next = reconcile(&m, 4, &a(&[0, 3]), Some(&a(&[0, 1, 2])), |_, _| false);
        assert_eq!(next.state, MemberState::UnrevokedPartitions);
        assert_eq!(next.member_epoch, 3, "epoch waits for the revocation");
        assert_eq!(next.assigned, a(&[0]), "the new partition is not given yet");
        assert_eq!(next.pending_revocation, a(&[1, 2]));
        // Still reporting 1: nothing moves.
        let same = reconcile(&next, 4, &a(&[0, 3]), Some(&a(&[0, 1])), |_, _| false);
        assert_eq!(same, next);
        // Not reporting owned partitions at all: no acknowledgement either.
        assert_eq!(reconcile(&next, 4, &a(&[0, 3]), None, |_, _| false), next);
        // Acknowledged: new epoch, new partition.
        let done = reconcile(&next, 4, &a(&[0, 3]), Some(&a(&[0])), |_, _| false);
        assert_eq!(done.state, MemberState::Stable);
        assert_eq!((done.member_epoch, done.previous_member_epoch), (4, 3));
        assert_eq!(done.assigned, a(&[0, 3]));
        assert!(done.pending_revocation.is_empty());
    }

    #[test]
    fn a_partition_still_owned_elsewhere_waits_for_its_release() {
        let m = stable(1, &[0]);
        let owner = |_: &Uuid, p: i32| p == 1;
        let next = reconcile(&m, 2, &a(&[0, 1, 2]), Some(&a(&[0])), owner);
        assert_eq!(next.state, MemberState::UnreleasedPartitions);
        assert_eq!(next.member_epoch, 2);
        assert_eq!(next.assigned, a(&[0, 2]));
        let released = reconcile(&next, 2, &a(&[0, 1, 2]), Some(&a(&[0, 2])), |_, _| false);
        assert_eq!(released.state, MemberState::Stable);
        assert_eq!(released.assigned, a(&[0, 1, 2]));
    }

    #[test]
    fn a_stable_member_at_the_target_epoch_is_left_alone() {
        let m = stable(5, &[1]);
        assert_eq!(reconcile(&m, 5, &a(&[1, 2]), None, |_, _| false), m);
        // A member that no longer owns what it must revoke moves on at once.
        let next = reconcile(&m, 6, &a(&[2]), Some(&Assignment::new()), |_, _| false);
        assert_eq!(next.state, MemberState::Stable);
        assert_eq!(next.assigned, a(&[2]));
        let _: BTreeSet<i32> = next.assigned[&topic()].clone();
    }
}
