//! `/api/v1/groups`: a real consumer group's members and lag, offset resets and
//! their refusals, and lag that stays right after retention and compaction.

use crate::harness::{start, TestConsole};
use moldau_client::consumer::{Consumer, ConsumerBuilder};
use moldau_client::OffsetReset;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long a consumer may take to join and read what it should.
const CONSUME_TIMEOUT: Duration = Duration::from_secs(30);

pub fn consumer(c: &TestConsole, group: &str) -> Consumer {
    ConsumerBuilder::new(&c.kafka)
        .group_id(group)
        .client_id("api-test")
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false)
        .heartbeat_interval(Duration::from_millis(300))
        .session_timeout(Duration::from_secs(6))
        .build()
        .expect("consumer")
}

/// Polls until `n` records arrived, then commits the positions.
pub async fn consume_and_commit(consumer: &Consumer, n: usize) {
    let deadline = Instant::now() + CONSUME_TIMEOUT;
    let mut got = 0;
    while got < n {
        assert!(Instant::now() < deadline, "consumed only {got} of {n}");
        got += consumer
            .poll(Duration::from_millis(200))
            .await
            .expect("poll")
            .len();
    }
    consumer.commit().await.expect("commit");
}

async fn group(c: &TestConsole, id: &str) -> Value {
    let r = c.get(&format!("/api/v1/groups/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn committed(g: &Value, partition: i64) -> Option<i64> {
    g["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["partition"] == partition)
        .and_then(|p| p["committed_offset"].as_i64())
}

async fn reset(c: &TestConsole, id: &str, body: Value) -> crate::harness::Response {
    c.json("POST", &format!("/api/v1/groups/{id}/offsets/reset"), body)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_lag_and_offset_resets() {
    let c = start(&[]).await;
    c.create_topic("g-t", 2, json!({})).await;
    for i in 0..10 {
        c.produce("g-t", json!({"partition": i % 2, "value": format!("v{i}")}))
            .await;
    }
    let member = consumer(&c, "g1");
    member.subscribe(&["g-t"]).await.expect("subscribe");
    consume_and_commit(&member, 10).await;
    for i in 0..4 {
        c.produce("g-t", json!({"partition": i % 2, "value": "more"}))
            .await;
    }

    let list = c.get("/api/v1/groups").await.json();
    assert_eq!(list[0]["group_id"], "g1");
    assert_eq!(list[0]["state"], "Stable");
    assert_eq!(list[0]["group_type"], "classic");
    assert_eq!(list[0]["members"], 1);
    assert_eq!(list[0]["total_lag"], 4);
    assert_eq!(list[0]["topics"], json!(["g-t"]));
    assert_eq!(
        c.get("/api/v1/cluster").await.json()["groups_by_state"]["Stable"],
        1
    );

    let g = group(&c, "g1").await;
    assert_eq!(g["protocol_type"], "consumer");
    assert_eq!(g["group_type"], "classic");
    assert_eq!(g["consumer_protocol"], Value::Null);
    assert_eq!(g["members"][0]["client_id"], "api-test");
    let mut assigned = g["members"][0]["assignment"][0]["partitions"]
        .as_array()
        .unwrap()
        .clone();
    assigned.sort_by_key(|p| p.as_i64());
    assert_eq!(assigned, vec![json!(0), json!(1)]);
    for p in g["partitions"].as_array().unwrap() {
        assert_eq!(
            (
                p["committed_offset"].as_i64(),
                p["log_end_offset"].as_i64(),
                p["lag"].as_i64()
            ),
            (Some(5), Some(7), Some(2))
        );
        assert_eq!(p["member_id"], g["members"][0]["member_id"]);
        assert!(p["time_lag_ms"].as_i64().is_some_and(|t| t >= 0));
    }

    // A member is active: resets are refused, even a preview, as Kafka's tool does.
    for body in [
        json!({"to": "earliest", "dry_run": true}),
        json!({"to": "earliest", "confirm": true}),
    ] {
        let r = reset(&c, "g1", body).await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (409, "group_active"),
            "{}",
            r.text()
        );
    }
    member.close().await.expect("close");
    let deadline = Instant::now() + CONSUME_TIMEOUT;
    while group(&c, "g1").await["state"] != "Empty" {
        assert!(Instant::now() < deadline, "group never became Empty");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let preview = reset(&c, "g1", json!({"to": "earliest", "dry_run": true}))
        .await
        .json();
    assert_eq!(preview["applied"], false);
    assert_eq!(preview["plan"][0]["current_offset"], 5);
    assert_eq!(preview["plan"][0]["new_offset"], 0);
    assert_eq!(preview["plan"][0]["lag_after"], 7);
    assert_eq!(
        committed(&group(&c, "g1").await, 0),
        Some(5),
        "a preview changes nothing"
    );
    let unconfirmed = reset(&c, "g1", json!({"to": "earliest"})).await;
    assert_eq!(unconfirmed.error(), "confirmation_required");
    assert_eq!(committed(&group(&c, "g1").await, 0), Some(5));

    for (body, want) in [
        (json!({"to": "offset", "offset": 3}), 3),
        (json!({"to": "offset", "offset": 999}), 7),
        (json!({"to": "earliest"}), 0),
        (json!({"to": "latest"}), 7),
        (json!({"to": "timestamp", "timestamp": 0}), 0),
        (json!({"to": "timestamp", "timestamp": i64::MAX / 2}), 7),
    ] {
        let mut body = body;
        body["confirm"] = json!(true);
        let r = reset(&c, "g1", body.clone()).await;
        assert_eq!(r.status, 200, "{body}: {}", r.text());
        assert_eq!(r.json()["applied"], true);
        let g = group(&c, "g1").await;
        assert_eq!(
            (committed(&g, 0), committed(&g, 1)),
            (Some(want), Some(want)),
            "{body}"
        );
        assert_eq!(g["total_lag"].as_i64(), Some(2 * (7 - want)));
    }
    let one = reset(
        &c,
        "g1",
        json!({"topic": "g-t", "partitions": [1], "to": "earliest", "confirm": true}),
    )
    .await;
    assert_eq!(one.json()["plan"].as_array().map(Vec::len), Some(1));
    let g = group(&c, "g1").await;
    assert_eq!((committed(&g, 0), committed(&g, 1)), (Some(7), Some(0)));

    for (body, status) in [
        (json!({"to": "yesterday"}), 400),
        (json!({"to": "offset"}), 400),
        (json!({"to": "timestamp"}), 400),
        (json!({"topic": "nope", "to": "earliest"}), 404),
        (
            json!({"topic": "g-t", "partitions": [9], "to": "earliest"}),
            404,
        ),
    ] {
        assert_eq!(reset(&c, "g1", body.clone()).await.status, status, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_new_groups() {
    let c = start(&[]).await;
    // Before any group exists there is no offsets topic at all.
    let none = c.get("/api/v1/groups/ghost").await;
    assert_eq!((none.status, none.error().as_str()), (404, "unknown_group"));
    assert_eq!(c.get("/api/v1/groups").await.json(), json!([]));
    c.create_topic("t", 1, json!({})).await;
    c.produce("t", json!({"value": "a"})).await;
    let no_topic = reset(&c, "ghost", json!({"to": "earliest", "confirm": true})).await;
    assert_eq!(no_topic.status, 404);
    // Naming a topic starts a new group at the chosen offsets.
    let created = reset(
        &c,
        "fresh",
        json!({"topic": "t", "to": "earliest", "confirm": true}),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text());
    let g = group(&c, "fresh").await;
    assert_eq!(g["state"], "Empty");
    assert_eq!(
        (committed(&g, 0), g["total_lag"].as_i64()),
        (Some(0), Some(1))
    );
    assert_eq!(c.get("/api/v1/groups/ghost").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_is_right_after_retention_and_on_compacted_topics() {
    let c = start(&[]).await;
    // Retention (here DeleteRecords) moved the log start past the committed offset:
    // the records below it are gone, so they are not lag.
    c.create_topic("ret", 1, json!({})).await;
    for i in 0..20 {
        c.produce("ret", json!({"value": format!("v{i}")})).await;
    }
    let r = reset(
        &c,
        "gr",
        json!({"topic": "ret", "to": "offset", "offset": 5, "confirm": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let hosted = c.broker.replicas.get_by_name("ret", 0).expect("hosted");
    assert_eq!(
        hosted
            .log
            .write()
            .delete_records_before(15)
            .expect("delete records"),
        15
    );
    let g = group(&c, "gr").await;
    let p = &g["partitions"][0];
    assert_eq!(
        (
            p["committed_offset"].as_i64(),
            p["log_start_offset"].as_i64()
        ),
        (Some(5), Some(15))
    );
    assert_eq!(p["lag"], 5, "20 - 15, not 20 - 5");

    // Compaction left gaps: the lag counts the records still there.
    c.create_topic(
        "cmp",
        1,
        json!({"cleanup.policy": "compact", "segment.bytes": "150"}),
    )
    .await;
    for i in 0..30 {
        c.produce(
            "cmp",
            json!({"key": format!("k{}", i % 3), "value": format!("v{i}")}),
        )
        .await;
    }
    let log = std::sync::Arc::clone(&c.broker.replicas.get_by_name("cmp", 0).expect("hosted").log);
    assert!(log
        .write()
        .compact(moldau_console::console::now_ms())
        .expect("compact"));
    let present = c
        .get("/api/v1/topics/cmp/records?seek=beginning&limit=500")
        .await
        .json()["records"]
        .as_array()
        .map(Vec::len)
        .unwrap() as i64;
    assert!(present < 30, "compaction removed records ({present} left)");
    reset(
        &c,
        "gc",
        json!({"topic": "cmp", "to": "earliest", "confirm": true}),
    )
    .await;
    let g = group(&c, "gc").await;
    let p = &g["partitions"][0];
    assert_eq!(p["log_end_offset"], 30);
    assert_eq!(p["lag"].as_i64(), Some(present));
    assert_eq!(p["lag_exact"], true);
    assert!(p["time_lag_ms"].as_i64().is_some_and(|t| t >= 0));
    let metrics = c.get("/metrics").await.text();
    assert!(metrics.contains(&format!(
        "moldau_consumer_group_lag{{group=\"gc\",topic=\"cmp\"}} {present}\n"
    )));
    assert!(metrics.contains("moldau_consumer_group_lag{group=\"gr\",topic=\"ret\"} 5\n"));
}

/// Reset one partition by a shift; delete a group only while it is empty, with the
/// id repeated as confirmation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shift_one_partition_and_delete_the_group() {
    let c = start(&[]).await;
    c.create_topic("s", 2, json!({})).await;
    for i in 0..10 {
        c.produce("s", json!({"partition": i % 2, "value": format!("v{i}")}))
            .await;
    }
    let member = consumer(&c, "sg");
    member.subscribe(&["s"]).await.expect("subscribe");
    consume_and_commit(&member, 10).await;

    let active = c.delete("/api/v1/groups/sg?confirm=sg").await;
    assert_eq!(
        (active.status, active.error()),
        (409, "group_active".into())
    );
    member.close().await.expect("close");

    // Partition 1 only, back by 3 (5 -> 2); partition 0 keeps 5.
    let r = reset(
        &c,
        "sg",
        json!({"topic": "s", "partitions": [1], "to": "shift", "shift": -3, "confirm": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let g = group(&c, "sg").await;
    assert_eq!((committed(&g, 0), committed(&g, 1)), (Some(5), Some(2)));
    // The decoded __consumer_offsets records of the group, newest first.
    let log = c.get("/api/v1/groups/sg/offsets-log").await.json();
    let records = log["records"].as_array().unwrap();
    let newest_s1 = records.iter().find(|r| r["key"] == "s-1").unwrap();
    assert_eq!(newest_s1["kind"], "offset_commit");
    assert!(
        newest_s1["value"]
            .as_str()
            .unwrap()
            .starts_with("offset 2,"),
        "{newest_s1}"
    );
    assert!(
        records.iter().any(|r| r["kind"] == "group_metadata"),
        "{log}"
    );
    let offsets: Vec<i64> = records
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert!(offsets.windows(2).all(|w| w[0] > w[1]), "{offsets:?}");
    // Clamped into the partition's range, as --shift-by.
    let r = reset(
        &c,
        "sg",
        json!({"topic": "s", "partitions": [1], "to": "shift", "shift": 100, "dry_run": true}),
    )
    .await;
    assert_eq!(r.json()["plan"][0]["new_offset"], 5);
    let r = reset(&c, "sg", json!({"topic": "s", "to": "shift"})).await;
    assert_eq!(r.status, 400, "{}", r.text());

    let unconfirmed = c.delete("/api/v1/groups/sg").await;
    assert_eq!(unconfirmed.error(), "confirmation_required");
    let wrong = c.delete("/api/v1/groups/sg?confirm=other").await;
    assert_eq!(wrong.error(), "confirmation_required");
    let r = c.delete("/api/v1/groups/sg?confirm=sg").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let listed = c.get("/api/v1/groups").await.json();
    assert!(!listed.to_string().contains("\"sg\""), "{listed}");
    let again = c.delete("/api/v1/groups/sg?confirm=sg").await;
    assert_eq!(again.status, 404, "{}", again.text());
}
