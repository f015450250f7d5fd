//! `GET /api/v1/reassignments`: partitions whose replicas are being moved, with the
//! replicas being added and removed, as ListPartitionReassignments answers them
//! (both read the same adding / removing replica lists of the metadata image).

use crate::caller::Caller;
use crate::console::Console;
use crate::error::ApiResult;
use axum::extract::State;
use axum::Json;
use moldau_metadata::TopicImage;
use moldau_protocol::acl::AclOperation;
use serde::Serialize;
use std::sync::Arc;

/// Most reassignments listed (all are counted).
pub const REASSIGNMENTS_LISTED_MAX: usize = 1000;

/// One partition being reassigned.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reassignment {
    pub topic: String,
    pub partition: i32,
    /// Every replica during the move: the target ones and those being removed.
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct Reassignments {
    pub reassignments: Vec<Reassignment>,
    /// All partitions being reassigned (more than listed when over the limit).
    pub count: usize,
}

/// The partitions of `topics` with replicas being added or removed, in topic and
/// partition order, at most [`REASSIGNMENTS_LISTED_MAX`].
pub fn reassignments<'a>(topics: impl Iterator<Item = &'a TopicImage>) -> Reassignments {
    let mut listed = Vec::new();
    let mut count = 0;
    for t in topics {
        for p in t.partitions.values() {
            if p.adding_replicas.is_empty() && p.removing_replicas.is_empty() {
                continue;
            }
            count += 1;
            if listed.len() < REASSIGNMENTS_LISTED_MAX {
                listed.push(Reassignment {
                    topic: t.name.clone(),
                    partition: p.partition,
                    replicas: p.replicas.clone(),
                    adding: p.adding_replicas.clone(),
                    removing: p.removing_replicas.clone(),
                    isr: p.isr.clone(),
                    leader: p.leader,
                });
            }
        }
    }
    listed.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Reassignments {
        reassignments: listed,
        count,
    }
}

/// `GET /api/v1/reassignments`
pub async fn list(
    State(console): State<Arc<Console>>,
    caller: Caller,
) -> ApiResult<Json<Reassignments>> {
    // ListPartitionReassignments: DESCRIBE on the cluster.
    caller.require_cluster(AclOperation::Describe)?;
    Ok(Json(reassignments(
        console.backend.metadata().image().topics(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use moldau_metadata::{PartitionImage, TopicId};
    use std::collections::BTreeMap;

    fn partition(partition: i32, adding: Vec<i32>, removing: Vec<i32>) -> PartitionImage {
        PartitionImage {
            partition,
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            replicas: vec![1, 2, 3, 4],
            isr: vec![1, 2, 3],
            removing_replicas: removing,
            adding_replicas: adding,
        }
    }

    fn topic(name: &str, partitions: Vec<PartitionImage>) -> TopicImage {
        TopicImage {
            name: name.into(),
            id: TopicId([0; 16]),
            internal: false,
            partitions: partitions.into_iter().map(|p| (p.partition, p)).collect(),
            configs: BTreeMap::new(),
        }
    }

    #[test]
    fn only_partitions_with_replicas_moving_are_listed() {
        let topics = [
            topic(
                "orders",
                vec![
                    partition(0, vec![], vec![]),
                    partition(1, vec![4], vec![3]),
                    partition(2, vec![], vec![2]),
                ],
            ),
            topic("quiet", vec![partition(0, vec![], vec![])]),
        ];
        let r = reassignments(topics.iter());
        assert_eq!(r.count, 2);
        let moving: Vec<_> = r
            .reassignments
            .iter()
            .map(|x| (x.partition, x.adding.clone(), x.removing.clone()))
            .collect();
        assert_eq!(moving, vec![(1, vec![4], vec![3]), (2, vec![], vec![2])]);
        assert!(reassignments(topics[1..].iter()).reassignments.is_empty());
    }
}
