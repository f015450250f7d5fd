//! DescribeQuorum (KIP-595/KIP-836): the metadata quorum's leader, epoch, high
//! watermark, voters and observers with their log end offsets. Only the active
//! controller knows every replica's progress; another node answers
//! NOT_LEADER_OR_FOLLOWER naming the leader, as a KRaft controller does.

use crate::quorum_view::{QuorumView, ReplicaProgress};
use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_log::METADATA_LOG_TOPIC;
use moldau_protocol::kafka::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use moldau_protocol::kafka::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use moldau_protocol::ResponseError;

/// First version with the voters' controller endpoints (`nodes`).
const NODES_VERSION_MIN: i16 = 2;
/// The listener name voters' endpoints are given under.
const CONTROLLER_LISTENER_NAME: &str = "CONTROLLER";

fn replica_state(r: &ReplicaProgress, node_id: i32, now_ms: i64) -> ReplicaState {
    // Only the node's own fetch time is known; -1 is Kafka's "unknown".
    let seen = if r.replica_id == node_id { now_ms } else { -1 };
    ReplicaState::default()
        .with_replica_id(BrokerId(r.replica_id))
        .with_log_end_offset(r.log_end_offset)
        .with_last_fetch_timestamp(seen)
        .with_last_caught_up_timestamp(seen)
}

/// The metadata partition's answer as `node_id` sees the quorum.
fn partition_answer(view: &QuorumView, node_id: i32, now_ms: i64) -> PartitionData {
    let answer = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(view.leader_id))
        .with_leader_epoch(view.leader_epoch);
    if !view.is_leader(node_id) {
        return answer.with_error_code(ResponseError::NotLeaderOrFollower.code());
    }
    let states = |v: &[ReplicaProgress]| {
        v.iter()
            .map(|r| replica_state(r, node_id, now_ms))
            .collect()
    };
    answer
        .with_error_code(0)
        .with_high_watermark(view.high_watermark)
        .with_current_voters(states(&view.voters))
        .with_observers(states(&view.observers))
}

/// The voters' controller endpoints (v2), for those whose address parses.
fn nodes(view: &QuorumView) -> Vec<Node> {
    view.voters
        .iter()
        .filter_map(|r| {
            let (host, port) = r.address.as_deref()?.rsplit_once(':')?;
            let port = port.parse::<u16>().ok()?;
            let listener = Listener::default()
                .with_name(super::str_bytes(CONTROLLER_LISTENER_NAME))
                .with_host(super::str_bytes(
                    host.trim_start_matches('[').trim_end_matches(']'),
                ))
                .with_port(port);
            Some(
                Node::default()
                    .with_node_id(BrokerId(r.replica_id))
                    .with_listeners(vec![listener]),
            )
        })
        .collect()
}

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: DescribeQuorumRequest = super::decode(&ctx, body)?;
    // Kafka's raft answers only a request for exactly the metadata partition.
    let asks_metadata_log = request.topics.len() == 1
        && request.topics[0].topic_name.0.as_str() == METADATA_LOG_TOPIC
        && request.topics[0].partitions.len() == 1
        && request.topics[0].partitions[0].partition_index == 0;
    if !ctx
        .access()
        .cluster(moldau_protocol::acl::AclOperation::Describe)
    {
        let e = ResponseError::ClusterAuthorizationFailed;
        let response = DescribeQuorumResponse::default().with_error_code(e.code());
        // The message field exists from v2.
        let response = if ctx.version >= 2 {
            response.with_error_message(Some(super::str_bytes(&e.to_string())))
        } else {
            response
        };
        return ctx.ready(&response);
    }
    if !asks_metadata_log {
        let response = DescribeQuorumResponse::default()
            .with_error_code(ResponseError::UnknownTopicOrPartition.code());
        return ctx.ready(&response);
    }
    let view = ctx.metadata().quorum_view();
    let partition = partition_answer(&view, ctx.metadata().node_id(), crate::clock::now_ms());
    let topic = TopicData::default()
        .with_topic_name(TopicName(super::str_bytes(METADATA_LOG_TOPIC)))
        .with_partitions(vec![partition]);
    let mut response = DescribeQuorumResponse::default()
        .with_error_code(0)
        .with_topics(vec![topic]);
    if ctx.version >= NODES_VERSION_MIN {
        response = response.with_nodes(nodes(&view));
    }
    ctx.ready(&response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> QuorumView {
        let replica = |id, end, port: u16| ReplicaProgress {
            replica_id: id,
            log_end_offset: end,
            address: Some(format!("127.0.0.1:{port}")),
        };
        QuorumView {
            leader_id: 1,
            leader_epoch: 4,
            high_watermark: 40,
            voters: vec![
                replica(1, 42, 9093),
                replica(2, 40, 9193),
                replica(3, -1, 9293),
            ],
            observers: vec![ReplicaProgress {
                replica_id: 7,
                log_end_offset: 12,
                address: None,
            }],
        }
    }

    #[test]
    fn the_leader_answers_with_every_replicas_progress() {
        let p = partition_answer(&view(), 1, 5000);
        assert_eq!((p.error_code, p.leader_id.0, p.leader_epoch), (0, 1, 4));
        assert_eq!(p.high_watermark, 40);
        let ends: Vec<(i32, i64, i64)> = p
            .current_voters
            .iter()
            .map(|r| (r.replica_id.0, r.log_end_offset, r.last_fetch_timestamp))
            .collect();
        assert_eq!(ends, vec![(1, 42, 5000), (2, 40, -1), (3, -1, -1)]);
        assert_eq!(p.observers.len(), 1);
        assert_eq!(p.observers[0].log_end_offset, 12);
        let endpoints: Vec<(i32, String, u16)> = nodes(&view())
            .iter()
            .map(|n| {
                (
                    n.node_id.0,
                    n.listeners[0].host.to_string(),
                    n.listeners[0].port,
                )
            })
            .collect();
        assert_eq!(endpoints[2], (3, "127.0.0.1".to_string(), 9293));
    }

    #[test]
    fn another_node_names_the_leader() {
        let p = partition_answer(&view(), 2, 5000);
        assert_eq!(p.error_code, ResponseError::NotLeaderOrFollower.code());
        assert_eq!((p.leader_id.0, p.leader_epoch), (1, 4));
        assert!(p.current_voters.is_empty());
    }
}
