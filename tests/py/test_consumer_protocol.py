"""confluent-kafka with the KIP-848 protocol (group.protocol=consumer) against a real
moldau broker: the broker splits the partitions, every record is consumed once,
and the admin client sees a consumer-type group with its members' assignments."""

import time

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker

PARTITIONS = 4
RECORDS = 200


@pytest.fixture
def fast_broker():
    b = Broker(extra=["--set", "group.consumer.heartbeat.interval.ms=500",
                      "--set", "group.consumer.min.heartbeat.interval.ms=100"])
    yield b
    b.close()


def assignment(c):
    return {(tp.topic, tp.partition) for tp in c.assignment()}


def test_two_consumers_split_partitions_and_consume_each_record_once(fast_broker):
    addr = fast_broker.addr
    admin = AdminClient({"bootstrap.servers": addr})
    for f in admin.create_topics([NewTopic("kip848", PARTITIONS, 1)]).values():
        f.result(30)
    p = Producer({"bootstrap.servers": addr})
    for i in range(RECORDS):
        p.produce("kip848", value=b"%d" % i, partition=i % PARTITIONS)
    assert p.flush(30) == 0

    consumers = [Consumer({"bootstrap.servers": addr, "group.id": "py848",
                           "group.protocol": "consumer", "client.id": f"py{i}",
                           "auto.offset.reset": "earliest",
                           "enable.auto.commit": False}) for i in range(2)]
    for c in consumers:
        c.subscribe(["kip848"])
    seen = []
    deadline = time.time() + 60
    while len(seen) < RECORDS or any(len(assignment(c)) != 2 for c in consumers):
        assert time.time() < deadline, (len(seen), [assignment(c) for c in consumers])
        for c in consumers:
            m = c.poll(0.1)
            if m is not None and m.error() is None:
                seen.append((m.partition(), m.offset()))
                c.commit(message=m, asynchronous=False)
    assert len(seen) == RECORDS and len(set(seen)) == RECORDS
    owned = [assignment(c) for c in consumers]
    assert owned[0].isdisjoint(owned[1])
    assert owned[0] | owned[1] == {("kip848", p) for p in range(PARTITIONS)}

    described = admin.describe_consumer_groups(["py848"])["py848"].result(30)
    assert str(described.type).endswith("CONSUMER"), described.type
    assert str(described.state).endswith("STABLE"), described.state
    members = {m.client_id: {(tp.topic, tp.partition)
                             for tp in m.assignment.topic_partitions}
               for m in described.members}
    assert members == {"py0": owned[0], "py1": owned[1]}
    listed = admin.list_consumer_groups().result(30)
    assert [(g.group_id, str(g.type).split(".")[-1]) for g in listed.valid] == \
        [("py848", "CONSUMER")]
    for c in consumers:
        c.close()
