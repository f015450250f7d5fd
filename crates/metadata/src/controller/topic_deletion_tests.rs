use super::test_support::{add_topic, apply, image_with_brokers};
use super::*;
use crate::{MetadataImage, MetadataRecord, TopicId};
use moldau_protocol::ResponseError;

/// `__consumer_offsets` may not be deleted; everything else may.
fn check_deletable(name: &str) -> Result<(), ControllerError> {
    match name {
        "__consumer_offsets" => Err(ControllerError::new(
            ResponseError::InvalidTopicException,
            "internal",
        )),
        _ => Ok(()),
    }
}

fn by_name(name: &str) -> TopicDeletion {
    TopicDeletion {
        name: Some(name.into()),
        id: None,
    }
}

fn by_id(id: TopicId) -> TopicDeletion {
    TopicDeletion {
        name: None,
        id: Some(id),
    }
}

fn errors(outcomes: &[TopicDeletionOutcome]) -> Vec<Option<ResponseError>> {
    outcomes
        .iter()
        .map(|o| o.result.as_ref().err().map(|e| e.error))
        .collect()
}

fn image_with(topics: &[&str]) -> (MetadataImage, Vec<TopicId>) {
    let mut image = image_with_brokers(&[(1, None), (2, None)]);
    let ids = topics
        .iter()
        .map(|t| add_topic(&mut image, t, &[&[1, 2]]))
        .collect();
    (image, ids)
}

#[test]
fn deletes_by_name_and_by_id_answering_both() {
    let (image, ids) = image_with(&["orders", "payments-eu"]);
    let (records, outcomes) = delete_topics(
        &image,
        &[by_name("orders"), by_id(ids[1])],
        &check_deletable,
    );
    assert_eq!(
        records,
        vec![
            MetadataRecord::RemoveTopic { id: ids[0] },
            MetadataRecord::RemoveTopic { id: ids[1] }
        ]
    );
    assert_eq!(errors(&outcomes), vec![None, None]);
    // The response carries the id of a topic named and the name of a topic id'd.
    assert_eq!(outcomes[0].id, Some(ids[0]));
    assert_eq!(outcomes[1].name.as_deref(), Some("payments-eu"));
    let mut after = image.clone();
    apply(&mut after, &records);
    assert!(after.topic("orders").is_none() && after.topic("payments-eu").is_none());
}

#[test]
fn unknown_names_and_ids_are_refused_with_their_own_codes() {
    let (image, _) = image_with(&["orders"]);
    let (records, outcomes) = delete_topics(
        &image,
        &[by_name("missing"), by_id(TopicId([9; 16]))],
        &check_deletable,
    );
    assert!(records.is_empty());
    assert_eq!(
        errors(&outcomes),
        vec![
            Some(ResponseError::UnknownTopicOrPartition),
            Some(ResponseError::UnknownTopicId)
        ]
    );
    assert_eq!(outcomes[1].id, Some(TopicId([9; 16])));
    assert_eq!(outcomes[1].name, None, "an unknown id has no name");
}

#[test]
fn a_name_resolved_from_an_id_that_now_names_another_topic_is_an_unknown_id() {
    // The receiving broker resolved the id to "orders"; meanwhile "orders" was
    // deleted and created again with another id.
    let (image, ids) = image_with(&["orders"]);
    let stale = TopicDeletion {
        name: Some("orders".into()),
        id: Some(TopicId([42; 16])),
    };
    let current = TopicDeletion {
        name: Some("orders".into()),
        id: Some(ids[0]),
    };
    let (records, outcomes) = delete_topics(&image, &[stale, current], &check_deletable);
    assert_eq!(
        errors(&outcomes),
        vec![Some(ResponseError::UnknownTopicId), None]
    );
    assert_eq!(records, vec![MetadataRecord::RemoveTopic { id: ids[0] }]);
}

#[test]
fn a_topic_asked_twice_is_removed_once() {
    let (image, ids) = image_with(&["orders"]);
    let (records, outcomes) = delete_topics(
        &image,
        &[by_name("orders"), by_id(ids[0]), by_name("orders")],
        &check_deletable,
    );
    assert_eq!(records, vec![MetadataRecord::RemoveTopic { id: ids[0] }]);
    assert_eq!(
        errors(&outcomes),
        vec![
            None,
            Some(ResponseError::UnknownTopicId),
            Some(ResponseError::UnknownTopicOrPartition)
        ]
    );
}

#[test]
fn internal_topics_are_refused_as_the_broker_says() {
    let (image, _) = image_with(&["__consumer_offsets", "orders"]);
    let (records, outcomes) = delete_topics(
        &image,
        &[by_name("__consumer_offsets"), by_name("orders")],
        &check_deletable,
    );
    assert_eq!(records.len(), 1, "only orders: {records:?}");
    assert_eq!(
        errors(&outcomes),
        vec![Some(ResponseError::InvalidTopicException), None]
    );
}

#[test]
fn deletions_round_trip_through_the_wire() {
    let asked = vec![
        by_name("orders"),
        by_id(TopicId([3; 16])),
        TopicDeletion {
            name: Some("x".into()),
            id: Some(TopicId([4; 16])),
        },
    ];
    let body = encode_body(
        &delete_topics_request_to_wire(&asked),
        DELETE_TOPICS_VERSION,
    )
    .expect("encode");
    let request = decode_body(&body, DELETE_TOPICS_VERSION).expect("decode");
    assert_eq!(delete_topics_request(&request), asked);

    let outcomes = vec![
        TopicDeletionOutcome {
            name: Some("orders".into()),
            id: Some(TopicId([5; 16])),
            result: Ok(()),
        },
        TopicDeletionOutcome {
            name: None,
            id: Some(TopicId([3; 16])),
            result: Err(ControllerError::new(ResponseError::UnknownTopicId, "gone")),
        },
    ];
    let body =
        encode_body(&delete_topics_response(&outcomes), DELETE_TOPICS_VERSION).expect("encode");
    let response = decode_body(&body, DELETE_TOPICS_VERSION).expect("decode");
    assert_eq!(topic_deletion_outcomes(&response), outcomes);
}
