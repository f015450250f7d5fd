//! Carries out changes to topics, partitions and configs. Topic creation and
//! deletion, partition growth and config changes are decided by the active
//! controller on its image (forwarded there whole, after this broker's own checks),
//! so a change another broker just made counts though this broker's image lags.
//! The metadata publisher then acts on what changed. Nothing else changes topics.

use crate::broker::Broker;
use crate::error::BrokerError;
use moldau_metadata::controller::{
    ConfigAlteration, ConfigChanges, ConfigOp, ControllerError, PartitionGrowth, SeededRandom,
    TopicDeletion, RESOURCE_BROKER, RESOURCE_TOPIC,
};
use moldau_metadata::TopicId;
use moldau_protocol::ResponseError;
use std::collections::BTreeMap;

/// Kafka's limit on topic name length.
pub const TOPIC_NAME_CHARS_MAX: usize = 249;
use crate::internal_topics::{self, ReservedTopic};
pub use crate::internal_topics::{OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC};
pub use moldau_metadata::controller::TOPIC_PARTITIONS_MAX;

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

/// A request to create one topic, as the active controller decides it.
pub use moldau_metadata::controller::TopicCreation as NewTopic;

impl Broker {
    /// Creates a topic for a client (unless `validate_only`) and starts hosting its
    /// partitions. Names reserved for the broker are refused.
    pub async fn create_topic(
        &self,
        topic: &NewTopic,
        validate_only: bool,
    ) -> Result<(TopicId, i32, i16), BrokerError> {
        validate_topic_name(&topic.name)?;
        if ReservedTopic::of(&topic.name).is_some() {
            // An internal topic is there from the start: TOPIC_ALREADY_EXISTS as
            // Kafka answers, else the creation is prohibited.
            self.check_not_exists(&topic.name)?;
        }
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

    /// Creates any topic, reserved names included: the broker's own path. The active
    /// controller decides (existence, defaults, configs, placement) on its image and
    /// commits; the answer comes once it has, and once this broker hosts the topic's
    /// partitions, or without waiting for them when this broker lags (as Kafka's
    /// CreateTopics is answered once the controller committed).
    async fn create_topic_unchecked(
        &self,
        topic: &NewTopic,
        validate_only: bool,
    ) -> Result<(TopicId, i32, i16), BrokerError> {
        validate_topic_name(&topic.name)?;
        let outcomes = self
            .controller
            .create_topics(std::slice::from_ref(topic), validate_only)
            .await?
            .map_err(controller_refusal)?;
        let created = only_outcome(outcomes, "topics")?
            .result
            .map_err(controller_refusal)?;
        if !validate_only {
            self.await_topic_published(created.id).await;
        }
        Ok((created.id, created.partitions, created.replication_factor))
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

    /// Deletes topic `name` for a client (DeleteTopics by name, the console).
    pub async fn delete_topic(&self, name: &str) -> Result<TopicId, BrokerError> {
        let deletion = TopicDeletion {
            name: Some(name.to_string()),
            id: None,
        };
        Ok(self.delete_topic_as(deletion).await?.1)
    }

    /// Deletes the topic `deletion` names (its name, its id, or the name this
    /// broker resolved from the id asked), decided and committed by the active
    /// controller on its image; its name and id as the controller found them.
    /// Answered once committed (and the partitions dropped here, unless this broker
    /// lags).
    pub async fn delete_topic_as(
        &self,
        deletion: TopicDeletion,
    ) -> Result<(String, TopicId), BrokerError> {
        if !self.config.settings.delete_topic_enable {
            return Err(BrokerError::api(
                ResponseError::TopicDeletionDisabled,
                "Topic deletion is disabled.",
            ));
        }
        let outcomes = self
            .controller
            .delete_topics(std::slice::from_ref(&deletion))
            .await?
            .map_err(controller_refusal)?;
        let deleted = only_outcome(outcomes, "topics")?;
        deleted.result.map_err(controller_refusal)?;
        match (deleted.name, deleted.id) {
            (Some(name), Some(id)) => {
                self.await_topic_removed(id).await;
                Ok((name, id))
            }
            _ => Err(BrokerError::api(
                ResponseError::UnknownServerError,
                "the controller deleted a topic without naming it",
            )),
        }
    }

    /// Grows `name` to `count` partitions (CreatePartitions), decided and committed
    /// by the active controller; answered once committed (and hosted here, unless
    /// this broker lags).
    pub async fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        if ReservedTopic::of(name).is_some() {
            // Group and transaction ids are hashed over the partition count.
            return Err(BrokerError::api(
                ResponseError::InvalidRequest,
                format!("The partition count of internal topic {name} cannot be changed."),
            ));
        }
        let growth = PartitionGrowth {
            name: name.to_string(),
            count,
        };
        let outcomes = self
            .controller
            .create_partitions(std::slice::from_ref(&growth), validate_only)
            .await?
            .map_err(controller_refusal)?;
        only_outcome(outcomes, "topics")?
            .result
            .map_err(controller_refusal)?;
        if !validate_only {
            self.await_partitions_published(name, count).await;
        }
        Ok(())
    }

    /// Sets (Some) or removes (None) overrides of topic `name` (the console).
    pub async fn alter_topic_configs(
        &self,
        name: &str,
        changes: &[(String, Option<String>)],
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        let alteration = ConfigAlteration {
            resource_type: RESOURCE_TOPIC,
            resource_name: name.to_string(),
            changes: ConfigChanges::Incremental(set_or_delete(changes)),
        };
        self.alter_configs(alteration, validate_only).await
    }

    /// Sets (Some) or removes (None) dynamic cluster-wide broker configs.
    pub async fn alter_broker_configs(
        &self,
        changes: &[(String, Option<String>)],
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        let alteration = ConfigAlteration {
            resource_type: RESOURCE_BROKER,
            resource_name: String::new(),
            changes: ConfigChanges::Incremental(set_or_delete(changes)),
        };
        self.alter_configs(alteration, validate_only).await
    }

    /// Alters one resource's configs (IncrementalAlterConfigs, AlterConfigs),
    /// validated, decided and committed by the active controller on its image.
    /// Answered once committed (and shown here, unless this broker lags).
    pub async fn alter_configs(
        &self,
        alteration: ConfigAlteration,
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        let outcomes = self
            .controller
            .alter_configs(std::slice::from_ref(&alteration), validate_only)
            .await?
            .map_err(controller_refusal)?;
        only_outcome(outcomes, "resources")?
            .result
            .map_err(controller_refusal)?;
        if !validate_only {
            self.await_configs_published(&alteration).await;
        }
        Ok(())
    }
}

/// Plain sets and removals as incremental operations.
fn set_or_delete(changes: &[(String, Option<String>)]) -> Vec<(String, ConfigOp)> {
    changes
        .iter()
        .map(|(k, v)| {
            let op = match v {
                Some(v) => ConfigOp::Set(Some(v.clone())),
                None => ConfigOp::Delete,
            };
            (k.clone(), op)
        })
        .collect()
}

/// A fresh seed per decision: placement's random start, as Kafka's.
pub(crate) fn placement_random() -> SeededRandom {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&bytes[..8]);
    SeededRandom::new(u64::from_le_bytes(seed))
}

/// A controller decision's refusal, as the client's error.
fn controller_refusal(e: ControllerError) -> BrokerError {
    BrokerError::api(e.error, e.message)
}

/// The one outcome the controller gave for a request naming one `what`.
fn only_outcome<O>(mut outcomes: Vec<O>, what: &str) -> Result<O, BrokerError> {
    match outcomes.pop() {
        Some(outcome) if outcomes.is_empty() => Ok(outcome),
        _ => Err(BrokerError::api(
            ResponseError::UnknownServerError,
            format!("the controller answered for another number of {what} than asked"),
        )),
    }
}
