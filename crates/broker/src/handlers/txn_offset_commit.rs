//! TxnOffsetCommit: offsets committed inside a producer's transaction, handled by
//! the group coordinator (pending until the transaction's marker). As Kafka's API
//! layer does, partitions that do not exist are answered UNKNOWN_TOPIC_OR_PARTITION
//! and only the rest reaches the coordinator. ACLs first, in Kafka's order: WRITE on
//! the transactional id, READ on the group (each refusing every partition), then READ
//! on each topic (TOPIC_AUTHORIZATION_FAILED for its partitions).
//!
//! KIP-890: before the group coordinator writes, the producer's transaction must
//! hold the group's `__consumer_offsets` partition. A version 1 producer added it
//! with AddOffsetsToTxn, and the transaction coordinator is asked to confirm that
//! (part 1, verification); a transaction version 2 producer (v5+) skips
//! AddOffsetsToTxn and the partition is added here (part 2). Both only when the
//! producer's transaction has not written to that partition yet.

use crate::controller::OFFSETS_TOPIC;
use crate::request::{CloseConnection, Deferred, RequestContext};
use crate::request_access::Access;
use crate::txn_partition_adder::{self, ImplicitAdd};
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
    let (request, unknown) = without_unknown_partitions(request, &ctx.metadata().image(), readable);
    if request.topics.is_empty() && !unknown.is_empty() {
        return ctx.ready(&TxnOffsetCommitResponse::default().with_topics(unknown));
    }
    if let Some(check) = transaction_check(&ctx, &request) {
        let deadline = txn_partition_adder::add_deadline(TRANSACTION_CHECK_WAIT_MS);
        let failed = ctx.transactions().add_partitions(check, deadline).await;
        if let Some(error) = failed.into_values().next() {
            let mut response = every_partition(&request, offset_commit_error(error));
            response.topics.extend(unknown);
            return ctx.ready(&response);
        }
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

/// How long a TxnOffsetCommit waits for the transaction coordinator (the previous
/// transaction's markers may still be being written).
const TRANSACTION_CHECK_WAIT_MS: i32 = 5_000;
/// First TxnOffsetCommit version of transaction version 2 producers.
const TRANSACTION_VERSION_2_VERSION: i16 = 5;

/// The check the transaction coordinator must pass before the offsets are written,
/// if any: none when this node does not lead the group's offsets partition (the
/// group coordinator answers NOT_COORDINATOR) or the producer's transaction already
/// wrote there.
fn transaction_check(
    ctx: &RequestContext,
    request: &TxnOffsetCommitRequest,
) -> Option<ImplicitAdd> {
    if request.producer_id.0 < 0 {
        return None;
    }
    let partitions = ctx.groups().offsets_topic_partitions();
    let index = moldau_coordinator::partition_for_group(request.group_id.as_str(), partitions);
    let image = ctx.metadata().image();
    crate::leadership::check_leader(&image, ctx.metadata().node_id(), OFFSETS_TOPIC, index, -1)
        .ok()?;
    let partition = ctx.partitions().get_by_name(OFFSETS_TOPIC, index)?;
    let written = partition
        .log
        .read()
        .producer_state()
        .entry(request.producer_id.0)
        .is_some_and(|e| e.epoch == request.producer_epoch && e.current_txn_first_offset.is_some());
    if written {
        return None;
    }
    Some(ImplicitAdd {
        transactional_id: request.transactional_id.0.to_string(),
        producer_id: request.producer_id.0,
        producer_epoch: request.producer_epoch,
        partitions: vec![(OFFSETS_TOPIC.to_string(), index)],
        verify_only: ctx.version < TRANSACTION_VERSION_2_VERSION,
    })
}

/// What the client is told when the check failed, as Kafka's group coordinator
/// translates it: a coordinator that could not answer in time is
/// COORDINATOR_NOT_AVAILABLE (the client retries), the rest as is.
fn offset_commit_error(error: ResponseError) -> ResponseError {
    match error {
        ResponseError::NotEnoughReplicas => ResponseError::CoordinatorNotAvailable,
        other => other,
    }
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
