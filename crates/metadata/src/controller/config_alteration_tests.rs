use super::test_support::{add_topic, apply, image_with_brokers};
use super::*;
use crate::{ConfigResource, MetadataImage, MetadataRecord};
use moldau_protocol::ResponseError;

/// Topics know retention.ms (a number) and cleanup.policy (a list); brokers know
/// log.retention.ms (a number).
fn check_topic(name: &str, value: Option<&str>) -> Result<(), String> {
    match (name, value) {
        ("retention.ms", None | Some("1000" | "2000")) | ("cleanup.policy", _) => Ok(()),
        _ => Err(format!("Invalid value {value:?} for configuration {name}")),
    }
}

fn check_broker(name: &str, value: Option<&str>) -> Result<(), String> {
    match (name, value.map(str::parse::<i64>)) {
        ("log.retention.ms", None | Some(Ok(_))) => Ok(()),
        _ => Err(format!(
            "Broker config '{name}' cannot be updated dynamically."
        )),
    }
}

/// Everything inherits cleanup.policy=delete.
fn inherited(_: &MetadataImage, _: &ConfigResource, name: &str) -> Option<String> {
    (name == "cleanup.policy").then(|| "delete".to_string())
}

fn decide(
    image: &MetadataImage,
    alterations: &[ConfigAlteration],
    validate_only: bool,
) -> (Vec<MetadataRecord>, Vec<ConfigAlterationOutcome>) {
    let rules = ConfigRules {
        check_topic: &check_topic,
        check_broker: &check_broker,
        inherited: &inherited,
    };
    alter_configs(image, alterations, &rules, validate_only)
}

fn topic_ops(name: &str, ops: &[(&str, ConfigOp)]) -> ConfigAlteration {
    ConfigAlteration {
        resource_type: RESOURCE_TOPIC,
        resource_name: name.into(),
        changes: ConfigChanges::Incremental(
            ops.iter()
                .map(|(k, op)| (k.to_string(), op.clone()))
                .collect(),
        ),
    }
}

fn set(v: &str) -> ConfigOp {
    ConfigOp::Set(Some(v.into()))
}

fn topic_config(name: &str, value: Option<&str>) -> MetadataRecord {
    MetadataRecord::Config {
        resource: ConfigResource::Topic("orders".into()),
        name: name.into(),
        value: value.map(str::to_string),
    }
}

fn errors(outcomes: &[ConfigAlterationOutcome]) -> Vec<Option<ResponseError>> {
    outcomes
        .iter()
        .map(|o| o.result.as_ref().err().map(|e| e.error))
        .collect()
}

fn orders() -> MetadataImage {
    let mut image = image_with_brokers(&[(1, None)]);
    add_topic(&mut image, "orders", &[&[1]]);
    image
}

#[test]
fn a_topic_unknown_to_the_image_is_refused_and_a_known_one_altered() {
    let image = orders();
    let (records, outcomes) = decide(
        &image,
        &[
            topic_ops("missing", &[("retention.ms", set("1000"))]),
            topic_ops("orders", &[("retention.ms", set("1000"))]),
        ],
        false,
    );
    assert_eq!(
        errors(&outcomes),
        vec![Some(ResponseError::UnknownTopicOrPartition), None]
    );
    assert_eq!(records, vec![topic_config("retention.ms", Some("1000"))]);
}

#[test]
fn validate_only_and_refused_resources_commit_nothing() {
    let image = orders();
    let good = topic_ops("orders", &[("retention.ms", set("1000"))]);
    let (records, outcomes) = decide(&image, std::slice::from_ref(&good), true);
    assert!(records.is_empty());
    assert_eq!(errors(&outcomes), vec![None]);
    // One bad value refuses its whole resource.
    let bad = topic_ops(
        "orders",
        &[("retention.ms", set("1000")), ("retention.ms", set("soon"))],
    );
    let (records, outcomes) = decide(&image, &[bad], false);
    assert!(records.is_empty());
    assert_eq!(errors(&outcomes), vec![Some(ResponseError::InvalidConfig)]);
    let unknown_op = topic_ops("orders", &[("retention.ms", ConfigOp::Unknown(9))]);
    let (records, outcomes) = decide(&image, &[unknown_op], false);
    assert!(records.is_empty());
    assert_eq!(errors(&outcomes), vec![Some(ResponseError::InvalidRequest)]);
}

#[test]
fn append_and_subtract_start_from_the_committed_override_or_the_inherited_value() {
    let mut image = orders();
    let append = topic_ops(
        "orders",
        &[("cleanup.policy", ConfigOp::Append(Some("compact".into())))],
    );
    let (records, _) = decide(&image, std::slice::from_ref(&append), false);
    assert_eq!(
        records,
        vec![topic_config("cleanup.policy", Some("delete,compact"))]
    );
    apply(
        &mut image,
        &[topic_config("cleanup.policy", Some("compact"))],
    );
    let (records, _) = decide(&image, &[append], false);
    assert_eq!(
        records,
        vec![topic_config("cleanup.policy", Some("compact"))]
    );
    // Operations of one request on one name apply in turn.
    let both = topic_ops(
        "orders",
        &[
            ("cleanup.policy", ConfigOp::Append(Some("delete".into()))),
            ("cleanup.policy", ConfigOp::Subtract(Some("compact".into()))),
        ],
    );
    let (records, _) = decide(&image, &[both], false);
    assert_eq!(
        records,
        vec![topic_config("cleanup.policy", Some("delete"))]
    );
}

#[test]
fn alter_configs_replaces_a_topics_overrides_and_sets_broker_values() {
    let mut image = orders();
    apply(
        &mut image,
        &[
            topic_config("cleanup.policy", Some("compact")),
            topic_config("retention.ms", Some("1000")),
        ],
    );
    let replace = ConfigAlteration {
        resource_type: RESOURCE_TOPIC,
        resource_name: "orders".into(),
        changes: ConfigChanges::Replace(vec![("retention.ms".into(), Some("2000".into()))]),
    };
    let (records, outcomes) = decide(&image, &[replace], false);
    assert_eq!(errors(&outcomes), vec![None]);
    assert_eq!(
        records,
        vec![
            topic_config("cleanup.policy", None),
            topic_config("retention.ms", Some("2000"))
        ]
    );

    let broker = |name: &str, value: &str| ConfigAlteration {
        resource_type: RESOURCE_BROKER,
        resource_name: String::new(),
        changes: ConfigChanges::Replace(vec![(name.into(), Some(value.into()))]),
    };
    let (records, outcomes) = decide(
        &image,
        &[broker("log.retention.ms", "5000"), broker("node.id", "7")],
        false,
    );
    assert_eq!(
        errors(&outcomes),
        vec![None, Some(ResponseError::InvalidConfig)]
    );
    assert_eq!(
        records,
        vec![MetadataRecord::Config {
            resource: ConfigResource::Broker(None),
            name: "log.retention.ms".into(),
            value: Some("5000".into()),
        }]
    );
    let other = ConfigAlteration {
        resource_type: 3,
        resource_name: "g".into(),
        changes: ConfigChanges::Replace(Vec::new()),
    };
    let (_, outcomes) = decide(&image, &[other], false);
    assert_eq!(errors(&outcomes), vec![Some(ResponseError::InvalidRequest)]);
}

#[test]
fn alterations_round_trip_through_the_wire() {
    let incremental = vec![topic_ops(
        "orders",
        &[
            ("retention.ms", set("1000")),
            ("cleanup.policy", ConfigOp::Delete),
            ("cleanup.policy", ConfigOp::Append(Some("compact".into()))),
            ("x", ConfigOp::Subtract(None)),
        ],
    )];
    let wire = incremental_alter_configs_request_to_wire(&incremental, true);
    let body = encode_body(&wire, INCREMENTAL_ALTER_CONFIGS_VERSION).expect("encode");
    let decoded = decode_body(&body, INCREMENTAL_ALTER_CONFIGS_VERSION).expect("decode");
    assert_eq!(
        incremental_alter_configs_request(&decoded),
        (incremental, true)
    );

    let replace = vec![ConfigAlteration {
        resource_type: RESOURCE_BROKER,
        resource_name: "1".into(),
        changes: ConfigChanges::Replace(vec![("a".into(), Some("1".into())), ("b".into(), None)]),
    }];
    let wire = alter_configs_request_to_wire(&replace, false);
    let body = encode_body(&wire, ALTER_CONFIGS_VERSION).expect("encode");
    let decoded = decode_body(&body, ALTER_CONFIGS_VERSION).expect("decode");
    assert_eq!(alter_configs_request(&decoded), (replace, false));

    let outcomes = vec![
        ConfigAlterationOutcome {
            resource_type: RESOURCE_TOPIC,
            resource_name: "orders".into(),
            result: Ok(()),
        },
        ConfigAlterationOutcome {
            resource_type: RESOURCE_BROKER,
            resource_name: "".into(),
            result: Err(ControllerError::new(ResponseError::InvalidConfig, "no")),
        },
    ];
    let body = encode_body(
        &incremental_alter_configs_response(&outcomes),
        INCREMENTAL_ALTER_CONFIGS_VERSION,
    )
    .expect("encode");
    let decoded = decode_body(&body, INCREMENTAL_ALTER_CONFIGS_VERSION).expect("decode");
    assert_eq!(incremental_config_outcomes(&decoded), outcomes);
    let body =
        encode_body(&alter_configs_response(&outcomes), ALTER_CONFIGS_VERSION).expect("encode");
    let decoded = decode_body(&body, ALTER_CONFIGS_VERSION).expect("decode");
    assert_eq!(config_outcomes(&decoded), outcomes);
}

#[test]
fn list_operations() {
    assert_eq!(list_op(Some("delete"), "compact", true), "delete,compact");
    assert_eq!(list_op(Some("delete,compact"), "delete", false), "compact");
    assert_eq!(list_op(None, "x", true), "x");
}

#[test]
fn an_image_shows_an_alteration_once_its_records_are_applied() {
    let mut image = orders();
    let alteration = topic_ops(
        "orders",
        &[
            ("retention.ms", set("1000")),
            ("cleanup.policy", ConfigOp::Append(Some("compact".into()))),
        ],
    );
    assert!(!shows_alteration(&image, &alteration));
    let (records, _) = decide(&image, std::slice::from_ref(&alteration), false);
    apply(&mut image, &records);
    assert!(shows_alteration(&image, &alteration));
    let undo = topic_ops(
        "orders",
        &[
            ("retention.ms", ConfigOp::Delete),
            ("cleanup.policy", ConfigOp::Subtract(Some("compact".into()))),
        ],
    );
    assert!(!shows_alteration(&image, &undo));
    let (records, _) = decide(&image, std::slice::from_ref(&undo), false);
    apply(&mut image, &records);
    assert!(shows_alteration(&image, &undo));
    // A topic this image does not have yet: not shown (the broker waits for it).
    let unseen = topic_ops("created-elsewhere", &[("retention.ms", set("1000"))]);
    assert!(!shows_alteration(&image, &unseen));
}
