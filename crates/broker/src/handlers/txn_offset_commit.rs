//! TxnOffsetCommit: offsets committed inside a producer's transaction, handled by
//! the group coordinator (pending until the transaction's marker). As Kafka's API
//! layer does, partitions that do not exist are answered UNKNOWN_TOPIC_OR_PARTITION
//! and only the rest reaches the coordinator.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_coordinator::{GroupRequest, GroupResponse};
use moldau_metadata::MetadataImage;
use moldau_protocol::kafka::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use moldau_protocol::kafka::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use moldau_protocol::ResponseError;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: TxnOffsetCommitRequest = super::decode(&ctx, body)?;
    let (request, unknown) = without_unknown_partitions(request, &ctx.broker.metadata.image());
    if request.topics.is_empty() && !unknown.is_empty() {
        return ctx.ready(&TxnOffsetCommitResponse::default().with_topics(unknown));
    }
    super::group::forward(
        ctx,
        GroupRequest::TxnOffsetCommit(request),
        move |r| match r {
            GroupResponse::TxnOffsetCommit(mut response) => {
                response.topics.extend(unknown);
                Some(response)
            }
            _ => None,
        },
    )
    .await
}

/// The request without the partitions `image` lacks, and the answers for those.
fn without_unknown_partitions(
    mut request: TxnOffsetCommitRequest,
    image: &MetadataImage,
) -> (TxnOffsetCommitRequest, Vec<TxnOffsetCommitResponseTopic>) {
    let mut unknown = Vec::new();
    for topic in &mut request.topics {
        let index = topic.partitions.iter().map(|p| p.partition_index);
        let missing: Vec<i32> = index
            .filter(|p| !super::txn::partition_exists(image, topic.name.as_str(), *p))
            .collect();
        if missing.is_empty() {
            continue;
        }
        topic
            .partitions
            .retain(|p| !missing.contains(&p.partition_index));
        let partitions = missing
            .iter()
            .map(|p| {
                TxnOffsetCommitResponsePartition::default()
                    .with_partition_index(*p)
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
            })
            .collect();
        unknown.push(
            TxnOffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
    }
    request.topics.retain(|t| !t.partitions.is_empty());
    (request, unknown)
}
