//! OffsetCommit: handled by the group coordinator state machine. As Kafka's API
//! layer does, the broker first answers every partition of a topic the principal may
//! not READ with TOPIC_AUTHORIZATION_FAILED and every partition that does not exist
//! with UNKNOWN_TOPIC_OR_PARTITION; only the rest reaches the coordinator.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_coordinator::{GroupRequest, GroupResponse};
use moldau_metadata::MetadataImage;
use moldau_protocol::kafka::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use moldau_protocol::kafka::messages::{OffsetCommitRequest, OffsetCommitResponse};
use moldau_protocol::ResponseError;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: OffsetCommitRequest = super::decode(&ctx, body)?;
    let access = ctx.access();
    let (request, unknown) =
        without_unknown_partitions(request, &ctx.metadata().image(), |topic| {
            access.topic(moldau_protocol::acl::AclOperation::Read, topic)
        });
    if request.topics.is_empty() && !unknown.is_empty() {
        return ctx.ready(&OffsetCommitResponse::default().with_topics(unknown));
    }
    super::group::forward(ctx, GroupRequest::OffsetCommit(request), move |r| match r {
        GroupResponse::OffsetCommit(mut response) => {
            response.topics.extend(unknown);
            Some(response)
        }
        _ => None,
    })
    .await
}

/// The request without the partitions of topics not `readable` or that `image`
/// lacks, and the answers for those.
fn without_unknown_partitions(
    mut request: OffsetCommitRequest,
    image: &MetadataImage,
    readable: impl Fn(&str) -> bool,
) -> (OffsetCommitRequest, Vec<OffsetCommitResponseTopic>) {
    let mut unknown = Vec::new();
    for topic in &mut request.topics {
        let allowed = readable(topic.name.as_str());
        let error = if allowed {
            ResponseError::UnknownTopicOrPartition
        } else {
            ResponseError::TopicAuthorizationFailed
        };
        let known = image.topic(topic.name.as_str()).filter(|_| allowed);
        let (keep, drop): (Vec<_>, Vec<_>) = topic
            .partitions
            .drain(..)
            .partition(|p| known.is_some_and(|t| t.partitions.contains_key(&p.partition_index)));
        topic.partitions = keep;
        if !drop.is_empty() {
            let partitions = drop
                .iter()
                .map(|p| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error.code())
                })
                .collect();
            unknown.push(
                OffsetCommitResponseTopic::default()
                    .with_name(topic.name.clone())
                    .with_topic_id(topic.topic_id)
                    .with_partitions(partitions),
            );
        }
    }
    request.topics.retain(|t| !t.partitions.is_empty());
    (request, unknown)
}
