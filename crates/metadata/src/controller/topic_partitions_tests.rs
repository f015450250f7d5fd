use super::test_support::*;
use super::*;
use crate::{MetadataRecord, PartitionRecord, TopicId};
use moldau_protocol::kafka::messages::BrokerRegistrationRequest;
use moldau_protocol::ResponseError;
use std::collections::{BTreeMap, BTreeSet};

fn partitions(records: &[MetadataRecord]) -> Vec<&PartitionRecord> {
    records
        .iter()
        .map(|r| match r {
            MetadataRecord::Partition(p) => p,
            other => panic!("not a partition record: {other:?}"),
        })
        .collect()
}

#[test]
fn a_new_topic_is_placed_over_every_broker_that_may_take_replicas() {
    let mut image = image_with_brokers(&[(1, None), (2, None), (3, None), (4, None)]);
    let id = TopicId([3; 16]);
    let layout = TopicLayout::Placed {
        partitions: 6,
        replication_factor: 2,
    };
    // Broker 4 is in controlled shutdown: no replicas for it.
    let records = new_topic_partitions(
        &image,
        id,
        &layout,
        &BTreeSet::from([4]),
        &mut SeededRandom::new(5),
    )
    .expect("placed");
    let parts = partitions(&records);
    let mut leaders = BTreeMap::new();
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p.partition, i as i32);
        assert_eq!(p.isr, p.replicas);
        assert_eq!(p.leader, p.replicas[0]);
        assert!(!p.replicas.contains(&4));
        *leaders.entry(p.leader).or_insert(0) += 1;
    }
    assert_eq!(leaders, BTreeMap::from([(1, 2), (2, 2), (3, 2)]));
    apply(
        &mut image,
        &[MetadataRecord::Topic {
            name: "t".into(),
            id,
        }],
    );
    apply(&mut image, &records);
    assert_eq!(image.topic("t").expect("t").partitions.len(), 6);
}

#[test]
fn added_partitions_keep_the_replica_count_and_continue_the_pattern() {
    let mut image = image_with_brokers(&[(1, None), (2, None), (3, None)]);
    add_topic(&mut image, "t", &[&[2, 3], &[3, 1]]);
    let topic = image.topic("t").expect("t").clone();
    let records = added_partitions(
        &image,
        &topic,
        5,
        None,
        &BTreeSet::new(),
        &mut SeededRandom::new(0),
    )
    .expect("added");
    let parts = partitions(&records);
    assert_eq!(
        parts.iter().map(|p| p.partition).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    assert!(parts.iter().all(|p| p.replicas.len() == 2));
    // Round-robin from partition 0's leader (2): partition 2 starts at broker 1.
    assert_eq!(
        parts.iter().map(|p| p.leader).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    apply(&mut image, &records);
    let refused = |total, manual: Option<&[Vec<i32>]>| {
        let topic = image.topic("t").expect("t");
        added_partitions(
            &image,
            topic,
            total,
            manual,
            &BTreeSet::new(),
            &mut SeededRandom::new(0),
        )
        .expect_err("refused")
    };
    let e = refused(5, None);
    assert_eq!(
        (e.error, e.message.as_str()),
        (
            ResponseError::InvalidPartitions,
            "Topic already has 5 partitions."
        )
    );
    assert_eq!(refused(4, None).error, ResponseError::InvalidPartitions);
    let e = refused(7, Some(&[vec![1, 2]]));
    assert_eq!(e.error, ResponseError::InvalidReplicaAssignment);
    let e = refused(6, Some(&[vec![1]]));
    assert!(e.message.contains("not consistent"), "{}", e.message);
}

#[test]
fn registration_and_heartbeat_bodies_round_trip_through_the_wire_types() {
    let request = RegistrationRequest {
        broker_id: 3,
        cluster_id: "abc".into(),
        incarnation_id: [9; 16],
        listeners: vec![crate::BrokerEndpoint {
            name: "INTERNAL".into(),
            host: "10.0.0.3".into(),
            port: 19092,
            security_protocol: crate::SecurityProtocol::SaslSsl,
        }],
        features: vec![crate::BrokerFeature {
            name: "metadata.version".into(),
            min_supported: 1,
            max_supported: 20,
        }],
        rack: Some("r2".into()),
        previous_broker_epoch: Some(12),
    };
    // Through the bytes: PreviousBrokerEpoch exists from version 4 on.
    let bytes = encode_body(&request.to_wire(), BROKER_REGISTRATION_VERSION).expect("encode");
    let decoded: BrokerRegistrationRequest =
        decode_body(&bytes, BROKER_REGISTRATION_VERSION).expect("decode");
    assert_eq!(
        RegistrationRequest::from_wire(&decoded).expect("valid"),
        request
    );
    let crashed = RegistrationRequest {
        previous_broker_epoch: None,
        ..request
    };
    assert_eq!(crashed.to_wire().previous_broker_epoch, -1);
    assert_eq!(
        RegistrationRequest::from_wire(&crashed.to_wire()).expect("valid"),
        crashed
    );
    let heartbeat = HeartbeatRequest {
        broker_id: 3,
        broker_epoch: 17,
        current_metadata_offset: 40,
        want_fence: false,
        want_shut_down: true,
    };
    assert_eq!(HeartbeatRequest::from_wire(&heartbeat.to_wire()), heartbeat);
    let refused = heartbeat_response(&Err(ControllerError::new(
        ResponseError::StaleBrokerEpoch,
        "stale",
    )));
    assert_eq!(refused.error_code, ResponseError::StaleBrokerEpoch.code());
    assert!(refused.is_fenced);
    let epoch = registration_response(&Ok(RegistrationReply { broker_epoch: 8 }));
    assert_eq!((epoch.error_code, epoch.broker_epoch), (0, 8));
}

#[test]
fn a_registration_with_an_unknown_protocol_or_an_oversized_field_is_invalid() {
    let mut wire: BrokerRegistrationRequest = RegistrationRequest {
        broker_id: 1,
        cluster_id: "abc".into(),
        incarnation_id: [1; 16],
        listeners: vec![crate::BrokerEndpoint {
            name: "PLAINTEXT".into(),
            host: "h".into(),
            port: 1,
            security_protocol: crate::SecurityProtocol::Plaintext,
        }],
        features: Vec::new(),
        rack: None,
        previous_broker_epoch: None,
    }
    .to_wire();
    wire.listeners[0].security_protocol = 9;
    let e = RegistrationRequest::from_wire(&wire).expect_err("unknown protocol");
    assert_eq!(e.error, ResponseError::InvalidRequest);
    wire.listeners[0].security_protocol = 0;
    wire.rack = Some(moldau_protocol::kafka::protocol::StrBytes::from_string(
        "r".repeat(crate::RECORD_STRING_BYTES_MAX + 1),
    ));
    let e = RegistrationRequest::from_wire(&wire).expect_err("rack too long");
    assert_eq!(e.error, ResponseError::InvalidRequest);
}

#[test]
fn bodies_travel_as_kafka_bytes_and_refusals_come_back_as_errors() {
    use moldau_protocol::kafka::messages::{BrokerHeartbeatRequest, BrokerHeartbeatResponse};
    let heartbeat = HeartbeatRequest {
        broker_id: 2,
        broker_epoch: 5,
        current_metadata_offset: 9,
        want_fence: true,
        want_shut_down: false,
    };
    let mut bytes = encode_body(&heartbeat.to_wire(), BROKER_HEARTBEAT_VERSION).expect("encoded");
    let back: BrokerHeartbeatRequest =
        decode_body(&bytes, BROKER_HEARTBEAT_VERSION).expect("decoded");
    assert_eq!(HeartbeatRequest::from_wire(&back), heartbeat);
    bytes.push(0);
    let trailing = decode_body::<BrokerHeartbeatRequest>(&bytes, BROKER_HEARTBEAT_VERSION)
        .expect_err("trailing byte");
    assert_eq!(trailing.error, ResponseError::InvalidRequest);
    let truncated = decode_body::<BrokerHeartbeatRequest>(&bytes[..3], BROKER_HEARTBEAT_VERSION)
        .expect_err("truncated");
    assert_eq!(truncated.error, ResponseError::InvalidRequest);
    let refused = heartbeat_response(&Err(ControllerError::new(
        ResponseError::DuplicateBrokerRegistration,
        "dup",
    )));
    let bytes = encode_body(&refused, BROKER_HEARTBEAT_VERSION).expect("encoded");
    let back: BrokerHeartbeatResponse =
        decode_body(&bytes, BROKER_HEARTBEAT_VERSION).expect("decoded");
    let err = HeartbeatReply::from_wire(&back).expect_err("refusal");
    assert_eq!(err.error, ResponseError::DuplicateBrokerRegistration);
    let ok = heartbeat_response(&Ok(HeartbeatReply {
        is_caught_up: true,
        is_fenced: false,
        in_controlled_shutdown: false,
        should_shut_down: true,
    }));
    let reply = HeartbeatReply::from_wire(&ok).expect("ok");
    assert!(reply.is_caught_up && !reply.is_fenced && reply.should_shut_down);
    let registration = registration_response(&Ok(RegistrationReply { broker_epoch: 4 }));
    assert_eq!(
        RegistrationReply::from_wire(&registration)
            .expect("ok")
            .broker_epoch,
        4
    );
}
