//! Encoding and decoding of one metadata record: an unsigned-varint frame version
//! (1), api key and record version, then the record's fields in Kafka's flexible
//! message format (see docs/format/cluster-metadata.md). The decoder is total: any
//! byte string yields a record or an error, never a panic, and a record must use
//! every byte it is given.

use crate::record_types::{
    BrokerEndpoint, BrokerFeature, BrokerRegistration, ClientQuotaChange, ConfigResource,
    PartitionChange, PartitionRecord, QuotaEntityPart, ScramCredentialRecord, SecurityProtocol,
    LEADER_UNCHANGED,
};
use crate::wire::{Reader, Writer};
use crate::{MetadataError, MetadataRecord, TopicId};
use moldau_protocol::acl::{
    AclOperation, AclPatternType, AclPermission, AclRecord, AclResourceType,
};

/// The frame version every record starts with (KRaft's is 1 too).
pub const RECORD_FRAME_VERSION: u32 = 1;
/// Largest encoded record accepted, in bytes.
pub const METADATA_RECORD_BYTES_MAX: usize = 1 << 20;

/// KRaft's metadata record api keys for the records Moldau has.
pub mod api_key {
    pub const REGISTER_BROKER: u32 = 0;
    pub const UNREGISTER_BROKER: u32 = 1;
    pub const TOPIC: u32 = 2;
    pub const PARTITION: u32 = 3;
    pub const CONFIG: u32 = 4;
    pub const PARTITION_CHANGE: u32 = 5;
    pub const FENCE_BROKER: u32 = 7;
    pub const UNFENCE_BROKER: u32 = 8;
    pub const REMOVE_TOPIC: u32 = 9;
    pub const USER_SCRAM_CREDENTIAL: u32 = 11;
    pub const FEATURE_LEVEL: u32 = 12;
    pub const CLIENT_QUOTA: u32 = 14;
    pub const PRODUCER_IDS: u32 = 15;
    pub const ACCESS_CONTROL_ENTRY: u32 = 18;
    pub const REMOVE_ACCESS_CONTROL_ENTRY: u32 = 19;
    pub const NO_OP: u32 = 20;
    pub const REMOVE_USER_SCRAM_CREDENTIAL: u32 = 22;
}

/// RegisterBrokerRecord version written: 1 adds InControlledShutdown to 0.
const REGISTER_BROKER_VERSION: u32 = 1;
/// PartitionChangeRecord tagged fields.
const TAG_ISR: u32 = 0;
const TAG_LEADER: u32 = 1;
const TAG_REPLICAS: u32 = 2;
const TAG_REMOVING_REPLICAS: u32 = 3;
const TAG_ADDING_REPLICAS: u32 = 4;

fn malformed(what: String) -> MetadataError {
    MetadataError::Malformed(what)
}

pub fn api_key_of(record: &MetadataRecord) -> u32 {
    use MetadataRecord as R;
    match record {
        R::RegisterBroker(_) => api_key::REGISTER_BROKER,
        R::UnregisterBroker { .. } => api_key::UNREGISTER_BROKER,
        R::Topic { .. } => api_key::TOPIC,
        R::Partition(_) => api_key::PARTITION,
        R::Config { .. } => api_key::CONFIG,
        R::PartitionChange(_) => api_key::PARTITION_CHANGE,
        R::FenceBroker { .. } => api_key::FENCE_BROKER,
        R::UnfenceBroker { .. } => api_key::UNFENCE_BROKER,
        R::RemoveTopic { .. } => api_key::REMOVE_TOPIC,
        R::FeatureLevel { .. } => api_key::FEATURE_LEVEL,
        R::ClientQuota(_) => api_key::CLIENT_QUOTA,
        R::UserScramCredential(_) => api_key::USER_SCRAM_CREDENTIAL,
        R::RemoveUserScramCredential { .. } => api_key::REMOVE_USER_SCRAM_CREDENTIAL,
        R::ProducerIds { .. } => api_key::PRODUCER_IDS,
        R::AccessControlEntry(_) => api_key::ACCESS_CONTROL_ENTRY,
        R::RemoveAccessControlEntry { .. } => api_key::REMOVE_ACCESS_CONTROL_ENTRY,
        R::NoOp => api_key::NO_OP,
    }
}

/// The record's bytes, frame included.
pub fn encode(record: &MetadataRecord) -> Vec<u8> {
    use MetadataRecord as R;
    let mut w = Writer::default();
    w.uvarint(RECORD_FRAME_VERSION);
    w.uvarint(api_key_of(record));
    let version = match record {
        R::RegisterBroker(_) => REGISTER_BROKER_VERSION,
        _ => 0,
    };
    w.uvarint(version);
    let mut tagged: Vec<(u32, Vec<u8>)> = Vec::new();
    match record {
        R::RegisterBroker(b) => encode_registration(&mut w, b),
        R::UnregisterBroker {
            broker_id,
            broker_epoch,
        }
        | R::FenceBroker {
            broker_id,
            broker_epoch,
        }
        | R::UnfenceBroker {
            broker_id,
            broker_epoch,
        } => {
            w.i32(*broker_id);
            w.i64(*broker_epoch);
        }
        R::Topic { name, id } => {
            w.string(name);
            w.uuid(&id.0);
        }
        R::Partition(p) => {
            w.i32(p.partition);
            w.uuid(&p.topic_id.0);
            w.i32_array(&p.replicas);
            w.i32_array(&p.isr);
            w.i32_array(&p.removing_replicas);
            w.i32_array(&p.adding_replicas);
            w.i32(p.leader);
            w.i32(p.leader_epoch);
            w.i32(p.partition_epoch);
        }
        R::Config {
            resource,
            name,
            value,
        } => {
            match resource {
                ConfigResource::Topic(topic) => {
                    w.i8(ConfigResource::TOPIC_TYPE);
                    w.string(topic);
                }
                ConfigResource::Broker(broker) => {
                    w.i8(ConfigResource::BROKER_TYPE);
                    w.string(&broker.map(|b| b.to_string()).unwrap_or_default());
                }
            }
            w.string(name);
            w.nullable_string(value.as_deref());
        }
        R::PartitionChange(c) => {
            w.i32(c.partition);
            w.uuid(&c.topic_id.0);
            if let Some(isr) = &c.isr {
                let mut v = Writer::default();
                v.i32_array(isr);
                tagged.push((TAG_ISR, v.buf));
            }
            if c.leader != LEADER_UNCHANGED {
                tagged.push((TAG_LEADER, c.leader.to_be_bytes().to_vec()));
            }
            if let Some(replicas) = &c.replicas {
                let mut v = Writer::default();
                v.i32_array(replicas);
                tagged.push((TAG_REPLICAS, v.buf));
            }
            for (tag, list) in [
                (TAG_REMOVING_REPLICAS, &c.removing_replicas),
                (TAG_ADDING_REPLICAS, &c.adding_replicas),
            ] {
                if let Some(list) = list {
                    let mut v = Writer::default();
                    v.i32_array(list);
                    tagged.push((tag, v.buf));
                }
            }
        }
        R::RemoveTopic { id } => w.uuid(&id.0),
        R::FeatureLevel { name, level } => {
            w.string(name);
            w.i16(*level);
        }
        R::ClientQuota(q) => {
            w.array_len(q.entity.len());
            for part in &q.entity {
                w.string(&part.entity_type);
                w.nullable_string(part.name.as_deref());
                w.tagged_fields(&[]);
            }
            w.string(&q.key);
            w.f64(q.value);
            w.bool(q.remove);
        }
        R::UserScramCredential(c) => {
            w.string(&c.name);
            w.i8(c.mechanism);
            w.bytes(&c.salt);
            w.bytes(&c.stored_key);
            w.bytes(&c.server_key);
            w.i32(c.iterations);
        }
        R::RemoveUserScramCredential { name, mechanism } => {
            w.string(name);
            w.i8(*mechanism);
        }
        R::ProducerIds {
            broker_id,
            broker_epoch,
            next_producer_id,
        } => {
            w.i32(*broker_id);
            w.i64(*broker_epoch);
            w.i64(*next_producer_id);
        }
        R::AccessControlEntry(a) => {
            w.uuid(&a.id);
            w.i8(a.resource_type.code());
            w.string(&a.resource_name);
            w.i8(a.pattern_type.code());
            w.string(&a.principal);
            w.string(&a.host);
            w.i8(a.operation.code());
            w.i8(a.permission.code());
        }
        R::RemoveAccessControlEntry { id } => w.uuid(id),
        R::NoOp => {}
    }
    w.tagged_fields(&tagged);
    assert!(
        w.buf.len() <= METADATA_RECORD_BYTES_MAX,
        "metadata record too large"
    );
    w.buf
}

fn encode_registration(w: &mut Writer, b: &BrokerRegistration) {
    w.i32(b.broker_id);
    w.uuid(&b.incarnation_id);
    w.i64(b.broker_epoch);
    w.array_len(b.endpoints.len());
    for e in &b.endpoints {
        w.string(&e.name);
        w.string(&e.host);
        w.u16(e.port);
        w.i16(e.security_protocol.id());
        w.tagged_fields(&[]);
    }
    w.array_len(b.features.len());
    for f in &b.features {
        w.string(&f.name);
        w.i16(f.min_supported);
        w.i16(f.max_supported);
        w.tagged_fields(&[]);
    }
    w.nullable_string(b.rack.as_deref());
    w.bool(b.fenced);
    w.bool(b.in_controlled_shutdown);
}

/// Decodes one record; see the module comment.
pub fn decode(bytes: &[u8]) -> Result<MetadataRecord, MetadataError> {
    use MetadataRecord as R;
    if bytes.len() > METADATA_RECORD_BYTES_MAX {
        return Err(malformed(format!(
            "record of {} bytes, over the limit {METADATA_RECORD_BYTES_MAX}",
            bytes.len()
        )));
    }
    let mut r = Reader::new(bytes);
    let frame = r.uvarint("frame version")?;
    if frame != RECORD_FRAME_VERSION {
        return Err(malformed(format!("unknown frame version {frame}")));
    }
    let key = r.uvarint("api key")?;
    let version = r.uvarint("record version")?;
    let max_version = match key {
        api_key::REGISTER_BROKER => REGISTER_BROKER_VERSION,
        _ => 0,
    };
    if version > max_version {
        return Err(malformed(format!(
            "record api key {key} version {version} is newer than {max_version}"
        )));
    }
    let mut isr = None;
    let mut leader = LEADER_UNCHANGED;
    let mut replicas = None;
    let mut removing = None;
    let mut adding = None;
    let record = match key {
        api_key::REGISTER_BROKER => R::RegisterBroker(decode_registration(&mut r, version)?),
        api_key::UNREGISTER_BROKER | api_key::FENCE_BROKER | api_key::UNFENCE_BROKER => {
            let broker_id = r.i32("broker id")?;
            let broker_epoch = r.i64("broker epoch")?;
            match key {
                api_key::UNREGISTER_BROKER => R::UnregisterBroker {
                    broker_id,
                    broker_epoch,
                },
                api_key::FENCE_BROKER => R::FenceBroker {
                    broker_id,
                    broker_epoch,
                },
                _ => R::UnfenceBroker {
                    broker_id,
                    broker_epoch,
                },
            }
        }
        api_key::TOPIC => R::Topic {
            name: r.string("topic name")?,
            id: TopicId(r.uuid("topic id")?),
        },
        api_key::PARTITION => R::Partition(PartitionRecord {
            partition: r.i32("partition")?,
            topic_id: TopicId(r.uuid("topic id")?),
            replicas: r.i32_array("replicas")?,
            isr: r.i32_array("isr")?,
            removing_replicas: r.i32_array("removing replicas")?,
            adding_replicas: r.i32_array("adding replicas")?,
            leader: r.i32("leader")?,
            leader_epoch: r.i32("leader epoch")?,
            partition_epoch: r.i32("partition epoch")?,
        }),
        api_key::CONFIG => {
            let resource_type = r.i8("config resource type")?;
            let resource_name = r.string("config resource name")?;
            let resource = match resource_type {
                ConfigResource::TOPIC_TYPE => ConfigResource::Topic(resource_name),
                ConfigResource::BROKER_TYPE if resource_name.is_empty() => {
                    ConfigResource::Broker(None)
                }
                ConfigResource::BROKER_TYPE => {
                    ConfigResource::Broker(Some(resource_name.parse().map_err(|_| {
                        malformed(format!("broker config resource '{resource_name}'"))
                    })?))
                }
                t => return Err(malformed(format!("config resource type {t}"))),
            };
            R::Config {
                resource,
                name: r.string("config name")?,
                value: r.nullable_string("config value")?,
            }
        }
        api_key::PARTITION_CHANGE => R::PartitionChange(PartitionChange {
            partition: r.i32("partition")?,
            topic_id: TopicId(r.uuid("topic id")?),
            isr: None,
            leader: LEADER_UNCHANGED,
            replicas: None,
            removing_replicas: None,
            adding_replicas: None,
        }),
        api_key::REMOVE_TOPIC => R::RemoveTopic {
            id: TopicId(r.uuid("topic id")?),
        },
        api_key::FEATURE_LEVEL => R::FeatureLevel {
            name: r.string("feature name")?,
            level: r.i16("feature level")?,
        },
        api_key::CLIENT_QUOTA => R::ClientQuota(decode_client_quota(&mut r)?),
        api_key::USER_SCRAM_CREDENTIAL => R::UserScramCredential(ScramCredentialRecord {
            name: r.string("scram user name")?,
            mechanism: r.i8("scram mechanism")?,
            salt: r.bytes("scram salt")?,
            stored_key: r.bytes("scram stored key")?,
            server_key: r.bytes("scram server key")?,
            iterations: r.i32("scram iterations")?,
        }),
        api_key::REMOVE_USER_SCRAM_CREDENTIAL => R::RemoveUserScramCredential {
            name: r.string("scram user name")?,
            mechanism: r.i8("scram mechanism")?,
        },
        api_key::PRODUCER_IDS => R::ProducerIds {
            broker_id: r.i32("broker id")?,
            broker_epoch: r.i64("broker epoch")?,
            next_producer_id: r.i64("next producer id")?,
        },
        api_key::ACCESS_CONTROL_ENTRY => R::AccessControlEntry(decode_acl(&mut r)?),
        api_key::REMOVE_ACCESS_CONTROL_ENTRY => R::RemoveAccessControlEntry {
            id: r.uuid("acl id")?,
        },
        api_key::NO_OP => R::NoOp,
        other => {
            return Err(malformed(format!(
                "unknown metadata record api key {other}"
            )))
        }
    };
    let is_change = key == api_key::PARTITION_CHANGE;
    r.tagged_fields(|tag, value| {
        if !is_change {
            return Ok(false);
        }
        let mut v = Reader::new(value);
        match tag {
            TAG_ISR => isr = Some(v.i32_array("isr")?),
            TAG_LEADER => leader = v.i32("leader")?,
            TAG_REPLICAS => replicas = Some(v.i32_array("replicas")?),
            TAG_REMOVING_REPLICAS => removing = Some(v.i32_array("removing replicas")?),
            TAG_ADDING_REPLICAS => adding = Some(v.i32_array("adding replicas")?),
            _ => return Ok(false),
        }
        v.finish("tagged field")?;
        Ok(true)
    })?;
    r.finish("metadata record")?;
    Ok(match record {
        R::PartitionChange(c) => R::PartitionChange(PartitionChange {
            isr,
            leader,
            replicas,
            removing_replicas: removing,
            adding_replicas: adding,
            ..c
        }),
        other => other,
    })
}

fn decode_registration(r: &mut Reader, version: u32) -> Result<BrokerRegistration, MetadataError> {
    let broker_id = r.i32("broker id")?;
    let incarnation_id = r.uuid("incarnation id")?;
    let broker_epoch = r.i64("broker epoch")?;
    // An endpoint is at least two empty strings, a port, a protocol and no tags.
    let count = r
        .array_len(7, "endpoints")?
        .ok_or_else(|| malformed("null endpoints".into()))?;
    let mut endpoints = Vec::with_capacity(count);
    for _ in 0..count {
        let name = r.string("endpoint name")?;
        let host = r.string("endpoint host")?;
        let port = r.u16("endpoint port")?;
        let protocol = r.i16("security protocol")?;
        let security_protocol = SecurityProtocol::from_id(protocol)
            .ok_or_else(|| malformed(format!("security protocol {protocol}")))?;
        r.tagged_fields(|_, _| Ok(false))?;
        endpoints.push(BrokerEndpoint {
            name,
            host,
            port,
            security_protocol,
        });
    }
    let count = r
        .array_len(6, "features")?
        .ok_or_else(|| malformed("null features".into()))?;
    let mut features = Vec::with_capacity(count);
    for _ in 0..count {
        features.push(BrokerFeature {
            name: r.string("feature name")?,
            min_supported: r.i16("feature min")?,
            max_supported: r.i16("feature max")?,
        });
        r.tagged_fields(|_, _| Ok(false))?;
    }
    Ok(BrokerRegistration {
        broker_id,
        incarnation_id,
        broker_epoch,
        endpoints,
        features,
        rack: r.nullable_string("rack")?,
        fenced: r.bool("fenced")?,
        in_controlled_shutdown: version >= 1 && r.bool("in controlled shutdown")?,
    })
}

fn decode_client_quota(r: &mut Reader) -> Result<ClientQuotaChange, MetadataError> {
    // An entity part is at least a type length, a name length and no tags.
    let count = r
        .array_len(3, "quota entity")?
        .ok_or_else(|| malformed("null quota entity".into()))?;
    let mut entity = Vec::with_capacity(count);
    for _ in 0..count {
        entity.push(QuotaEntityPart {
            entity_type: r.string("quota entity type")?,
            name: r.nullable_string("quota entity name")?,
        });
        r.tagged_fields(|_, _| Ok(false))?;
    }
    Ok(ClientQuotaChange {
        entity,
        key: r.string("quota key")?,
        value: r.f64("quota value")?,
        remove: r.bool("quota remove")?,
    })
}

/// An AccessControlEntryRecord's fields; a code outside Kafka's concrete values
/// (ANY, MATCH, UNKNOWN included) is malformed.
fn decode_acl(r: &mut Reader) -> Result<AclRecord, MetadataError> {
    fn code<T>(r: &mut Reader, what: &str, from: fn(i8) -> Option<T>) -> Result<T, MetadataError> {
        let c = r.i8(what)?;
        from(c).ok_or_else(|| malformed(format!("{what} {c}")))
    }
    Ok(AclRecord {
        id: r.uuid("acl id")?,
        resource_type: code(r, "acl resource type", AclResourceType::from_code)?,
        resource_name: r.string("acl resource name")?,
        pattern_type: code(r, "acl pattern type", AclPatternType::from_code)?,
        principal: r.string("acl principal")?,
        host: r.string("acl host")?,
        operation: code(r, "acl operation", AclOperation::from_code)?,
        permission: code(r, "acl permission type", AclPermission::from_code)?,
    })
}
