use super::test_support::{add_topic, apply, image_with_brokers};
use super::*;
use crate::MetadataImage;
use moldau_protocol::ResponseError;
use std::collections::BTreeSet;

fn grow(
    image: &MetadataImage,
    growths: &[(&str, i32)],
    validate_only: bool,
) -> (Vec<crate::MetadataRecord>, Vec<PartitionGrowthOutcome>) {
    let growths: Vec<PartitionGrowth> = growths
        .iter()
        .map(|(name, count)| PartitionGrowth {
            name: name.to_string(),
            count: *count,
        })
        .collect();
    grow_partitions(
        image,
        &growths,
        &BTreeSet::new(),
        &mut SeededRandom::new(3),
        validate_only,
    )
}

fn error_of(o: &PartitionGrowthOutcome) -> Option<ResponseError> {
    o.result.as_ref().err().map(|e| e.error)
}

#[test]
fn a_second_growth_to_the_same_count_sees_the_first() {
    let mut image = image_with_brokers(&[(1, None), (2, None)]);
    add_topic(&mut image, "g", &[&[1]]);
    let (records, outcomes) = grow(&image, &[("g", 3), ("g", 3)], false);
    assert_eq!(error_of(&outcomes[0]), None);
    assert_eq!(
        error_of(&outcomes[1]),
        Some(ResponseError::InvalidPartitions)
    );
    apply(&mut image, &records);
    assert_eq!(image.topic("g").expect("topic").partitions.len(), 3);
}

#[test]
fn unknown_topics_too_many_partitions_and_validate_only_record_nothing() {
    let mut image = image_with_brokers(&[(1, None)]);
    add_topic(&mut image, "g", &[&[1]]);
    let (records, outcomes) = grow(
        &image,
        &[("nope", 2), ("g", TOPIC_PARTITIONS_MAX + 1)],
        false,
    );
    assert!(records.is_empty());
    assert_eq!(
        error_of(&outcomes[0]),
        Some(ResponseError::UnknownTopicOrPartition)
    );
    assert_eq!(
        error_of(&outcomes[1]),
        Some(ResponseError::InvalidPartitions)
    );
    let (records, outcomes) = grow(&image, &[("g", 4)], true);
    assert!(records.is_empty());
    assert_eq!(error_of(&outcomes[0]), None);
}

#[test]
fn the_wire_carries_the_request_and_every_outcome() {
    let sent = vec![PartitionGrowth {
        name: "g".into(),
        count: 7,
    }];
    let wire = create_partitions_request_to_wire(&sent, true);
    assert_eq!(create_partitions_request(&wire), (sent, true));
    let outcomes = vec![
        PartitionGrowthOutcome {
            name: "g".into(),
            result: Ok(()),
        },
        PartitionGrowthOutcome {
            name: "h".into(),
            result: Err(ControllerError::new(
                ResponseError::InvalidPartitions,
                "Topic already has 3 partitions.",
            )),
        },
    ];
    assert_eq!(
        partition_growth_outcomes(&create_partitions_response(&outcomes)),
        outcomes
    );
}
