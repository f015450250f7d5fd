//! `/api/v1/topics/{name}/records`: produce, browse (seek, order, paging, filters,
//! rendering), downloads, and bad input.

use crate::harness::{start, TestConsole};
use serde_json::{json, Value};

fn offsets(page: &Value) -> Vec<(i64, i64)> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["partition"].as_i64().unwrap(),
                r["offset"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn page(c: &TestConsole, query: &str) -> Value {
    let r = c.get(&format!("/api/v1/topics/t/records?{query}")).await;
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_rules() {
    let c = start(&[]).await;
    c.create_topic("t", 2, json!({"max.message.bytes": "2000"}))
        .await;
    let path = "/api/v1/topics/t/records";
    let unconfirmed = c.json("POST", path, json!({"value": "v"})).await;
    assert_eq!(unconfirmed.error(), "confirmation_required");
    let none = c.get("/api/v1/topics/t/records").await.json();
    assert!(none["records"].as_array().unwrap().is_empty());

    // Keyed records land where the Java client would put them.
    let key = b"customer-1";
    let want = moldau_client::partitioner::partition_for_key(key, 2) as i64;
    assert_eq!(
        c.produce("t", json!({"key": "customer-1", "value": "a"}))
            .await,
        (want, 0)
    );
    assert_eq!(
        c.produce("t", json!({"partition": 1, "key": "k", "value": null}))
            .await
            .0,
        1
    );
    c.produce("t", json!({"partition": 0, "value": "cafe", "encoding": "hex", "headers": [{"key": "h", "value": "00ff"}]})).await;
    // Kafka's headers are a list: a name may repeat, and order is kept.
    c.produce("t", json!({"partition": 1, "value": "dup", "headers": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}, {"key": "a", "value": null}]})).await;
    let many: Vec<Value> = (0..=65_536)
        .map(|_| json!({"key": "h", "value": null}))
        .collect();

    for (body, status, code) in [
        (
            json!({"partition": 7, "value": "v"}),
            404,
            "unknown_partition",
        ),
        (
            json!({"value": "abc", "encoding": "hex"}),
            400,
            "bad_request",
        ),
        (
            json!({"value": "v", "encoding": "base32"}),
            400,
            "bad_request",
        ),
        (json!({"value": "x".repeat(3000)}), 413, "too_large"),
        // More headers than any reader accepts.
        (json!({"value": "v", "headers": many}), 400, "bad_request"),
    ] {
        let mut body = body;
        body["confirm"] = json!(true);
        let r = c.json("POST", path, body.clone()).await;
        assert_eq!((r.status, r.error()), (status, code.to_string()), "{body}");
    }
    let unknown = c
        .json(
            "POST",
            "/api/v1/topics/nope/records",
            json!({"value": "v", "confirm": true}),
        )
        .await;
    assert_eq!(unknown.status, 404);
    c.broker
        .ensure_offsets_topic()
        .await
        .expect("offsets topic");
    let internal = c
        .json(
            "POST",
            "/api/v1/topics/__consumer_offsets/records",
            json!({"value": "v", "confirm": true}),
        )
        .await;
    assert_eq!(
        (internal.status, internal.error().as_str()),
        (403, "forbidden")
    );

    // What was produced reads back: the tombstone, the hex bytes and the header.
    let all = page(&c, "seek=beginning&render=hex").await;
    let recs = all["records"].as_array().unwrap();
    assert_eq!(recs.len(), 4);
    let tomb = recs.iter().find(|r| r["key"]["data"] == "6b").unwrap();
    assert!(tomb["value"].is_null());
    let binary = recs.iter().find(|r| r["value"]["data"] == "ca fe").unwrap();
    assert_eq!(binary["headers"][0]["key"], "h");
    assert_eq!(binary["headers"][0]["value"]["data"], "00 ff");
    let dup = recs
        .iter()
        .find(|r| r["value"]["data"] == "64 75 70")
        .unwrap();
    let headers: Vec<(&str, &Value)> = dup["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["key"].as_str().unwrap(), &h["value"]))
        .collect();
    assert_eq!(headers.len(), 3);
    assert!(headers.iter().all(|(k, _)| *k == "a"));
    assert_eq!(headers[0].1["data"], "31");
    assert_eq!(headers[1].1["data"], "32");
    assert!(headers[2].1.is_null());
}

/// The console's produce gets a Kafka client's checks and storage: a compacted topic
/// refuses a keyless record, and `compression.type` decides the stored codec.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_validates_and_recompresses_like_kafka() {
    let c = start(&[]).await;
    c.create_topic(
        "cz",
        1,
        json!({"cleanup.policy": "compact", "compression.type": "gzip"}),
    )
    .await;
    let keyless = c
        .json(
            "POST",
            "/api/v1/topics/cz/records",
            json!({"value": "v", "confirm": true}),
        )
        .await;
    assert_eq!(
        (keyless.status, keyless.error().as_str()),
        (400, "bad_request"),
        "{}",
        keyless.text()
    );
    assert_eq!(
        c.produce("cz", json!({"key": "k", "value": "hello"})).await,
        (0, 0)
    );
    let log = std::sync::Arc::clone(&c.broker.replicas.get_by_name("cz", 0).expect("hosted").log);
    let stored = log.read().read(0, 1 << 20, 1, true).expect("read").bytes;
    let view = moldau_protocol::batch::BatchView::parse(&stored).expect("batch");
    assert_eq!(view.codec(), moldau_protocol::batch::Codec::Gzip);
    let r = c
        .get("/api/v1/topics/cz/records?seek=beginning")
        .await
        .json();
    assert_eq!(r["records"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_seek_order_paging_and_filters() {
    let c = start(&[]).await;
    c.create_topic("t", 2, json!({})).await;
    for i in 0..12 {
        let body = json!({
            "partition": i % 2,
            "key": format!("key-{i}"),
            "value": format!("{{\"n\":{i}}}"),
            "headers": [{"key": "parity", "value": if i % 2 == 0 { "even" } else { "odd" }}],
        });
        c.produce("t", body).await;
        // Distinct timestamps, so the newest-first order below is fully determined.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    // Oldest first, page by page, through everything exactly once.
    let mut seen = Vec::new();
    let mut query = "seek=beginning&limit=5".to_string();
    loop {
        let p = page(&c, &query).await;
        assert_eq!(p["order"], "asc");
        seen.extend(offsets(&p));
        if !p["has_more"].as_bool().unwrap() {
            break;
        }
        query = format!(
            "order=asc&limit=5&cursor={}",
            p["next_cursor"].as_str().unwrap()
        );
    }
    seen.sort();
    let expected: Vec<(i64, i64)> = (0..2).flat_map(|p| (0..6).map(move |o| (p, o))).collect();
    assert_eq!(seen, expected);

    // Newest first from the end, then older pages.
    let newest = page(&c, "seek=end&limit=3").await;
    assert_eq!(newest["order"], "desc");
    assert_eq!(offsets(&newest), vec![(1, 5), (0, 5), (1, 4)]);
    assert_eq!(newest["tail_cursor"], "0:6,1:6");
    let older = page(
        &c,
        &format!(
            "order=desc&limit=3&cursor={}",
            newest["next_cursor"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(offsets(&older), vec![(0, 4), (1, 3), (0, 3)]);

    // From an offset, one partition; newest-first below an offset.
    assert_eq!(
        offsets(&page(&c, "partitions=1&seek=offset&offset=4").await),
        vec![(1, 4), (1, 5)]
    );
    assert_eq!(
        offsets(&page(&c, "partitions=0&seek=offset&offset=1&order=desc").await),
        vec![(0, 1), (0, 0)]
    );
    // From a timestamp: everything at or after "now minus an hour".
    let hour_ago = moldau_console::console::now_ms() - 3_600_000;
    assert_eq!(
        offsets(
            &page(
                &c,
                &format!("seek=timestamp&timestamp={hour_ago}&limit=100")
            )
            .await
        )
        .len(),
        12
    );
    let future = moldau_console::console::now_ms() + 3_600_000;
    assert!(offsets(&page(&c, &format!("seek=timestamp&timestamp={future}")).await).is_empty());

    // Filters.
    assert_eq!(offsets(&page(&c, "key=key-7").await), vec![(1, 3)]);
    assert_eq!(
        offsets(&page(&c, "value=%22n%22:1").await).len(),
        3,
        "1, 10, 11"
    );
    assert_eq!(
        offsets(&page(&c, "header=parity=odd&limit=100").await).len(),
        6
    );
    assert_eq!(
        offsets(&page(&c, "header=parity&limit=100").await).len(),
        12
    );
    assert!(offsets(&page(&c, "header=missing").await).is_empty());

    // Rendering: JSON pretty-printed by default, forced text or hex on request.
    let one = page(&c, "partitions=0&limit=1").await;
    assert_eq!(one["records"][0]["value"]["format"], "json");
    assert_eq!(one["records"][0]["value"]["data"], "{\n  \"n\": 0\n}");
    let text = page(&c, "partitions=0&limit=1&render=text").await;
    assert_eq!(text["records"][0]["value"]["data"], "{\"n\":0}");

    // Live tail: from the tail cursor, only what comes after.
    let tail = newest["tail_cursor"].as_str().unwrap().to_string();
    assert!(offsets(&page(&c, &format!("order=asc&cursor={tail}")).await).is_empty());
    c.produce("t", json!({"partition": 0, "value": "late"}))
        .await;
    assert_eq!(
        offsets(&page(&c, &format!("order=asc&cursor={tail}")).await),
        vec![(0, 6)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_browse_input_and_downloads() {
    let c = start(&[]).await;
    c.create_topic("t", 1, json!({})).await;
    let big = "é".repeat(40_000);
    c.produce("t", json!({"key": "big", "value": big})).await;
    for (query, status) in [
        ("limit=0", 400),
        ("limit=501", 400),
        ("limit=ten", 400),
        ("seek=middle", 400),
        ("seek=offset", 400),
        ("seek=timestamp", 400),
        ("order=sideways", 400),
        ("cursor=0:x", 400),
        ("partitions=a", 400),
        ("partitions=3", 404),
        ("render=braille", 400),
    ] {
        let r = c.get(&format!("/api/v1/topics/t/records?{query}")).await;
        assert_eq!(r.status, status, "{query}: {}", r.text());
        assert!(r.json()["message"].is_string(), "{query}");
    }
    assert_eq!(c.get("/api/v1/topics/nope/records").await.status, 404);
    // An offset past the end is clamped, not an error.
    assert!(offsets(&page(&c, "seek=offset&offset=999").await).is_empty());

    // A huge value is shown truncated, with its full size, and downloads whole.
    let p = page(&c, "").await;
    let v = &p["records"][0]["value"];
    assert_eq!(v["truncated"], true);
    assert_eq!(v["size"].as_u64(), Some(big.len() as u64));
    assert!(v["data"].as_str().unwrap().len() <= moldau_console::render::PREVIEW_TEXT_BYTES_MAX);
    let d = c.get("/api/v1/topics/t/partitions/0/records/0/value").await;
    assert_eq!(d.status, 200);
    assert_eq!(d.header("content-type"), Some("application/octet-stream"));
    assert!(d
        .header("content-disposition")
        .is_some_and(|h| h.contains("t-0-0.value.bin")));
    assert_eq!(d.body, big.as_bytes());
    assert_eq!(
        c.get("/api/v1/topics/t/partitions/0/records/0/key")
            .await
            .body,
        b"big"
    );
    for (path, status) in [
        ("/api/v1/topics/t/partitions/0/records/1/value", 404),
        ("/api/v1/topics/t/partitions/5/records/0/value", 404),
        ("/api/v1/topics/t/partitions/0/records/0/headers", 400),
        ("/api/v1/topics/t/partitions/x/records/0/value", 400),
    ] {
        assert_eq!(c.get(path).await.status, status, "{path}");
    }
}

/// JSON values keep their key order; a field filter, a value filter on the JSON as
/// shown, and offset and timestamp ranges select records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_key_order_field_filter_and_ranges() {
    let c = start(&[]).await;
    c.create_topic("t", 1, json!({})).await;
    let mut stamps = Vec::new();
    for (i, country) in ["CZ", "DE", "CZ", "AT", "CZ"].iter().enumerate() {
        let value = format!(r#"{{"zeta":{i},"user":{{"country":"{country}"}},"alpha":true}}"#);
        c.produce("t", json!({"partition": 0, "value": value}))
            .await;
        let p = page(&c, "seek=end&limit=1").await;
        stamps.push(p["records"][0]["timestamp"].as_i64().unwrap());
        // Distinct timestamps, so a time range can split them.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let first = page(&c, "seek=beginning&limit=1").await;
    assert_eq!(
        first["records"][0]["value"]["data"],
        "{\n  \"zeta\": 0,\n  \"user\": {\n    \"country\": \"CZ\"\n  },\n  \"alpha\": true\n}"
    );

    let q = |s: &str| {
        s.replace(' ', "%20")
            .replace('"', "%22")
            .replace('=', "%3D")
    };
    let cz = page(
        &c,
        &format!("seek=beginning&field={}", q(r#"user.country = "CZ""#)),
    )
    .await;
    assert_eq!(offsets(&cz), vec![(0, 0), (0, 2), (0, 4)]);
    let shown = page(
        &c,
        &format!("seek=beginning&value={}", q(r#""country": "DE""#)),
    )
    .await;
    assert_eq!(offsets(&shown), vec![(0, 1)]);
    let range = page(&c, "seek=beginning&offset_min=1&offset_max=3").await;
    assert_eq!(offsets(&range), vec![(0, 1), (0, 2), (0, 3)]);
    let newest = page(&c, "seek=end&offset_max=2&limit=2").await;
    assert_eq!(offsets(&newest), vec![(0, 2), (0, 1)]);
    let times = page(
        &c,
        &format!(
            "seek=beginning&time_min={}&time_max={}",
            stamps[1], stamps[3]
        ),
    )
    .await;
    assert_eq!(offsets(&times), vec![(0, 1), (0, 2), (0, 3)]);

    for bad in [
        "field=user.country",
        "field=a%5Bx%5D%3D1",
        "offset_min=5&offset_max=1",
        "time_min=9&time_max=1",
    ] {
        let r = c.get(&format!("/api/v1/topics/t/records?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
}

/// DeleteRecords from the console: confirmation, range checks, the new log start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_up_to_an_offset() {
    let c = start(&[]).await;
    c.create_topic("t", 1, json!({})).await;
    for i in 0..6 {
        c.produce("t", json!({"partition": 0, "value": format!("v{i}")}))
            .await;
    }
    let path = "/api/v1/topics/t/partitions/0/delete-records";
    let r = c.json("POST", path, json!({"before_offset": 4})).await;
    assert_eq!(r.error(), "confirmation_required");
    assert_eq!(offsets(&page(&c, "seek=beginning").await).len(), 6);
    for bad in [7, -2] {
        let r = c
            .json("POST", path, json!({"before_offset": bad, "confirm": true}))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    let r = c
        .json("POST", path, json!({"before_offset": 4, "confirm": true}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["log_start_offset"], 4);
    assert_eq!(
        offsets(&page(&c, "seek=beginning").await),
        vec![(0, 4), (0, 5)]
    );
    let r = c
        .json(
            "POST",
            "/api/v1/topics/t/partitions/9/delete-records",
            json!({"before_offset": 1, "confirm": true}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = c
        .json(
            "POST",
            "/api/v1/topics/__consumer_offsets/partitions/0/delete-records",
            json!({"before_offset": 0, "confirm": true}),
        )
        .await;
    assert!(r.status == 403 || r.status == 404, "{}", r.text());
}
