//! DescribeTopicPartitions (KIP-966) with exact requests: name order, paging by the
//! response partition limit and the cursor, unknown topics and bad cursors.

mod topic_support;

use moldau_e2e::BrokerProcess;
use moldau_protocol::kafka::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use moldau_protocol::kafka::messages::{
    DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
};
use topic_support::UNKNOWN_TOPIC_OR_PARTITION;
use topic_support::{create_topic, topic_name, RawClient, INVALID_REQUEST, NONE};

fn describe(
    c: &mut RawClient,
    topics: &[&str],
    limit: i32,
    cursor: Option<(String, i32)>,
) -> DescribeTopicPartitionsResponse {
    c.call(
        0,
        &DescribeTopicPartitionsRequest::default()
            .with_topics(
                topics
                    .iter()
                    .map(|t| TopicRequest::default().with_name(topic_name(t)))
                    .collect(),
            )
            .with_response_partition_limit(limit)
            .with_cursor(cursor.map(|(t, p)| {
                Cursor::default()
                    .with_topic_name(topic_name(&t))
                    .with_partition_index(p)
            })),
    )
}

/// (topic, partition) of every partition answered.
fn answered(r: &DescribeTopicPartitionsResponse) -> Vec<(String, i32)> {
    r.topics
        .iter()
        .flat_map(|t| {
            let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
            t.partitions
                .iter()
                .map(move |p| (name.clone(), p.partition_index))
        })
        .collect()
}

fn next(r: &DescribeTopicPartitionsResponse) -> Option<(String, i32)> {
    r.next_cursor
        .as_ref()
        .map(|c| (c.topic_name.to_string(), c.partition_index))
}

#[test]
fn pages_through_every_partition_in_name_order() {
    let broker = BrokerProcess::start(&[]);
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(create_topic(&mut c, "b-three", 3, &[]), NONE);
    assert_eq!(create_topic(&mut c, "a-two", 2, &[]), NONE);
    assert_eq!(create_topic(&mut c, "c-one", 1, &[]), NONE);

    // Every topic (empty list), two partitions a page.
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let r = describe(&mut c, &[], 2, cursor.clone());
        assert!(r.topics.iter().all(|t| t.error_code == NONE));
        pages.push(answered(&r));
        cursor = next(&r);
        if cursor.is_none() {
            break;
        }
        assert!(pages.len() < 10, "paging does not end");
    }
    let s = |t: &str, p: i32| (t.to_string(), p);
    assert_eq!(
        pages,
        vec![
            vec![s("a-two", 0), s("a-two", 1)],
            vec![s("b-three", 0), s("b-three", 1)],
            vec![s("b-three", 2), s("c-one", 0)],
        ]
    );

    // A page that ends with a topic points at the next topic's first partition.
    let r = describe(&mut c, &["a-two", "c-one"], 2, None);
    assert_eq!(next(&r), Some(s("c-one", 0)));

    // Named topics: unknown ones are answered with an error, in name order.
    let r = describe(&mut c, &["c-one", "nope", "a-two"], 100, None);
    let topics: Vec<(String, i16, usize)> = r
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.to_string()).unwrap_or_default(),
                t.error_code,
                t.partitions.len(),
            )
        })
        .collect();
    assert_eq!(
        topics,
        vec![
            ("a-two".into(), NONE, 2),
            ("c-one".into(), NONE, 1),
            ("nope".into(), UNKNOWN_TOPIC_OR_PARTITION, 0),
        ]
    );
    assert_eq!(next(&r), None);
    let a = &r.topics[0];
    assert!(!a.topic_id.is_nil());
    assert_eq!(a.partitions[0].leader_id.0, 1);
    assert_eq!(a.partitions[0].eligible_leader_replicas, Some(Vec::new()));

    // The cursor's topic must be one of those asked for.
    let r = describe(&mut c, &["a-two"], 10, Some(s("b-three", 0)));
    assert_eq!(r.topics[0].error_code, INVALID_REQUEST);
    let r = describe(&mut c, &["b-three"], 10, Some(s("b-three", -1)));
    assert_eq!(r.topics[0].error_code, INVALID_REQUEST);
}
