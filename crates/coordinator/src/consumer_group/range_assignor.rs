//! The `range` assignor: for each topic, its subscribers (by member id) get
//! contiguous ranges, the first ones one partition more when it does not divide.
//! With racks known, each subscriber first takes partitions with a replica on its
//! rack up to its share, and the rest fill the shares in order (KIP-881's range).

use std::collections::BTreeMap;

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
    for (topic, count) in partitions {
        let subscribers: Vec<(&String, &MemberSpec)> = members
            .iter()
            .filter(|(_, spec)| spec.topics.contains(topic))
            .collect();
        if subscribers.is_empty() || *count <= 0 {
            continue;
        }
        let n = subscribers.len() as i32;
        let (each, extra) = (count / n, count % n);
        let shares: Vec<i32> = (0..n).map(|i| each + i32::from(i < extra)).collect();
        let rack_aware =
            racks.contains_key(topic) && subscribers.iter().any(|(_, s)| s.rack.is_some());
        let mut owner: Vec<Option<usize>> = vec![None; usize::try_from(*count).unwrap_or(0)];
        let mut taken = vec![0i32; subscribers.len()];
        if rack_aware {
            for (i, (_, spec)) in subscribers.iter().enumerate() {
                for (p, slot) in owner.iter_mut().enumerate() {
                    if taken[i] == shares[i] {
                        break;
                    }
                    let p = i32::try_from(p).unwrap_or(i32::MAX);
                    if slot.is_none() && rack_match(spec, racks, topic, p) == RackMatch::Same {
                        *slot = Some(i);
                        taken[i] += 1;
                    }
                }
            }
        }
        // The rest in order: without racks, these are contiguous ranges.
        let mut next_member = 0;
        for slot in owner.iter_mut().filter(|s| s.is_none()) {
            while taken[next_member] == shares[next_member] {
                next_member += 1;
            }
            *slot = Some(next_member);
            taken[next_member] += 1;
        }
        assert!(
            owner.iter().all(Option::is_some),
            "range assignor left a partition without owner"
        );
        for (p, i) in owner
            .into_iter()
            .enumerate()
            .filter_map(|(p, slot)| Some((p, slot?)))
        {
            let p = i32::try_from(p).unwrap_or(i32::MAX);
            assignment::insert(out.entry(subscribers[i].0.clone()).or_default(), *topic, p);
        }
        assert_eq!(taken, shares, "range assignor left partitions of a topic");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn members(racks: &[Option<&str>], topic: Uuid) -> BTreeMap<String, MemberSpec> {
        racks
            .iter()
            .enumerate()
            .map(|(i, rack)| {
                (
                    ["a", "b", "c"][i].to_string(),
                    MemberSpec {
                        topics: BTreeSet::from([topic]),
                        previous: Assignment::new(),
                        rack: rack.map(str::to_string),
                    },
                )
            })
            .collect()
    }

    fn ranges(out: &BTreeMap<String, Assignment>, topic: Uuid) -> Vec<Vec<i32>> {
        out.values()
            .map(|a| a[&topic].iter().copied().collect())
            .collect()
    }

    #[test]
    fn contiguous_ranges_first_members_get_the_extra() {
        let topic = Uuid::from_u128(1);
        let members = members(&[None, None, None], topic);
        let out = assign(
            &members,
            &BTreeMap::from([(topic, 7)]),
            &PartitionRacks::new(),
        );
        assert_eq!(
            ranges(&out, topic),
            vec![vec![0, 1, 2], vec![3, 4], vec![5, 6]]
        );
    }

    #[test]
    fn members_take_partitions_on_their_rack_within_their_share() {
        let topic = Uuid::from_u128(1);
        let on = |r: &str| BTreeSet::from([r.to_string()]);
        // Replicas alternate r1, r2; a is on r1, b on r2, c has no rack.
        let racks = PartitionRacks::from([(
            topic,
            (0..7)
                .map(|p| on(if p % 2 == 0 { "r1" } else { "r2" }))
                .collect(),
        )]);
        let members = members(&[Some("r1"), Some("r2"), None], topic);
        let out = assign(&members, &BTreeMap::from([(topic, 7)]), &racks);
        // a's share is 3 (all on r1), b's 2 (on r2), c takes what is left.
        assert_eq!(
            ranges(&out, topic),
            vec![vec![0, 2, 4], vec![1, 3], vec![5, 6]]
        );
    }
}
