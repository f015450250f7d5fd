//! DescribeQuorum: the metadata quorum's leader, epoch, high watermark and each
//! voter's and observer's progress, asked of the quorum's leader.

use moldau_protocol::kafka::messages::describe_quorum_request::{PartitionData, TopicData};
use moldau_protocol::kafka::messages::describe_quorum_response::ReplicaState;
use moldau_protocol::kafka::messages::{
    ApiKey, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use moldau_protocol::kafka::protocol::StrBytes;
use moldau_protocol::ResponseError;

use super::{AdminClient, QuorumDescription, QuorumReplica};
use crate::cluster::Lane;
use crate::error::{check_code, Error, Result};

/// The metadata log's topic, the one partition DescribeQuorum describes.
const METADATA_LOG_TOPIC: &str = "__cluster_metadata";

fn request() -> DescribeQuorumRequest {
    DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_LOG_TOPIC)))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])])
}

fn replicas(states: &[ReplicaState]) -> Vec<QuorumReplica> {
    states
        .iter()
        .map(|r| QuorumReplica {
            replica_id: r.replica_id.0,
            log_end_offset: r.log_end_offset,
            last_fetch_timestamp: r.last_fetch_timestamp,
        })
        .collect()
}

/// The description in `response`, or the leader to ask instead (Some) with the
/// error when this node is not it.
fn parse(
    response: &DescribeQuorumResponse,
) -> std::result::Result<QuorumDescription, (Option<i32>, Error)> {
    let fail =
        |code: i16, message: Option<&StrBytes>| check_code(code, message.map(|m| m.as_str())).err();
    if let Some(e) = fail(response.error_code, response.error_message.as_ref()) {
        return Err((None, e));
    }
    let Some(p) = response.topics.first().and_then(|t| t.partitions.first()) else {
        return Err((
            None,
            Error::Protocol("DescribeQuorum answered no partition".into()),
        ));
    };
    if let Some(e) = fail(p.error_code, p.error_message.as_ref()) {
        let elsewhere =
            p.error_code == ResponseError::NotLeaderOrFollower.code() && p.leader_id.0 >= 0;
        return Err((elsewhere.then_some(p.leader_id.0), e));
    }
    Ok(QuorumDescription {
        leader_id: p.leader_id.0,
        leader_epoch: p.leader_epoch,
        high_watermark: p.high_watermark,
        voters: replicas(&p.current_voters),
        observers: replicas(&p.observers),
    })
}

impl AdminClient {
    /// The metadata quorum as its leader sees it: asks any broker, then the leader
    /// it names when that broker is not the active controller.
    pub async fn describe_quorum(&self) -> Result<QuorumDescription> {
        let cluster = self.cluster();
        let response = cluster
            .send_any_with(ApiKey::DescribeQuorum, |_| request())
            .await?;
        match parse(&response) {
            Ok(d) => Ok(d),
            Err((Some(leader), _)) => {
                let response = cluster
                    .send_to_with(leader, Lane::Data, ApiKey::DescribeQuorum, None, |_| {
                        request()
                    })
                    .await?;
                parse(&response).map_err(|(_, e)| e)
            }
            Err((None, e)) => Err(e),
        }
    }
}
