"""confluent-kafka's transactional producer against a real moldau broker: committed
transactions are visible to a read_committed consumer, aborted ones never are (a
read_uncommitted consumer sees both), and a second producer with the same
transactional.id fences the first."""

import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT_S = 30


def create_topic(addr, name, partitions):
    admin = AdminClient({"bootstrap.servers": addr})
    for f in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        f.result(TIMEOUT_S)


def producer(addr, txn_id):
    p = Producer({"bootstrap.servers": addr, "transactional.id": txn_id})
    p.init_transactions(TIMEOUT_S)
    return p


def read_all(addr, topic, partitions, isolation):
    """Every value a consumer with `isolation` reads up to its end offsets."""
    c = Consumer({
        "bootstrap.servers": addr,
        "group.id": f"check-{isolation}",
        "enable.auto.commit": False,
        "isolation.level": isolation,
        "enable.partition.eof": True,
    })
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    values, eof = [], set()
    deadline = time.monotonic() + TIMEOUT_S
    while len(eof) < partitions:
        assert time.monotonic() < deadline, "reading timed out"
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
                continue
            raise KafkaException(m.error())
        eof.discard(m.partition())
        values.append(m.value().decode())
    c.close()
    return sorted(values)


def test_commit_is_visible_and_abort_never_is(broker):
    create_topic(broker.addr, "py-txn", 3)
    p = producer(broker.addr, "py-txn-1")
    p.begin_transaction()
    for i in range(6):
        p.produce("py-txn", f"kept-{i}".encode(), partition=i % 3)
    p.commit_transaction(TIMEOUT_S)
    p.begin_transaction()
    for i in range(5):
        p.produce("py-txn", f"dropped-{i}".encode(), partition=i % 3)
    p.flush(TIMEOUT_S)
    p.abort_transaction(TIMEOUT_S)
    assert read_all(broker.addr, "py-txn", 3, "read_committed") == sorted(
        f"kept-{i}" for i in range(6)
    )
    assert len(read_all(broker.addr, "py-txn", 3, "read_uncommitted")) == 11


def test_a_second_producer_fences_the_first(broker):
    create_topic(broker.addr, "py-fence", 1)
    first = producer(broker.addr, "py-txn-fence")
    first.begin_transaction()
    first.produce("py-fence", b"from-first", partition=0)
    first.flush(TIMEOUT_S)
    second = producer(broker.addr, "py-txn-fence")
    with pytest.raises(KafkaException) as raised:
        first.commit_transaction(TIMEOUT_S)
    assert raised.value.args[0].fatal() or "fenced" in str(raised.value).lower()
    second.begin_transaction()
    second.produce("py-fence", b"from-second", partition=0)
    second.commit_transaction(TIMEOUT_S)
    assert read_all(broker.addr, "py-fence", 1, "read_committed") == ["from-second"]
