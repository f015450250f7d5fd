//! Records as Moldau wrote them before the binary format: one JSON object per record
//! value (first byte `{`). Data directories from then are still read; each JSON record
//! becomes the binary records that mean the same. Nothing writes JSON any more.

use crate::record_types::{
    BrokerEndpoint, BrokerRegistration, ConfigResource, PartitionChange, PartitionRecord,
    SecurityProtocol,
};
use crate::{MetadataError, MetadataRecord, TopicId};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The JSON records' shape, exactly as they were serialised.
#[derive(Deserialize)]
#[serde(tag = "type")]
enum JsonRecord {
    RegisterBroker {
        id: i32,
        host: String,
        port: i32,
        rack: Option<String>,
    },
    CreateTopic {
        name: String,
        id: TopicId,
        // Derived from the name now, as Kafka does.
        #[allow(dead_code)]
        internal: bool,
        configs: BTreeMap<String, String>,
    },
    CreatePartition {
        topic_id: TopicId,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
    },
    ChangePartition {
        topic_id: TopicId,
        partition: i32,
        isr: Vec<i32>,
        leader: i32,
        // Never written (nothing changed partitions then); a new leader bumps it now.
        #[allow(dead_code)]
        leader_epoch: i32,
    },
    DeleteTopic {
        id: TopicId,
    },
    SetTopicConfig {
        topic: String,
        key: String,
        value: Option<String>,
    },
    SetBrokerConfig {
        broker: Option<i32>,
        key: String,
        value: Option<String>,
    },
}

/// True when `bytes` is a JSON-era record (binary records start with frame version 1).
pub fn is_legacy(bytes: &[u8]) -> bool {
    bytes.first() == Some(&b'{')
}

/// The binary records one JSON record stands for.
pub fn decode(bytes: &[u8]) -> Result<Vec<MetadataRecord>, MetadataError> {
    if bytes.len() > crate::record_codec::METADATA_RECORD_BYTES_MAX {
        return Err(MetadataError::Malformed(
            "JSON record over the size limit".into(),
        ));
    }
    let json: JsonRecord = serde_json::from_slice(bytes)
        .map_err(|e| MetadataError::Malformed(format!("JSON-era record: {e}")))?;
    Ok(match json {
        JsonRecord::RegisterBroker {
            id,
            host,
            port,
            rack,
        } => {
            let port = u16::try_from(port)
                .map_err(|_| MetadataError::Malformed(format!("broker port {port}")))?;
            vec![MetadataRecord::RegisterBroker(BrokerRegistration {
                broker_id: id,
                incarnation_id: [0; 16],
                broker_epoch: -1,
                endpoints: vec![BrokerEndpoint {
                    name: "PLAINTEXT".into(),
                    host,
                    port,
                    security_protocol: SecurityProtocol::Plaintext,
                }],
                features: Vec::new(),
                rack,
                fenced: false,
                in_controlled_shutdown: false,
            })]
        }
        JsonRecord::CreateTopic {
            name, id, configs, ..
        } => {
            let mut out = vec![MetadataRecord::Topic {
                name: name.clone(),
                id,
            }];
            out.extend(
                configs
                    .into_iter()
                    .map(|(key, value)| MetadataRecord::Config {
                        resource: ConfigResource::Topic(name.clone()),
                        name: key,
                        value: Some(value),
                    }),
            );
            out
        }
        JsonRecord::CreatePartition {
            topic_id,
            partition,
            replicas,
            isr,
            leader,
            leader_epoch,
        } => vec![MetadataRecord::Partition(PartitionRecord {
            topic_id,
            partition,
            replicas,
            isr,
            removing_replicas: Vec::new(),
            adding_replicas: Vec::new(),
            leader,
            leader_epoch,
            partition_epoch: 0,
        })],
        JsonRecord::ChangePartition {
            topic_id,
            partition,
            isr,
            leader,
            ..
        } => vec![MetadataRecord::PartitionChange(PartitionChange {
            isr: Some(isr),
            leader,
            ..PartitionChange::new(topic_id, partition)
        })],
        JsonRecord::DeleteTopic { id } => vec![MetadataRecord::RemoveTopic { id }],
        JsonRecord::SetTopicConfig { topic, key, value } => vec![MetadataRecord::Config {
            resource: ConfigResource::Topic(topic),
            name: key,
            value,
        }],
        JsonRecord::SetBrokerConfig { broker, key, value } => vec![MetadataRecord::Config {
            resource: ConfigResource::Broker(broker),
            name: key,
            value,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_era_records_become_binary_ones() {
        let topic = br#"{"type":"CreateTopic","name":"t","id":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16],"internal":false,"configs":{"retention.ms":"5"}}"#;
        let records = MetadataRecord::from_log_value(topic).unwrap();
        assert_eq!(records.len(), 2);
        assert!(matches!(&records[0], MetadataRecord::Topic { name, .. } if name == "t"));
        assert!(
            matches!(&records[1], MetadataRecord::Config { name, value: Some(v), .. }
            if name == "retention.ms" && v == "5")
        );
        let broker = br#"{"type":"RegisterBroker","id":1,"host":"h","port":9092,"rack":null}"#;
        let records = MetadataRecord::from_log_value(broker).unwrap();
        assert!(matches!(&records[0], MetadataRecord::RegisterBroker(b)
            if b.endpoints[0].port == 9092 && !b.fenced));
        let bad_port = br#"{"type":"RegisterBroker","id":1,"host":"h","port":-1,"rack":null}"#;
        assert!(MetadataRecord::from_log_value(bad_port).is_err());
        assert!(MetadataRecord::from_log_value(b"{garbage").is_err());
    }
}
