use super::test_support::{add_topic, apply, image_with_brokers};
use super::*;
use crate::{MetadataImage, MetadataRecord, TopicId};
use moldau_protocol::ResponseError;
use std::collections::{BTreeMap, BTreeSet};

fn topic(name: &str, partitions: i32, rf: i16) -> TopicCreation {
    TopicCreation {
        name: name.into(),
        num_partitions: partitions,
        replication_factor: rf,
        configs: BTreeMap::new(),
        assignments: Vec::new(),
    }
}

/// Only `retention.ms` with a number is a valid config here.
fn check_config(name: &str, value: &str) -> Result<(), String> {
    match (name, value.parse::<i64>()) {
        ("retention.ms", Ok(_)) => Ok(()),
        _ => Err(format!("Invalid value {value} for configuration {name}")),
    }
}

fn decide(
    image: &MetadataImage,
    topics: &[TopicCreation],
    validate_only: bool,
) -> (Vec<MetadataRecord>, Vec<TopicCreationOutcome>) {
    let rules = TopicCreationRules {
        default_partitions: 4,
        default_replication_factor: 2,
        check_config: &check_config,
    };
    let mut next = 0u8;
    let mut new_id = || {
        next += 1;
        TopicId([next; 16])
    };
    create_topics(
        image,
        topics,
        &rules,
        &BTreeSet::new(),
        &mut new_id,
        &mut SeededRandom::new(7),
        validate_only,
    )
}

fn error_of(outcome: &TopicCreationOutcome) -> Option<ResponseError> {
    outcome.result.as_ref().err().map(|e| e.error)
}

#[test]
fn a_name_in_the_image_is_refused_with_topic_already_exists() {
    let mut image = image_with_brokers(&[(1, None), (2, None)]);
    add_topic(&mut image, "taken", &[&[1]]);
    let (records, outcomes) = decide(&image, &[topic("taken", 1, 1)], false);
    assert!(records.is_empty());
    assert_eq!(
        error_of(&outcomes[0]),
        Some(ResponseError::TopicAlreadyExists)
    );
}

#[test]
fn a_later_topic_sees_the_earlier_ones_of_the_same_decision() {
    let image = image_with_brokers(&[(1, None), (2, None)]);
    let (records, outcomes) = decide(&image, &[topic("t", 1, 1), topic("t", 2, 1)], false);
    assert_eq!(error_of(&outcomes[0]), None);
    assert_eq!(
        error_of(&outcomes[1]),
        Some(ResponseError::TopicAlreadyExists)
    );
    let mut applied = image.clone();
    apply(&mut applied, &records);
    assert_eq!(applied.topic("t").expect("created").partitions.len(), 1);
}

#[test]
fn defaults_are_the_controllers_and_the_records_create_the_topic() {
    let image = image_with_brokers(&[(1, None), (2, None), (3, None)]);
    let mut asked = topic("d", -1, -1);
    asked.configs.insert("retention.ms".into(), "1000".into());
    let (records, outcomes) = decide(&image, &[asked], false);
    let created = outcomes[0].result.clone().expect("created");
    assert_eq!((created.partitions, created.replication_factor), (4, 2));
    let mut applied = image.clone();
    apply(&mut applied, &records);
    let t = applied.topic("d").expect("created");
    assert_eq!(t.id, created.id);
    assert_eq!(t.partitions.len(), 4);
    assert!(t.partitions.values().all(|p| p.replicas.len() == 2));
    assert_eq!(
        t.configs.get("retention.ms").map(String::as_str),
        Some("1000")
    );
}

#[test]
fn an_invalid_config_or_partition_count_is_refused_and_records_nothing() {
    let image = image_with_brokers(&[(1, None)]);
    let mut bad = topic("c", 1, 1);
    bad.configs.insert("retention.ms".into(), "soon".into());
    let (records, outcomes) = decide(&image, &[bad, topic("p", 0, 1), topic("r", 1, 3)], false);
    assert!(records.is_empty());
    assert_eq!(error_of(&outcomes[0]), Some(ResponseError::InvalidConfig));
    assert_eq!(
        error_of(&outcomes[1]),
        Some(ResponseError::InvalidPartitions)
    );
    assert_eq!(
        error_of(&outcomes[2]),
        Some(ResponseError::InvalidReplicationFactor)
    );
}

#[test]
fn validate_only_answers_and_records_nothing() {
    let image = image_with_brokers(&[(1, None)]);
    let (records, outcomes) = decide(&image, &[topic("v", 3, 1), topic("w", 1, 1)], true);
    assert!(records.is_empty());
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
}

#[test]
fn a_manual_assignment_with_a_count_is_invalid_request() {
    let image = image_with_brokers(&[(1, None)]);
    let mut asked = topic("m", 1, -1);
    asked.assignments = vec![(0, vec![1])];
    let (_, outcomes) = decide(&image, &[asked], false);
    assert_eq!(error_of(&outcomes[0]), Some(ResponseError::InvalidRequest));
}

#[test]
fn the_wire_carries_the_request_and_every_outcome() {
    let mut asked = topic("w", -1, 3);
    asked.configs.insert("retention.ms".into(), "5".into());
    let mut manual = topic("m", -1, -1);
    manual.assignments = vec![(0, vec![1, 2]), (1, vec![2, 1])];
    let sent = [asked, manual];
    let wire = create_topics_request_to_wire(&sent, true);
    assert_eq!(create_topics_request(&wire), (sent.to_vec(), true));

    let outcomes = vec![
        TopicCreationOutcome {
            name: "w".into(),
            result: Ok(TopicCreated {
                id: TopicId([9; 16]),
                partitions: 6,
                replication_factor: 3,
            }),
        },
        TopicCreationOutcome {
            name: "m".into(),
            result: Err(ControllerError::new(
                ResponseError::TopicAlreadyExists,
                "Topic 'm' already exists.",
            )),
        },
    ];
    assert_eq!(
        topic_creation_outcomes(&create_topics_response(&outcomes)),
        outcomes
    );
}
