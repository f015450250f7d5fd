"""kafka-python's transactional producer and read_committed consumer against a real
moldau broker: a committed transaction is visible, an aborted one never is, and a
read_committed consumer stops at a transaction still open (its end offset is the
last stable offset) until it commits; read_uncommitted sees everything."""

import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

TIMEOUT_S = 30
TOPIC = "kp-txn"


def txn_producer(addr, txn_id):
    p = KafkaProducer(bootstrap_servers=addr, transactional_id=txn_id)
    p.init_transactions()
    return p


def consumer(addr, isolation):
    c = KafkaConsumer(
        bootstrap_servers=addr,
        isolation_level=isolation,
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
    )
    c.assign([TopicPartition(TOPIC, 0)])
    c.seek_to_beginning()
    return c


def poll_values(c, count):
    """Polls until `count` values arrived; returns them in order."""
    values = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(values) < count:
        assert time.monotonic() < deadline, f"only {values} of {count} arrived"
        for records in c.poll(timeout_ms=200).values():
            values.extend(r.value.decode() for r in records)
    return values


def poll_quiet(c, seconds=1.5):
    """Whatever arrives within `seconds` (expected: nothing)."""
    values = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        for records in c.poll(timeout_ms=100).values():
            values.extend(r.value.decode() for r in records)
    return values


def test_read_committed_sees_commits_only_and_waits_for_open_transactions(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.addr)
    admin.create_topics([NewTopic(TOPIC, 1, 1)])
    admin.close()

    p = txn_producer(broker.addr, "kp-txn-1")
    p.begin_transaction()
    for i in range(3):
        p.send(TOPIC, f"kept-{i}".encode(), partition=0)
    p.commit_transaction()
    p.begin_transaction()
    for i in range(2):
        p.send(TOPIC, f"dropped-{i}".encode(), partition=0)
    # Written before the abort (unsent batches would just be dropped by the client).
    p.flush()
    p.abort_transaction()

    # A second producer's transaction stays open, with plain records after it.
    open_txn = txn_producer(broker.addr, "kp-txn-2")
    open_txn.begin_transaction()
    open_txn.send(TOPIC, b"open-0", partition=0)
    open_txn.flush()
    plain = KafkaProducer(bootstrap_servers=broker.addr, acks="all")
    plain.send(TOPIC, b"after-open", partition=0).get(TIMEOUT_S)

    committed = consumer(broker.addr, "read_committed")
    assert poll_values(committed, 3) == ["kept-0", "kept-1", "kept-2"]
    assert poll_quiet(committed) == [], "stops at the open transaction"
    tp = TopicPartition(TOPIC, 0)
    lso = committed.end_offsets([tp])[tp]
    uncommitted = consumer(broker.addr, "read_uncommitted")
    assert poll_values(uncommitted, 7) == [
        "kept-0", "kept-1", "kept-2", "dropped-0", "dropped-1", "open-0", "after-open",
    ]
    assert uncommitted.end_offsets([tp])[tp] > lso

    open_txn.commit_transaction()
    assert poll_values(committed, 2) == ["open-0", "after-open"]
    for c in (committed, uncommitted):
        c.close()
    for prod in (p, open_txn, plain):
        prod.close()
