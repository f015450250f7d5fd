//! An in-process broker with its Kafka listener and its console on free ports, and a
//! minimal HTTP/1.1 client (one request per connection) to talk to the console.

use moldau_broker::{Broker, BrokerConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running broker and console; stops both when dropped.
pub struct TestConsole {
    pub broker: Arc<Broker>,
    pub http: SocketAddr,
    pub kafka: String,
    stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Drop for TestConsole {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Starts a broker (with extra Kafka properties) and its console.
pub async fn start(props: &[(&str, &str)]) -> TestConsole {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut map: BTreeMap<String, String> = props
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    map.insert("log.dirs".into(), dir.path().display().to_string());
    let config = BrokerConfig::from_properties(map).expect("config");
    let kafka_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind kafka");
    let kafka = kafka_listener.local_addr().expect("addr");
    let broker = Broker::open(config, ("127.0.0.1".into(), kafka.port() as i32), None)
        .await
        .expect("broker opens");
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(moldau_broker::server::run(
        Arc::clone(&broker),
        kafka_listener,
        stop_rx.clone(),
    ));
    let console_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind console");
    let http = console_listener.local_addr().expect("addr");
    tokio::spawn(moldau_console::serve(
        Arc::clone(&broker),
        console_listener,
        stop_rx,
    ));
    TestConsole {
        broker,
        http,
        kafka: kafka.to_string(),
        stop,
        _dir: dir,
    }
}

/// What the console answered.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The `error` code of a JSON error body.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Decodes a chunked body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = std::str::from_utf8(&raw[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
}

/// Sends one request with `extra` headers (a `Host` among them replaces the default).
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    let mut stream = TcpStream::connect(addr).await.expect("connect console");
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !extra.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or_default();
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(req.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Response {
        status,
        headers,
        body,
    }
}

impl TestConsole {
    pub async fn get(&self, path: &str) -> Response {
        send(self.http, "GET", path, &[], None).await
    }

    /// A JSON request the way the console's own pages send it.
    pub async fn json(&self, method: &str, path: &str, body: Value) -> Response {
        let bytes = serde_json::to_vec(&body).expect("json");
        send(
            self.http,
            method,
            path,
            &[("Content-Type", "application/json")],
            Some(&bytes),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Response {
        send(self.http, "DELETE", path, &[], None).await
    }

    /// Creates a topic through the API and checks it worked.
    pub async fn create_topic(&self, name: &str, partitions: i32, configs: Value) {
        let r = self
            .json(
                "POST",
                "/api/v1/topics",
                serde_json::json!({"name": name, "partitions": partitions, "configs": configs, "confirm": true}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }

    /// Produces one record through the API; returns (partition, offset).
    pub async fn produce(&self, topic: &str, body: Value) -> (i64, i64) {
        let mut body = body;
        body["confirm"] = Value::Bool(true);
        let r = self
            .json("POST", &format!("/api/v1/topics/{topic}/records"), body)
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let j = r.json();
        (
            j["partition"].as_i64().expect("partition"),
            j["offset"].as_i64().expect("offset"),
        )
    }
}
