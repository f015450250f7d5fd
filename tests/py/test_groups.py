"""Consumer groups with kafka-python and confluent-kafka against a real moldau broker."""

import threading
import time

import pytest
from confluent_kafka import Consumer as ConfluentConsumer
from confluent_kafka import TopicPartition as ConfluentPartition
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from conftest import Broker

PARTITIONS = 6
SETTLE_S = 60


@pytest.fixture
def gbroker():
    b = Broker(["--set", "group.initial.rebalance.delay.ms=0"])
    yield b
    b.close()


def create_topic(addr, name, partitions=PARTITIONS):
    admin = KafkaAdminClient(bootstrap_servers=addr, request_timeout_ms=10000)
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    admin.close()


def produce(addr, topic, tag, count, partitions=PARTITIONS):
    """Sends `count` records round-robin over partitions; returns {(partition, offset): value}."""
    producer = KafkaProducer(bootstrap_servers=addr, acks="all")
    futures = [(producer.send(topic, value=b"%s-%d" % (tag, i), partition=i % partitions),
                b"%s-%d" % (tag, i)) for i in range(count)]
    producer.flush()
    placed = {}
    for f, value in futures:
        md = f.get(timeout=30)
        placed[(md.partition, md.offset)] = value
    producer.close()
    return placed


def wait_until(what, done, limit_s=SETTLE_S):
    deadline = time.time() + limit_s
    while not done():
        assert time.time() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


class PyMember(threading.Thread):
    """A kafka-python group consumer polling on its own thread (KafkaConsumer is not
    thread-safe, so only this thread touches it)."""

    def __init__(self, addr, group, topic, name, **config):
        super().__init__(daemon=True)
        self.name_ = name
        self.records = []
        self.assigned = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.consumer = KafkaConsumer(
            bootstrap_servers=addr, group_id=group, client_id=name,
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=config.pop("session_timeout_ms", 10000),
            heartbeat_interval_ms=500, **config)
        self.topic = topic
        self.start()

    def run(self):
        self.consumer.subscribe([self.topic])
        while not self.stopping.is_set():
            batches = self.consumer.poll(timeout_ms=100)
            with self.lock:
                self.assigned = {tp.partition for tp in self.consumer.assignment()}
                for tp, msgs in batches.items():
                    for m in msgs:
                        self.records.append((m.partition, m.offset, m.value))
        self.consumer.close()

    def generation(self):
        return self.consumer._coordinator._generation.generation_id

    def owned(self):
        with self.lock:
            return set(self.assigned)

    def close(self):
        self.stopping.set()
        self.join(30)
        assert not self.is_alive()


def split_of(members):
    """Partitions owned per member, or None while two members claim one."""
    owned = [m.owned() for m in members]
    union = set().union(*owned)
    if sum(len(o) for o in owned) != len(union):
        return None
    return owned, union


def wait_for_split(members, partitions=PARTITIONS):
    def done():
        s = split_of(members)
        return s is not None and s[1] == set(range(partitions)) and all(s[0])
    wait_until("every partition owned once", done)


def test_kafka_python_members_split_partitions_and_process_each_record_once(gbroker):
    create_topic(gbroker.addr, "py-orders")
    members = [PyMember(gbroker.addr, "py-three", "py-orders", "k%d" % i) for i in range(3)]
    wait_for_split(members)
    generations = [m.generation() for m in members]
    assert len(set(generations)) == 1

    placed = produce(gbroker.addr, "py-orders", b"r", 300)
    wait_until("every record processed", lambda: sum(len(m.records) for m in members) >= 300)
    time.sleep(0.5)
    seen = {}
    for m in members:
        owned = m.owned()
        for partition, offset, value in m.records:
            assert (partition, offset) not in seen, "processed twice"
            assert partition in owned
            seen[(partition, offset)] = value
    assert seen == placed
    assert [m.generation() for m in members] == generations, "no rebalance while stable"
    for m in members:
        m.close()


def test_list_and_describe_consumer_groups_with_kafka_python_admin(gbroker):
    create_topic(gbroker.addr, "py-listed")
    members = [PyMember(gbroker.addr, "py-watchers", "py-listed", "watcher-%d" % i) for i in range(2)]
    wait_for_split(members)
    admin = KafkaAdminClient(bootstrap_servers=gbroker.addr, request_timeout_ms=10000)

    listed = admin.list_consumer_groups()
    assert ("py-watchers", "consumer") in [tuple(g[:2]) for g in listed], listed

    def described():
        return admin.describe_consumer_groups(["py-watchers"], include_authorized_operations=True)[0]
    wait_until("Stable with 2 members",
               lambda: described().state == "Stable" and len(described().members) == 2)
    g = described()
    assert g.error_code == 0
    assert g.group == "py-watchers"
    assert g.protocol_type == "consumer"
    assert g.protocol == "range"
    assert {"READ", "DESCRIBE", "DELETE"} <= set(g.authorized_operations), g.authorized_operations
    by_client = {m.client_id: m for m in g.members}
    assert set(by_client) == {"watcher-0", "watcher-1"}
    assigned = []
    for m in g.members:
        assert m.client_host == "/127.0.0.1"
        assert m.member_id.startswith(m.client_id)
        assert m.member_metadata.topics == ["py-listed"]
        parts = dict(m.member_assignment.assignment)["py-listed"]
        assigned.extend(parts)
        owner = members[int(m.client_id[-1])]
        assert set(parts) == owner.owned()
    assert sorted(assigned) == list(range(PARTITIONS))

    for m in members:
        m.close()
    wait_until("Empty after both left", lambda: described().state == "Empty")
    assert described().members == []
    admin.delete_consumer_groups(["py-watchers"])
    assert "py-watchers" not in [g[0] for g in admin.list_consumer_groups()]
    admin.close()


def test_kafka_python_static_member_rejoins_with_same_generation_and_assignment(gbroker):
    create_topic(gbroker.addr, "py-static")

    def static(name):
        return PyMember(gbroker.addr, "py-statics", "py-static", name,
                        group_instance_id=name, session_timeout_ms=30000)
    members = [static("st-0"), static("st-1")]
    wait_for_split(members)
    generation = members[0].generation()
    assert members[1].generation() == generation
    before = [m.owned() for m in members]

    members[1].close()  # a static member does not leave
    members[1] = static("st-1")
    wait_until("st-1 back", lambda: members[1].owned() == before[1])
    assert members[1].generation() == generation, "rejoined without a new generation"
    time.sleep(3)  # several heartbeats: still no rebalance
    assert [m.generation() for m in members] == [generation, generation]
    assert [m.owned() for m in members] == before
    for m in members:
        m.close()


def test_confluent_commit_committed_and_resume_after_broker_restart(gbroker):
    create_topic(gbroker.addr, "py-ledger", 2)
    placed = produce(gbroker.addr, "py-ledger", b"a", 40, partitions=2)
    conf = {"bootstrap.servers": gbroker.addr, "group.id": "py-ledger-readers",
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000}

    def consume(n):
        c = ConfluentConsumer(conf)
        c.subscribe(["py-ledger"])
        got = []
        deadline = time.time() + SETTLE_S
        while len(got) < n:
            assert time.time() < deadline, "consumed %d of %d" % (len(got), n)
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            got.append((m.partition(), m.offset(), m.value()))
            c.commit(message=m, asynchronous=False)
        time.sleep(0.5)
        m = c.poll(0.5)
        assert m is None or m.error(), "read past what was produced"
        committed = c.committed([ConfluentPartition("py-ledger", p) for p in range(2)], timeout=10)
        c.close()
        return got, {tp.partition: tp.offset for tp in committed}

    got, committed = consume(40)
    assert {(p, o): v for p, o, v in got} == placed
    assert committed == {0: 20, 1: 20}

    more = produce(gbroker.addr, "py-ledger", b"b", 10, partitions=2)
    gbroker.stop()
    gbroker.start()
    got, committed = consume(10)
    assert {(p, o): v for p, o, v in got} == more, "resumed from the committed offsets"
    assert committed == {0: 25, 1: 25}


def test_confluent_admin_lists_by_state_describes_and_manages_offsets(gbroker):
    from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions
    from confluent_kafka.admin import AdminClient

    create_topic(gbroker.addr, "py-admin", 2)
    admin = AdminClient({"bootstrap.servers": gbroker.addr})
    members = [PyMember(gbroker.addr, "py-active", "py-admin", "active-%d" % i) for i in range(2)]
    wait_for_split(members, partitions=2)

    # A simple consumer group: offsets altered from outside (generation -1).
    request = ConsumerGroupTopicPartitions(
        "py-offsets-only", [ConfluentPartition("py-admin", 0, 11), ConfluentPartition("py-admin", 1, 22)])
    altered = admin.alter_consumer_group_offsets([request])["py-offsets-only"].result(10)
    assert {tp.partition: tp.error for tp in altered.topic_partitions} == {0: None, 1: None}
    listed = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions("py-offsets-only")])["py-offsets-only"].result(10)
    assert {tp.partition: tp.offset for tp in listed.topic_partitions} == {0: 11, 1: 22}

    def listing(states):
        result = admin.list_consumer_groups(states=states, request_timeout=10).result(10)
        assert not result.errors, result.errors
        return {g.group_id: g.state for g in result.valid}
    assert listing({ConsumerGroupState.STABLE}) == {"py-active": ConsumerGroupState.STABLE}
    assert listing({ConsumerGroupState.EMPTY}) == {"py-offsets-only": ConsumerGroupState.EMPTY}
    assert set(listing(None)) == {"py-active", "py-offsets-only"}

    g = admin.describe_consumer_groups(["py-active"], include_authorized_operations=True,
                                       request_timeout=10)["py-active"].result(10)
    assert g.state == ConsumerGroupState.STABLE
    assert g.partition_assignor == "range"
    assert not g.is_simple_consumer_group
    assert {op.name for op in g.authorized_operations} >= {"READ", "DESCRIBE", "DELETE"}
    assert sorted(m.client_id for m in g.members) == ["active-0", "active-1"]
    owned = {}
    for m in g.members:
        assert m.host == "/127.0.0.1"
        for tp in m.assignment.topic_partitions:
            owned[tp.partition] = m.client_id
    assert owned == {p: m.name_ for m in members for p in m.owned()}

    # A group with members cannot be deleted; an empty one can, offsets included.
    futures = admin.delete_consumer_groups(["py-active", "py-offsets-only"], request_timeout=10)
    with pytest.raises(Exception, match="NON_EMPTY_GROUP"):
        futures["py-active"].result(10)
    futures["py-offsets-only"].result(10)
    listed = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions("py-offsets-only",
                                      [ConfluentPartition("py-admin", 0)])])["py-offsets-only"].result(10)
    assert [tp.offset for tp in listed.topic_partitions] == [-1001]  # OFFSET_INVALID: none
    for m in members:
        m.close()
