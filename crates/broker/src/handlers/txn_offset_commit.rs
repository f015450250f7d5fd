//! TxnOffsetCommit: offsets committed inside a producer's transaction, handled by
//! the group coordinator (pending until the transaction's marker). As Kafka's API
//! layer does, partitions that do not exist are answered UNKNOWN_TOPIC_OR_PARTITION
//! and only the rest reaches the coordinator. ACLs first, in Kafka's order: WRITE on
//! the transactional id, READ on the group (each refusing every partition), then READ
//! on each topic (TOPIC_AUTHORIZATION_FAILED for its partitions).

use crate::request::{CloseConnection, Deferred, RequestContext};
use crate::request_access::Access;
use bytes::Bytes;
use moldau_coordinator::{GroupRequest, GroupResponse};
use moldau_metadata::MetadataImage;
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use moldau_protocol::kafka::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use moldau_protocol::ResponseError;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: TxnOffsetCommitRequest = super::decode(&ctx, body)?;
    let access = ctx.access();
    if let Some(error) = refusal(&access, &request) {
        return ctx.ready(&every_partition(&request, error));
    }
    let readable = |topic: &str| access.topic(AclOperation::Read, topic);
    let (request, unknown) =
        without_unknown_partitions(request, &ctx.broker.metadata.image(), readable);
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

/// Why the whole request is refused, if it is: the transactional id, then the group.
fn refusal(access: &Access, request: &TxnOffsetCommitRequest) -> Option<ResponseError> {
    if !access.transactional_id(AclOperation::Write, request.transactional_id.as_str()) {
        Some(ResponseError::TransactionalIdAuthorizationFailed)
    } else if !access.group(AclOperation::Read, request.group_id.as_str()) {
        Some(ResponseError::GroupAuthorizationFailed)
    } else {
        None
    }
}

/// `error` on every partition of `request`.
fn every_partition(
    request: &TxnOffsetCommitRequest,
    error: ResponseError,
) -> TxnOffsetCommitResponse {
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error.code())
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// The request without the partitions of topics not `readable` (answered
/// TOPIC_AUTHORIZATION_FAILED) or that `image` lacks (UNKNOWN_TOPIC_OR_PARTITION),
/// and the answers for those.
fn without_unknown_partitions(
    mut request: TxnOffsetCommitRequest,
    image: &MetadataImage,
    readable: impl Fn(&str) -> bool,
) -> (TxnOffsetCommitRequest, Vec<TxnOffsetCommitResponseTopic>) {
    let mut unknown = Vec::new();
    for topic in &mut request.topics {
        let allowed = readable(topic.name.as_str());
        let error = if allowed {
            ResponseError::UnknownTopicOrPartition
        } else {
            ResponseError::TopicAuthorizationFailed
        };
        let index = topic.partitions.iter().map(|p| p.partition_index);
        let missing: Vec<i32> = index
            .filter(|p| !allowed || !super::txn::partition_exists(image, topic.name.as_str(), *p))
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
                    .with_error_code(error.code())
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
