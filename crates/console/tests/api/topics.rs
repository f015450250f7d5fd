//! `/api/v1/topics`: create, list, describe, configs, partitions, delete.

use crate::harness::start;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_needs_confirmation_and_valid_input() {
    let c = start(&[]).await;
    let unconfirmed = c
        .json(
            "POST",
            "/api/v1/topics",
            json!({"name": "orders", "partitions": 3}),
        )
        .await;
    assert_eq!(unconfirmed.status, 400);
    assert_eq!(unconfirmed.error(), "confirmation_required");
    assert_eq!(c.get("/api/v1/topics/orders").await.status, 404);

    let dry = c
        .json(
            "POST",
            "/api/v1/topics",
            json!({"name": "orders", "partitions": 3, "validate_only": true}),
        )
        .await;
    assert_eq!(dry.status, 200);
    assert_eq!(dry.json()["created"], false);
    assert_eq!(c.get("/api/v1/topics/orders").await.status, 404);

    let created = c
        .json(
            "POST",
            "/api/v1/topics",
            json!({"name": "orders", "partitions": 3, "configs": {"retention.ms": "1000"}, "confirm": true}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let j = created.json();
    assert_eq!(
        (j["partitions"].as_i64(), j["replication_factor"].as_i64()),
        (Some(3), Some(1))
    );

    let again = c
        .json(
            "POST",
            "/api/v1/topics",
            json!({"name": "orders", "confirm": true}),
        )
        .await;
    assert_eq!(
        (again.status, again.error().as_str()),
        (409, "topic_already_exists")
    );
    for (body, code) in [
        (
            json!({"name": "bad name!", "confirm": true}),
            "invalid_topic_exception",
        ),
        (
            json!({"name": "p0", "partitions": 0, "confirm": true}),
            "invalid_partitions",
        ),
        (
            json!({"name": "rf", "replication_factor": 3, "confirm": true}),
            "invalid_replication_factor",
        ),
        (
            json!({"name": "cfg", "configs": {"no.such.config": "1"}, "confirm": true}),
            "invalid_config",
        ),
        (
            json!({"name": "cfg", "configs": {"retention.ms": "soon"}, "confirm": true}),
            "invalid_config",
        ),
        (json!({"partitions": 1, "confirm": true}), "bad_request"),
    ] {
        let r = c.json("POST", "/api/v1/topics", body.clone()).await;
        assert_eq!(
            (r.status, r.error()),
            (400, code.to_string()),
            "{body}: {}",
            r.text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_search_and_detail() {
    let c = start(&[]).await;
    c.create_topic("orders", 2, json!({})).await;
    c.create_topic("payments", 1, json!({"cleanup.policy": "compact"}))
        .await;
    c.produce("orders", json!({"partition": 1, "value": "x"}))
        .await;
    // Creating the offsets topic adds an internal topic to the list.
    c.broker
        .ensure_offsets_topic()
        .await
        .expect("offsets topic");

    let all = c.get("/api/v1/topics").await.json();
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["__consumer_offsets", "orders", "payments"]);
    let visible = c
        .get("/api/v1/topics?internal=false&search=ORD")
        .await
        .json();
    assert_eq!(visible.as_array().map(Vec::len), Some(1));
    assert_eq!(visible[0]["name"], "orders");
    assert_eq!(visible[0]["partitions"], 2);
    assert_eq!(visible[0]["records"], 1);
    assert!(visible[0]["size_bytes"].as_u64().is_some_and(|s| s > 0));

    let d = c.get("/api/v1/topics/orders").await.json();
    assert_eq!(d["compacted"], false);
    let parts = d["partition_details"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1]["high_watermark"], 1);
    assert_eq!(parts[1]["log_end_offset"], 1);
    assert_eq!(parts[1]["log_start_offset"], 0);
    assert_eq!(parts[1]["leader"], 1);
    assert_eq!(parts[1]["isr"], json!([1]));
    let retention = d["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "retention.ms")
        .unwrap();
    assert_eq!(retention["is_default"], true);
    assert_eq!(retention["source"], "DEFAULT_CONFIG");
    assert_eq!(
        c.get("/api/v1/topics/payments").await.json()["compacted"],
        true
    );

    let missing = c.get("/api/v1/topics/nope").await;
    assert_eq!(
        (missing.status, missing.error().as_str()),
        (404, "unknown_topic")
    );
    assert!(missing.json()["message"]
        .as_str()
        .unwrap()
        .contains("'nope' does not exist"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_partitions_and_delete() {
    let c = start(&[]).await;
    c.create_topic("t", 1, json!({})).await;
    let path = "/api/v1/topics/t/configs";
    let typo = c
        .json(
            "PATCH",
            path,
            json!({"set": {"retention.mss": "5"}, "confirm": true}),
        )
        .await;
    assert_eq!(
        (typo.status, typo.error().as_str()),
        (400, "invalid_config")
    );
    let unconfirmed = c
        .json("PATCH", path, json!({"set": {"retention.ms": "5000"}}))
        .await;
    assert_eq!(unconfirmed.error(), "confirmation_required");
    let empty = c.json("PATCH", path, json!({"confirm": true})).await;
    assert_eq!(empty.status, 400);
    let set = c
        .json(
            "PATCH",
            path,
            json!({"set": {"retention.ms": "5000"}, "confirm": true}),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text());
    let value = |d: &serde_json::Value| {
        d["configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "retention.ms")
            .cloned()
            .unwrap()
    };
    let v = value(&set.json());
    assert_eq!(
        (v["value"].as_str(), v["source"].as_str()),
        (Some("5000"), Some("DYNAMIC_TOPIC_CONFIG"))
    );
    let reset = c
        .json(
            "PATCH",
            path,
            json!({"reset": ["retention.ms"], "confirm": true}),
        )
        .await;
    assert_eq!(value(&reset.json())["is_default"], true);
    let unknown = c
        .json(
            "PATCH",
            "/api/v1/topics/zzz/configs",
            json!({"set": {"retention.ms": "1"}, "confirm": true}),
        )
        .await;
    assert_eq!(unknown.status, 404);

    let parts = "/api/v1/topics/t/partitions";
    let shrink = c
        .json("POST", parts, json!({"count": 1, "confirm": true}))
        .await;
    assert_eq!(
        (shrink.status, shrink.error().as_str()),
        (400, "invalid_partitions")
    );
    let unconfirmed = c.json("POST", parts, json!({"count": 3})).await;
    assert_eq!(unconfirmed.error(), "confirmation_required");
    let grown = c
        .json("POST", parts, json!({"count": 3, "confirm": true}))
        .await;
    assert_eq!(grown.json()["partitions"], 3);

    let no_confirm = c.delete("/api/v1/topics/t").await;
    assert_eq!(
        (no_confirm.status, no_confirm.error().as_str()),
        (400, "confirmation_required")
    );
    let wrong = c.delete("/api/v1/topics/t?confirm=other").await;
    assert_eq!(wrong.status, 400);
    assert_eq!(c.get("/api/v1/topics/t").await.status, 200);
    let deleted = c.delete("/api/v1/topics/t?confirm=t").await;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(deleted.json()["deleted"], true);
    assert_eq!(c.get("/api/v1/topics/t").await.status, 404);
    assert_eq!(c.delete("/api/v1/topics/t?confirm=t").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_that_cannot_be_hosted_is_shown_offline() {
    let c = start(&[]).await;
    // A file where the partition's directory must go: its log cannot be created.
    let blocker = c.broker.logs.data_dir().join("broken-0");
    std::fs::write(&blocker, b"not a directory").unwrap();
    c.create_topic("broken", 2, json!({})).await;
    let d = c.get("/api/v1/topics/broken").await.json();
    let parts = d["partition_details"].as_array().unwrap();
    assert_eq!(parts[0]["offline"], true);
    assert!(parts[0]["offline_reason"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
    assert_eq!(parts[1]["offline"], false);
    assert_eq!(parts[1]["offline_reason"], serde_json::Value::Null);
    // The broken partition's "directory" was left as it was.
    assert_eq!(std::fs::read(&blocker).unwrap(), b"not a directory");
}
