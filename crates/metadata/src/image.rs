//! The metadata image: the state obtained by applying records in order.

use crate::acl_index::AclIndex;
use crate::delta::{DeletedTopic, MetadataDelta};
use crate::partition_index::{PartitionIndex, PartitionKey};
use crate::record_types::{
    BrokerEndpoint, BrokerFeature, BrokerRegistration, ConfigResource, PartitionChange,
    PartitionRecord, QuotaEntity, ScramCredentialRecord, LEADER_UNCHANGED, NO_LEADER,
    SCRAM_MECHANISM_CODES,
};
use crate::{MetadataError, MetadataRecord, TopicId};
use std::collections::BTreeMap;
use std::sync::Arc;

mod delta_to;
mod entry;
mod snapshot_records;

/// Topics Kafka reports as internal (`Topic.isInternal`).
const INTERNAL_TOPIC_NAMES: [&str; 2] = ["__consumer_offsets", "__transaction_state"];

#[derive(Debug, Clone, PartialEq)]
pub struct BrokerImage {
    pub id: i32,
    pub incarnation_id: [u8; 16],
    pub epoch: i64,
    /// Every listener, in registration order.
    pub listeners: Vec<BrokerEndpoint>,
    pub rack: Option<String>,
    pub features: Vec<BrokerFeature>,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
}

impl BrokerImage {
    /// The first registered listener's address, for a client whose listener this broker
    /// lacks (registration refuses a broker without listeners).
    pub fn first_address(&self) -> (&str, i32) {
        self.listeners
            .first()
            .map_or(("", -1), |e| (e.host.as_str(), i32::from(e.port)))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionImage {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub removing_replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopicImage {
    pub name: String,
    pub id: TopicId,
    pub internal: bool,
    pub partitions: BTreeMap<i32, PartitionImage>,
    pub configs: BTreeMap<String, String>,
}

/// Brokers, topics, configs, features and the producer-id block as of the last
/// applied record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetadataImage {
    brokers: BTreeMap<i32, BrokerImage>,
    topics: BTreeMap<String, TopicImage>,
    names_by_id: BTreeMap<TopicId, String>,
    /// Dynamic broker configs: key (None = cluster default) -> name -> value.
    broker_configs: BTreeMap<Option<i32>, BTreeMap<String, String>>,
    /// Finalized feature levels by name.
    features: BTreeMap<String, i16>,
    /// Client quotas: entity (parts ordered by type) -> quota key -> value.
    client_quotas: BTreeMap<QuotaEntity, BTreeMap<String, f64>>,
    /// SCRAM credentials by user name and mechanism code.
    scram_credentials: BTreeMap<(String, i8), ScramCredentialRecord>,
    /// The ACLs, shared between image copies until one changes them.
    acls: Arc<AclIndex>,
    /// The first producer id not yet handed out in a block (0 before any).
    next_producer_id: i64,
    /// Offset of the last record applied, -1 before any.
    last_offset: i64,
    /// Partitions by leader, by replica, and those led by another than their
    /// preferred replica: the controller looks at the partitions a decision concerns
    /// instead of walking every partition.
    index: PartitionIndex,
}

impl MetadataImage {
    pub fn new() -> Self {
        MetadataImage {
            last_offset: -1,
            ..Default::default()
        }
    }

    /// Every client quota entity with its quotas, entities in order.
    pub fn client_quotas(&self) -> &BTreeMap<QuotaEntity, BTreeMap<String, f64>> {
        &self.client_quotas
    }

    /// A user's SCRAM credential for a mechanism code (1 SHA-256, 2 SHA-512).
    pub fn scram_credential(&self, name: &str, mechanism: i8) -> Option<&ScramCredentialRecord> {
        self.scram_credentials.get(&(name.to_string(), mechanism))
    }

    /// Every SCRAM credential, by user name then mechanism.
    pub fn scram_credentials(&self) -> impl Iterator<Item = &ScramCredentialRecord> {
        self.scram_credentials.values()
    }

    /// The ACLs, indexed for the authorizer.
    pub fn acls(&self) -> &AclIndex {
        &self.acls
    }

    /// Checks a record against the image without changing it.
    pub fn check(&self, record: &MetadataRecord) -> Result<(), MetadataError> {
        self.clone().apply(record, self.last_offset)
    }

    /// Applies one record. Records that fail leave the image unchanged.
    pub fn apply(&mut self, record: &MetadataRecord, offset: i64) -> Result<(), MetadataError> {
        self.apply_to_delta(record, offset, &mut MetadataDelta::default())
    }

    /// Applies `records` (at offsets `first_offset..`) to a copy of the image: the new
    /// image and what changed, or the first error (and no change at all).
    pub fn apply_batch(
        &self,
        records: &[MetadataRecord],
        first_offset: i64,
    ) -> Result<(MetadataImage, MetadataDelta), MetadataError> {
        let mut image = self.clone();
        let mut delta = MetadataDelta::default();
        for (i, r) in records.iter().enumerate() {
            image.apply_to_delta(r, first_offset + i as i64, &mut delta)?;
        }
        Ok((image, delta))
    }

    /// Applies one record and notes its effect in `delta`. Every check comes before
    /// the first change, so a refused record leaves image and delta as they were.
    pub fn apply_to_delta(
        &mut self,
        record: &MetadataRecord,
        offset: i64,
        delta: &mut MetadataDelta,
    ) -> Result<(), MetadataError> {
        use MetadataRecord as R;
        match record {
            R::RegisterBroker(b) => self.register_broker(b, delta)?,
            R::UnregisterBroker {
                broker_id,
                broker_epoch,
            } => {
                self.registered(*broker_id, *broker_epoch)?;
                self.brokers.remove(broker_id);
                delta.registered_brokers.remove(broker_id);
                delta.fenced_brokers.remove(broker_id);
                delta.unfenced_brokers.remove(broker_id);
                delta.unregistered_brokers.insert(*broker_id);
            }
            R::FenceBroker {
                broker_id,
                broker_epoch,
            }
            | R::UnfenceBroker {
                broker_id,
                broker_epoch,
            } => {
                let fenced = matches!(record, R::FenceBroker { .. });
                self.registered(*broker_id, *broker_epoch)?;
                if let Some(b) = self.brokers.get_mut(broker_id) {
                    b.fenced = fenced;
                }
                delta.broker_fenced(*broker_id, fenced);
            }
            R::Topic { name, id } => {
                if self.topics.contains_key(name) {
                    return Err(MetadataError::TopicExists(name.clone()));
                }
                if self.names_by_id.contains_key(id) {
                    return Err(MetadataError::Invalid(format!("topic id {id} is taken")));
                }
                self.names_by_id.insert(*id, name.clone());
                self.topics.insert(
                    name.clone(),
                    TopicImage {
                        name: name.clone(),
                        id: *id,
                        internal: INTERNAL_TOPIC_NAMES.contains(&name.as_str()),
                        partitions: BTreeMap::new(),
                        configs: BTreeMap::new(),
                    },
                );
                delta.created_topics.insert(*id);
            }
            R::Partition(p) => self.create_partition(p, delta)?,
            R::PartitionChange(c) => self.change_partition(c, delta)?,
            R::RemoveTopic { id } => {
                let name = self
                    .names_by_id
                    .remove(id)
                    .ok_or_else(|| MetadataError::UnknownTopicId(id.to_string()))?;
                if let Some(topic) = self.topics.remove(&name) {
                    for p in topic.partitions.values() {
                        self.index.remove(&name, p);
                    }
                    delta.topic_removed(DeletedTopic {
                        name,
                        id: *id,
                        partitions: topic.partitions.into_keys().collect(),
                    });
                }
            }
            R::Config {
                resource,
                name,
                value,
            } => {
                let configs = match resource {
                    ConfigResource::Topic(topic) => {
                        let t = self
                            .topics
                            .get_mut(topic)
                            .ok_or_else(|| MetadataError::UnknownTopic(topic.clone()))?;
                        delta.topic_configs_changed.insert(t.id);
                        &mut t.configs
                    }
                    ConfigResource::Broker(broker) => {
                        delta.broker_configs_changed.insert(*broker);
                        self.broker_configs.entry(*broker).or_default()
                    }
                };
                match value {
                    Some(v) => configs.insert(name.clone(), v.clone()),
                    None => configs.remove(name),
                };
            }
            R::FeatureLevel { name, level } => {
                // Level 0 is how KRaft removes a feature.
                if *level == 0 {
                    self.features.remove(name);
                } else {
                    self.features.insert(name.clone(), *level);
                }
                delta.features_changed.insert(name.clone());
            }
            R::ClientQuota(q) => {
                let mut entity = q.entity.clone();
                entity.sort();
                let types_unique = entity
                    .windows(2)
                    .all(|w| w[0].entity_type != w[1].entity_type);
                if entity.is_empty() || !types_unique {
                    return Err(MetadataError::Invalid(format!(
                        "client quota entity {:?} is empty or names a type twice",
                        q.entity
                    )));
                }
                if q.remove {
                    if let Some(values) = self.client_quotas.get_mut(&entity) {
                        values.remove(&q.key);
                        if values.is_empty() {
                            self.client_quotas.remove(&entity);
                        }
                    }
                } else {
                    self.client_quotas
                        .entry(entity)
                        .or_default()
                        .insert(q.key.clone(), q.value);
                }
                delta.client_quotas_changed = true;
            }
            R::UserScramCredential(c) => {
                if c.name.is_empty() || !SCRAM_MECHANISM_CODES.contains(&c.mechanism) {
                    return Err(MetadataError::Invalid(format!(
                        "SCRAM credential for user '{}' with mechanism {}",
                        c.name, c.mechanism
                    )));
                }
                self.scram_credentials
                    .insert((c.name.clone(), c.mechanism), c.clone());
            }
            R::RemoveUserScramCredential { name, mechanism } => {
                self.scram_credentials.remove(&(name.clone(), *mechanism));
            }
            R::ProducerIds {
                next_producer_id, ..
            } => {
                if *next_producer_id <= self.next_producer_id {
                    return Err(MetadataError::Invalid(format!(
                        "producer id block ending at {next_producer_id} does not move past {}",
                        self.next_producer_id
                    )));
                }
                self.next_producer_id = *next_producer_id;
                delta.producer_ids_changed = true;
            }
            R::AccessControlEntry(acl) => {
                Arc::make_mut(&mut self.acls).insert(acl.clone())?;
                delta.acls_changed = true;
            }
            R::RemoveAccessControlEntry { id } => {
                if self.acls.get(id).is_none() {
                    return Err(MetadataError::Invalid(format!(
                        "no ACL with id {}",
                        uuid::Uuid::from_bytes(*id)
                    )));
                }
                Arc::make_mut(&mut self.acls).remove(id)?;
                delta.acls_changed = true;
            }
            R::NoOp => {}
        }
        self.last_offset = offset;
        Ok(())
    }

    fn register_broker(
        &mut self,
        b: &BrokerRegistration,
        delta: &mut MetadataDelta,
    ) -> Result<(), MetadataError> {
        if b.endpoints.is_empty() {
            return Err(MetadataError::Invalid(format!(
                "broker {} registers no listener",
                b.broker_id
            )));
        }
        self.brokers.insert(
            b.broker_id,
            BrokerImage {
                id: b.broker_id,
                incarnation_id: b.incarnation_id,
                epoch: b.broker_epoch,
                listeners: b.endpoints.clone(),
                rack: b.rack.clone(),
                features: b.features.clone(),
                fenced: b.fenced,
                in_controlled_shutdown: b.in_controlled_shutdown,
            },
        );
        delta.unregistered_brokers.remove(&b.broker_id);
        delta.registered_brokers.insert(b.broker_id);
        delta.broker_fenced(b.broker_id, b.fenced);
        Ok(())
    }

    /// The broker, if registered with exactly `epoch`.
    fn registered(&self, id: i32, epoch: i64) -> Result<&BrokerImage, MetadataError> {
        let b = self
            .brokers
            .get(&id)
            .ok_or(MetadataError::UnknownBroker(id))?;
        if b.epoch != epoch {
            return Err(MetadataError::Invalid(format!(
                "broker {id} epoch {epoch} is not the registered {}",
                b.epoch
            )));
        }
        Ok(b)
    }

    fn create_partition(
        &mut self,
        p: &PartitionRecord,
        delta: &mut MetadataDelta,
    ) -> Result<(), MetadataError> {
        check_assignment(p.partition, &p.replicas, &p.isr, p.leader)?;
        check_reassignment(
            p.partition,
            &p.replicas,
            &p.removing_replicas,
            &p.adding_replicas,
        )?;
        let topic = self.topic_by_id_mut(&p.topic_id)?;
        if topic.partitions.contains_key(&p.partition) {
            return Err(MetadataError::Invalid(format!(
                "partition {}-{} exists",
                topic.name, p.partition
            )));
        }
        let partition = PartitionImage {
            partition: p.partition,
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            removing_replicas: p.removing_replicas.clone(),
            adding_replicas: p.adding_replicas.clone(),
        };
        let name = topic.name.clone();
        topic.partitions.insert(p.partition, partition.clone());
        self.index.insert(&name, &partition);
        delta.created_partitions.insert((p.topic_id, p.partition));
        Ok(())
    }

    /// The partitions `leader` leads (`NO_LEADER`: those without a leader), in
    /// topic-name and partition order.
    pub fn partitions_led_by(
        &self,
        leader: i32,
    ) -> impl Iterator<Item = (&TopicImage, &PartitionImage)> + '_ {
        self.index
            .led_by(leader)
            .filter_map(|key| self.indexed(key))
    }

    /// Every id that leads a partition (`NO_LEADER` when some have none).
    pub fn leader_ids(&self) -> impl Iterator<Item = i32> + '_ {
        self.index.leader_ids()
    }

    /// The partitions `broker` is a replica of (so every ISR holding it), in
    /// topic-name and partition order.
    pub fn partitions_with_replica(
        &self,
        broker: i32,
    ) -> impl Iterator<Item = (&TopicImage, &PartitionImage)> + '_ {
        self.index
            .with_replica(broker)
            .filter_map(|key| self.indexed(key))
    }

    /// The partitions whose leader is not their preferred (first) replica, in
    /// topic-name and partition order.
    pub fn partitions_led_elsewhere(
        &self,
    ) -> impl Iterator<Item = (&TopicImage, &PartitionImage)> + '_ {
        self.index
            .led_elsewhere()
            .filter_map(|key| self.indexed(key))
    }

    /// How many partitions have `broker` as their preferred (first) replica.
    pub fn preferred_replica_count(&self, broker: i32) -> u64 {
        self.index.preferred_count(broker)
    }

    fn indexed(&self, (name, partition): &PartitionKey) -> Option<(&TopicImage, &PartitionImage)> {
        let topic = self.topics.get(name)?;
        Some((topic, topic.partitions.get(partition)?))
    }

    fn change_partition(
        &mut self,
        c: &PartitionChange,
        delta: &mut MetadataDelta,
    ) -> Result<(), MetadataError> {
        let topic = self.topic_by_id_mut(&c.topic_id)?;
        let name = topic.name.clone();
        let p = topic
            .partitions
            .get_mut(&c.partition)
            .ok_or_else(|| MetadataError::UnknownTopic(format!("{name}-{}", c.partition)))?;
        let replicas = c.replicas.as_ref().unwrap_or(&p.replicas);
        let isr = c.isr.as_ref().unwrap_or(&p.isr);
        let leader = if c.leader == LEADER_UNCHANGED {
            p.leader
        } else {
            c.leader
        };
        check_assignment(c.partition, replicas, isr, leader)?;
        let removing = c.removing_replicas.as_ref().unwrap_or(&p.removing_replicas);
        let adding = c.adding_replicas.as_ref().unwrap_or(&p.adding_replicas);
        check_reassignment(c.partition, replicas, removing, adding)?;
        // Only a new leader or replica list moves the partition in the index.
        let before = (leader != p.leader || *replicas != p.replicas).then(|| p.clone());
        p.replicas = replicas.clone();
        p.isr = isr.clone();
        p.removing_replicas = removing.clone();
        p.adding_replicas = adding.clone();
        if c.leader != LEADER_UNCHANGED {
            // As in KRaft: every leader change starts a new leader epoch.
            p.leader = c.leader;
            p.leader_epoch = p.leader_epoch.saturating_add(1);
        }
        p.partition_epoch = p.partition_epoch.saturating_add(1);
        if let Some(before) = before {
            let after = p.clone();
            self.index.remove(&name, &before);
            self.index.insert(&name, &after);
        }
        delta.partition_changed(c.topic_id, c.partition);
        Ok(())
    }

    fn topic_by_id_mut(&mut self, id: &TopicId) -> Result<&mut TopicImage, MetadataError> {
        let name = self
            .names_by_id
            .get(id)
            .ok_or_else(|| MetadataError::UnknownTopicId(id.to_string()))?;
        self.topics
            .get_mut(name)
            .ok_or_else(|| MetadataError::UnknownTopicId(id.to_string()))
    }

    pub fn brokers(&self) -> impl Iterator<Item = &BrokerImage> {
        self.brokers.values()
    }
    pub fn broker(&self, id: i32) -> Option<&BrokerImage> {
        self.brokers.get(&id)
    }
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.topics.values()
    }
    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name)
    }
    pub fn topic_by_id(&self, id: &TopicId) -> Option<&TopicImage> {
        self.names_by_id.get(id).and_then(|n| self.topics.get(n))
    }
    pub fn broker_configs(&self, broker: Option<i32>) -> Option<&BTreeMap<String, String>> {
        self.broker_configs.get(&broker)
    }
    /// Every dynamic broker config set, by broker (`None`: cluster default).
    pub fn all_broker_configs(
        &self,
    ) -> impl Iterator<Item = (&Option<i32>, &BTreeMap<String, String>)> {
        self.broker_configs.iter()
    }
    pub fn feature_level(&self, name: &str) -> Option<i16> {
        self.features.get(name).copied()
    }
    pub fn features(&self) -> impl Iterator<Item = (&String, &i16)> {
        self.features.iter()
    }
    /// The first producer id no block has handed out yet.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }
    pub fn last_offset(&self) -> i64 {
        self.last_offset
    }
}

/// A partition's id, replicas, ISR and leader must fit together.
/// A reassignment's adding and removing replicas are replicas, each once, and no
/// replica is both.
fn check_reassignment(
    partition: i32,
    replicas: &[i32],
    removing: &[i32],
    adding: &[i32],
) -> Result<(), MetadataError> {
    let mut moving: Vec<i32> = removing.iter().chain(adding).copied().collect();
    moving.sort_unstable();
    let distinct = moving.windows(2).all(|w| w[0] != w[1]);
    if !distinct || !moving.iter().all(|r| replicas.contains(r)) {
        return Err(MetadataError::Invalid(format!(
            "partition {partition}: replicas being added {adding:?} and removed {removing:?} must be distinct replicas of {replicas:?}"
        )));
    }
    if removing.len() >= replicas.len() {
        return Err(MetadataError::Invalid(format!(
            "partition {partition}: a reassignment may not remove every replica of {replicas:?}"
        )));
    }
    Ok(())
}

fn check_assignment(
    partition: i32,
    replicas: &[i32],
    isr: &[i32],
    leader: i32,
) -> Result<(), MetadataError> {
    let invalid = |why: &str| {
        Err(MetadataError::Invalid(format!(
            "partition {partition}: {why}"
        )))
    };
    if partition < 0 {
        return invalid("negative id");
    }
    if replicas.is_empty() {
        return invalid("no replicas");
    }
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return invalid("a replica is listed twice");
    }
    if !isr.iter().all(|r| replicas.contains(r)) {
        return invalid("an in-sync replica is not a replica");
    }
    if leader != NO_LEADER && !replicas.contains(&leader) {
        return invalid("the leader is not a replica");
    }
    Ok(())
}
