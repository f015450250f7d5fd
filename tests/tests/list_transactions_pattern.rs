//! ListTransactions v2 (Kafka 4.1, KIP-1152) filters by a regular expression on the
//! transactional id, matched against the whole id as Kafka's `Matcher.matches` does;
//! null or empty lists every id, and a pattern that does not compile is
//! INVALID_REGULAR_EXPRESSION. Transactional ids come from librdkafka producers.

use bytes::BytesMut;
use moldau_e2e::{BrokerProcess, RawConnection};
use moldau_protocol::kafka::messages::{ListTransactionsRequest, ListTransactionsResponse};
use moldau_protocol::kafka::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use std::time::Duration;

/// Longest any client call here may take.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Kafka's INVALID_REGULAR_EXPRESSION.
const INVALID_REGULAR_EXPRESSION: i16 = 128;

fn transactional_producer(addr: &str, id: &str) -> BaseProducer {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("transactional.id", id)
        .create()
        .expect("producer");
    p.init_transactions(TIMEOUT).expect("init_transactions");
    p
}

/// ListTransactions (api 66, flexible) at `version` with `pattern`; the error code
/// and the listed ids, sorted.
fn list(addr: &str, version: i16, pattern: Option<&str>) -> (i16, Vec<String>) {
    let request = ListTransactionsRequest::default()
        .with_duration_filter(-1)
        .with_transactional_id_pattern(pattern.map(|p| StrBytes::from_string(p.to_string())));
    let mut body = BytesMut::new();
    request.encode(&mut body, version).expect("encode");
    let response = RawConnection::connect(addr).call(66, version, true, &body);
    let response = ListTransactionsResponse::decode(&mut bytes::Bytes::from(response), version)
        .expect("decode");
    let mut ids: Vec<String> = response
        .transaction_states
        .iter()
        .map(|t| t.transactional_id.0.to_string())
        .collect();
    ids.sort();
    (response.error_code, ids)
}

#[test]
fn list_transactions_v2_lists_the_ids_its_pattern_matches_whole() {
    let broker = BrokerProcess::start(&[]);
    let _orders_1 = transactional_producer(&broker.addr, "orders-1");
    let _orders_2 = transactional_producer(&broker.addr, "orders-2");
    let _payments = transactional_producer(&broker.addr, "payments-1");
    let all = vec!["orders-1", "orders-2", "payments-1"];

    assert_eq!(
        list(&broker.addr, 2, None),
        (0, all.iter().map(|s| s.to_string()).collect())
    );
    assert_eq!(
        list(&broker.addr, 2, Some("")).1,
        all,
        "empty lists every id"
    );
    assert_eq!(
        list(&broker.addr, 2, Some("orders-.*")).1,
        vec!["orders-1", "orders-2"]
    );
    assert_eq!(
        list(&broker.addr, 2, Some(".*-1")).1,
        vec!["orders-1", "payments-1"]
    );
    let none: Vec<String> = Vec::new();
    assert_eq!(
        list(&broker.addr, 2, Some("orders")),
        (0, none),
        "a part is no match"
    );
    assert_eq!(
        list(&broker.addr, 2, Some("orders-[")).0,
        INVALID_REGULAR_EXPRESSION
    );
    // v1 has no pattern: every id.
    assert_eq!(list(&broker.addr, 1, None).1, all);
}
