//! Validates and carries out changes to topics, partitions and configs. Every change
//! becomes metadata records committed through the active controller (the checks
//! here use this node's image; the image checks again when the entry is applied,
//! on every node alike); the metadata publisher then acts on what changed. Nothing
//! else changes topics.

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::topic_config::{validate_topic_config, TopicConfigDef};
use moldau_metadata::controller::{
    added_partitions, new_topic_partitions, ControllerError, SeededRandom, TopicLayout,
};
use moldau_metadata::{ConfigResource, MetadataRecord, TopicId};
use moldau_protocol::ResponseError;
use std::collections::{BTreeMap, BTreeSet};

/// Kafka's limit on topic name length.
pub const TOPIC_NAME_CHARS_MAX: usize = 249;
/// Upper bound on partitions per topic, so one request cannot exhaust file handles.
pub const TOPIC_PARTITIONS_MAX: i32 = 10_000;
use crate::internal_topics::{self, ReservedTopic};
pub use crate::internal_topics::{OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC};

/// Checks a topic name the way Kafka does.
pub fn validate_topic_name(name: &str) -> Result<(), BrokerError> {
    let invalid = |why: &str| {
        BrokerError::api(
            ResponseError::InvalidTopicException,
            format!("Topic name '{name}' is invalid: {why}"),
        )
    };
    if name.is_empty() {
        return Err(invalid("empty"));
    }
    if name == "." || name == ".." {
        return Err(invalid("'.' and '..' are not allowed"));
    }
    if name.len() > TOPIC_NAME_CHARS_MAX {
        return Err(invalid("longer than 249 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return Err(invalid(
            "only ASCII letters, digits, '.', '_' and '-' are allowed",
        ));
    }
    Ok(())
}

/// A request to create one topic.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    /// -1: the broker default (num.partitions).
    pub num_partitions: i32,
    /// -1: the broker default (default.replication.factor).
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
    /// The client's replica assignment, (partition, replicas); empty: placed by the
    /// controller. Set only with `num_partitions` and `replication_factor` at -1.
    pub assignments: Vec<(i32, Vec<i32>)>,
}

impl Broker {
    /// Creates a topic for a client (unless `validate_only`) and starts hosting its
    /// partitions. Names reserved for the broker are refused.
    pub async fn create_topic(
        &self,
        topic: &NewTopic,
        validate_only: bool,
    ) -> Result<(TopicId, i32, i16), BrokerError> {
        validate_topic_name(&topic.name)?;
        self.check_not_exists(&topic.name)?;
        internal_topics::check_client_create(&topic.name)?;
        self.create_topic_unchecked(topic, validate_only).await
    }

    fn check_not_exists(&self, name: &str) -> Result<(), BrokerError> {
        if self.metadata.image().topic(name).is_some() {
            return Err(BrokerError::api(
                ResponseError::TopicAlreadyExists,
                format!("Topic '{name}' already exists."),
            ));
        }
        Ok(())
    }

    /// Creates any topic, reserved names included: the broker's own path.
    async fn create_topic_unchecked(
        &self,
        topic: &NewTopic,
        validate_only: bool,
    ) -> Result<(TopicId, i32, i16), BrokerError> {
        validate_topic_name(&topic.name)?;
        self.check_not_exists(&topic.name)?;
        let image = self.metadata.image();
        let manual = !topic.assignments.is_empty();
        let partitions = if manual {
            i32::try_from(topic.assignments.len()).unwrap_or(i32::MAX)
        } else if topic.num_partitions == -1 {
            self.config.settings.num_partitions
        } else {
            topic.num_partitions
        };
        if !(1..=TOPIC_PARTITIONS_MAX).contains(&partitions) {
            return Err(BrokerError::api(
                ResponseError::InvalidPartitions,
                format!("Number of partitions must be between 1 and {TOPIC_PARTITIONS_MAX}."),
            ));
        }
        let replication = if let Some((_, replicas)) = topic.assignments.first() {
            i16::try_from(replicas.len()).unwrap_or(i16::MAX)
        } else if topic.replication_factor == -1 {
            self.config.settings.default_replication_factor
        } else {
            topic.replication_factor
        };
        for (k, v) in &topic.configs {
            validate_topic_config(k, v)
                .map_err(|e| BrokerError::api(ResponseError::InvalidConfig, e.to_string()))?;
        }
        let id = TopicId::random();
        // Kafka's placement over the unfenced brokers; it also refuses a replication
        // factor they cannot hold (validate_only included, as Kafka does).
        // An explicit assignment is checked as Kafka's controller checks it.
        let layout = if manual {
            TopicLayout::Manual(topic.assignments.clone())
        } else {
            TopicLayout::Placed {
                partitions,
                replication_factor: replication,
            }
        };
        let partition_records = new_topic_partitions(
            &image,
            id,
            &layout,
            &BTreeSet::new(),
            &mut placement_random(),
        )
        .map_err(controller_refusal)?;
        if validate_only {
            return Ok((id, partitions, replication));
        }
        let mut records = vec![MetadataRecord::Topic {
            name: topic.name.clone(),
            id,
        }];
        records.extend(topic.configs.iter().map(|(k, v)| MetadataRecord::Config {
            resource: ConfigResource::Topic(topic.name.clone()),
            name: k.clone(),
            value: Some(v.clone()),
        }));
        records.extend(partition_records);
        self.commit(&records).await?;
        Ok((id, partitions, replication))
    }

    /// Creates a topic with broker defaults if auto-creation is on; used by Metadata.
    /// `__consumer_offsets` is created with its own shape, as Kafka does; other
    /// reserved names are not created. Races with another creator are fine.
    pub async fn auto_create_topic(&self, name: &str) -> Result<(), BrokerError> {
        match ReservedTopic::of(name) {
            None => {}
            Some(ReservedTopic::Offsets) => return self.ensure_offsets_topic().await,
            Some(_) => {
                return Err(BrokerError::api(
                    ResponseError::UnknownTopicOrPartition,
                    format!("Topic '{name}' is not created on request."),
                ))
            }
        }
        let topic = NewTopic {
            name: name.to_string(),
            num_partitions: -1,
            replication_factor: -1,
            configs: BTreeMap::new(),
            assignments: Vec::new(),
        };
        match self.create_topic(&topic, false).await {
            Err(e) if e.code() == ResponseError::TopicAlreadyExists.code() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Creates `__consumer_offsets` (compacted, internal) when it does not exist yet.
    pub async fn ensure_offsets_topic(&self) -> Result<(), BrokerError> {
        if self.metadata.image().topic(OFFSETS_TOPIC).is_some() {
            return Ok(());
        }
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            (
                "segment.bytes".to_string(),
                self.config.settings.offsets_topic_segment_bytes.to_string(),
            ),
            ("compression.type".to_string(), "producer".to_string()),
        ]);
        let topic = NewTopic {
            name: OFFSETS_TOPIC.to_string(),
            num_partitions: self.config.settings.offsets_topic_num_partitions,
            replication_factor: self.internal_replication("offsets.topic.replication.factor"),
            configs,
            assignments: Vec::new(),
        };
        match self.create_topic_unchecked(&topic, false).await {
            Err(e) if e.code() == ResponseError::TopicAlreadyExists.code() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Creates `__transaction_state` (compacted, internal) when it does not exist yet,
    /// shaped by the `transaction.state.log.*` settings.
    pub async fn ensure_transaction_state_topic(&self) -> Result<(), BrokerError> {
        if self
            .metadata
            .image()
            .topic(TRANSACTION_STATE_TOPIC)
            .is_some()
        {
            return Ok(());
        }
        let replication = self.internal_replication("transaction.state.log.replication.factor");
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            (
                "segment.bytes".to_string(),
                self.config
                    .int("transaction.state.log.segment.bytes")
                    .to_string(),
            ),
            (
                "min.insync.replicas".to_string(),
                internal_topics::internal_min_insync_replicas(
                    self.config.int("transaction.state.log.min.isr"),
                    self.config
                        .explicit("transaction.state.log.min.isr")
                        .is_some(),
                    replication,
                )
                .to_string(),
            ),
            ("compression.type".to_string(), "producer".to_string()),
        ]);
        let topic = NewTopic {
            name: TRANSACTION_STATE_TOPIC.to_string(),
            num_partitions: self.config.settings.transaction_state_num_partitions,
            replication_factor: replication,
            configs,
            assignments: Vec::new(),
        };
        match self.create_topic_unchecked(&topic, false).await {
            Err(e) if e.code() == ResponseError::TopicAlreadyExists.code() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// The replication factor an internal topic is created with now, from `setting`.
    fn internal_replication(&self, setting: &str) -> i16 {
        let node = &self.config.node;
        let combined = node
            .roles
            .contains(&crate::node_config::ProcessRole::Broker)
            && node
                .roles
                .contains(&crate::node_config::ProcessRole::Controller);
        internal_topics::internal_replication_factor(
            self.config.int(setting),
            self.config.explicit(setting).is_some(),
            self.metadata.image().brokers().count(),
            if combined { node.voters.len() } else { 0 },
        )
    }

    pub async fn delete_topic(&self, name: &str) -> Result<TopicId, BrokerError> {
        if !self.config.settings.delete_topic_enable {
            return Err(BrokerError::api(
                ResponseError::TopicDeletionDisabled,
                "Topic deletion is disabled.",
            ));
        }
        let image = self.metadata.image();
        let topic = image.topic(name).ok_or_else(|| {
            BrokerError::api(
                ResponseError::UnknownTopicOrPartition,
                format!("Topic '{name}' does not exist."),
            )
        })?;
        internal_topics::check_client_delete(name)?;
        let id = topic.id;
        self.commit(&[MetadataRecord::RemoveTopic { id }]).await?;
        Ok(id)
    }

    pub async fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        let image = self.metadata.image();
        let topic = image.topic(name).ok_or_else(|| {
            BrokerError::api(
                ResponseError::UnknownTopicOrPartition,
                format!("Topic '{name}' does not exist."),
            )
        })?;
        if ReservedTopic::of(name).is_some() {
            // Group and transaction ids are hashed over the partition count.
            return Err(BrokerError::api(
                ResponseError::InvalidRequest,
                format!("The partition count of internal topic {name} cannot be changed."),
            ));
        }
        let current = topic.partitions.len() as i32;
        if count <= current || count > TOPIC_PARTITIONS_MAX {
            return Err(BrokerError::api(
                ResponseError::InvalidPartitions,
                format!(
                    "Topic currently has {current} partitions, {count} would not be an increase."
                ),
            ));
        }
        let records = added_partitions(
            &image,
            topic,
            count,
            None,
            &BTreeSet::new(),
            &mut placement_random(),
        )
        .map_err(controller_refusal)?;
        if validate_only {
            return Ok(());
        }
        self.commit(&records).await?;
        Ok(())
    }

    /// Applies topic config changes: Some(value) sets, None removes the override.
    pub async fn alter_topic_configs(
        &self,
        name: &str,
        changes: &[(String, Option<String>)],
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        let image = self.metadata.image();
        if image.topic(name).is_none() {
            return Err(BrokerError::api(
                ResponseError::UnknownTopicOrPartition,
                format!("Topic '{name}' does not exist."),
            ));
        }
        for (k, v) in changes {
            match v {
                Some(v) => validate_topic_config(k, v),
                None => crate::topic_config::topic_config_def(k)
                    .map(|_: &TopicConfigDef| ())
                    .ok_or_else(|| crate::config::ConfigError::Unknown(k.clone())),
            }
            .map_err(|e| BrokerError::api(ResponseError::InvalidConfig, e.to_string()))?;
        }
        if validate_only || changes.is_empty() {
            return Ok(());
        }
        let records: Vec<MetadataRecord> = changes
            .iter()
            .map(|(k, v)| MetadataRecord::Config {
                resource: ConfigResource::Topic(name.to_string()),
                name: k.clone(),
                value: v.clone(),
            })
            .collect();
        self.commit(&records).await?;
        Ok(())
    }

    /// Applies dynamic cluster-wide broker config changes (AlterConfigs on a broker).
    pub async fn alter_broker_configs(
        &self,
        changes: &[(String, Option<String>)],
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        for (k, v) in changes {
            let def = crate::config::broker_property(k)
                .filter(|d| d.dynamic)
                .ok_or_else(|| {
                    BrokerError::api(
                        ResponseError::InvalidConfig,
                        format!("Broker config '{k}' cannot be updated dynamically."),
                    )
                })?;
            if let Some(v) = v {
                crate::config::validate_value(def, v)
                    .map_err(|e| BrokerError::api(ResponseError::InvalidConfig, e.to_string()))?;
            }
        }
        if validate_only || changes.is_empty() {
            return Ok(());
        }
        let records: Vec<MetadataRecord> = changes
            .iter()
            .map(|(k, v)| MetadataRecord::Config {
                resource: ConfigResource::Broker(None),
                name: k.clone(),
                value: v.clone(),
            })
            .collect();
        self.commit(&records).await?;
        Ok(())
    }
}

/// A fresh seed per decision: placement's random start, as Kafka's.
fn placement_random() -> SeededRandom {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&bytes[..8]);
    SeededRandom::new(u64::from_le_bytes(seed))
}

/// A controller decision's refusal, as the client's error.
fn controller_refusal(e: ControllerError) -> BrokerError {
    BrokerError::api(e.error, e.message)
}
