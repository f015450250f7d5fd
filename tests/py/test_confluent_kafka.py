"""confluent-kafka (librdkafka 2.x) against a real moldau broker: every compression
codec round trips and is stored exactly as sent."""

import glob
import os
import subprocess

from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import moldau_bin

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def test_every_codec_round_trips_and_is_stored_as_sent(broker):
    for codec in CODECS:
        topic = f"codec-{codec}"
        p = Producer({"bootstrap.servers": broker.addr, "compression.type": codec,
                      "linger.ms": 20, "acks": "all"})
        for i in range(500):
            p.produce(topic, key=b"k%d" % (i % 7), value=(b"value-%d-" % i) * 20,
                      headers=[("codec", codec.encode())])
        assert p.flush(30) == 0

        c = Consumer({"bootstrap.servers": broker.addr, "group.id": f"g-{codec}",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.assign([TopicPartition(topic, 0, 0)])
        seen = []
        while len(seen) < 500:
            m = c.poll(10)
            assert m is not None, f"{codec}: timed out after {len(seen)} records"
            assert m.error() is None, m.error()
            seen.append(m)
        c.close()
        for i, m in enumerate(seen):
            assert m.offset() == i
            assert m.key() == b"k%d" % (i % 7)
            assert m.value() == (b"value-%d-" % i) * 20
            assert m.headers() == [("codec", codec.encode())]

        # The segment holds the batches as the producer compressed them.
        segment = sorted(glob.glob(os.path.join(broker.data_dir, f"{topic}-0", "*.log")))[0]
        dump = subprocess.run([moldau_bin(), "dump-log", "--files", segment],
                              capture_output=True, text=True, timeout=30)
        assert dump.returncode == 0, dump.stderr
        codecs = {line.split("compresscodec: ")[1].split()[0]
                  for line in dump.stdout.splitlines() if "compresscodec:" in line}
        assert codecs == {codec}, dump.stdout[:500]


def test_group_consumer_commits_and_resumes(broker):
    p = Producer({"bootstrap.servers": broker.addr})
    for i in range(100):
        p.produce("resume", value=b"%d" % i)
    p.flush(30)

    def consume(n):
        c = Consumer({"bootstrap.servers": broker.addr, "group.id": "resumers",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.subscribe(["resume"])
        got = []
        while len(got) < n:
            m = c.poll(15)
            assert m is not None and m.error() is None
            got.append(int(m.value()))
        c.commit(asynchronous=False)
        c.close()
        return got

    assert consume(60) == list(range(60))
    broker.stop()
    broker.start()
    assert consume(40) == list(range(60, 100))


def test_admin_describe_topics(broker):
    """AdminClient.describe_topics (librdkafka asks Metadata for it; Java admin
    clients use DescribeTopicPartitions, covered by tests/tests/describe_topic_partitions.rs)."""
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": broker.addr})
    for f in admin.create_topics([NewTopic("described", num_partitions=3, replication_factor=1)]).values():
        f.result(timeout=30)
    futures = admin.describe_topics(TopicCollection(["described"]), request_timeout=30)
    description = futures["described"].result(timeout=30)
    assert description.name == "described"
    assert [p.id for p in description.partitions] == [0, 1, 2]
    assert all(p.leader is not None and p.leader.id == 1 for p in description.partitions)
    missing = admin.describe_topics(TopicCollection(["not-there"]), request_timeout=30)
    try:
        missing["not-there"].result(timeout=30)
        raise AssertionError("an unknown topic was described")
    except Exception as e:  # KafkaException(UNKNOWN_TOPIC_OR_PART)
        assert "UNKNOWN_TOPIC" in str(e)
