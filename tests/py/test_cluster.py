"""Requests go to the right broker (issue 11) with kafka-python: three combined
broker+controller nodes; a topic of six partitions led by all three; every partition
produced to and consumed from through each bootstrap broker alone; a consumer group
wherever its coordinator is."""

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from conftest import close_all, start_cluster

NODES = 3
PARTITIONS = 6
CLUSTER_ID = "cm91dGluZy10ZXN0LTAwMg"


@pytest.fixture
def cluster():
    nodes = start_cluster(NODES, CLUSTER_ID)
    yield nodes
    close_all(nodes)


def leaders_via(bootstrap, topic):
    """Partition -> leader once all brokers and every partition's leader are known."""
    deadline = time.time() + 60
    while True:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap)
        try:
            partitions = consumer.partitions_for_topic(topic) or set()
            cluster = consumer._client.cluster
            brokers = {b.nodeId for b in cluster.brokers()}
            leaders = {p: cluster.leader_for_partition(TopicPartition(topic, p)) for p in partitions}
        finally:
            consumer.close()
        known = {p: l for p, l in leaders.items() if l is not None and l >= 0}
        if len(brokers) == NODES and len(known) == PARTITIONS:
            assert brokers == set(range(1, NODES + 1))
            return known
        assert time.time() < deadline, (brokers, leaders)
        time.sleep(0.2)


def test_every_partition_through_any_bootstrap_broker(cluster):
    topic = "spread-py"
    admin = KafkaAdminClient(bootstrap_servers=cluster[0].addr)
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    admin.close()

    leaders = leaders_via(cluster[0].addr, topic)
    assert set(leaders.values()) == set(range(1, NODES + 1)), leaders
    for node in cluster[1:]:
        assert leaders_via(node.addr, topic) == leaders

    for i, node in enumerate(cluster):
        producer = KafkaProducer(bootstrap_servers=node.addr, acks="all")
        for p in range(PARTITIONS):
            meta = producer.send(topic, key=f"via-{i}".encode(), value=b"x", partition=p).get(30)
            assert meta.partition == p
        producer.close()

    for node in cluster:
        consumer = KafkaConsumer(bootstrap_servers=node.addr, consumer_timeout_ms=30000)
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        keys = {p: [] for p in range(PARTITIONS)}
        deadline = time.time() + 60
        while sum(len(v) for v in keys.values()) < NODES * PARTITIONS:
            assert time.time() < deadline, keys
            for tp, records in consumer.poll(timeout_ms=500).items():
                keys[tp.partition].extend(r.key.decode() for r in records)
        consumer.close()
        assert all(v == ["via-0", "via-1", "via-2"] for v in keys.values()), keys

    group = KafkaConsumer(
        topic,
        bootstrap_servers=cluster[2].addr,
        group_id="spread-py-readers",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    seen = 0
    deadline = time.time() + 90
    while seen < NODES * PARTITIONS:
        assert time.time() < deadline, seen
        seen += sum(len(r) for r in group.poll(timeout_ms=500).values())
    group.commit()
    for p in range(PARTITIONS):
        assert group.committed(TopicPartition(topic, p)) == NODES
    group.close()
