//! Records for tests: a broker, a topic with partitions, one of every kind.

use crate::record_types::*;
use crate::{MetadataRecord, TopicId};

pub fn broker(id: i32, epoch: i64) -> MetadataRecord {
    MetadataRecord::RegisterBroker(BrokerRegistration {
        broker_id: id,
        incarnation_id: [7; 16],
        broker_epoch: epoch,
        endpoints: vec![
            BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 9092,
                security_protocol: SecurityProtocol::Plaintext,
            },
            BrokerEndpoint {
                name: "INTERNAL".into(),
                host: "10.0.0.1".into(),
                port: 19092,
                security_protocol: SecurityProtocol::SaslSsl,
            },
        ],
        features: vec![BrokerFeature {
            name: "metadata.version".into(),
            min_supported: 1,
            max_supported: 20,
        }],
        rack: Some("r1".into()),
        fenced: true,
        in_controlled_shutdown: false,
    })
}

pub fn topic(name: &str, id: TopicId) -> MetadataRecord {
    MetadataRecord::Topic {
        name: name.into(),
        id,
    }
}

pub fn partition(id: TopicId, partition: i32, replicas: &[i32]) -> MetadataRecord {
    MetadataRecord::Partition(PartitionRecord {
        topic_id: id,
        partition,
        replicas: replicas.to_vec(),
        isr: replicas.to_vec(),
        removing_replicas: vec![],
        adding_replicas: vec![],
        leader: replicas[0],
        leader_epoch: 0,
        partition_epoch: 0,
    })
}

pub fn topic_config(topic: &str, name: &str, value: Option<&str>) -> MetadataRecord {
    MetadataRecord::Config {
        resource: ConfigResource::Topic(topic.into()),
        name: name.into(),
        value: value.map(String::from),
    }
}

/// One record of every type, with non-default fields.
pub fn one_of_each() -> Vec<MetadataRecord> {
    let id = TopicId([3; 16]);
    vec![
        broker(1, 10),
        MetadataRecord::UnregisterBroker {
            broker_id: 2,
            broker_epoch: 5,
        },
        topic("payments", id),
        partition(id, 0, &[1, 2, 3]),
        topic_config("payments", "retention.ms", Some("1000")),
        topic_config("payments", "retention.ms", None),
        MetadataRecord::Config {
            resource: ConfigResource::Broker(None),
            name: "log.retention.ms".into(),
            value: Some("5".into()),
        },
        MetadataRecord::Config {
            resource: ConfigResource::Broker(Some(3)),
            name: "log.retention.ms".into(),
            value: Some("6".into()),
        },
        MetadataRecord::PartitionChange(PartitionChange {
            isr: Some(vec![1, 2]),
            leader: 2,
            replicas: Some(vec![2, 1]),
            ..PartitionChange::new(id, 0)
        }),
        MetadataRecord::PartitionChange(PartitionChange {
            replicas: Some(vec![2, 3, 1]),
            removing_replicas: Some(vec![1]),
            adding_replicas: Some(vec![3]),
            ..PartitionChange::new(id, 0)
        }),
        MetadataRecord::PartitionChange(PartitionChange::new(id, 1)),
        MetadataRecord::FenceBroker {
            broker_id: 1,
            broker_epoch: 10,
        },
        MetadataRecord::UnfenceBroker {
            broker_id: 1,
            broker_epoch: 10,
        },
        MetadataRecord::RemoveTopic { id },
        MetadataRecord::FeatureLevel {
            name: "metadata.version".into(),
            level: 20,
        },
        MetadataRecord::ClientQuota(ClientQuotaChange {
            entity: vec![
                QuotaEntityPart {
                    entity_type: "client-id".into(),
                    name: None,
                },
                QuotaEntityPart {
                    entity_type: "user".into(),
                    name: Some("alice".into()),
                },
            ],
            key: "producer_byte_rate".into(),
            value: 102400.0,
            remove: false,
        }),
        MetadataRecord::ProducerIds {
            broker_id: 1,
            broker_epoch: 10,
            next_producer_id: 1000,
        },
        MetadataRecord::UserScramCredential(crate::ScramCredentialRecord {
            name: "alice".into(),
            mechanism: 2,
            salt: vec![1, 2, 3],
            stored_key: vec![4; 64],
            server_key: vec![5; 64],
            iterations: 8192,
        }),
        MetadataRecord::RemoveUserScramCredential {
            name: "alice".into(),
            mechanism: 1,
        },
        MetadataRecord::AccessControlEntry(crate::AclRecord {
            id: [7; 16],
            resource_type: crate::AclResourceType::Topic,
            resource_name: "payments-".into(),
            pattern_type: crate::AclPatternType::Prefixed,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: crate::AclOperation::Read,
            permission: crate::AclPermission::Allow,
        }),
        MetadataRecord::RemoveAccessControlEntry { id: [7; 16] },
        MetadataRecord::NoOp,
    ]
}
