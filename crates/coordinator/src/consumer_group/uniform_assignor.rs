//! The `uniform` assignor: spreads all subscribed partitions so that member counts
//! differ by at most one where subscriptions allow, keeping each member's previous
//! partitions where that stays balanced (sticky, like Kafka's UniformAssignor).

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::assignment::{self, Assignment};
use super::assignor::MemberSpec;

pub(crate) fn assign(
    members: &BTreeMap<String, MemberSpec>,
    partitions: &BTreeMap<Uuid, i32>,
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
    // Sticky pass: each member keeps up to the minimum quota of what it had, then one
    // more while members may hold one over the minimum.
    for (id, spec) in members {
        let mut kept = Vec::new();
        for (t, p) in assignment::pairs(&spec.previous) {
            if !valid(spec, &t, p) || taken.contains(&(t, p)) {
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
        }
    }

    fn counts(out: &BTreeMap<String, Assignment>) -> Vec<usize> {
        out.values()
            .map(|a| a.values().map(BTreeSet::len).sum())
            .collect()
    }

    #[test]
    fn balanced_within_one_and_every_partition_once() {
        let members: BTreeMap<String, MemberSpec> = (0..3)
            .map(|i| (format!("m{i}"), spec(&[1, 2], &[])))
            .collect();
        let partitions = BTreeMap::from([(t(1), 5), (t(2), 2)]);
        let out = assign(&members, &partitions);
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
        let out = assign(&members, &BTreeMap::from([(t(1), 6)]));
        assert_eq!(counts(&out), vec![2, 2, 2]);
        // a and b each gave up exactly one partition.
        assert!(assignment::is_subset(&out["a"], &members["a"].previous));
        assert!(assignment::is_subset(&out["b"], &members["b"].previous));
        // A member only gets topics it subscribes to.
        let members = BTreeMap::from([
            ("a".to_string(), spec(&[1], &[])),
            ("b".to_string(), spec(&[2], &[])),
        ]);
        let out = assign(&members, &BTreeMap::from([(t(1), 3), (t(2), 1)]));
        assert_eq!(out["a"].keys().collect::<Vec<_>>(), vec![&t(1)]);
        assert_eq!(out["b"].keys().collect::<Vec<_>>(), vec![&t(2)]);
    }
}
