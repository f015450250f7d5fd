"""kafka-python against a real moldau broker: admin, produce, consume, offsets, configs."""

import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic


def test_topic_lifecycle_produce_consume_offsets_configs(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.addr, request_timeout_ms=10000)
    admin.create_topics([NewTopic("py-topic", num_partitions=2, replication_factor=1)])
    assert "py-topic" in admin.list_topics()

    producer = KafkaProducer(bootstrap_servers=broker.addr, acks="all")
    t0 = int(time.time() * 1000) - 10_000
    for i in range(20):
        producer.send("py-topic", key=b"k%d" % i, value=b"v%d" % i, partition=0, timestamp_ms=t0 + i * 100)
    producer.flush()

    consumer = KafkaConsumer(bootstrap_servers=broker.addr, enable_auto_commit=False,
                             consumer_timeout_ms=5000)
    tp = TopicPartition("py-topic", 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    values = [m.value for m in consumer]
    assert values == [b"v%d" % i for i in range(20)]

    assert consumer.beginning_offsets([tp])[tp] == 0
    assert consumer.end_offsets([tp])[tp] == 20
    found = consumer.offsets_for_times({tp: t0 + 1050})[tp]
    assert found.offset == 11 and found.timestamp == t0 + 1100
    assert consumer.offsets_for_times({tp: t0 + 999_999})[tp] is None

    resource = ConfigResource(ConfigResourceType.TOPIC, "py-topic", configs={"retention.ms": "3600000"})
    admin.alter_configs([resource])
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "py-topic")])
    entries = {c[0]: c[1] for c in described[0].resources[0][4]}
    assert entries["retention.ms"] == "3600000"
    assert entries["cleanup.policy"] == "delete"

    result = admin.delete_records({tp: 5})
    assert result[tp]["low_watermark"] == 5
    assert consumer.beginning_offsets([tp])[tp] == 5
    consumer.seek_to_beginning(tp)
    assert [m.offset for m in consumer][0] == 5

    consumer.close()
    producer.close()
    admin.delete_topics(["py-topic"])
    deadline = time.time() + 10
    while "py-topic" in admin.list_topics() and time.time() < deadline:
        time.sleep(0.1)
    assert "py-topic" not in admin.list_topics()
    admin.close()


def test_restart_keeps_data(broker):
    producer = KafkaProducer(bootstrap_servers=broker.addr, acks=1)
    for i in range(100):
        producer.send("keep", value=b"r%d" % i)
    producer.flush()
    producer.close()
    broker.stop()
    broker.start()
    consumer = KafkaConsumer("keep", bootstrap_servers=broker.addr, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=5000, group_id=None)
    tp = TopicPartition("keep", 0)
    consumer.unsubscribe()
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    assert [m.value for m in consumer] == [b"r%d" % i for i in range(100)]
    consumer.close()


def test_admin_answers_carry_none_messages_on_success(broker):
    """Clients test `is None`: a successful answer has a null message, not ""."""
    admin = KafkaAdminClient(bootstrap_servers=broker.addr, request_timeout_ms=10000)
    created = admin.create_topics([NewTopic("py-nulls", num_partitions=1, replication_factor=1)])
    assert [(e[0], e[1], e[2]) for e in created.topic_errors] == [("py-nulls", 0, None)]
    altered = admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, "py-nulls", configs={"retention.ms": "60000"})])
    assert [(r[0], r[1]) for r in altered.resources] == [(0, None)]
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "py-nulls")])
    assert described[0].resources[0][0] == 0 and described[0].resources[0][1] is None
    admin.close()
