//! Transaction version 2 (KIP-890 part 2) with exact requests against the real
//! broker: once `transaction.version` 2 is finalized, a producer writes Produce v12
//! transactional batches without AddPartitionsToTxn (the leader adds the partition),
//! every EndTxn v5 answers with a bumped epoch that the markers carry too, so a late
//! batch of a finished transaction is fenced; TxnOffsetCommit v5 adds the group's
//! offsets partition itself. Version 1 requests keep their behaviour beside it.

mod topic_support;

use bytes::Bytes;
use moldau_e2e::BrokerProcess;
use moldau_protocol::batch::{refresh_crc, set_producer, Codec, TRANSACTIONAL_BIT};
use moldau_protocol::batch_encode::encode_timed_batch;
use moldau_protocol::kafka::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use moldau_protocol::kafka::messages::produce_request::{PartitionProduceData, TopicProduceData};
use moldau_protocol::kafka::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use moldau_protocol::kafka::messages::update_features_request::FeatureUpdateKey;
use moldau_protocol::kafka::messages::{
    ApiVersionsRequest, DescribeTransactionsRequest, EndTxnRequest, FindCoordinatorRequest,
    GroupId, InitProducerIdRequest, ListOffsetsRequest, OffsetFetchRequest, ProduceRequest,
    ProducerId, TransactionalId, TxnOffsetCommitRequest, UpdateFeaturesRequest,
};
use std::time::{Duration, Instant};
use topic_support::{create_topic, s, topic_name, RawClient, NONE};

const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const ATTRIBUTES_LOW_BYTE_AT: usize = 22;
const READ_COMMITTED: i8 = 1;
/// Longest wait for the transaction coordinator to be served.
const COORDINATOR_WAIT: Duration = Duration::from_secs(60);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

fn broker() -> BrokerProcess {
    BrokerProcess::start(&[
        "--set",
        "transaction.state.log.num.partitions=1",
        "--set",
        "offsets.topic.num.partitions=1",
    ])
}

/// Finalizes `transaction.version` 2, as `kafka-features.sh upgrade` does.
fn finalize_transaction_version_2(c: &mut RawClient) {
    let r = c.call(
        1,
        &UpdateFeaturesRequest::default()
            .with_timeout_ms(5000)
            .with_feature_updates(vec![FeatureUpdateKey::default()
                .with_feature(s("transaction.version"))
                .with_max_version_level(2)
                .with_upgrade_type(1)]),
    );
    assert_eq!(r.error_code, NONE, "{r:?}");
    let versions = c.call(4, &ApiVersionsRequest::default());
    let level = versions
        .finalized_features
        .iter()
        .find(|f| f.name.as_str() == "transaction.version")
        .map(|f| f.max_version_level);
    assert_eq!(level, Some(2));
}

/// InitProducerId v4 for `id` once its coordinator serves; (producer id, epoch).
fn init_producer(c: &mut RawClient, id: &str) -> (i64, i16) {
    let deadline = Instant::now() + COORDINATOR_WAIT;
    loop {
        let found = c.call(
            1,
            &FindCoordinatorRequest::default()
                .with_key(s(id))
                .with_key_type(1),
        );
        if found.error_code == NONE {
            let r = c.call(
                4,
                &InitProducerIdRequest::default()
                    .with_transactional_id(Some(TransactionalId(s(id))))
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            );
            if r.error_code == NONE {
                return (r.producer_id.0, r.producer_epoch);
            }
        }
        assert!(Instant::now() < deadline, "no transaction coordinator");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A transactional batch of `values` from (producer id, epoch) at `sequence`.
fn txn_batch(values: &[&str], producer: (i64, i16), sequence: i32) -> Bytes {
    let records: Vec<_> = values
        .iter()
        .map(|v| (None, Some(Bytes::from(v.to_string())), now_ms()))
        .collect();
    let mut b = encode_timed_batch(&records, Codec::None)
        .expect("encode")
        .to_vec();
    b[ATTRIBUTES_LOW_BYTE_AT] |= TRANSACTIONAL_BIT as u8;
    set_producer(&mut b, producer.0, producer.1, sequence);
    refresh_crc(&mut b);
    Bytes::from(b)
}

/// Produce (acks=all) of one batch to partition 0 at `version`; the error code.
fn produce(c: &mut RawClient, version: i16, id: &str, topic: &str, batch: Bytes) -> i16 {
    let request = ProduceRequest::default()
        .with_transactional_id(Some(TransactionalId(s(id))))
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch))])]);
    c.call(version, &request).responses[0].partition_responses[0].error_code
}

/// EndTxn v5; (error, producer id, epoch) to continue with.
fn end_txn(c: &mut RawClient, id: &str, producer: (i64, i16), commit: bool) -> (i16, i64, i16) {
    let r = c.call(
        5,
        &EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s(id)))
            .with_producer_id(ProducerId(producer.0))
            .with_producer_epoch(producer.1)
            .with_committed(commit),
    );
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

/// The transaction's state and partitions, as DescribeTransactions reports them.
fn describe(c: &mut RawClient, id: &str) -> (String, Vec<(String, i32)>) {
    let r = c.call(
        0,
        &DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(s(id))]),
    );
    let state = &r.transaction_states[0];
    assert_eq!(state.error_code, NONE);
    let mut partitions: Vec<(String, i32)> = state
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
        .collect();
    partitions.sort();
    (state.transaction_state.to_string(), partitions)
}

/// The end offset a read_committed consumer sees on partition 0 (the last stable
/// offset).
fn last_stable_offset(c: &mut RawClient, topic: &str) -> i64 {
    let r = c.call(
        5,
        &ListOffsetsRequest::default()
            .with_replica_id(moldau_protocol::kafka::messages::BrokerId(-1))
            .with_isolation_level(READ_COMMITTED)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)])]),
    );
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, NONE);
    p.offset
}

/// Waits until the transaction's markers are written (the id leaves Prepare*).
fn wait_complete(c: &mut RawClient, id: &str) -> String {
    let deadline = Instant::now() + COORDINATOR_WAIT;
    loop {
        let (state, _) = describe(c, id);
        if state.starts_with("Complete") {
            return state;
        }
        assert!(Instant::now() < deadline, "still {state}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn produce_v12_adds_the_partition_and_each_end_txn_bumps_the_epoch() {
    let broker = broker();
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(create_topic(&mut c, "tv2", 1, &[]), NONE);
    finalize_transaction_version_2(&mut c);
    let id = "tv2-producer";
    let (pid, e0) = init_producer(&mut c, id);

    // No AddPartitionsToTxn: the leader adds the partition for the v12 batch.
    assert_eq!(
        produce(&mut c, 12, id, "tv2", txn_batch(&["a", "b"], (pid, e0), 0)),
        NONE
    );
    assert_eq!(
        describe(&mut c, id),
        ("Ongoing".to_string(), vec![("tv2".to_string(), 0)])
    );
    // A second batch of the same transaction needs nothing more.
    assert_eq!(
        produce(&mut c, 12, id, "tv2", txn_batch(&["c"], (pid, e0), 2)),
        NONE
    );
    assert_eq!(last_stable_offset(&mut c, "tv2"), 0, "open transaction");

    let (error, pid1, e1) = end_txn(&mut c, id, (pid, e0), true);
    assert_eq!((error, pid1, e1), (NONE, pid, e0 + 1));
    assert_eq!(wait_complete(&mut c, id), "CompleteCommit");
    // Three records and the COMMIT marker are stable.
    assert_eq!(last_stable_offset(&mut c, "tv2"), 4);
    // A retried EndTxn (old epoch) gets the same answer.
    assert_eq!(end_txn(&mut c, id, (pid, e0), true), (NONE, pid, e0 + 1));

    // The marker carried the bumped epoch: a late batch of the finished transaction
    // is fenced, and the next transaction starts at the new epoch, sequence 0.
    assert_eq!(
        produce(&mut c, 12, id, "tv2", txn_batch(&["late"], (pid, e0), 3)),
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        produce(&mut c, 12, id, "tv2", txn_batch(&["d"], (pid, e1), 0)),
        NONE
    );
    assert_eq!(end_txn(&mut c, id, (pid, e1), false), (NONE, pid, e1 + 1));
    assert_eq!(wait_complete(&mut c, id), "CompleteAbort");
    // The aborted record and its ABORT marker are stable too (read_committed skips
    // the record through the aborted transactions list).
    assert_eq!(last_stable_offset(&mut c, "tv2"), 6);
    // An abort with nothing added is allowed under version 2 and bumps again.
    assert_eq!(
        end_txn(&mut c, id, (pid, e1 + 1), false),
        (NONE, pid, e1 + 2)
    );
}

#[test]
fn produce_v11_and_end_txn_v4_keep_version_1_rules() {
    let broker = broker();
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(create_topic(&mut c, "tv1", 1, &[]), NONE);
    finalize_transaction_version_2(&mut c);
    let id = "tv1-producer";
    let (pid, e0) = init_producer(&mut c, id);
    // A v11 batch is not added by the leader: the producer's transaction stays empty.
    assert_eq!(
        produce(&mut c, 11, id, "tv1", txn_batch(&["x"], (pid, e0), 0)),
        NONE
    );
    assert_eq!(describe(&mut c, id).1, vec![]);
    // EndTxn v4 of a transaction with no partition is an invalid state; v5 may
    // abort it.
    let r = c.call(
        4,
        &EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s(id)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(e0)
            .with_committed(false),
    );
    assert_eq!(r.error_code, INVALID_TXN_STATE);
}

#[test]
fn txn_offset_commit_v5_adds_the_offsets_partition_and_v3_is_verified() {
    let broker = broker();
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(create_topic(&mut c, "tv2-in", 1, &[]), NONE);
    finalize_transaction_version_2(&mut c);
    let id = "tv2-offsets";
    let group = "tv2-group";
    let (pid, e0) = init_producer(&mut c, id);
    let commit_offsets = |c: &mut RawClient, version: i16, producer: (i64, i16), offset: i64| {
        let r = c.call(
            version,
            &TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(s(id)))
                .with_group_id(GroupId(s(group)))
                .with_producer_id(ProducerId(producer.0))
                .with_producer_epoch(producer.1)
                .with_generation_id(-1)
                .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                    .with_name(topic_name("tv2-in"))
                    .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(-1)])]),
        );
        r.topics[0].partitions[0].error_code
    };
    let committed = |c: &mut RawClient| {
        let r = c.call(
            7,
            &OffsetFetchRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_require_stable(true)
                .with_topics(None),
        );
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.committed_offset))
            .collect::<Vec<i64>>()
    };
    c.wait_for_coordinator(group);
    // Version 1 (v3): the offsets partition was never added, so the coordinator's
    // verification refuses the write (KIP-890 part 1).
    assert_eq!(commit_offsets(&mut c, 3, (pid, e0), 5), INVALID_TXN_STATE);
    // Version 2 (v5): the group coordinator adds its partition itself.
    assert_eq!(commit_offsets(&mut c, 5, (pid, e0), 5), NONE);
    let (state, partitions) = describe(&mut c, id);
    assert_eq!(state, "Ongoing");
    assert_eq!(partitions, vec![("__consumer_offsets".to_string(), 0)]);
    assert_eq!(end_txn(&mut c, id, (pid, e0), true), (NONE, pid, e0 + 1));
    wait_complete(&mut c, id);
    assert_eq!(committed(&mut c), vec![5]);
}

/// KAFKA-18042: a transactional batch of an epoch older than the one the partition
/// has seen is refused by the partition itself, before any coordinator round trip.
/// Sent under a transactional id the coordinator does not know, it shows who
/// answered: the coordinator would say INVALID_PRODUCER_ID_MAPPING, the partition
/// says INVALID_PRODUCER_EPOCH.
#[test]
fn a_batch_of_an_older_epoch_is_refused_by_the_partition_first() {
    const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
    let broker = broker();
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(create_topic(&mut c, "tv2-old-epoch", 1, &[]), NONE);
    finalize_transaction_version_2(&mut c);
    let id = "tv2-old-epoch";
    let (pid, e0) = init_producer(&mut c, id);
    assert_eq!(
        produce(
            &mut c,
            12,
            id,
            "tv2-old-epoch",
            txn_batch(&["a"], (pid, e0), 0)
        ),
        NONE
    );
    // The COMMIT marker carries the bumped epoch to the partition.
    assert_eq!(end_txn(&mut c, id, (pid, e0), true), (NONE, pid, e0 + 1));
    wait_complete(&mut c, id);

    let stale = |c: &mut RawClient, txn_id: &str| {
        produce(
            c,
            12,
            txn_id,
            "tv2-old-epoch",
            txn_batch(&["stale"], (pid, e0), 1),
        )
    };
    assert_eq!(stale(&mut c, id), INVALID_PRODUCER_EPOCH);
    let unknown = stale(&mut c, "never-initialized");
    assert_ne!(
        unknown, INVALID_PRODUCER_ID_MAPPING,
        "the coordinator was asked"
    );
    assert_eq!(unknown, INVALID_PRODUCER_EPOCH);
    // Nothing was stored: the record and its marker are all the partition holds, and
    // the transaction was not reopened.
    assert_eq!(last_stable_offset(&mut c, "tv2-old-epoch"), 2);
    assert_eq!(describe(&mut c, id), ("CompleteCommit".to_string(), vec![]));
}
