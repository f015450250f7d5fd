//! DescribeClientQuotas and AlterClientQuotas (KIP-546) with exact requests: quotas
//! are stored in the metadata log (they survive a restart), validate_only stores
//! nothing, unknown and unenforced keys are INVALID_REQUEST, and Describe honours
//! Kafka's exact / default / specified match types, strict or not; the byte rates
//! are enforced: a client over its quota gets a non-zero `throttle_time_ms`.

mod topic_support;

use moldau_e2e::BrokerProcess;
use moldau_protocol::kafka::messages::alter_client_quotas_request::{
    EntityData, EntryData, OpData,
};
use moldau_protocol::kafka::messages::describe_client_quotas_request::ComponentData;
use moldau_protocol::kafka::messages::fetch_request::{FetchPartition, FetchTopic};
use moldau_protocol::kafka::messages::produce_request::{PartitionProduceData, TopicProduceData};
use moldau_protocol::kafka::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, BrokerId, DescribeClientQuotasRequest,
    FetchRequest, ProduceRequest,
};
use topic_support::{create_topic, s, topic_name, RawClient, INVALID_REQUEST, NONE};

const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;
const MATCH_SPECIFIED: i8 = 2;

/// An entity as "type=name,..." with its (key, value) quotas.
type Described = (String, Vec<(String, f64)>);

/// (entity type, name or None for the default entity).
type Entity<'a> = &'a [(&'a str, Option<&'a str>)];

fn alter(
    c: &mut RawClient,
    version: i16,
    entity: Entity,
    ops: &[(&str, f64, bool)],
    validate_only: bool,
) -> AlterClientQuotasResponse {
    let entry = EntryData::default()
        .with_entity(
            entity
                .iter()
                .map(|(t, n)| {
                    EntityData::default()
                        .with_entity_type(s(t))
                        .with_entity_name(n.map(s))
                })
                .collect(),
        )
        .with_ops(
            ops.iter()
                .map(|(k, v, remove)| {
                    OpData::default()
                        .with_key(s(k))
                        .with_value(*v)
                        .with_remove(*remove)
                })
                .collect(),
        );
    c.call(
        version,
        &AlterClientQuotasRequest::default()
            .with_entries(vec![entry])
            .with_validate_only(validate_only),
    )
}

fn alter_code(c: &mut RawClient, entity: Entity, ops: &[(&str, f64, bool)]) -> i16 {
    let r = alter(c, 1, entity, ops, false);
    assert_eq!(r.entries.len(), 1);
    r.entries[0].error_code
}

/// Every matched entity (as "type=name" joined by ",", default as "type=<default>")
/// with its quotas, in the broker's order.
fn describe(
    c: &mut RawClient,
    version: i16,
    components: &[(&str, i8, Option<&str>)],
    strict: bool,
) -> Result<Vec<Described>, i16> {
    let r = c.call(
        version,
        &DescribeClientQuotasRequest::default()
            .with_components(
                components
                    .iter()
                    .map(|(t, m, n)| {
                        ComponentData::default()
                            .with_entity_type(s(t))
                            .with_match_type(*m)
                            .with_match(n.map(s))
                    })
                    .collect(),
            )
            .with_strict(strict),
    );
    if r.error_code != NONE {
        assert!(r.entries.is_none());
        return Err(r.error_code);
    }
    let mut out: Vec<_> = r
        .entries
        .expect("entries on success")
        .into_iter()
        .map(|e| {
            let mut parts: Vec<String> = e
                .entity
                .iter()
                .map(|p| {
                    let name = p
                        .entity_name
                        .as_ref()
                        .map_or("<default>".to_string(), |n| n.to_string());
                    format!("{}={name}", p.entity_type)
                })
                .collect();
            parts.sort();
            let values = e
                .values
                .iter()
                .map(|v| (v.key.to_string(), v.value))
                .collect();
            (parts.join(","), values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn names(found: &[Described]) -> Vec<&str> {
    found.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn quotas_are_stored_described_and_survive_a_restart() {
    let mut broker = BrokerProcess::start(&[]);
    let mut c = RawClient::connect(&broker.addr);
    let alice = [("user", Some("alice"))];
    let alice_app = [("user", Some("alice")), ("client-id", Some("app"))];
    let default_client = [("client-id", None)];

    assert_eq!(
        alter_code(&mut c, &alice, &[("producer_byte_rate", 102400.0, false)]),
        NONE
    );
    assert_eq!(
        alter_code(
            &mut c,
            &alice_app,
            &[
                ("producer_byte_rate", 2048.0, false),
                ("consumer_byte_rate", 4096.0, false)
            ]
        ),
        NONE
    );
    // v0 (not flexible) too.
    let r = alter(
        &mut c,
        0,
        &default_client,
        &[("consumer_byte_rate", 1000.0, false)],
        false,
    );
    assert_eq!(r.entries[0].error_code, NONE);
    assert!(r.entries[0].error_message.is_none());

    let all = describe(&mut c, 1, &[], false).unwrap();
    assert_eq!(
        names(&all),
        [
            "client-id=<default>",
            "client-id=app,user=alice",
            "user=alice"
        ]
    );
    assert_eq!(
        all[1].1,
        [
            ("consumer_byte_rate".to_string(), 4096.0),
            ("producer_byte_rate".to_string(), 2048.0)
        ]
    );

    // Exact user, non-strict: both entities of alice; strict: only the user alone.
    let exact = [("user", MATCH_EXACT, Some("alice"))];
    assert_eq!(
        names(&describe(&mut c, 1, &exact, false).unwrap()),
        ["client-id=app,user=alice", "user=alice"]
    );
    assert_eq!(
        names(&describe(&mut c, 0, &exact, true).unwrap()),
        ["user=alice"]
    );
    // Default client id matches only the default entity; specified client ids only named ones.
    assert_eq!(
        names(&describe(&mut c, 1, &[("client-id", MATCH_DEFAULT, None)], false).unwrap()),
        ["client-id=<default>"]
    );
    assert_eq!(
        names(&describe(&mut c, 1, &[("client-id", MATCH_SPECIFIED, None)], false).unwrap()),
        ["client-id=<default>", "client-id=app,user=alice"],
        "MATCH_TYPE_SPECIFIED matches any entity of the type"
    );
    assert_eq!(
        names(&describe(&mut c, 1, &[("user", MATCH_EXACT, Some("bob"))], false).unwrap()),
        Vec::<&str>::new()
    );

    // Removing the last quota of an entity removes the entity.
    assert_eq!(
        alter_code(&mut c, &alice, &[("producer_byte_rate", 0.0, true)]),
        NONE
    );
    drop(c);
    broker.stop();
    broker.restart();
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(
        names(&describe(&mut c, 1, &[], false).unwrap()),
        ["client-id=<default>", "client-id=app,user=alice"],
        "quotas come back from the metadata log after a restart"
    );
}

#[test]
fn bad_requests_are_invalid_request_and_store_nothing() {
    let broker = BrokerProcess::start(&[]);
    let mut c = RawClient::connect(&broker.addr);
    let bob = [("user", Some("bob"))];

    // validate_only checks but stores nothing.
    let r = alter(
        &mut c,
        1,
        &bob,
        &[("producer_byte_rate", 5000.0, false)],
        true,
    );
    assert_eq!(r.entries[0].error_code, NONE);
    assert_eq!(describe(&mut c, 1, &[], false).unwrap(), vec![]);
    let r = alter(&mut c, 1, &bob, &[("no_such_rate", 1.0, false)], true);
    assert_eq!(r.entries[0].error_code, INVALID_REQUEST);

    for (entity, ops) in [
        (&bob[..], &[("no_such_rate", 1.0, false)][..]),
        // One bad op refuses the whole entry.
        (
            &bob[..],
            &[("producer_byte_rate", 1000.0, false), ("bogus", 1.0, false)][..],
        ),
        // A request percentage is a positive share of a handler thread.
        (&bob[..], &[("request_percentage", -5.0, false)][..]),
        // A controller mutation rate is a positive number of partitions per second.
        (&bob[..], &[("controller_mutation_rate", 0.0, false)][..]),
        // Byte rates are whole positive numbers.
        (&bob[..], &[("producer_byte_rate", 1.5, false)][..]),
        (&bob[..], &[("consumer_byte_rate", -1.0, false)][..]),
        (&[][..], &[("producer_byte_rate", 1000.0, false)][..]),
        (
            &[("user", Some("a")), ("user", Some("b"))][..],
            &[("producer_byte_rate", 1000.0, false)][..],
        ),
        (
            &[("group", Some("g"))][..],
            &[("producer_byte_rate", 1000.0, false)][..],
        ),
        (
            &[("ip", Some("127.0.0.1")), ("user", None)][..],
            &[("producer_byte_rate", 1000.0, false)][..],
        ),
    ] {
        let r = alter(&mut c, 1, entity, ops, false);
        assert_eq!(
            r.entries[0].error_code, INVALID_REQUEST,
            "{entity:?} {ops:?}"
        );
        assert!(r.entries[0].error_message.is_some());
    }
    assert_eq!(describe(&mut c, 1, &[], false).unwrap(), vec![]);

    for components in [
        &[("user", MATCH_EXACT, None)][..],
        &[("user", MATCH_DEFAULT, Some("x"))][..],
        &[("user", 9, None)][..],
        &[
            ("user", MATCH_DEFAULT, None),
            ("user", MATCH_SPECIFIED, None),
        ][..],
        &[
            ("ip", MATCH_SPECIFIED, None),
            ("user", MATCH_SPECIFIED, None),
        ][..],
    ] {
        assert_eq!(
            describe(&mut c, 1, components, false),
            Err(INVALID_REQUEST),
            "{components:?}"
        );
    }
}

/// A record value of this size, so a few requests pass a 50 000 bytes/s quota
/// measured over Kafka's 10 s window.
const VALUE_BYTES: usize = 100_000;
/// Requests sent at most while waiting to be throttled (2 MB, four times the quota's
/// window).
const REQUESTS_MAX: usize = 20;

/// Produce v8 of one VALUE_BYTES record; (error code, throttle_time_ms).
fn produce_big(c: &mut RawClient, topic: &str) -> (i16, i32) {
    let value = vec![7u8; VALUE_BYTES];
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(topic_support::batch(0, &value)))])]);
    let r = c.call(8, &request);
    (
        r.responses[0].partition_responses[0].error_code,
        r.throttle_time_ms,
    )
}

/// Fetch v4 from offset 0 of up to ~2 records; (error code, throttle_time_ms).
fn fetch_big(c: &mut RawClient, topic: &str) -> (i16, i32) {
    let bytes_max = 2 * VALUE_BYTES as i32;
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(bytes_max)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(bytes_max)])]);
    let r = c.call(4, &request);
    // A throttled answer has no partitions at all (KIP-219).
    let code = r
        .responses
        .first()
        .and_then(|t| t.partitions.first())
        .map_or(NONE, |p| p.error_code);
    (code, r.throttle_time_ms)
}

/// Sends requests until one is throttled; the throttle times seen, in order.
fn until_throttled(mut send: impl FnMut() -> (i16, i32)) -> Vec<i32> {
    let mut seen = Vec::new();
    for _ in 0..REQUESTS_MAX {
        let (code, throttle_ms) = send();
        assert_eq!(code, NONE);
        seen.push(throttle_ms);
        if throttle_ms > 0 {
            break;
        }
    }
    seen
}

#[test]
fn byte_rate_quotas_throttle_only_the_clients_they_name() {
    let broker = BrokerProcess::start(&[]);
    let mut admin = RawClient::connect(&broker.addr);
    assert_eq!(create_topic(&mut admin, "quota-topic", 1, &[]), NONE);
    assert_eq!(
        alter_code(
            &mut admin,
            &[("client-id", Some("slow"))],
            &[("producer_byte_rate", 50_000.0, false)]
        ),
        NONE
    );
    assert_eq!(
        alter_code(
            &mut admin,
            &[("client-id", Some("slow-reader"))],
            &[("consumer_byte_rate", 50_000.0, false)]
        ),
        NONE
    );

    // Without a quota, 2 MB goes through unthrottled.
    let mut fast = RawClient::connect_as(&broker.addr, "fast");
    for _ in 0..REQUESTS_MAX {
        assert_eq!(produce_big(&mut fast, "quota-topic"), (NONE, 0));
    }
    // Over 50 000 bytes/s, the producer is told to back off.
    let mut slow = RawClient::connect_as(&broker.addr, "slow");
    let seen = until_throttled(|| produce_big(&mut slow, "quota-topic"));
    assert!(
        seen.last().is_some_and(|t| *t > 0),
        "producer never throttled: {seen:?}"
    );
    // A fetch quota holds back only the client it names.
    for _ in 0..REQUESTS_MAX {
        assert_eq!(fetch_big(&mut fast, "quota-topic"), (NONE, 0));
    }
    let mut reader = RawClient::connect_as(&broker.addr, "slow-reader");
    let seen = until_throttled(|| fetch_big(&mut reader, "quota-topic"));
    assert!(
        seen.last().is_some_and(|t| *t > 0),
        "fetcher never throttled: {seen:?}"
    );
}
