//! The `range` assignor: for each topic, its subscribers (by member id) get
//! contiguous ranges, the first ones one partition more when it does not divide.

use std::collections::BTreeMap;

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
    for (topic, count) in partitions {
        let subscribers: Vec<&String> = members
            .iter()
            .filter(|(_, spec)| spec.topics.contains(topic))
            .map(|(id, _)| id)
            .collect();
        if subscribers.is_empty() || *count <= 0 {
            continue;
        }
        let n = subscribers.len() as i32;
        let (each, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, id) in subscribers.into_iter().enumerate() {
            let len = each + i32::from((i as i32) < extra);
            for p in next..next + len {
                assignment::insert(out.entry(id.clone()).or_default(), *topic, p);
            }
            next += len;
        }
        assert_eq!(next, *count, "range assignor left partitions of a topic");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn contiguous_ranges_first_members_get_the_extra() {
        let topic = Uuid::from_u128(1);
        let members: BTreeMap<String, MemberSpec> = ["a", "b", "c"]
            .iter()
            .map(|m| {
                (
                    m.to_string(),
                    MemberSpec {
                        topics: BTreeSet::from([topic]),
                        previous: Assignment::new(),
                    },
                )
            })
            .collect();
        let out = assign(&members, &BTreeMap::from([(topic, 7)]));
        let ranges: Vec<Vec<i32>> = out
            .values()
            .map(|a| a[&topic].iter().copied().collect())
            .collect();
        assert_eq!(ranges, vec![vec![0, 1, 2], vec![3, 4], vec![5, 6]]);
    }
}
