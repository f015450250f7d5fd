//! CreateTopics as the active controller decides it: against its own image (which
//! holds every entry committed before, the decisions of other brokers' requests
//! included), with its own defaults, so two brokers asked for one name at once get
//! one topic and one TOPIC_ALREADY_EXISTS. Returns the records to commit and each
//! topic's outcome; validate_only returns the outcomes and no records.

use super::draft::Draft;
use super::random::RandomSource;
use super::topic_partitions::{new_topic_partitions, TopicLayout};
use super::ControllerError;
use crate::{ConfigResource, MetadataImage, MetadataRecord, TopicId};
use moldau_protocol::ResponseError;
use std::collections::{BTreeMap, BTreeSet};

/// Upper bound on partitions per topic, so one request cannot exhaust file handles.
pub const TOPIC_PARTITIONS_MAX: i32 = 10_000;

/// One topic a client (or the broker itself) asks to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicCreation {
    pub name: String,
    /// -1: the controller's default (`num.partitions`).
    pub num_partitions: i32,
    /// -1: the controller's default (`default.replication.factor`).
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
    /// The client's replica assignment, (partition, replicas); empty: placed by the
    /// controller. Set only with `num_partitions` and `replication_factor` at -1.
    pub assignments: Vec<(i32, Vec<i32>)>,
}

/// What the controller created (or, validate_only, would create).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicCreated {
    pub id: TopicId,
    pub partitions: i32,
    pub replication_factor: i16,
}

/// One topic's answer, in the order asked.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicCreationOutcome {
    pub name: String,
    pub result: Result<TopicCreated, ControllerError>,
}

/// The controller's settings a creation is decided with.
pub struct TopicCreationRules<'a> {
    /// `num.partitions`.
    pub default_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// Why a topic config (name, value) is refused, if it is.
    pub check_config: &'a (dyn Fn(&str, &str) -> Result<(), String> + Sync),
}

/// Decides `topics` against `image`: each sees the ones before it in the request.
/// `excluded`: brokers in controlled shutdown (no new replicas); `new_id` names
/// each new topic.
pub fn create_topics(
    image: &MetadataImage,
    topics: &[TopicCreation],
    rules: &TopicCreationRules<'_>,
    excluded: &BTreeSet<i32>,
    new_id: &mut dyn FnMut() -> TopicId,
    random: &mut dyn RandomSource,
    validate_only: bool,
) -> (Vec<MetadataRecord>, Vec<TopicCreationOutcome>) {
    // Topics after the first are decided on a copy with the earlier ones applied;
    // one topic (the usual request), or validate_only, needs no copy.
    let mut draft = (topics.len() > 1 && !validate_only).then(|| Draft::new(image));
    let mut records = Vec::new();
    let mut outcomes = Vec::with_capacity(topics.len());
    for topic in topics {
        let seen = draft.as_ref().map_or(image, Draft::image);
        let result = match decide_one(seen, topic, rules, excluded, new_id, random) {
            Ok((decided, created)) => {
                match (&mut draft, validate_only) {
                    (_, true) => {}
                    (Some(draft), false) => draft.push_all(decided),
                    (None, false) => records.extend(decided),
                }
                Ok(created)
            }
            Err(refused) => Err(refused),
        };
        outcomes.push(TopicCreationOutcome {
            name: topic.name.clone(),
            result,
        });
    }
    if let Some(draft) = draft {
        records = draft.into_records();
    }
    (records, outcomes)
}

fn decide_one(
    image: &MetadataImage,
    topic: &TopicCreation,
    rules: &TopicCreationRules<'_>,
    excluded: &BTreeSet<i32>,
    new_id: &mut dyn FnMut() -> TopicId,
    random: &mut dyn RandomSource,
) -> Result<(Vec<MetadataRecord>, TopicCreated), ControllerError> {
    if image.topic(&topic.name).is_some() {
        return Err(ControllerError::new(
            ResponseError::TopicAlreadyExists,
            format!("Topic '{}' already exists.", topic.name),
        ));
    }
    let manual = !topic.assignments.is_empty();
    if manual && (topic.num_partitions != -1 || topic.replication_factor != -1) {
        let which = if topic.replication_factor != -1 {
            "replication factor"
        } else {
            "numPartitions"
        };
        return Err(ControllerError::new(
            ResponseError::InvalidRequest,
            format!("A manual partition assignment was specified, but {which} was not set to -1."),
        ));
    }
    let partitions = if manual {
        i32::try_from(topic.assignments.len()).unwrap_or(i32::MAX)
    } else if topic.num_partitions == -1 {
        rules.default_partitions
    } else {
        topic.num_partitions
    };
    if !(1..=TOPIC_PARTITIONS_MAX).contains(&partitions) {
        return Err(ControllerError::new(
            ResponseError::InvalidPartitions,
            format!("Number of partitions must be between 1 and {TOPIC_PARTITIONS_MAX}."),
        ));
    }
    let replication_factor = if let Some((_, replicas)) = topic.assignments.first() {
        i16::try_from(replicas.len()).unwrap_or(i16::MAX)
    } else if topic.replication_factor == -1 {
        rules.default_replication_factor
    } else {
        topic.replication_factor
    };
    for (name, value) in &topic.configs {
        (rules.check_config)(name, value)
            .map_err(|why| ControllerError::new(ResponseError::InvalidConfig, why))?;
    }
    let layout = if manual {
        TopicLayout::Manual(topic.assignments.clone())
    } else {
        TopicLayout::Placed {
            partitions,
            replication_factor,
        }
    };
    let id = new_id();
    // Placement also refuses a replication factor the unfenced brokers cannot hold
    // (validate_only included, as Kafka does) and checks an explicit assignment.
    let partition_records = new_topic_partitions(image, id, &layout, excluded, random)?;
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
    let created = TopicCreated {
        id,
        partitions,
        replication_factor,
    };
    Ok((records, created))
}
