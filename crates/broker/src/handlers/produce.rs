//! Produce: validate each partition's batch as Kafka does (the protocol crate's
//! validator), append in request order, and answer once the data is durable
//! (acks=1/all) or not at all (acks=0). A transaction version 2 producer's
//! (Produce v12+) first transactional batch on a partition has the partition added
//! to its transaction first (KIP-890 part 2).

use crate::client_quota_manager::QuotaKind;
use crate::controller::validate_topic_name;
use crate::delayed_produce::{replication_error, AckReceiver};
use crate::error::BrokerError;
use crate::leadership::NotServed;
use crate::partition::DurableReceiver;
use crate::request::{CloseConnection, Deferred, RequestContext};
use crate::txn_partition_adder::{self, ImplicitAdd};
use bytes::Bytes;
use moldau_coordinator::txn::TxnPartition;
use moldau_metadata::{MetadataImage, TopicId};
use moldau_protocol::acl::AclOperation;
use moldau_protocol::batch;
use moldau_protocol::batch::BatchView;
use moldau_protocol::kafka::messages::produce_request::TopicProduceData;
use moldau_protocol::kafka::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
    TopicProduceResponse,
};
use moldau_protocol::kafka::messages::{BrokerId, ProduceRequest, ProduceResponse};
use moldau_protocol::produce_validation::{validate_produce, ProduceRejection};
use moldau_protocol::ResponseError;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// A partition's outcome before durability is known.
struct Pending {
    response: PartitionProduceResponse,
    durable: Option<DurableReceiver>,
    /// acks=all: resolves once every ISR member has the records; with the
    /// partition's `min.insync.replicas`.
    replicated: Option<(AckReceiver, usize)>,
}

fn error_response(index: i32, error: ResponseError, message: Option<String>) -> Pending {
    Pending {
        response: PartitionProduceResponse::default()
            .with_index(index)
            .with_error_code(error.code())
            .with_base_offset(-1)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(-1)
            .with_error_message(message.map(|m| super::str_bytes(&m))),
        durable: None,
        replicated: None,
    }
}

/// A partition not led here: NOT_LEADER_OR_FOLLOWER and the leader, when known, in
/// `current_leader` (its address goes in the response's `node_endpoints`).
fn not_served_response(
    index: i32,
    not_served: NotServed,
    leaders_named: &mut BTreeSet<i32>,
) -> Pending {
    let mut pending = error_response(index, not_served.error, None);
    if let Some(leader) = not_served.current_leader.filter(|l| l.leader_id >= 0) {
        leaders_named.insert(leader.leader_id);
        pending.response.current_leader = LeaderIdAndEpoch::default()
            .with_leader_id(BrokerId(leader.leader_id))
            .with_leader_epoch(leader.leader_epoch);
    }
    pending
}

/// A refusal from the validator, with KIP-467's per-record errors.
fn rejection_response(index: i32, rejection: ProduceRejection) -> Pending {
    let mut pending = error_response(index, rejection.error, Some(rejection.message));
    pending.response.record_errors = rejection
        .record_errors
        .into_iter()
        .map(|r| {
            BatchIndexAndErrorMessage::default()
                .with_batch_index(r.batch_index)
                .with_batch_index_error_message(Some(super::str_bytes(&r.message)))
        })
        .collect();
    pending
}

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: ProduceRequest = super::decode(&ctx, body)?;
    let Some(add) = implicit_add(&ctx, &request) else {
        return append_all(ctx, request, HashMap::new());
    };
    // A transaction version 2 producer's first batch on a partition: the
    // coordinator adds the partition before the batch is appended.
    Ok(Box::pin(async move {
        let deadline = txn_partition_adder::add_deadline(request.timeout_ms);
        let refused = ctx.transactions().add_partitions(add, deadline).await;
        append_all(ctx, request, refused)?.await
    }))
}

/// The partitions of a Produce v12+ request (KIP-890 part 2) whose transactional
/// batch opens the producer's transaction here: the leader adds them to the
/// transaction itself. Partitions the request may not write, or not led here, are
/// left to the append path, which refuses them.
fn implicit_add(ctx: &RequestContext, request: &ProduceRequest) -> Option<ImplicitAdd> {
    let transactional_id = request.transactional_id.as_ref()?;
    if ctx.version < 12 || !matches!(request.acks, -1..=1) {
        return None;
    }
    let access = ctx.access();
    if !access.transactional_id(AclOperation::Write, transactional_id.as_str()) {
        return None;
    }
    let image = ctx.metadata().image();
    let mut add: Option<ImplicitAdd> = None;
    for topic in &request.topic_data {
        let Some(name) =
            topic_name(ctx.version, &image, topic).filter(|n| access.topic(AclOperation::Write, n))
        else {
            continue;
        };
        for pd in &topic.partition_data {
            let Some(view) = pd.records.as_deref().and_then(|r| BatchView::parse(r).ok()) else {
                continue;
            };
            if !view.is_transactional() || view.producer_id() < 0 {
                continue;
            }
            let Some(partition) = ctx.partitions().get_by_name(&name, pd.index) else {
                continue;
            };
            let (producer_id, producer_epoch) = (view.producer_id(), view.producer_epoch());
            let (open_here, fenced_here) = partition
                .log
                .read()
                .producer_state()
                .entry(producer_id)
                .map_or((false, false), |e| {
                    (
                        e.epoch == producer_epoch && e.current_txn_first_offset.is_some(),
                        // KAFKA-18042: the partition has seen a newer epoch, so the
                        // append refuses the batch (INVALID_PRODUCER_EPOCH); asking
                        // the coordinator first would only delay that answer.
                        e.epoch > producer_epoch,
                    )
                });
            if open_here || fenced_here {
                continue;
            }
            let entry = add.get_or_insert_with(|| ImplicitAdd {
                transactional_id: transactional_id.0.to_string(),
                producer_id,
                producer_epoch,
                partitions: Vec::new(),
                verify_only: false,
            });
            // One producer per request; a batch of another is refused on append.
            if (entry.producer_id, entry.producer_epoch) == (producer_id, producer_epoch) {
                entry.partitions.push((name.clone(), pd.index));
            }
        }
    }
    add
}

/// Validates and appends every partition of `request`, in request order; the
/// partitions in `refused` (their implicit add failed) are answered with their error
/// instead.
/// The topic a request entry names: from v13 by its id (KIP-516), `None` for an id
/// the image does not know (UNKNOWN_TOPIC_ID); before v13 by its name.
fn topic_name(version: i16, image: &MetadataImage, topic: &TopicProduceData) -> Option<String> {
    if version >= 13 {
        image
            .topic_by_id(&TopicId(*topic.topic_id.as_bytes()))
            .map(|t| t.name.clone())
    } else {
        Some(topic.name.0.to_string())
    }
}

fn append_all(
    ctx: RequestContext,
    request: ProduceRequest,
    refused: HashMap<TxnPartition, ResponseError>,
) -> Result<Deferred, CloseConnection> {
    let acks = request.acks;
    let timeout_ms = request.timeout_ms;
    let image = ctx.metadata().image();
    let now = crate::clock::now_ms();
    let mut topics: Vec<(TopicProduceResponse, Vec<Pending>)> = Vec::new();
    let mut leaders_named = BTreeSet::new();
    let mut accepted_bytes: u64 = 0;
    // Kafka checks WRITE on the transactional id first, then WRITE on each topic.
    let access = ctx.access();
    let transactional_denied = request
        .transactional_id
        .as_ref()
        .is_some_and(|id| !access.transactional_id(AclOperation::Write, id.as_str()));
    for topic in request.topic_data {
        let name = topic_name(ctx.version, &image, &topic);
        let writable = name
            .as_deref()
            .is_none_or(|n| access.topic(AclOperation::Write, n));
        let mut partitions = Vec::new();
        for pd in topic.partition_data {
            let index = pd.index;
            if !matches!(acks, -1..=1) {
                partitions.push(error_response(
                    index,
                    ResponseError::InvalidRequiredAcks,
                    None,
                ));
                continue;
            }
            if transactional_denied {
                partitions.push(error_response(
                    index,
                    ResponseError::TransactionalIdAuthorizationFailed,
                    None,
                ));
                continue;
            }
            if !writable {
                partitions.push(error_response(
                    index,
                    ResponseError::TopicAuthorizationFailed,
                    None,
                ));
                continue;
            }
            let Some(name) = name.as_deref() else {
                partitions.push(error_response(index, ResponseError::UnknownTopicId, None));
                continue;
            };
            let Some(topic_image) = image.topic(name) else {
                let error = if validate_topic_name(name).is_err() {
                    ResponseError::InvalidTopicException
                } else {
                    ResponseError::UnknownTopicOrPartition
                };
                partitions.push(error_response(index, error, None));
                continue;
            };
            if let Err(error) = crate::internal_topics::check_client_produce(name) {
                partitions.push(error_response(
                    index,
                    error,
                    Some(format!("cannot produce to internal topic {name}")),
                ));
                continue;
            }
            // Only the partition's leader takes writes; others name it (KIP-951).
            let leadership =
                crate::leadership::check_leader(&image, ctx.metadata().node_id(), name, index, -1);
            if let Err(not_served) = leadership {
                partitions.push(not_served_response(index, not_served, &mut leaders_named));
                continue;
            }
            let Some(partition) = ctx.partitions().get_by_name(name, index) else {
                let error = if ctx
                    .partitions()
                    .logs()
                    .offline_reason(&moldau_log::TopicPartition::new(name, index))
                    .is_some()
                {
                    ResponseError::KafkaStorageError
                } else if topic_image.partitions.contains_key(&index) {
                    ResponseError::NotLeaderOrFollower
                } else {
                    ResponseError::UnknownTopicOrPartition
                };
                partitions.push(error_response(index, error, None));
                continue;
            };
            // The image may name this node leader while it is fenced or its session
            // lapsed (paused, or a new incarnation not yet registered): its log and
            // producer state are stale there, so the client looks the leader up again.
            if let Err(why) = ctx.partitions().may_lead() {
                tracing::debug!(topic = %name, partition = index, "produce refused: {why}");
                partitions.push(error_response(
                    index,
                    ResponseError::NotLeaderOrFollower,
                    Some(why.to_string()),
                ));
                continue;
            }
            let limits = partition.limits();
            if acks == -1 {
                let isr = partition.isr().len();
                if isr < limits.min_insync_replicas {
                    partitions.push(error_response(
                        index,
                        ResponseError::NotEnoughReplicas,
                        Some(format!(
                            "{isr} in-sync replicas, min.insync.replicas is {}",
                            limits.min_insync_replicas
                        )),
                    ));
                    continue;
                }
            }
            if let Some(error) = refused.get(&(name.to_string(), index)) {
                partitions.push(error_response(
                    index,
                    *error,
                    Some("the partition could not be added to the transaction".into()),
                ));
                continue;
            }
            let Some(records) = pd.records else {
                partitions.push(error_response(
                    index,
                    ResponseError::InvalidRecord,
                    Some("no records".into()),
                ));
                continue;
            };
            let validated = match validate_produce(&records, &limits.validation, now) {
                Ok(v) => v,
                Err(rejection) => {
                    partitions.push(rejection_response(index, rejection));
                    continue;
                }
            };
            let mut batch = match limits.stored_form(records) {
                Ok(b) => b,
                Err(e) => {
                    partitions.push(error_response(
                        index,
                        ResponseError::CorruptMessage,
                        Some(format!("recompressing for compression.type: {e}")),
                    ));
                    continue;
                }
            };
            // As Kafka does, the header's max timestamp is the records' largest
            // (CreateTime); the log stamps LogAppendTime itself.
            if !limits.validation.log_append_time
                && validated.header_max_timestamp != validated.max_timestamp
            {
                batch::set_max_timestamp(&mut batch, validated.max_timestamp);
            }
            match partition.append(&mut batch, now, acks != 0) {
                Ok((appended, durable)) => {
                    let info = &appended.info;
                    let replicated = if acks == -1 {
                        match partition.wait_for_replication(info.last_offset) {
                            Some(rx) => Some((rx, limits.min_insync_replicas)),
                            None => {
                                partitions.push(error_response(
                                    index,
                                    ResponseError::RequestTimedOut,
                                    Some("too many acks=all appends wait on this partition".into()),
                                ));
                                continue;
                            }
                        }
                    } else {
                        None
                    };
                    accepted_bytes = accepted_bytes.saturating_add(info.bytes as u64);
                    ctx.metrics()
                        .record_produced(name, info.bytes, info.record_count);
                    partitions.push(Pending {
                        response: PartitionProduceResponse::default()
                            .with_index(index)
                            .with_error_code(0)
                            .with_base_offset(appended.info.first_offset)
                            .with_log_append_time_ms(appended.info.log_append_time)
                            .with_log_start_offset(appended.log_start_offset),
                        durable,
                        replicated,
                    });
                }
                Err(e) => {
                    let error = e.response_error();
                    // Only a storage fault is the broker's; a refused batch is the client's.
                    if error == ResponseError::KafkaStorageError {
                        tracing::error!(topic = %name, partition = index, "append failed: {e}");
                    } else {
                        tracing::debug!(topic = %name, partition = index, "append refused: {e}");
                    }
                    partitions.push(error_response(index, error, Some(e.to_string())));
                }
            }
        }
        topics.push((
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_topic_id(topic.topic_id),
            partitions,
        ));
    }
    // Over a quota, the client is told to back off (KIP-219) or, for an old
    // version, its answer is held back (ctx.throttle): the larger of the byte-rate
    // and the request-quota throttle. As in Kafka, acks=0 (no answer) counts no
    // handler time.
    let bytes_throttle_ms = ctx.quotas().clients().record_request(
        &image,
        QuotaKind::Produce,
        &ctx.principal.name,
        &ctx.client_id(),
        accepted_bytes,
    );
    let request_throttle_ms = if acks == 0 {
        ctx.request_time.exempt();
        0
    } else {
        ctx.request_quota_throttle()
    };
    let throttle_ms = bytes_throttle_ms.max(request_throttle_ms);
    let hold_back = ctx.throttle(throttle_ms);
    if acks == 0 {
        if hold_back.is_zero() {
            return Ok(crate::request::ready_frame(None));
        }
        return Ok(Box::pin(async move {
            tokio::time::sleep(hold_back).await;
            Ok(None)
        }));
    }
    let node_endpoints = super::node_endpoints::of(&ctx, &image, &leaders_named)
        .into_iter()
        .map(|e| {
            NodeEndpoint::default()
                .with_node_id(BrokerId(e.node_id))
                .with_host(super::str_bytes(&e.host))
                .with_port(e.port)
                .with_rack(e.rack.as_deref().map(super::str_bytes))
        })
        .collect();
    // Kafka's `timeout.ms`: how long acks=all waits for the in-sync replicas.
    let replication_deadline =
        tokio::time::Instant::now() + Duration::from_millis(timeout_ms.max(0) as u64);
    Ok(Box::pin(async move {
        let mut responses = Vec::with_capacity(topics.len());
        for (topic, partitions) in topics {
            let mut out = Vec::with_capacity(partitions.len());
            for p in partitions {
                let mut response = p.response;
                if let Some(rx) = p.durable {
                    match rx.await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => {
                            let message = e.to_string();
                            let error = BrokerError::Log(e).response_error();
                            // A partition deleted while its append was being flushed is a
                            // race with DeleteTopics, not a storage fault.
                            if error == ResponseError::KafkaStorageError {
                                tracing::error!("flush failed: {message}");
                            } else {
                                tracing::debug!("flush not acknowledged: {message}");
                            }
                            response =
                                error_response(response.index, error, Some(message)).response;
                        }
                        Err(_) => {
                            response = error_response(
                                response.index,
                                ResponseError::KafkaStorageError,
                                Some("broker shutting down".into()),
                            )
                            .response;
                        }
                    }
                }
                if let (0, Some((rx, min_insync))) = (response.error_code, p.replicated) {
                    if let Some((error, message)) =
                        replication_error(rx, min_insync, replication_deadline).await
                    {
                        response = error_response(response.index, error, Some(message)).response;
                    }
                }
                out.push(response);
            }
            responses.push(topic.with_partition_responses(out));
        }
        let response = ProduceResponse::default()
            .with_responses(responses)
            .with_throttle_time_ms(i32::try_from(throttle_ms).unwrap_or(i32::MAX))
            .with_node_endpoints(node_endpoints);
        if !hold_back.is_zero() {
            tokio::time::sleep(hold_back).await;
        }
        ctx.encode(&response).map(Some)
    }))
}
