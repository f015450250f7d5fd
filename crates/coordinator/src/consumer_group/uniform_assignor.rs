//! The `uniform` assignor: spreads all subscribed partitions so that member counts
//! differ by at most one where subscriptions allow, keeping each member's previous
//! partitions where that stays balanced (sticky, like Kafka's UniformAssignor).
//! With racks known, a partition prefers a member on one of its replicas' racks:
//! a member keeps a previous partition from another rack only when no subscriber
//! shares one with it, and free partitions fill rack-matched members up to their
//! quota before the rest are spread.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::assignment::{self, Assignment};
use super::assignor::{rack_match, MemberSpec, PartitionRacks, RackMatch};

pub(crate) fn assign(
    members: &BTreeMap<String, MemberSpec>,
    partitions: &BTreeMap<Uuid, i32>,
    racks: &PartitionRacks,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    let mut counts: BTreeMap<&str, usize> = members.keys().map(|m| (m.as_str(), 0)).collect();
    // Every partition some member can take, in (topic, partition) order.
    let assignable: Vec<(Uuid, i32)> = partitions
        .iter()
        .filter(|(t, _)| members.values().any(|m| m.topics.contains(*t)))
        .flat_map(|(t, n)| (0..*n).map(move |p| (*t, p)))
        .collect();
    if members.is_empty() || assignable.is_empty() {
        return out;
    }
    let quota_min = assignable.len() / members.len();
    let mut extras = assignable.len() % members.len();
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    let valid = |spec: &MemberSpec, t: &Uuid, p: i32| {
        spec.topics.contains(t) && partitions.get(t).is_some_and(|n| p < *n)
    };
    // A subscriber of the partition's topic shares a rack with its replicas.
    let rack_local_exists = |t: &Uuid, p: i32| {
        members
            .values()
            .any(|m| m.topics.contains(t) && rack_match(m, racks, t, p) == RackMatch::Same)
    };
    // Sticky pass: each member keeps up to the minimum quota of what it had, then one
    // more while members may hold one over the minimum.
    for (id, spec) in members {
        let mut kept = Vec::new();
        for (t, p) in assignment::pairs(&spec.previous) {
            if !valid(spec, &t, p) || taken.contains(&(t, p)) {
                continue;
            }
            if rack_match(spec, racks, &t, p) == RackMatch::Other && rack_local_exists(&t, p) {
                continue;
            }
            if kept.len() < quota_min || (kept.len() == quota_min && extras > 0) {
                if kept.len() == quota_min {
                    extras -= 1;
                }
                kept.push((t, p));
            }
        }
        for (t, p) in kept {
            taken.insert((t, p));
            assignment::insert(out.entry(id.clone()).or_default(), t, p);
            *counts.entry(id.as_str()).or_default() += 1;
        }
    }
    // Rack pass: free partitions go to the least loaded rack-matched subscriber that
    // is still under its quota.
    if !racks.is_empty() {
        for &(t, p) in &assignable {
            if taken.contains(&(t, p)) {
                continue;
            }
            let best = members
                .iter()
                .filter(|(_, spec)| {
                    spec.topics.contains(&t) && rack_match(spec, racks, &t, p) == RackMatch::Same
                })
                .map(|(id, _)| (counts.get(id.as_str()).copied().unwrap_or(0), id))
                .filter(|(n, _)| *n < quota_min || (*n == quota_min && extras > 0))
                .min();
            if let Some((n, id)) = best {
                if n == quota_min {
                    extras -= 1;
                }
                assignment::insert(out.entry(id.clone()).or_default(), t, p);
                *counts.entry(id.as_str()).or_default() += 1;
                taken.insert((t, p));
            }
        }
    }
    // Fill pass: every other partition goes to the least loaded subscriber.
    for (t, p) in assignable {
        if taken.contains(&(t, p)) {
            continue;
        }
        let best = members
            .iter()
            .filter(|(_, spec)| spec.topics.contains(&t))
            .min_by_key(|(id, _)| (counts.get(id.as_str()).copied().unwrap_or(0), *id));
        if let Some((id, _)) = best {
            assignment::insert(out.entry(id.clone()).or_default(), t, p);
            *counts.entry(id.as_str()).or_default() += 1;
            taken.insert((t, p));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn spec(topics: &[u128], previous: &[(u128, i32)]) -> MemberSpec {
        let mut prev = Assignment::new();
        for (topic, p) in previous {
            assignment::insert(&mut prev, t(*topic), *p);
        }
        MemberSpec {
            topics: topics.iter().map(|x| t(*x)).collect(),
            previous: prev,
            rack: None,
        }
    }

    fn on_rack(rack: &str, mut spec: MemberSpec) -> MemberSpec {
        spec.rack = Some(rack.to_string());
        spec
    }

    /// Partition p of topic 1 has its only replica on rack `racks[p]`.
    fn single_replica_racks(racks: &[&str]) -> PartitionRacks {
        PartitionRacks::from([(
            t(1),
            racks
                .iter()
                .map(|r| BTreeSet::from([r.to_string()]))
                .collect(),
        )])
    }

    fn counts(out: &BTreeMap<String, Assignment>) -> Vec<usize> {
        out.values()
            .map(|a| a.values().map(BTreeSet::len).sum())
            .collect()
    }

    fn partitions_of(out: &BTreeMap<String, Assignment>, member: &str) -> Vec<i32> {
        out[member]
            .get(&t(1))
            .map(|ps| ps.iter().copied().collect())
            .unwrap_or_default()
    }

    #[test]
    fn balanced_within_one_and_every_partition_once() {
        let members: BTreeMap<String, MemberSpec> = (0..3)
            .map(|i| (format!("m{i}"), spec(&[1, 2], &[])))
            .collect();
        let partitions = BTreeMap::from([(t(1), 5), (t(2), 2)]);
        let out = assign(&members, &partitions, &PartitionRacks::new());
        let mut c = counts(&out);
        c.sort();
        assert_eq!(c, vec![2, 2, 3]);
        let all: BTreeSet<(Uuid, i32)> = out.values().flat_map(assignment::pairs).collect();
        assert_eq!(all.len(), 7);
    }

    #[test]
    fn sticky_when_a_member_joins_and_subscriptions_respected() {
        let members = BTreeMap::from([
            ("a".to_string(), spec(&[1], &[(1, 0), (1, 1), (1, 2)])),
            ("b".to_string(), spec(&[1], &[(1, 3), (1, 4), (1, 5)])),
            ("c".to_string(), spec(&[1], &[])),
        ]);
        let none = PartitionRacks::new();
        let out = assign(&members, &BTreeMap::from([(t(1), 6)]), &none);
        assert_eq!(counts(&out), vec![2, 2, 2]);
        // a and b each gave up exactly one partition.
        assert!(assignment::is_subset(&out["a"], &members["a"].previous));
        assert!(assignment::is_subset(&out["b"], &members["b"].previous));
        // A member only gets topics it subscribes to.
        let members = BTreeMap::from([
            ("a".to_string(), spec(&[1], &[])),
            ("b".to_string(), spec(&[2], &[])),
        ]);
        let out = assign(&members, &BTreeMap::from([(t(1), 3), (t(2), 1)]), &none);
        assert_eq!(out["a"].keys().collect::<Vec<_>>(), vec![&t(1)]);
        assert_eq!(out["b"].keys().collect::<Vec<_>>(), vec![&t(2)]);
    }

    #[test]
    fn partitions_go_to_members_on_their_replicas_racks() {
        // Without racks, "a" would take 0 and 2 (least loaded, in order).
        let members = BTreeMap::from([
            ("a".to_string(), on_rack("r1", spec(&[1], &[]))),
            ("b".to_string(), on_rack("r2", spec(&[1], &[]))),
        ]);
        let racks = single_replica_racks(&["r2", "r1", "r2", "r1"]);
        let out = assign(&members, &BTreeMap::from([(t(1), 4)]), &racks);
        assert_eq!(partitions_of(&out, "a"), vec![1, 3]);
        assert_eq!(partitions_of(&out, "b"), vec![0, 2]);
        // A previous owner on another rack gives way to a rack-local member...
        let members = BTreeMap::from([
            (
                "a".to_string(),
                on_rack("r1", spec(&[1], &[(1, 0), (1, 1)])),
            ),
            (
                "b".to_string(),
                on_rack("r2", spec(&[1], &[(1, 2), (1, 3)])),
            ),
        ]);
        let out = assign(&members, &BTreeMap::from([(t(1), 4)]), &racks);
        assert_eq!(partitions_of(&out, "a"), vec![1, 3]);
        assert_eq!(partitions_of(&out, "b"), vec![0, 2]);
        // ... but a member without a rack stays sticky.
        let members = BTreeMap::from([
            ("a".to_string(), spec(&[1], &[(1, 0), (1, 1)])),
            ("b".to_string(), spec(&[1], &[(1, 2), (1, 3)])),
        ]);
        let out = assign(&members, &BTreeMap::from([(t(1), 4)]), &racks);
        assert_eq!(partitions_of(&out, "a"), vec![0, 1]);
    }

    #[test]
    fn balance_comes_before_rack_locality() {
        // Every replica is on r1, where only "a" is: it still gets only its share.
        let members = BTreeMap::from([
            ("a".to_string(), on_rack("r1", spec(&[1], &[]))),
            ("b".to_string(), on_rack("r2", spec(&[1], &[]))),
            ("c".to_string(), spec(&[1], &[])),
        ]);
        let racks = single_replica_racks(&["r1"; 7]);
        let out = assign(&members, &BTreeMap::from([(t(1), 7)]), &racks);
        let mut c = counts(&out);
        c.sort();
        assert_eq!(c, vec![2, 2, 3]);
        assert_eq!(partitions_of(&out, "a").len(), 3, "a takes the extra one");
        let all: BTreeSet<(Uuid, i32)> = out.values().flat_map(assignment::pairs).collect();
        assert_eq!(all.len(), 7);
    }
}
