//! Fetch: whole batches from each partition up to the high watermark (the last
//! stable offset for read_committed, with the aborted transactions overlapping what
//! is returned), long-polling until `min_bytes` arrive or `max_wait_ms` passes, with
//! incremental fetch sessions.

use crate::client_quota_manager::QuotaKind;
use crate::fetch_response_encoder::{
    AbortedTransaction, FetchPartitionHeader, FetchRecords, FetchResponseEncoder,
};
use crate::fetch_session::{
    FetchSession, SessionError, SessionPartition, FINAL_EPOCH, INITIAL_EPOCH,
};
use crate::leadership::CurrentLeader;
use crate::request::{CloseConnection, Deferred, FileRegion, RequestContext, ResponseFrame};
use crate::services::{MetadataView, Partitions};
use bytes::Bytes;
use moldau_log::{LogError, RegionRead};
use moldau_metadata::{MetadataImage, TopicId};
use moldau_protocol::kafka::messages::{FetchRequest, FetchResponse, TopicName};
use moldau_protocol::ResponseError;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Upper bound on how long a fetch may wait, whatever the client asks.
pub const FETCH_WAIT_MS_MAX: i32 = 30_000;
/// Fetch's isolation_level asking for committed data only.
const READ_COMMITTED: i8 = 1;

/// One partition's answer, before it is known whether it goes into the response.
struct PartitionRead {
    error: i16,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    /// For read_committed: the aborted transactions overlapping the records.
    aborted_transactions: Vec<AbortedTransaction>,
    /// Where the batches lie in a segment file; sent from there with sendfile.
    records: Option<RegionRead>,
    /// The leader, when this node is not it.
    current_leader: Option<CurrentLeader>,
    /// For a replica whose log diverged: (epoch, end offset) of the largest epoch
    /// this leader has up to the replica's last fetched epoch.
    diverging_epoch: Option<(i32, i64)>,
    /// KIP-392: the replica the consumer should read this partition from instead.
    preferred_read_replica: Option<i32>,
}

impl PartitionRead {
    fn records_bytes(&self) -> usize {
        self.records.as_ref().map_or(0, |r| r.len as usize)
    }
}

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: FetchRequest = super::decode(&ctx, body)?;
    Ok(Box::pin(fetch(ctx, request)))
}

/// The topic a request names: by id from v13 on (empty when the image has no such
/// id), by name before.
fn topic_name(
    ctx: &RequestContext,
    image: &MetadataImage,
    id: &uuid::Uuid,
    name: &TopicName,
) -> String {
    if ctx.version >= 13 {
        image
            .topic_by_id(&TopicId(*id.as_bytes()))
            .map(|t| t.name.clone())
            .unwrap_or_default()
    } else {
        name.0.to_string()
    }
}

/// Which partitions the request names, resolved against the image.
fn requested_partitions(
    ctx: &RequestContext,
    image: &MetadataImage,
    request: &FetchRequest,
) -> Vec<SessionPartition> {
    let mut out = Vec::new();
    for topic in &request.topics {
        let name = topic_name(ctx, image, &topic.topic_id, &topic.topic);
        let id = if ctx.version >= 13 {
            topic.topic_id
        } else {
            image
                .topic(&name)
                .map(|t| t.id.as_uuid())
                .unwrap_or_default()
        };
        for p in &topic.partitions {
            out.push(SessionPartition {
                topic: name.clone(),
                topic_id: id,
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                partition_max_bytes: p.partition_max_bytes,
                current_leader_epoch: p.current_leader_epoch,
                last_high_watermark: -1,
                last_log_start_offset: -1,
            });
        }
    }
    out
}

fn error_read(error: ResponseError) -> PartitionRead {
    PartitionRead {
        error: error.code(),
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        aborted_transactions: Vec::new(),
        records: None,
        current_leader: None,
        diverging_epoch: None,
        preferred_read_replica: None,
    }
}

/// A Fetch from a follower replica: its id and, per partition, the epoch of the last
/// batch in its log (`-1`: unknown).
struct ReplicaFetch {
    replica_id: i32,
    last_fetched_epochs: BTreeMap<(String, i32), i32>,
}

impl ReplicaFetch {
    /// The replica this request comes from, if any (`replica_id`, in ReplicaState
    /// from v15 on).
    fn of(ctx: &RequestContext, image: &MetadataImage, request: &FetchRequest) -> Option<Self> {
        let replica_id = if ctx.version >= 15 {
            request.replica_state.replica_id.0
        } else {
            request.replica_id.0
        };
        if replica_id < 0 {
            return None;
        }
        let mut last_fetched_epochs = BTreeMap::new();
        for topic in &request.topics {
            let name = topic_name(ctx, image, &topic.topic_id, &topic.topic);
            for p in &topic.partitions {
                last_fetched_epochs.insert((name.clone(), p.partition), p.last_fetched_epoch);
            }
        }
        Some(ReplicaFetch {
            replica_id,
            last_fetched_epochs,
        })
    }

    fn last_fetched_epoch(&self, topic: &str, partition: i32) -> i32 {
        self.last_fetched_epochs
            .get(&(topic.to_string(), partition))
            .copied()
            .unwrap_or(-1)
    }
}

/// No `current_leader_epoch` in the request.
const EPOCH_UNCHECKED: i32 = -1;

/// What KIP-392 lets a consumer's Fetch (v11+) do: be served by a follower, and
/// with a rack named and the rack-aware selector configured, be sent to one.
#[derive(Debug, Default)]
struct ConsumerReads {
    from_followers: bool,
    client_rack: Option<String>,
}

impl ConsumerReads {
    fn of(ctx: &RequestContext, request: &FetchRequest, replica: Option<&ReplicaFetch>) -> Self {
        if replica.is_some() || ctx.version < 11 {
            return ConsumerReads::default();
        }
        let client_rack = Some(request.rack_id.as_str().to_string())
            .filter(|r| !r.is_empty() && ctx.config().settings.rack_aware_replica_selector);
        ConsumerReads {
            from_followers: true,
            client_rack,
        }
    }
}

/// The in-sync follower on a live broker in the consumer's rack that it should
/// read `p` from instead of this leader, if any.
fn preferred_read_replica(
    node_id: i32,
    image: &MetadataImage,
    partition: &crate::partition::Partition,
    client_rack: &str,
    fetch_offset: i64,
) -> Option<i32> {
    use crate::read_replica_selector::ReadCandidate;
    let progress = partition.progress();
    let followers: Vec<ReadCandidate<'_>> = progress
        .isr()
        .iter()
        .filter(|id| **id != node_id)
        .filter_map(|id| {
            let b = image.broker(*id).filter(|b| !b.fenced)?;
            Some(ReadCandidate {
                id: *id,
                rack: b.rack.as_deref(),
                log_end_offset: progress.follower(*id)?.log_end_offset,
            })
        })
        .collect();
    let leader_rack = image.broker(node_id).and_then(|b| b.rack.as_deref());
    crate::read_replica_selector::preferred_read_replica(
        leader_rack,
        client_rack,
        &followers,
        fetch_offset,
    )
}

/// Reads one partition within the byte budget left for the response. A replica
/// reads up to the log end (it must copy what is not committed yet); a consumer
/// up to the high watermark (a follower's, learnt from its leader, when a
/// consumer reads from a follower).
#[allow(clippy::too_many_arguments)]
fn read_partition(
    hosted: &Partitions,
    image: &MetadataImage,
    p: &SessionPartition,
    budget: usize,
    min_one_batch: bool,
    read_committed: bool,
    replica: Option<&ReplicaFetch>,
    consumer: &ConsumerReads,
) -> PartitionRead {
    if p.topic.is_empty() {
        return error_read(ResponseError::UnknownTopicId);
    }
    // The leader serves reads, and a follower a consumer's that may read from one
    // (KIP-392); others name the leader (KIP-951).
    let leadership = if consumer.from_followers {
        crate::leadership::check_replica(
            image,
            hosted.node_id(),
            &p.topic,
            p.partition,
            p.current_leader_epoch,
        )
    } else {
        crate::leadership::check_leader(
            image,
            hosted.node_id(),
            &p.topic,
            p.partition,
            p.current_leader_epoch,
        )
        .map(|_| true)
    };
    let leading = match leadership {
        Ok(leading) => leading,
        Err(not_served) => {
            return PartitionRead {
                current_leader: not_served.current_leader,
                ..error_read(not_served.error)
            }
        }
    };
    let Some(partition) = hosted.get_by_name(&p.topic, p.partition) else {
        let offline = hosted
            .logs()
            .offline_reason(&moldau_log::TopicPartition::new(&p.topic, p.partition))
            .is_some();
        // Led here by the image but not hosted yet: the publisher is on its way.
        return error_read(if offline {
            ResponseError::KafkaStorageError
        } else {
            ResponseError::NotLeaderOrFollower
        });
    };
    if partition.is_offline() {
        return error_read(ResponseError::KafkaStorageError);
    }
    let preferred = match &consumer.client_rack {
        Some(rack) if leading => {
            preferred_read_replica(hosted.node_id(), image, &partition, rack, p.fetch_offset)
        }
        _ => None,
    };
    let log = partition.log.read();
    if let Some(id) = preferred {
        // No records: the consumer reads them from the replica named.
        return PartitionRead {
            error: 0,
            high_watermark: log.high_watermark(),
            last_stable_offset: log.last_stable_offset(),
            log_start_offset: log.log_start_offset(),
            aborted_transactions: Vec::new(),
            records: None,
            current_leader: None,
            diverging_epoch: None,
            preferred_read_replica: Some(id),
        };
    }
    let high_watermark = log.high_watermark();
    let last_stable_offset = log.last_stable_offset();
    let log_start_offset = log.log_start_offset();
    if let Some(replica) = replica {
        let last_epoch = replica.last_fetched_epoch(&p.topic, p.partition);
        // Kafka's divergence check (KIP-595's, used by replicas since 2.7): the
        // replica's last epoch ends earlier here, or is not known here at all.
        if let Some((epoch, end)) = log.end_offset_for_epoch(last_epoch) {
            if epoch != last_epoch || end < p.fetch_offset {
                return PartitionRead {
                    error: 0,
                    high_watermark,
                    last_stable_offset,
                    log_start_offset,
                    aborted_transactions: Vec::new(),
                    records: None,
                    current_leader: None,
                    diverging_epoch: Some((epoch, end)),
                    preferred_read_replica: None,
                };
            }
        }
    }
    let limit = budget.min(p.partition_max_bytes.max(0) as usize);
    let max_offset = match (replica, read_committed) {
        (Some(_), _) => log.log_end_offset(),
        (None, true) => last_stable_offset,
        (None, false) => high_watermark,
    };
    // The log checks the range and stops at `max_offset` (the log end for a replica,
    // the high watermark or the LSO for a consumer); only the region's bounds are
    // read here, the records themselves go out with sendfile.
    let result = log.read_region(p.fetch_offset, limit, max_offset, min_one_batch);
    match result {
        Ok(region) => {
            let aborted_transactions = if read_committed && !region.is_empty() {
                let upper_bound = region.first_offset + region.offset_span;
                log.aborted_transactions(p.fetch_offset, upper_bound)
                    .into_iter()
                    .map(|t| AbortedTransaction {
                        producer_id: t.producer_id,
                        first_offset: t.first_offset,
                    })
                    .collect()
            } else {
                Vec::new()
            };
            PartitionRead {
                error: 0,
                high_watermark,
                last_stable_offset,
                log_start_offset,
                aborted_transactions,
                records: Some(region),
                current_leader: None,
                diverging_epoch: None,
                preferred_read_replica: None,
            }
        }
        Err(LogError::OffsetOutOfRange { .. }) => PartitionRead {
            // A follower asked for what it does not have yet by a client that gave
            // no leader epoch (so may just have stale metadata) answers with nothing
            // rather than an error, as Kafka does; with an epoch the client asks
            // the leader.
            error: if !leading && p.current_leader_epoch == EPOCH_UNCHECKED {
                0
            } else {
                ResponseError::OffsetOutOfRange.code()
            },
            high_watermark,
            last_stable_offset,
            log_start_offset,
            aborted_transactions: Vec::new(),
            records: None,
            current_leader: None,
            diverging_epoch: None,
            preferred_read_replica: None,
        },
        Err(e) => {
            tracing::error!(topic = %p.topic, partition = p.partition, "read failed: {e}");
            error_read(ResponseError::KafkaStorageError)
        }
    }
}

/// A follower's Fetch tells the leader its log end (the fetch offset) for each
/// partition led here: the high watermark may move, and the ISR bookkeeping learns
/// when it was last caught up.
fn record_replica_progress(
    hosted: &Partitions,
    image: &MetadataImage,
    replica_id: i32,
    partitions: &[SessionPartition],
    now_ms: i64,
) {
    for p in partitions {
        let led_here = crate::leadership::check_leader(
            image,
            hosted.node_id(),
            &p.topic,
            p.partition,
            p.current_leader_epoch,
        )
        .is_ok();
        if !led_here {
            continue;
        }
        if let Some(partition) = hosted.get_by_name(&p.topic, p.partition) {
            partition.record_follower_fetch(replica_id, p.fetch_offset, now_ms);
        }
    }
}

/// Reads every partition in order within `max_bytes`; the first partition with data
/// may exceed the budget by one batch, as in Kafka, so progress is always possible.
#[allow(clippy::too_many_arguments)]
fn read_all(
    metadata: &MetadataView,
    hosted: &Partitions,
    partitions: &[SessionPartition],
    max_bytes: usize,
    read_committed: bool,
    replica: Option<&ReplicaFetch>,
    consumer: &ConsumerReads,
    readable: &dyn Fn(&str) -> bool,
) -> (Vec<PartitionRead>, usize, bool) {
    // The image of this pass: a long poll notices leadership moving away.
    let image = metadata.image();
    let mut reads = Vec::with_capacity(partitions.len());
    let mut total = 0usize;
    let mut any_error = false;
    for p in partitions {
        if !readable(&p.topic) {
            any_error = true;
            reads.push(error_read(ResponseError::TopicAuthorizationFailed));
            continue;
        }
        let budget = max_bytes.saturating_sub(total);
        let read = read_partition(
            hosted,
            &image,
            p,
            budget,
            total == 0,
            read_committed,
            replica,
            consumer,
        );
        total += read.records_bytes();
        // A consumer sent to another replica is answered at once, as in Kafka.
        any_error |= read.error != 0
            || read.diverging_epoch.is_some()
            || read.preferred_read_replica.is_some();
        reads.push(read);
    }
    (reads, total, any_error)
}

/// One topic of the response with its partitions' answers, in request order.
struct ResponseTopic {
    name: String,
    id: uuid::Uuid,
    partitions: Vec<(FetchPartitionHeader, FetchRecords)>,
}

enum Mode {
    /// Full request and response, no session kept (epoch -1).
    Sessionless,
    /// Full request and response; a session is created for what follows.
    NewSession,
    /// Only changes in, only news out.
    Incremental(FetchSession),
}

fn top_level_error(
    ctx: &RequestContext,
    error: ResponseError,
) -> Result<ResponseFrame, CloseConnection> {
    let response = FetchResponse::default()
        .with_error_code(error.code())
        .with_session_id(0);
    ctx.encode(&response).map(Some)
}

async fn fetch(
    ctx: RequestContext,
    request: FetchRequest,
) -> Result<ResponseFrame, CloseConnection> {
    let (metadata, hosted) = (ctx.metadata(), ctx.partitions());
    let image = metadata.image();
    let now = crate::clock::now_ms();
    let requested = requested_partitions(&ctx, &image, &request);
    // A replica needs CLUSTER_ACTION (else every partition is refused, as in Kafka), a
    // consumer READ on each topic; asked for every request over the current image, so
    // an ACL change applies to the next fetch of a session.
    let access = ctx.access();
    let replica = ReplicaFetch::of(&ctx, &image, &request);
    let replica_denied =
        replica.is_some() && !access.cluster(moldau_protocol::acl::AclOperation::ClusterAction);
    let replica = replica.filter(|_| !replica_denied);
    let is_replica = replica.is_some();
    let consumer = ConsumerReads::of(&ctx, &request, replica.as_ref());
    let readable = move |topic: &str| {
        !replica_denied
            && (is_replica || access.topic(moldau_protocol::acl::AclOperation::Read, topic))
    };
    if let Some(replica) = &replica {
        record_replica_progress(&hosted, &image, replica.replica_id, &requested, now);
    }
    let sessions = ctx.fetch_sessions();

    let mode = match (request.session_id, request.session_epoch) {
        (0, FINAL_EPOCH) => Mode::Sessionless,
        (0, INITIAL_EPOCH) => Mode::NewSession,
        (0, _) => return top_level_error(&ctx, ResponseError::InvalidFetchSessionEpoch),
        (id, FINAL_EPOCH) => {
            sessions.remove(id);
            Mode::Sessionless
        }
        (id, INITIAL_EPOCH) => {
            sessions.remove(id);
            Mode::NewSession
        }
        (id, epoch) => match sessions.take(id, epoch) {
            Ok(session) => Mode::Incremental(session),
            Err(SessionError::NotFound) => {
                return top_level_error(&ctx, ResponseError::FetchSessionIdNotFound)
            }
            Err(SessionError::InvalidEpoch) => {
                return top_level_error(&ctx, ResponseError::InvalidFetchSessionEpoch)
            }
        },
    };

    // The partitions this fetch covers.
    let mut partitions = match &mode {
        Mode::Incremental(session) => {
            let mut merged = session.clone();
            for p in requested {
                match merged.find_mut(&p.topic, p.partition) {
                    Some(existing) => {
                        existing.fetch_offset = p.fetch_offset;
                        existing.partition_max_bytes = p.partition_max_bytes;
                        existing.current_leader_epoch = p.current_leader_epoch;
                    }
                    None => merged.partitions.push(p),
                }
            }
            for forgotten in &request.forgotten_topics_data {
                let name = topic_name(&ctx, &image, &forgotten.topic_id, &forgotten.topic);
                for p in &forgotten.partitions {
                    merged.remove(&name, *p);
                }
            }
            merged.partitions
        }
        _ => requested,
    };

    // The broker's fetch.max.bytes caps what a client may ask for, as in Kafka.
    let broker_max_bytes = ctx.config().settings.fetch_max_bytes.max(0);
    let max_bytes = request.max_bytes.clamp(0, broker_max_bytes) as usize;
    let min_bytes = request.min_bytes.max(0) as usize;
    let wait_ms = request.max_wait_ms.clamp(0, FETCH_WAIT_MS_MAX) as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
    let read_committed = request.isolation_level == READ_COMMITTED;
    // A replica waits for appends, a consumer for the high watermark.
    let wakes = match &replica {
        Some(_) => &hosted.replica_data,
        None => &hosted.data_arrived,
    };
    let reads = loop {
        let notified = wakes.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (reads, total, any_error) = read_all(
            &metadata,
            &hosted,
            &partitions,
            max_bytes,
            read_committed,
            replica.as_ref(),
            &consumer,
            &readable,
        );
        let has_news = match &mode {
            Mode::Incremental(_) => partitions
                .iter()
                .zip(&reads)
                .any(|(p, r)| p.last_high_watermark != r.high_watermark),
            _ => false,
        };
        if total >= min_bytes.max(1)
            || any_error
            || has_news
            || tokio::time::Instant::now() >= deadline
        {
            break reads;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            break read_all(
                &metadata,
                &hosted,
                &partitions,
                max_bytes,
                read_committed,
                replica.as_ref(),
                &consumer,
                &readable,
            )
            .0;
        }
    };

    // Over a quota, the client is told to back off (KIP-219) or, for an old
    // version, its answer is held back (ctx.throttle): the larger of the byte-rate
    // and the request-quota throttle. Replication is not a client.
    let throttle_ms = if replica.is_some() {
        ctx.request_time.exempt();
        0
    } else {
        let response_bytes: u64 = reads.iter().map(|r| r.records_bytes() as u64).sum();
        let (user, client_id) = (&ctx.principal.name, ctx.client_id());
        let now_ms = ctx.now_ms();
        let quotas = ctx.quotas();
        let quotas = quotas.clients();
        let bytes_throttle_ms = quotas.record(
            &image,
            QuotaKind::Fetch,
            user,
            &client_id,
            response_bytes,
            now_ms,
        );
        let throttle_ms = bytes_throttle_ms.max(ctx.request_quota_throttle());
        if throttle_ms > 0 {
            // Not sent, so not counted: the records come once the throttle is over.
            quotas.unrecord(QuotaKind::Fetch, user, &client_id, response_bytes, now_ms);
        }
        throttle_ms
    };
    if throttle_ms > 0 {
        return throttled(&ctx, mode, partitions, throttle_ms).await;
    }

    let incremental = matches!(mode, Mode::Incremental(_));
    let mut topics: Vec<ResponseTopic> = Vec::new();
    let mut leaders_named = BTreeSet::new();
    for (p, read) in partitions.iter_mut().zip(reads) {
        if let Some(leader) = read.current_leader.filter(|l| l.leader_id >= 0) {
            leaders_named.insert(leader.leader_id);
        }
        let region = read.records.filter(|r| !r.is_empty());
        // Records delivered to consumers: those at or after the fetch offset (a
        // batch that starts below it is sent whole but its head was read before), and
        // none of a follower's replication fetches.
        if let Some(r) = region.as_ref().filter(|_| replica.is_none()) {
            let delivered = (r.first_offset + r.offset_span) - r.first_offset.max(p.fetch_offset);
            ctx.metrics()
                .record_fetched(&p.topic, r.len, delivered.max(0) as u64);
        }
        let changed = read.error != 0
            || region.is_some()
            || read.preferred_read_replica.is_some()
            || p.last_high_watermark != read.high_watermark
            || p.last_log_start_offset != read.log_start_offset;
        p.last_high_watermark = read.high_watermark;
        p.last_log_start_offset = read.log_start_offset;
        if incremental && !changed {
            continue;
        }
        let header = FetchPartitionHeader {
            partition_index: p.partition,
            error_code: read.error,
            high_watermark: read.high_watermark,
            last_stable_offset: read.last_stable_offset,
            log_start_offset: read.log_start_offset,
            aborted_transactions: Some(read.aborted_transactions),
            preferred_read_replica: read.preferred_read_replica.unwrap_or(-1),
            current_leader: read.current_leader,
            diverging_epoch: read.diverging_epoch,
        };
        let records = match region {
            Some(RegionRead {
                file: Some(file),
                position,
                len,
                ..
            }) => FetchRecords::File(FileRegion {
                file,
                position,
                len,
            }),
            _ => FetchRecords::Bytes(Bytes::new()),
        };
        let same_topic = topics.last().is_some_and(|t| {
            if ctx.version >= 13 {
                t.id == p.topic_id
            } else {
                t.name == p.topic
            }
        });
        if !same_topic {
            topics.push(ResponseTopic {
                name: p.topic.clone(),
                id: p.topic_id,
                partitions: Vec::new(),
            });
        }
        if let Some(t) = topics.last_mut() {
            t.partitions.push((header, records));
        }
    }

    let now = crate::clock::now_ms().max(now);
    let session_id = match mode {
        Mode::Sessionless => 0,
        Mode::NewSession => sessions.create(partitions, now),
        Mode::Incremental(mut session) => {
            session.partitions = partitions;
            session.next_epoch = session.next_epoch.wrapping_add(1).max(1);
            session.last_used_ms = now;
            let id = session.id;
            sessions.store(session);
            id
        }
    };
    let mut encoder = FetchResponseEncoder::new(
        ctx.version,
        ctx.correlation_id(),
        0,
        0,
        session_id,
        topics.len(),
    )?;
    for topic in &topics {
        encoder.topic(&topic.name, topic.id, topic.partitions.len())?;
        for (header, records) in &topic.partitions {
            encoder.partition(header, records)?;
        }
    }
    let image = metadata.image();
    let node_endpoints = super::node_endpoints::of(&ctx, &image, &leaders_named);
    let frame = encoder.finish(&node_endpoints)?;
    Ok(Some(frame))
}

/// Kafka's answer to a throttled fetch (KIP-219): no partitions, only the throttle
/// time. A new session is not created (the client's next full fetch makes it); an
/// incremental one moves on to its next epoch with the offsets this request sent,
/// but with nothing marked as delivered, so its next answer has what this one lacks.
async fn throttled(
    ctx: &RequestContext,
    mode: Mode,
    partitions: Vec<SessionPartition>,
    throttle_ms: u64,
) -> Result<ResponseFrame, CloseConnection> {
    let session_id = match mode {
        Mode::Sessionless | Mode::NewSession => 0,
        Mode::Incremental(mut session) => {
            session.partitions = partitions;
            session.next_epoch = session.next_epoch.wrapping_add(1).max(1);
            session.last_used_ms = crate::clock::now_ms();
            let id = session.id;
            ctx.fetch_sessions().store(session);
            id
        }
    };
    let hold_back = ctx.throttle(throttle_ms);
    let response = FetchResponse::default()
        .with_throttle_time_ms(i32::try_from(throttle_ms).unwrap_or(i32::MAX))
        .with_error_code(0)
        .with_session_id(session_id);
    let frame = ctx.encode(&response)?;
    if !hold_back.is_zero() {
        tokio::time::sleep(hold_back).await;
    }
    Ok(Some(frame))
}
