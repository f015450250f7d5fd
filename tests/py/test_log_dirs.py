"""Several log directories (JBOD): placement, restart, a failed directory, and
DescribeLogDirs / AlterReplicaLogDirs through kafka-python's protocol layer.

kafka-python's `describe_log_dirs()` only speaks DescribeLogDirs v0, which Kafka 4.0
removed (KIP-896) as Moldau does, and it has no AlterReplicaLogDirs: the requests are
kafka-python protocol classes for v1 (in acl_requests.py), sent with its client.
confluent-kafka has neither API."""

import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from acl_requests import AlterReplicaLogDirsRequest_v1, DescribeLogDirsRequest_v1
from conftest import Broker, moldau_bin

KAFKA_STORAGE_ERROR = 56
LOG_DIR_NOT_FOUND = 57
REPLICA_NOT_AVAILABLE = 9


class JbodBroker(Broker):
    """A broker with `count` log directories under one temporary root."""

    def __init__(self, count=2, extra=()):
        self.root = tempfile.mkdtemp(prefix="moldau-jbod-")
        self.dirs = [os.path.join(self.root, f"dir{i}") for i in range(count)]
        super().__init__(extra=extra, data_dir=",".join(self.dirs))

    def close(self):
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def jbod():
    b = JbodBroker(extra=["--set", "log.retention.check.interval.ms=200"])
    yield b
    b.close()


def admin_of(broker):
    return KafkaAdminClient(bootstrap_servers=broker.addr, request_timeout_ms=10000)


def describe(admin, topics=None):
    """{log_dir: (error_code, {(topic, partition, is_future): (size, offset_lag)})}"""
    response = admin.send_request(DescribeLogDirsRequest_v1(topics=topics))
    out = {}
    for error_code, log_dir, described_topics in response.results:
        replicas = {}
        for name, partitions in described_topics:
            for index, size, lag, future in partitions:
                replicas[(name, index, future)] = (size, lag)
        out[log_dir] = (error_code, replicas)
    return out


def dir_of(described, topic, partition):
    found = [d for d, (_, replicas) in described.items() if (topic, partition, False) in replicas]
    assert len(found) == 1, f"{topic}-{partition} in {found}"
    return found[0]


def alter(admin, path, topic, partitions):
    response = admin.send_request(
        AlterReplicaLogDirsRequest_v1(dirs=[(path, [(topic, partitions)])]))
    return {(t, p): code for t, results in response.results for p, code in results}


def produce(broker, topic, partition, values, **config):
    producer = Producer({"bootstrap.servers": broker.addr, "acks": "all", **config})
    errors = []

    def report(err, _msg):
        if err is not None:
            errors.append(err)

    for v in values:
        producer.produce(topic, value=v, partition=partition, on_delivery=report)
        producer.poll(0)
    assert producer.flush(30) == 0
    return errors


def consume(broker, topic, partition, count):
    consumer = Consumer({"bootstrap.servers": broker.addr, "group.id": "unused",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, partition, 0)])
    values = []
    deadline = time.time() + 30
    while len(values) < count and time.time() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            values.append(msg.value())
    consumer.close()
    return values


def wait_for(what, check, timeout=30):
    deadline = time.time() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_partitions_spread_over_dirs_are_described_and_found_after_restart(jbod):
    admin = admin_of(jbod)
    admin.create_topics([NewTopic("spread", num_partitions=4, replication_factor=1)])
    for p in range(4):
        assert produce(jbod, "spread", p, [b"p%d-%d" % (p, i) for i in range(25)]) == []

    described = describe(admin)
    assert set(described) == {os.path.abspath(d) for d in jbod.dirs}
    placement = {}
    for log_dir, (error_code, replicas) in described.items():
        assert error_code == 0
        mine = {k: v for k, v in replicas.items() if k[0] == "spread"}
        # The directory with the fewest partitions takes the next one.
        assert len(mine) == 2, mine
        for (topic, partition, future), (size, lag) in mine.items():
            assert not future and lag == 0 and size > 0
            assert os.path.isdir(os.path.join(log_dir, f"{topic}-{partition}"))
            placement[partition] = log_dir
        # Each directory has its own identity and lock, as in Kafka.
        meta = open(os.path.join(log_dir, "meta.properties")).read()
        assert "directory.id=" in meta and os.path.exists(os.path.join(log_dir, ".lock"))
    ids = {open(os.path.join(d, "meta.properties")).read().split("directory.id=")[1].split()[0]
           for d in jbod.dirs}
    assert len(ids) == 2

    # A filter lists exactly the partitions asked for.
    only = describe(admin, topics=[("spread", [1])])
    listed = [(d, k) for d, (_, r) in only.items() for k in r]
    assert listed == [(placement[1], ("spread", 1, False))]
    admin.close()

    jbod.stop()
    jbod.start()
    admin = admin_of(jbod)
    again = describe(admin)
    for p in range(4):
        assert dir_of(again, "spread", p) == placement[p]
        assert consume(jbod, "spread", p, 25) == [b"p%d-%d" % (p, i) for i in range(25)]
    admin.close()


def test_a_removed_log_dir_goes_offline_while_the_other_serves(jbod):
    admin = admin_of(jbod)
    admin.create_topics([NewTopic("failing", num_partitions=2, replication_factor=1)])
    for p in range(2):
        assert produce(jbod, "failing", p, [b"before-%d" % i for i in range(10)]) == []
    described = describe(admin)
    lost_dir = dir_of(described, "failing", 1)
    kept_dir = dir_of(described, "failing", 0)
    assert lost_dir != kept_dir

    shutil.rmtree(lost_dir)
    # The next checkpoint into it fails: the directory goes offline, alone.
    now = wait_for("the directory offline",
                   lambda: (d := describe(admin)) and d[lost_dir][0] == KAFKA_STORAGE_ERROR and d)
    assert now[kept_dir][0] == 0
    assert ("failing", 0, False) in now[kept_dir][1]

    errors = produce(jbod, "failing", 1, [b"lost"], retries=0, **{"message.timeout.ms": 10000})
    assert [e.code() for e in errors] == [KafkaError.KAFKA_STORAGE_ERROR]
    assert produce(jbod, "failing", 0, [b"after-%d" % i for i in range(10)]) == []
    assert consume(jbod, "failing", 0, 20) == (
        [b"before-%d" % i for i in range(10)] + [b"after-%d" % i for i in range(10)])

    # Moving into the failed directory is refused as Kafka does.
    assert alter(admin, lost_dir, "failing", [0]) == {("failing", 0): KAFKA_STORAGE_ERROR}
    assert jbod.proc.poll() is None, "the broker keeps running"
    admin.close()


def test_a_dir_failing_at_start_up_is_offline_and_the_broker_serves_the_others(jbod):
    admin = admin_of(jbod)
    admin.create_topics([NewTopic("survivor", num_partitions=2, replication_factor=1)])
    for p in range(2):
        assert produce(jbod, "survivor", p, [b"before-%d" % i for i in range(10)]) == []
    described = describe(admin)
    # The first directory also holds the metadata log (metadata.log.dir defaults to
    # it), whose failure stops a broker: the other one fails here.
    lost_dir = os.path.abspath(jbod.dirs[1])
    lost = 0 if dir_of(described, "survivor", 0) == lost_dir else 1
    kept = 1 - lost
    assert dir_of(described, "survivor", kept) != lost_dir
    admin.close()
    jbod.stop()

    # A corrupt meta.properties: before, the broker refused to start at all.
    meta = os.path.join(lost_dir, "meta.properties")
    original = open(meta).read()
    with open(meta, "w") as f:
        f.write("not a properties line\n")
    jbod.start()
    admin = admin_of(jbod)
    now = describe(admin)
    assert now[lost_dir][0] == KAFKA_STORAGE_ERROR
    assert now[os.path.abspath(jbod.dirs[0])][0] == 0
    # Metadata: no leader for the partition of the failed directory, its replica
    # offline; the other partition is led as before.
    (topic,) = admin.describe_topics(["survivor"])
    partitions = {p["partition"]: p for p in topic["partitions"]}
    assert partitions[lost]["leader"] == -1
    assert partitions[lost]["offline_replicas"] == [1]
    assert partitions[kept]["leader"] == 1 and partitions[kept]["error_code"] == 0
    errors = produce(jbod, "survivor", lost, [b"lost"], retries=0,
                     **{"message.timeout.ms": 5000})
    assert len(errors) == 1, "nothing acknowledged into the failed directory"
    assert produce(jbod, "survivor", kept, [b"after-%d" % i for i in range(10)]) == []
    assert consume(jbod, "survivor", kept, 20) == (
        [b"before-%d" % i for i in range(10)] + [b"after-%d" % i for i in range(10)])
    # A new topic goes to the directory that works.
    admin.create_topics([NewTopic("fresh", num_partitions=1, replication_factor=1)])
    assert produce(jbod, "fresh", 0, [b"new"]) == []
    assert ("fresh", 0, False) in describe(admin)[os.path.abspath(jbod.dirs[0])][1]
    admin.close()
    jbod.stop()

    # Repaired: the partition comes back with its records, nothing was created in
    # its place meanwhile.
    with open(meta, "w") as f:
        f.write(original)
    jbod.start()
    assert consume(jbod, "survivor", lost, 10) == [b"before-%d" % i for i in range(10)]
    admin = admin_of(jbod)
    assert dir_of(describe(admin), "survivor", lost) == lost_dir
    admin.close()


def test_the_broker_refuses_to_start_when_every_log_dir_failed():
    root = tempfile.mkdtemp(prefix="moldau-jbod-")
    try:
        dirs = [os.path.join(root, f"dir{i}") for i in range(2)]
        for d in dirs:
            # Not a directory at all, as a mount point gone wrong can be.
            with open(d, "w") as f:
                f.write("not a directory")
        cmd = [moldau_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", ",".join(dirs),
               "--console", "off", "--set", "metadata.log.dir=" + os.path.join(root, "meta")]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert done.returncode != 0
        assert "every log directory failed" in done.stderr, done.stderr
        for d in dirs:
            assert d in done.stderr, done.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_alter_replica_log_dirs_errors(jbod):
    admin = admin_of(jbod)
    admin.create_topics([NewTopic("errs", num_partitions=1, replication_factor=1)])
    assert alter(admin, "/no/such/log/dir", "errs", [0]) == {("errs", 0): LOG_DIR_NOT_FOUND}
    assert alter(admin, jbod.dirs[1], "not-here", [0]) == {("not-here", 0): REPLICA_NOT_AVAILABLE}
    where = dir_of(describe(admin), "errs", 0)
    # Already there: nothing to move.
    assert alter(admin, where, "errs", [0]) == {("errs", 0): 0}
    admin.close()


def test_a_move_under_load_keeps_every_record(jbod):
    admin = admin_of(jbod)
    admin.create_topics([NewTopic("moving", num_partitions=1, replication_factor=1)])
    first = [b"m-%05d" % i for i in range(3000)]
    assert produce(jbod, "moving", 0, first, **{"linger.ms": 5}) == []
    source = dir_of(describe(admin), "moving", 0)
    target = next(os.path.abspath(d) for d in jbod.dirs if os.path.abspath(d) != source)

    more = [b"m-%05d" % i for i in range(3000, 8000)]
    outcome = {}
    writer = threading.Thread(
        target=lambda: outcome.update(errors=produce(jbod, "moving", 0, more, **{"linger.ms": 1})))
    writer.start()
    assert alter(admin, target, "moving", [0]) == {("moving", 0): 0}
    writer.join(60)
    assert not writer.is_alive()
    assert outcome["errors"] == []

    def moved():
        d = describe(admin, topics=[("moving", [0])])
        replicas = [(log_dir, k) for log_dir, (_, r) in d.items() for k in r]
        return replicas == [(target, ("moving", 0, False))]

    wait_for("the move to finish", moved)
    assert not os.path.exists(os.path.join(source, "moving-0"))
    assert consume(jbod, "moving", 0, 8000) == first + more

    # Written after the move, and found in its new directory after a restart.
    assert produce(jbod, "moving", 0, [b"after"]) == []
    jbod.stop()
    jbod.start()
    admin.close()
    admin = admin_of(jbod)
    assert dir_of(describe(admin), "moving", 0) == target
    assert consume(jbod, "moving", 0, 8001) == first + more + [b"after"]
    admin.close()


def test_cli_describes_and_moves(jbod):
    import json
    import subprocess
    from conftest import moldau_bin

    admin = admin_of(jbod)
    admin.create_topics([NewTopic("cli", num_partitions=1, replication_factor=1)])
    assert produce(jbod, "cli", 0, [b"c-%d" % i for i in range(100)]) == []
    source = dir_of(describe(admin), "cli", 0)
    target = next(os.path.abspath(d) for d in jbod.dirs if os.path.abspath(d) != source)

    def cli(*args):
        done = subprocess.run([moldau_bin(), "-b", jbod.addr, *args],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    # kafka-log-dirs.sh --describe's JSON.
    out = json.loads(cli("--json", "log-dirs", "describe", "--topic", "cli"))
    [broker] = out["brokers"]
    by_dir = {d["logDir"]: [p["partition"] for p in d["partitions"]] for d in broker["logDirs"]}
    assert by_dir == {source: ["cli-0"], target: []}
    assert all(d["error"] is None and d["totalBytes"] > 0 for d in broker["logDirs"])

    assert "moved" in cli("log-dirs", "move", "cli", "0", target, "--wait")
    assert dir_of(describe(admin), "cli", 0) == target
    assert consume(jbod, "cli", 0, 100) == [b"c-%d" % i for i in range(100)]
    assert "LOG_DIR_NOT_FOUND" in subprocess.run(
        [moldau_bin(), "-b", jbod.addr, "log-dirs", "move", "cli", "0", "/nowhere"],
        capture_output=True, text=True, timeout=60).stderr
    admin.close()
