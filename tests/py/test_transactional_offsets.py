"""Offsets committed inside a transaction (AddOffsetsToTxn + TxnOffsetCommit) against
a real moldau broker: with confluent-kafka's and kafka-python's
`send_offsets_to_transaction`, a consumer group's offsets become visible when the
transaction commits and never when it aborts."""

import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaProducer
from kafka import TopicPartition as KpTopicPartition
from kafka.structs import OffsetAndMetadata

TIMEOUT_S = 30


def create_topic(addr, name, partitions):
    admin = AdminClient({"bootstrap.servers": addr})
    for f in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        f.result(TIMEOUT_S)


def fill(addr, topic, partitions, per_partition):
    p = Producer({"bootstrap.servers": addr})
    for part in range(partitions):
        for i in range(per_partition):
            p.produce(topic, f"{part}-{i}".encode(), partition=part)
    assert p.flush(TIMEOUT_S) == 0


def committed(addr, group, topic, partitions):
    """The group's committed offsets as a fresh client fetches them (-1001: none)."""
    c = Consumer({"bootstrap.servers": addr, "group.id": group})
    got = c.committed([TopicPartition(topic, p) for p in range(partitions)], TIMEOUT_S)
    c.close()
    return [tp.offset for tp in got]


def group_member(addr, group, topic, want, protocol="classic"):
    """A consumer in `group` that has read `want` records of `topic`."""
    conf = {
        "bootstrap.servers": addr,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
    }
    if protocol == "consumer":
        conf["group.protocol"] = "consumer"
    else:
        conf["session.timeout.ms"] = 6000
    c = Consumer(conf)
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + TIMEOUT_S
    while got < want:
        assert time.monotonic() < deadline, f"read {got} of {want}"
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            raise KafkaException(m.error())
        got += 1
    return c


def offsets_round_trip(addr, group, protocol):
    create_topic(addr, f"{group}-in", 2)
    fill(addr, f"{group}-in", 2, 5)
    c = group_member(addr, group, f"{group}-in", 10, protocol)
    p = Producer({"bootstrap.servers": addr, "transactional.id": f"{group}-txn"})
    p.init_transactions(TIMEOUT_S)

    p.begin_transaction()
    positions = c.position(c.assignment())
    assert sorted(tp.offset for tp in positions) == [5, 5]
    p.send_offsets_to_transaction(positions, c.consumer_group_metadata(), TIMEOUT_S)
    p.commit_transaction(TIMEOUT_S)
    assert committed(addr, group, f"{group}-in", 2) == [5, 5]

    p.begin_transaction()
    rewound = [TopicPartition(tp.topic, tp.partition, 9) for tp in positions]
    p.send_offsets_to_transaction(rewound, c.consumer_group_metadata(), TIMEOUT_S)
    p.abort_transaction(TIMEOUT_S)
    assert committed(addr, group, f"{group}-in", 2) == [5, 5]
    c.close()


def test_offsets_sent_to_a_committed_transaction_are_visible_and_aborted_ones_never(broker):
    offsets_round_trip(broker.addr, "txo-classic", "classic")


def test_a_consumer_protocol_group_commits_offsets_in_transactions(broker):
    offsets_round_trip(broker.addr, "txo-848", "consumer")


def test_a_stale_generation_cannot_commit_offsets_in_a_transaction(broker):
    create_topic(broker.addr, "txo-zombie-in", 1)
    fill(broker.addr, "txo-zombie-in", 1, 3)
    c = group_member(broker.addr, "txo-zombie", "txo-zombie-in", 3)
    metadata = c.consumer_group_metadata()
    c.close()  # leaves: the group moves to a new generation without this member
    p = Producer({"bootstrap.servers": broker.addr, "transactional.id": "txo-zombie-txn"})
    p.init_transactions(TIMEOUT_S)
    p.begin_transaction()
    try:
        p.send_offsets_to_transaction(
            [TopicPartition("txo-zombie-in", 0, 3)], metadata, TIMEOUT_S
        )
        raise AssertionError("a zombie's offsets were accepted")
    except KafkaException as e:
        assert e.args[0].txn_requires_abort(), e
    p.abort_transaction(TIMEOUT_S)
    assert committed(broker.addr, "txo-zombie", "txo-zombie-in", 1) == [-1001]


def test_kafka_python_sends_offsets_to_its_transaction(broker):
    create_topic(broker.addr, "txo-kp-in", 1)
    group = "txo-kp"
    p = KafkaProducer(bootstrap_servers=broker.addr, transactional_id="txo-kp-txn")
    p.init_transactions()
    tp = KpTopicPartition("txo-kp-in", 0)

    p.begin_transaction()
    p.send_offsets_to_transaction({tp: OffsetAndMetadata(7, "", -1)}, group)
    p.commit_transaction()
    assert committed(broker.addr, group, "txo-kp-in", 1) == [7]

    p.begin_transaction()
    p.send_offsets_to_transaction({tp: OffsetAndMetadata(9, "", -1)}, group)
    p.abort_transaction()
    assert committed(broker.addr, group, "txo-kp-in", 1) == [7]
    p.close()
