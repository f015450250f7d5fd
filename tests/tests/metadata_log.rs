//! The metadata log across restarts: data directories written before the metadata
//! log was a Raft log (JSON-era records; binary records with `.checkpoint`
//! snapshots) still start, converted, with all their topics and configs.

mod topic_support;

use bytes::Bytes;
use moldau_e2e::BrokerProcess;
use std::path::Path;
use topic_support::*;

/// A `__cluster_metadata-0` log of one batch holding JSON-era record values, as
/// Moldau wrote them before the binary records.
fn write_json_era_metadata_log(data_dir: &Path) {
    let id: Vec<String> = (1..=16).map(|b: u8| b.to_string()).collect();
    let id = id.join(",");
    let values = [
        r#"{"type":"RegisterBroker","id":1,"host":"127.0.0.1","port":1,"rack":null}"#.to_string(),
        format!(
            r#"{{"type":"CreateTopic","name":"json-era","id":[{id}],"internal":false,"configs":{{"retention.ms":"4242"}}}}"#
        ),
        format!(
            r#"{{"type":"CreatePartition","topic_id":[{id}],"partition":0,"replicas":[1],"isr":[1],"leader":1,"leader_epoch":0}}"#
        ),
        format!(
            r#"{{"type":"CreatePartition","topic_id":[{id}],"partition":1,"replicas":[1],"isr":[1],"leader":1,"leader_epoch":0}}"#
        ),
        r#"{"type":"SetTopicConfig","topic":"json-era","key":"retention.bytes","value":"777777"}"#
            .to_string(),
    ];
    let records: Vec<_> = values
        .iter()
        .map(|v| (None, Some(Bytes::from(v.clone()))))
        .collect();
    let batch = moldau_protocol::batch_encode::encode_plain_batch(&records, 1_700_000_000_000)
        .expect("batch encodes");
    let dir = data_dir.join("__cluster_metadata-0");
    std::fs::create_dir_all(&dir).expect("metadata log dir");
    std::fs::write(dir.join("00000000000000000000.log"), &batch).expect("metadata log written");
}

fn assert_json_era_topic(broker: &BrokerProcess) {
    let mut client = RawClient::connect(&broker.addr);
    assert_eq!(partition_count(&mut client, "json-era"), Some(2));
    assert_eq!(
        topic_config(&mut client, "json-era", "retention.ms").as_deref(),
        Some("4242")
    );
    assert_eq!(
        topic_config(&mut client, "json-era", "retention.bytes").as_deref(),
        Some("777777")
    );
}

#[test]
fn a_json_era_metadata_log_still_starts() {
    let temp = tempfile::tempdir().expect("tempdir");
    write_json_era_metadata_log(temp.path());
    let mut broker = BrokerProcess::start_in(temp.path(), &[], None);
    assert_json_era_topic(&broker);
    // Binary records now follow the JSON ones; both are read back on restart.
    let mut client = RawClient::connect(&broker.addr);
    assert_eq!(create_topic(&mut client, "binary-era", 3, &[]), NONE);
    let (error, offset) = produce(&mut client, "json-era", 1, -1, 1_700_000_000_000, b"v");
    assert_eq!((error, offset), (NONE, 0));
    broker.stop();
    broker.restart();
    assert_json_era_topic(&broker);
    let mut client = RawClient::connect(&broker.addr);
    assert_eq!(partition_count(&mut client, "binary-era"), Some(3));
    let (error, records) = fetch(&mut client, "json-era", 1, 0);
    assert_eq!(error, NONE);
    assert_eq!(records.len(), 1);
}

/// A pre-Raft `__cluster_metadata-0` as the metadata store wrote it: a
/// `.checkpoint` snapshot of topic `old-snap` (3 partitions, retention.ms=4242)
/// covering offsets 0..N, a log whose first N records are no-ops (so the topic can
/// only come from the snapshot), then topic `old-tail` (1 partition) after it.
fn write_pre_raft_metadata_dir(data_dir: &Path) {
    use moldau_metadata::snapshot::{write_snapshot, SnapshotId};
    use moldau_metadata::{
        BrokerEndpoint, BrokerRegistration, ConfigResource, MetadataImage, MetadataRecord,
        PartitionRecord, SecurityProtocol, TopicId,
    };
    let partition = |topic_id, partition| {
        MetadataRecord::Partition(PartitionRecord {
            topic_id,
            partition,
            replicas: vec![1],
            isr: vec![1],
            removing_replicas: vec![],
            adding_replicas: vec![],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
        })
    };
    let snap_id = TopicId([5; 16]);
    let mut in_snapshot = vec![
        MetadataRecord::RegisterBroker(BrokerRegistration {
            broker_id: 1,
            incarnation_id: [1; 16],
            broker_epoch: 0,
            endpoints: vec![BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 1,
                security_protocol: SecurityProtocol::Plaintext,
            }],
            features: vec![],
            rack: None,
            fenced: false,
            in_controlled_shutdown: false,
        }),
        MetadataRecord::Topic {
            name: "old-snap".into(),
            id: snap_id,
        },
        MetadataRecord::Config {
            resource: ConfigResource::Topic("old-snap".into()),
            name: "retention.ms".into(),
            value: Some("4242".into()),
        },
    ];
    in_snapshot.extend((0..3).map(|p| partition(snap_id, p)));
    let mut image = MetadataImage::new();
    for (offset, record) in in_snapshot.iter().enumerate() {
        image
            .apply(record, offset as i64)
            .expect("fixture record applies");
    }
    let end_offset = in_snapshot.len() as i64;
    let dir = data_dir.join("__cluster_metadata-0");
    std::fs::create_dir_all(&dir).expect("metadata log dir");
    write_snapshot(
        &dir,
        SnapshotId {
            end_offset,
            epoch: 0,
        },
        &image,
        1_700_000_000_000,
    )
    .expect("snapshot written");
    let tail_id = TopicId([6; 16]);
    let mut log_records: Vec<MetadataRecord> =
        (0..end_offset).map(|_| MetadataRecord::NoOp).collect();
    log_records.push(MetadataRecord::Topic {
        name: "old-tail".into(),
        id: tail_id,
    });
    log_records.push(partition(tail_id, 0));
    let values: Vec<_> = log_records
        .iter()
        .map(|r| (None, Some(Bytes::from(r.to_bytes()))))
        .collect();
    let batch = moldau_protocol::batch_encode::encode_plain_batch(&values, 1_700_000_000_000)
        .expect("batch encodes");
    std::fs::write(dir.join("00000000000000000000.log"), &batch).expect("metadata log written");
}

#[test]
fn a_pre_raft_data_dir_with_a_snapshot_restarts_with_its_topics() {
    let temp = tempfile::tempdir().expect("tempdir");
    write_pre_raft_metadata_dir(temp.path());
    let mut broker = BrokerProcess::start_in(temp.path(), &[], None);
    let check = |broker: &BrokerProcess| {
        let mut client = RawClient::connect(&broker.addr);
        assert_eq!(partition_count(&mut client, "old-snap"), Some(3));
        assert_eq!(
            topic_config(&mut client, "old-snap", "retention.ms").as_deref(),
            Some("4242")
        );
        assert_eq!(partition_count(&mut client, "old-tail"), Some(1));
    };
    check(&broker);
    let dir = temp.path().join("__cluster_metadata-0");
    assert!(
        dir.join("quorum-state").exists(),
        "converted to Raft storage"
    );
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .expect("metadata dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".checkpoint"))
        .collect();
    assert!(leftovers.is_empty(), "old snapshots left: {leftovers:?}");
    let mut client = RawClient::connect(&broker.addr);
    assert_eq!(create_topic(&mut client, "raft-era", 2, &[]), NONE);
    broker.kill();
    broker.restart();
    check(&broker);
    let mut client = RawClient::connect(&broker.addr);
    assert_eq!(partition_count(&mut client, "raft-era"), Some(2));
}

/// The Raft snapshot of the data directory's metadata log, if one was taken.
fn snapshot_file(data_dir: &Path) -> Option<std::fs::Metadata> {
    std::fs::metadata(data_dir.join("__cluster_metadata-0/metadata-snapshot")).ok()
}

#[test]
fn metadata_survives_restarts_from_snapshots() {
    const TOPICS: usize = 60;
    let mut broker = BrokerProcess::start(&[
        "--set",
        "metadata.log.max.record.bytes.between.snapshots=2000",
    ]);
    let mut client = RawClient::connect(&broker.addr);
    for i in 0..TOPICS {
        let retention = (3_600_000 + i).to_string();
        let configs = [("retention.ms", retention.as_str())];
        assert_eq!(
            create_topic(&mut client, &format!("snap-{i}"), 2, &configs),
            NONE
        );
    }
    assert_eq!(delete_topic(&mut client, "snap-0"), NONE);
    assert_eq!(create_partitions(&mut client, "snap-1", 4), NONE);
    let (error, _) = produce(&mut client, "snap-2", 1, -1, 1_700_000_000_000, b"kept");
    assert_eq!(error, NONE);
    // metadata.log.max.record.bytes.between.snapshots=2000 was passed many times over.
    assert!(
        snapshot_file(&broker.data_dir).is_some(),
        "no snapshot was taken"
    );
    let check = |broker: &BrokerProcess| {
        let mut client = RawClient::connect(&broker.addr);
        let names = all_topic_names(&mut client);
        assert!(
            !names.contains(&"snap-0".to_string()),
            "deleted topic is back"
        );
        for i in 1..TOPICS {
            let name = format!("snap-{i}");
            let expected = if i == 1 { 4 } else { 2 };
            assert_eq!(
                partition_count(&mut client, &name),
                Some(expected),
                "{name}"
            );
            assert_eq!(
                topic_config(&mut client, &name, "retention.ms"),
                Some((3_600_000 + i).to_string()),
                "{name}"
            );
        }
        let (error, records) = fetch(&mut client, "snap-2", 1, 0);
        assert_eq!(error, NONE);
        assert_eq!(records.len(), 1);
    };
    broker.stop();
    broker.restart();
    check(&broker);
    // A crash (no clean shutdown) after more snapshots: the same again.
    for i in 0..20 {
        let mut client = RawClient::connect(&broker.addr);
        assert_eq!(
            topic_config(&mut client, "snap-3", "retention.ms").as_deref(),
            Some("3600003")
        );
        assert_eq!(
            create_topic(&mut client, &format!("late-{i}"), 1, &[]),
            NONE
        );
    }
    broker.kill();
    broker.restart();
    check(&broker);
    let mut client = RawClient::connect(&broker.addr);
    assert_eq!(partition_count(&mut client, "late-19"), Some(1));
}

#[test]
fn a_clean_stop_leaves_a_snapshot_of_everything_applied() {
    let mut broker = BrokerProcess::start(&[]);
    let mut client = RawClient::connect(&broker.addr);
    for i in 0..3 {
        let name = format!("at-stop-{i}");
        assert_eq!(create_topic(&mut client, &name, 2, &[]), NONE);
    }
    // Far below the snapshot thresholds: only the stop takes one.
    assert!(snapshot_file(&broker.data_dir).is_none(), "snapshot early");
    broker.stop();
    assert!(
        snapshot_file(&broker.data_dir).is_some(),
        "no snapshot after a clean stop"
    );
    broker.restart();
    let mut client = RawClient::connect(&broker.addr);
    for i in 0..3 {
        let name = format!("at-stop-{i}");
        assert_eq!(partition_count(&mut client, &name), Some(2), "{name}");
    }
}
