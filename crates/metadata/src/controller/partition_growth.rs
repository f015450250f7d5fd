//! CreatePartitions as the active controller decides it: against its own image, so
//! two brokers asked to grow one topic at once add its partitions once (the later
//! request sees them: INVALID_PARTITIONS), never twice nor a refused entry.
//! validate_only returns the outcomes and no records.

use super::draft::Draft;
use super::random::RandomSource;
use super::topic_creation::TOPIC_PARTITIONS_MAX;
use super::topic_partitions::added_partitions;
use super::ControllerError;
use crate::{MetadataImage, MetadataRecord};
use moldau_protocol::ResponseError;
use std::collections::BTreeSet;

/// One topic to grow to `count` partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionGrowth {
    pub name: String,
    pub count: i32,
}

/// One topic's answer, in the order asked.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionGrowthOutcome {
    pub name: String,
    pub result: Result<(), ControllerError>,
}

/// Decides `growths` against `image`, each seeing the ones before it. `excluded`:
/// brokers in controlled shutdown (no new replicas).
pub fn grow_partitions(
    image: &MetadataImage,
    growths: &[PartitionGrowth],
    excluded: &BTreeSet<i32>,
    random: &mut dyn RandomSource,
    validate_only: bool,
) -> (Vec<MetadataRecord>, Vec<PartitionGrowthOutcome>) {
    let mut draft = (growths.len() > 1 && !validate_only).then(|| Draft::new(image));
    let mut records = Vec::new();
    let mut outcomes = Vec::with_capacity(growths.len());
    for growth in growths {
        let seen = draft.as_ref().map_or(image, Draft::image);
        let result = match grow_one(seen, growth, excluded, random) {
            Ok(decided) => {
                match (&mut draft, validate_only) {
                    (_, true) => {}
                    (Some(draft), false) => draft.push_all(decided),
                    (None, false) => records.extend(decided),
                }
                Ok(())
            }
            Err(refused) => Err(refused),
        };
        outcomes.push(PartitionGrowthOutcome {
            name: growth.name.clone(),
            result,
        });
    }
    if let Some(draft) = draft {
        records = draft.into_records();
    }
    (records, outcomes)
}

fn grow_one(
    image: &MetadataImage,
    growth: &PartitionGrowth,
    excluded: &BTreeSet<i32>,
    random: &mut dyn RandomSource,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let topic = image.topic(&growth.name).ok_or_else(|| {
        ControllerError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("Topic '{}' does not exist.", growth.name),
        )
    })?;
    if growth.count > TOPIC_PARTITIONS_MAX {
        return Err(ControllerError::new(
            ResponseError::InvalidPartitions,
            format!("Number of partitions must be between 1 and {TOPIC_PARTITIONS_MAX}."),
        ));
    }
    added_partitions(image, topic, growth.count, None, excluded, random)
}
