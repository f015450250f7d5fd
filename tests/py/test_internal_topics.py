"""kafka-python against names reserved for the broker: each request gets Kafka's error
code and nothing changes."""

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import (
    InvalidRequestError,
    InvalidTopicError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)


def test_reserved_names_are_refused_and_left_unchanged(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.addr, request_timeout_ms=10000)
    for name in ("__cluster_metadata", "__transaction_state"):
        with pytest.raises(InvalidRequestError):
            admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1,
                                          topic_configs={"retention.ms": "1"})])
    assert "__cluster_metadata" not in admin.list_topics()
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.delete_topics(["__cluster_metadata"])

    # The broker makes __consumer_offsets on a group's first use.
    admin.create_topics([NewTopic("py-data", num_partitions=1, replication_factor=1)])
    consumer = KafkaConsumer(bootstrap_servers=broker.addr, group_id="py-group",
                             enable_auto_commit=False)
    tp = TopicPartition("py-data", 0)
    consumer.assign([tp])
    consumer.seek(tp, 0)
    consumer.commit()
    assert "__consumer_offsets" in admin.list_topics()
    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics([NewTopic("__consumer_offsets", num_partitions=7, replication_factor=1)])
    with pytest.raises(InvalidTopicError):
        admin.delete_topics(["__consumer_offsets"])
    with pytest.raises(InvalidTopicError):
        admin.delete_records({TopicPartition("__consumer_offsets", 0): 0})

    producer = KafkaProducer(bootstrap_servers=broker.addr, acks="all", retries=0)
    with pytest.raises(InvalidTopicError):
        producer.send("__consumer_offsets", value=b"forged", partition=0).get(timeout=10)

    # The group's offset is still there, and the offsets topic kept its shape.
    assert consumer.committed(tp) == 0
    assert len(consumer.partitions_for_topic("__consumer_offsets")) == 50
    deadline = time.time() + 10
    while "__cluster_metadata" in admin.list_topics() and time.time() < deadline:
        time.sleep(0.1)
    assert "__cluster_metadata" not in admin.list_topics()
    producer.close()
    consumer.close()
    admin.close()
