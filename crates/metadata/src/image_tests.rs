use crate::test_records::*;
use crate::{
    ConfigResource, MetadataError, MetadataImage, MetadataRecord, PartitionChange, TopicId,
};

#[test]
fn create_partition_config_delete() {
    let mut image = MetadataImage::new();
    let id = TopicId::random();
    image.apply(&topic("a", id), 0).unwrap();
    image.apply(&partition(id, 0, &[1]), 1).unwrap();
    image
        .apply(&topic_config("a", "retention.ms", Some("5")), 2)
        .unwrap();
    let t = image.topic("a").unwrap();
    assert_eq!(t.partitions.len(), 1);
    assert_eq!(t.configs["retention.ms"], "5");
    assert!(!t.internal);
    assert_eq!(image.topic_by_id(&id).unwrap().name, "a");
    assert_eq!(
        image.apply(&topic("a", TopicId::random()), 3),
        Err(MetadataError::TopicExists("a".into()))
    );
    image.apply(&MetadataRecord::RemoveTopic { id }, 4).unwrap();
    assert!(image.topic("a").is_none());
    assert_eq!(image.last_offset(), 4);
}

#[test]
fn a_batch_yields_its_delta() {
    let base = {
        let mut image = MetadataImage::new();
        let old = TopicId([1; 16]);
        image.apply(&broker(1, 0), 0).unwrap();
        image.apply(&topic("old", old), 1).unwrap();
        image.apply(&partition(old, 0, &[1]), 2).unwrap();
        image.apply(&topic("kept", TopicId([2; 16])), 3).unwrap();
        image
            .apply(&partition(TopicId([2; 16]), 0, &[1]), 4)
            .unwrap();
        image
    };
    let new = TopicId([5; 16]);
    let brief = TopicId([6; 16]);
    let kept = TopicId([2; 16]);
    let records = vec![
        topic("new", new),
        partition(new, 0, &[1]),
        partition(new, 1, &[1]),
        topic("brief", brief),
        partition(brief, 0, &[1]),
        MetadataRecord::RemoveTopic { id: brief },
        MetadataRecord::RemoveTopic {
            id: TopicId([1; 16]),
        },
        MetadataRecord::PartitionChange(PartitionChange {
            leader: -1,
            isr: Some(vec![]),
            ..PartitionChange::new(kept, 0)
        }),
        topic_config("kept", "cleanup.policy", Some("compact")),
        MetadataRecord::Config {
            resource: ConfigResource::Broker(None),
            name: "log.retention.ms".into(),
            value: Some("9".into()),
        },
        MetadataRecord::UnfenceBroker {
            broker_id: 1,
            broker_epoch: 0,
        },
        MetadataRecord::FeatureLevel {
            name: "metadata.version".into(),
            level: 7,
        },
        MetadataRecord::ProducerIds {
            broker_id: 1,
            broker_epoch: 0,
            next_producer_id: 1000,
        },
    ];
    let (image, delta) = base.apply_batch(&records, 10).unwrap();
    assert_eq!(delta.created_topics.iter().collect::<Vec<_>>(), vec![&new]);
    assert_eq!(
        delta.created_partitions.iter().collect::<Vec<_>>(),
        vec![&(new, 0), &(new, 1)]
    );
    assert_eq!(
        delta.deleted_topics.len(),
        1,
        "the brief topic leaves no trace"
    );
    assert_eq!(delta.deleted_topics[0].name, "old");
    assert_eq!(delta.deleted_topics[0].partitions, vec![0]);
    assert_eq!(
        delta.changed_partitions.iter().collect::<Vec<_>>(),
        vec![&(kept, 0)]
    );
    assert!(delta.topic_configs_changed.contains(&kept));
    assert!(delta.broker_configs_changed.contains(&None));
    assert!(delta.unfenced_brokers.contains(&1));
    assert!(delta.features_changed.contains("metadata.version"));
    assert!(delta.producer_ids_changed);
    let p = &image.topic("kept").unwrap().partitions[&0];
    assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (-1, 1, 1));
    assert!(!image.broker(1).unwrap().fenced);
    assert_eq!(image.feature_level("metadata.version"), Some(7));
    assert_eq!(image.next_producer_id(), 1000);
    assert_eq!(image.last_offset(), 10 + records.len() as i64 - 1);
    assert!(base.topic("new").is_none(), "the base image is untouched");
}

#[test]
fn a_refused_record_fails_the_whole_batch() {
    let id = TopicId([1; 16]);
    let records = vec![
        topic("a", id),
        partition(id, 0, &[1]),
        partition(id, 0, &[1]),
    ];
    let base = MetadataImage::new();
    assert!(matches!(
        base.apply_batch(&records, 0),
        Err(MetadataError::Invalid(_))
    ));
}

#[test]
fn broker_registration_fencing_and_epochs() {
    let mut image = MetadataImage::new();
    image.apply(&broker(1, 10), 0).unwrap();
    let b = image.broker(1).unwrap();
    assert!(b.fenced, "a broker registers fenced");
    assert_eq!(b.first_address(), ("127.0.0.1", 9092));
    assert_eq!(b.listeners.len(), 2);
    assert_eq!(b.rack.as_deref(), Some("r1"));
    let unfence = |epoch| MetadataRecord::UnfenceBroker {
        broker_id: 1,
        broker_epoch: epoch,
    };
    assert!(matches!(
        image.apply(&unfence(9), 1),
        Err(MetadataError::Invalid(_))
    ));
    image.apply(&unfence(10), 1).unwrap();
    assert!(!image.broker(1).unwrap().fenced);
    let (image, delta) = image
        .apply_batch(
            &[MetadataRecord::UnregisterBroker {
                broker_id: 1,
                broker_epoch: 10,
            }],
            2,
        )
        .unwrap();
    assert!(image.broker(1).is_none());
    assert!(delta.unregistered_brokers.contains(&1));
    assert_eq!(
        image.check(&unfence(10)),
        Err(MetadataError::UnknownBroker(1))
    );
}

#[test]
fn partition_assignments_are_checked() {
    let id = TopicId([1; 16]);
    let mut image = MetadataImage::new();
    image.apply(&topic("a", id), 0).unwrap();
    let mut bad = partition(id, 0, &[1, 1]);
    assert!(image.check(&bad).is_err(), "duplicate replica");
    bad = partition(id, -1, &[1]);
    assert!(image.check(&bad).is_err(), "negative partition");
    image.apply(&partition(id, 0, &[1, 2]), 1).unwrap();
    let change = MetadataRecord::PartitionChange(PartitionChange {
        leader: 3,
        ..PartitionChange::new(id, 0)
    });
    assert!(image.check(&change).is_err(), "leader outside the replicas");
    let unknown = MetadataRecord::PartitionChange(PartitionChange::new(id, 5));
    assert!(image.check(&unknown).is_err());
}

#[test]
fn internal_topics_are_known_by_name() {
    let mut image = MetadataImage::new();
    image
        .apply(&topic("__consumer_offsets", TopicId([1; 16])), 0)
        .unwrap();
    assert!(image.topic("__consumer_offsets").unwrap().internal);
}

#[test]
fn producer_id_blocks_only_move_forward() {
    let mut image = MetadataImage::new();
    let block = |next| MetadataRecord::ProducerIds {
        broker_id: 1,
        broker_epoch: 0,
        next_producer_id: next,
    };
    image.apply(&block(1000), 0).unwrap();
    assert!(image.check(&block(1000)).is_err());
    assert_eq!(image.next_producer_id(), 1000);
}

#[test]
fn everything_in_an_image_is_what_replaying_it_from_empty_changes() {
    let id = TopicId([4; 16]);
    let records = vec![
        broker(1, 0),
        topic("a", id),
        topic_config("a", "retention.ms", Some("1")),
        partition(id, 0, &[1]),
        partition(id, 1, &[1]),
        MetadataRecord::ProducerIds {
            broker_id: 1,
            broker_epoch: 0,
            next_producer_id: 10,
        },
    ];
    let (image, delta) = MetadataImage::new().apply_batch(&records, 0).unwrap();
    assert_eq!(crate::MetadataDelta::everything_in(&image), delta);
}

#[test]
fn client_quotas_are_set_removed_and_snapshotted() {
    use crate::{ClientQuotaChange, QuotaEntityPart};
    let part = |t: &str, n: Option<&str>| QuotaEntityPart {
        entity_type: t.into(),
        name: n.map(str::to_string),
    };
    let quota = |entity: Vec<QuotaEntityPart>, key: &str, value: f64, remove: bool| {
        MetadataRecord::ClientQuota(ClientQuotaChange {
            entity,
            key: key.into(),
            value,
            remove,
        })
    };
    let mut image = MetadataImage::new();
    // Parts in either order name the same entity.
    let user_client = vec![part("user", Some("u")), part("client-id", None)];
    let mut client_user = user_client.clone();
    client_user.reverse();
    image
        .apply(&quota(user_client, "producer_byte_rate", 10.0, false), 0)
        .unwrap();
    image
        .apply(
            &quota(client_user.clone(), "consumer_byte_rate", 20.0, false),
            1,
        )
        .unwrap();
    assert_eq!(image.client_quotas().len(), 1);
    let values = image.client_quotas().values().next().unwrap();
    assert_eq!(values["producer_byte_rate"], 10.0);
    assert_eq!(values["consumer_byte_rate"], 20.0);

    let again = MetadataImage::from_records(&image.to_records(), 1).unwrap();
    assert_eq!(again.client_quotas(), image.client_quotas());

    image
        .apply(
            &quota(client_user.clone(), "producer_byte_rate", 0.0, true),
            2,
        )
        .unwrap();
    image
        .apply(&quota(client_user, "consumer_byte_rate", 0.0, true), 3)
        .unwrap();
    assert!(
        image.client_quotas().is_empty(),
        "an entity without quotas is gone"
    );

    let twice = vec![part("user", None), part("user", Some("x"))];
    assert!(image
        .apply(&quota(twice, "producer_byte_rate", 1.0, false), 4)
        .is_err());
    assert!(image
        .apply(&quota(vec![], "producer_byte_rate", 1.0, false), 4)
        .is_err());
}

#[test]
fn scram_credentials_are_set_removed_and_snapshotted() {
    let credential = |name: &str, mechanism: i8| {
        MetadataRecord::UserScramCredential(crate::ScramCredentialRecord {
            name: name.into(),
            mechanism,
            salt: vec![9; 16],
            stored_key: vec![1; 32],
            server_key: vec![2; 32],
            iterations: 4096,
        })
    };
    let mut image = MetadataImage::new();
    image.apply(&credential("alice", 1), 0).unwrap();
    image.apply(&credential("alice", 2), 1).unwrap();
    image.apply(&credential("bob", 1), 2).unwrap();
    assert_eq!(image.scram_credentials().count(), 3);
    assert_eq!(image.scram_credential("alice", 2).unwrap().iterations, 4096);
    let again = MetadataImage::from_records(&image.to_records(), 2).unwrap();
    assert_eq!(
        again.scram_credential("bob", 1),
        image.scram_credential("bob", 1)
    );
    assert_eq!(again.scram_credentials().count(), 3);
    image
        .apply(
            &MetadataRecord::RemoveUserScramCredential {
                name: "alice".into(),
                mechanism: 1,
            },
            3,
        )
        .unwrap();
    assert!(image.scram_credential("alice", 1).is_none());
    assert!(image.scram_credential("alice", 2).is_some());
    assert!(
        image.apply(&credential("carol", 3), 4).is_err(),
        "unknown mechanism"
    );
    assert!(image.apply(&credential("", 1), 4).is_err(), "empty name");
}

#[test]
fn acls_are_added_removed_snapshotted_and_reported_in_the_delta() {
    let acl = |n: u8, name: &str| {
        MetadataRecord::AccessControlEntry(crate::AclRecord {
            id: [n; 16],
            resource_type: crate::AclResourceType::Topic,
            resource_name: name.into(),
            pattern_type: crate::AclPatternType::Literal,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: crate::AclOperation::Read,
            permission: crate::AclPermission::Allow,
        })
    };
    let image = MetadataImage::new();
    let (mut image, delta) = image.apply_batch(&[acl(1, "a"), acl(2, "b")], 0).unwrap();
    assert!(delta.acls_changed);
    assert_eq!(image.acls().len(), 2);
    assert!(image.apply(&acl(1, "c"), 2).is_err(), "id in use");
    let again = MetadataImage::from_records(&image.to_records(), 1).unwrap();
    assert_eq!(again.acls(), image.acls());
    let remove = |n: u8| MetadataRecord::RemoveAccessControlEntry { id: [n; 16] };
    image.apply(&remove(1), 2).unwrap();
    assert_eq!(image.acls().len(), 1);
    assert!(image.apply(&remove(1), 3).is_err(), "unknown id");
    assert_eq!(
        crate::AclLookup::matching(image.acls(), crate::AclResourceType::Topic, "b").len(),
        1
    );
}

#[test]
fn an_entry_applies_all_of_its_records_or_none() {
    let kept = TopicId([2; 16]);
    let before = {
        let mut image = MetadataImage::new();
        image.apply(&broker(1, 0), 0).unwrap();
        image.apply(&topic("kept", kept), 1).unwrap();
        image.apply(&partition(kept, 0, &[1]), 2).unwrap();
        image
    };
    let new = TopicId([5; 16]);
    let creation = |last: MetadataRecord| {
        vec![
            topic("new", new),
            partition(new, 0, &[1]),
            topic_config("new", "retention.ms", Some("5")),
            partition(new, 1, &[1]),
            last,
        ]
    };
    // A new topic refused at its last partition (the path that applies in place):
    // nothing of it stays, the offset included.
    let mut image = before.clone();
    let refused = image.apply_entry(&creation(partition(new, 1, &[1])), 3);
    assert!(refused.is_err());
    assert_eq!(image, before);
    // Refused at its first record (the name is taken).
    let mut taken = creation(partition(new, 2, &[1]));
    taken[0] = topic("kept", new);
    assert_eq!(
        image.apply_entry(&taken, 3),
        Err(MetadataError::TopicExists("kept".into()))
    );
    assert_eq!(image, before);
    // A second new topic whose id is taken: the first is taken out, the existing
    // topic of that id stays.
    let mut two = creation(partition(new, 2, &[1]));
    two.push(topic("other", kept));
    assert!(image.apply_entry(&two, 3).is_err());
    assert_eq!(image, before);
    // Another shape (a config of another topic inside): refused as a whole too.
    let mut mixed = creation(topic_config("kept", "retention.ms", Some("7")));
    mixed.push(partition(new, 0, &[1]));
    assert!(image.apply_entry(&mixed, 3).is_err());
    assert_eq!(image, before);
    // Taken whole.
    image
        .apply_entry(&creation(partition(new, 2, &[1])), 3)
        .unwrap();
    let t = image.topic("new").unwrap();
    assert_eq!(t.partitions.len(), 3);
    assert_eq!(t.configs["retention.ms"], "5");
    assert_eq!(image.last_offset(), 3);
    let mut replayed = before.clone();
    for r in creation(partition(new, 2, &[1])) {
        replayed.apply(&r, 3).unwrap();
    }
    assert_eq!(image, replayed);
}
