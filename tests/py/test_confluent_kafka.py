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
