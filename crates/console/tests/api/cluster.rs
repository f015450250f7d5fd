//! `/api/v1/cluster`, `/api/v1/cluster/throughput`, `/api/v1/brokers`, the UI's
//! assets, unknown paths and the request guard.

use crate::harness::{send, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_throughput_and_brokers() {
    let c = start(&[]).await;
    c.create_topic("a", 2, serde_json::json!({})).await;
    let o = c.get("/api/v1/cluster").await;
    assert_eq!(o.status, 200);
    let o = o.json();
    assert_eq!(o["cluster_id"], c.broker.cluster_id.as_str());
    assert_eq!(o["node_id"], 1);
    assert_eq!(o["controller_id"], 1);
    assert_eq!(o["topics"], 1);
    assert_eq!(o["partitions"], 2);
    assert_eq!(
        o["brokers"][0]["port"].as_i64(),
        c.kafka.rsplit(':').next().and_then(|p| p.parse().ok())
    );
    assert_eq!(o["brokers"][0]["controller"], true);
    assert_eq!(o["brokers"][0]["fenced"], false);
    // One node is its own quorum: the leader, an only voter with no lag.
    assert_eq!(o["quorum"]["leader_id"], 1);
    assert_eq!(o["quorum"]["voters"][0]["id"], 1);
    assert_eq!(o["quorum"]["voters"][0]["lag"], 0);
    assert_eq!(
        o["quorum"]["voters"][0]["log_end_offset"],
        o["quorum"]["high_watermark"]
    );
    assert!(o["rates"]["bytes_in_per_sec"].is_number());
    assert!(o["groups_by_state"].is_object());
    // One healthy node: nothing under-replicated, offline or moving.
    assert_eq!(o["under_replicated_count"], 0);
    assert_eq!(o["offline_count"], 0);
    assert_eq!(o["reassigning_count"], 0);
    assert_eq!(o["problem_partitions"], serde_json::json!([]));

    let t = c.get("/api/v1/cluster/throughput").await.json();
    assert_eq!(t["interval_ms"], 5000);
    assert!(t["samples"].is_array());

    let b = c.get("/api/v1/brokers").await.json();
    assert_eq!(b[0]["id"], 1);
    assert_eq!(b[0]["fenced"], false);
    assert_eq!(b[0]["partitions_led"], 2);
    let dir = &b[0]["log_dirs"][0];
    // The topic's two partitions (the metadata log is the Raft storage's, not a
    // partition log of the log manager).
    assert_eq!(dir["partitions"], 2);
    // Nothing produced yet: the empty partitions take no bytes.
    assert_eq!(dir["size_bytes"].as_u64(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_assets_and_unknown_paths() {
    let c = start(&[]).await;
    let index = c.get("/").await;
    assert_eq!(index.status, 200);
    assert!(index
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html")));
    let html = index.text();
    for (name, _, _) in moldau_console::assets::ASSETS {
        // Every asset is linked from the console or from its login page.
        let link = format!("/assets/{name}");
        assert!(
            html.contains(&link) || moldau_console::assets::LOGIN_HTML.contains(&link),
            "index or login page links {name}"
        );
        let a = c.get(&format!("/assets/{name}")).await;
        assert_eq!(a.status, 200, "{name}");
        let ct = a.header("content-type").unwrap_or_default();
        assert!(ct.starts_with(if name.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        }));
    }
    let missing = c.get("/assets/nope.js").await;
    assert_eq!(missing.status, 404);
    let page = c.get("/no/such/page").await;
    assert_eq!(page.status, 404);
    assert!(page.text().contains("Moldau console"));
    let api = c.get("/api/v1/no-such-endpoint").await;
    assert_eq!(api.status, 404);
    assert_eq!(api.error(), "not_found");
    // Every response carries the protective headers.
    assert_eq!(index.header("x-frame-options"), Some("DENY"));
    assert_eq!(index.header("x-content-type-options"), Some("nosniff"));
    assert!(index
        .header("content-security-policy")
        .is_some_and(|p| p.contains("frame-ancestors 'none'")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_refuses_rebinding_cross_origin_and_form_posts() {
    let c = start(&[]).await;
    let rebound = send(
        c.http,
        "GET",
        "/api/v1/cluster",
        &[("Host", "attacker.example:8080")],
        None,
    )
    .await;
    assert_eq!(rebound.status, 421);
    assert_eq!(rebound.error(), "host_not_allowed");
    let localhost = send(
        c.http,
        "GET",
        "/api/v1/cluster",
        &[("Host", "localhost:8080")],
        None,
    )
    .await;
    assert_eq!(localhost.status, 200);

    let body = br#"{"name":"x","confirm":true}"#;
    let cross = send(
        c.http,
        "POST",
        "/api/v1/topics",
        &[
            ("Origin", "http://attacker.example"),
            ("Content-Type", "application/json"),
        ],
        Some(body),
    )
    .await;
    assert_eq!(cross.status, 403);
    assert_eq!(cross.error(), "cross_origin");
    let form = send(
        c.http,
        "POST",
        "/api/v1/topics",
        &[("Content-Type", "text/plain")],
        Some(body),
    )
    .await;
    assert_eq!(form.status, 415);
    let origin = format!("http://{}", c.http);
    let same = send(
        c.http,
        "POST",
        "/api/v1/topics",
        &[
            ("Origin", origin.as_str()),
            ("Content-Type", "application/json"),
        ],
        Some(body),
    )
    .await;
    assert_eq!(same.status, 201, "{}", same.text());
    // Nothing was created by the refused requests: only the same-origin one.
    let topics = c.get("/api/v1/topics").await.json();
    assert_eq!(topics.as_array().map(Vec::len), Some(1));
    let garbage = send(
        c.http,
        "POST",
        "/api/v1/topics",
        &[("Content-Type", "application/json")],
        Some(b"{not json"),
    )
    .await;
    assert_eq!(garbage.status, 400);
    assert_eq!(garbage.error(), "bad_request");
}

/// Broker configs: every property with its source; dynamic ones change cluster-wide
/// with a confirmation, static ones are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_configs_read_and_dynamic_update() {
    let c = start(&[]).await;
    let entry = |list: &serde_json::Value, name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let list = c.get("/api/v1/broker-configs").await.json();
    let retention = entry(&list, "log.retention.ms");
    assert_eq!(retention["dynamic"], true);
    assert_eq!(entry(&list, "node.id")["dynamic"], false);

    let path = "/api/v1/broker-configs";
    let body = serde_json::json!({"set": {"log.retention.ms": "259200000"}});
    let r = c.json("PATCH", path, body.clone()).await;
    assert_eq!(r.error(), "confirmation_required");
    let r = c
        .json(
            "PATCH",
            path,
            serde_json::json!({"set": {"node.id": "7"}, "confirm": true}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let mut confirmed = body;
    confirmed["confirm"] = serde_json::Value::Bool(true);
    let r = c.json("PATCH", path, confirmed).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let changed = entry(&r.json(), "log.retention.ms");
    assert_eq!(changed["value"], "259200000");
    assert_eq!(changed["source"], "DYNAMIC_DEFAULT_BROKER_CONFIG");
    let r = c
        .json(
            "PATCH",
            path,
            serde_json::json!({"reset": ["log.retention.ms"], "confirm": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_ne!(
        entry(&r.json(), "log.retention.ms")["source"],
        "DYNAMIC_DEFAULT_BROKER_CONFIG"
    );
}
