//! Group state rebuilt from `__consumer_offsets` after a restart: replay goes past
//! batches it cannot decode, and a deleted group stays deleted even when a commit for
//! it was still being written.

mod groups_support;

use bytes::Bytes;
use groups_support::raw::{s, RawClient};
use groups_support::{committed, create_topic};
use moldau_e2e::BrokerProcess;
use moldau_protocol::batch::{set_base_offset, BatchIter, BatchView};
use moldau_protocol::batch_encode::encode_plain_batch;
use moldau_protocol::kafka::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use moldau_protocol::kafka::messages::{
    DeleteGroupsRequest, GroupId, OffsetCommitRequest, TopicName,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::path::{Path, PathBuf};

/// One offsets partition, so every group's records share one file.
const FLAGS: &[&str] = &[
    "--set",
    "group.initial.rebalance.delay.ms=0",
    "--set",
    "offsets.topic.num.partitions=1",
];
/// Groups deleted while a commit races the deletion.
const RACED_GROUPS: usize = 20;

/// Commits `offset` for partition 0 of `topic` as `group` through librdkafka.
fn commit_with_librdkafka(addr: &str, group: &str, topic: &str, offset: i64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(offset))
        .expect("offset");
    consumer
        .commit(&tpl, CommitMode::Sync)
        .expect("commit acknowledged");
}

/// The active (last) segment of the offsets partition.
fn offsets_segment(data_dir: &Path) -> PathBuf {
    let dir = data_dir.join("__consumer_offsets-0");
    std::fs::read_dir(&dir)
        .expect("offsets partition directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .max()
        .expect("a segment")
}

/// Appends two batches the coordinator cannot read to the offsets partition (the
/// broker must be down): one whose key and value match no schema, and one whose header
/// and CRC are valid but which claims two records and holds one.
fn append_undecodable_batches(data_dir: &Path) {
    let segment = offsets_segment(data_dir);
    let mut bytes = std::fs::read(&segment).expect("read segment");
    let next = BatchIter::new(&bytes)
        .map(|b| b.expect("the segment is valid").1.last_offset() + 1)
        .last()
        .expect("the segment holds the commit");
    let junk = (
        Some(Bytes::from_static(&[0x7f, 0x7f, 1, 2])),
        Some(Bytes::from_static(&[9, 9, 9])),
    );
    let mut unknown = encode_plain_batch(std::slice::from_ref(&junk), 0).expect("batch");
    set_base_offset(&mut unknown, next);
    let mut short = encode_plain_batch(&[junk], 0).expect("batch").to_vec();
    set_base_offset(&mut short, next + 1);
    // lastOffsetDelta (bytes 23..27) and recordsCount (57..61) say two records.
    short[23..27].copy_from_slice(&1i32.to_be_bytes());
    short[57..61].copy_from_slice(&2i32.to_be_bytes());
    let crc = BatchView::parse(&short).expect("header").computed_crc();
    short[17..21].copy_from_slice(&crc.to_be_bytes());
    BatchView::parse(&short)
        .expect("header")
        .validate()
        .expect("the short batch passes recovery's checks");
    bytes.extend_from_slice(&unknown);
    bytes.extend_from_slice(&short);
    std::fs::write(&segment, bytes).expect("write segment");
}

#[test]
fn groups_after_undecodable_batches_still_load_after_restart() {
    let mut broker = BrokerProcess::start(FLAGS);
    let topic = "orders";
    create_topic(&broker.addr, topic, 1);
    commit_with_librdkafka(&broker.addr, "before", topic, 5);
    broker.kill();
    append_undecodable_batches(&broker.data_dir);
    broker.restart();
    assert_eq!(committed(&broker.addr, "before", topic, 1), vec![5]);
    // A group whose records come after the bad batches.
    commit_with_librdkafka(&broker.addr, "after", topic, 7);
    broker.kill();
    broker.restart();
    assert_eq!(committed(&broker.addr, "before", topic, 1), vec![5]);
    assert_eq!(committed(&broker.addr, "after", topic, 1), vec![7]);
}

/// OffsetCommit v7 of `offset` for `partition` of `topic`, outside any generation.
fn commit_request(group: &str, topic: &str, partition: i32, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(s(""))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)])])
}

#[test]
fn a_group_deleted_while_a_commit_is_in_flight_stays_deleted_after_restart() {
    let mut broker = BrokerProcess::start(FLAGS);
    let topic = "orders";
    create_topic(&broker.addr, topic, 2);
    let mut committer = RawClient::connect(&broker.addr);
    committer.wait_for_coordinator("any");
    let mut deleter = RawClient::connect(&broker.addr);
    let mut before = Vec::new();
    for i in 0..RACED_GROUPS {
        let group = format!("raced-{i}");
        let first = committer.call(7, &commit_request(&group, topic, 0, 1));
        assert_eq!(first.topics[0].partitions[0].error_code, 0);
        // The second commit and the deletion go out together: the commit's record is
        // usually still being written when the deletion is handled.
        committer.send(7, &commit_request(&group, topic, 1, 2));
        deleter.send(
            2,
            &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(&group))]),
        );
        let second = committer.receive::<OffsetCommitRequest>(7);
        assert_eq!(second.topics[0].partitions[0].error_code, 0);
        let deleted = deleter.receive::<DeleteGroupsRequest>(2);
        assert_eq!(deleted.results[0].error_code, 0, "{group} deleted");
        before.push(committed(&broker.addr, &group, topic, 2));
    }
    drop((committer, deleter));
    broker.kill();
    broker.restart();
    for (i, offsets) in before.iter().enumerate() {
        let group = format!("raced-{i}");
        assert_eq!(
            &committed(&broker.addr, &group, topic, 2),
            offsets,
            "{group}: what a restart replays is what was served before"
        );
    }
}
