"""KIP-848 online migration with confluent-kafka against a real moldau broker: a
classic group of three consuming six partitions is rolled to group.protocol=consumer
one member at a time (close one classic consumer, start one consumer-protocol one)
while records are produced, and back again. Every record is processed, no partition
is owned by two members at once, and a record is processed twice only when the
commit after its first processing failed (commits are synchronous, per record)."""

import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker

TOPIC = "rolling"
PARTITIONS = 6
MEMBERS = 3
RECORDS_PER_STEP = 60
STEP_DEADLINE_S = 90


@pytest.fixture
def fast_broker():
    b = Broker(extra=["--set", "group.consumer.heartbeat.interval.ms=500",
                      "--set", "group.consumer.min.heartbeat.interval.ms=100",
                      "--set", "group.initial.rebalance.delay.ms=0"])
    yield b
    b.close()


class Roll:
    """The group's consumers, polled in turn; what they processed and committed."""

    def __init__(self, addr, group):
        self.addr = addr
        self.group = group
        self.consumers = []
        self.seen = {}
        self.failed_commits = 0
        self.produced = 0
        self.producer = Producer({"bootstrap.servers": addr})
        self.next_id = 0

    def start(self, protocol):
        conf = {"bootstrap.servers": self.addr, "group.id": self.group,
                "client.id": f"{protocol}-{self.next_id}",
                "auto.offset.reset": "earliest", "enable.auto.commit": False}
        if protocol == "consumer":
            conf["group.protocol"] = "consumer"
        else:
            conf.update({"session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
        self.next_id += 1
        c = Consumer(conf)
        c.subscribe([TOPIC])
        self.consumers.append((protocol, c))

    def close_oldest(self, protocol):
        for i, (p, c) in enumerate(self.consumers):
            if p == protocol:
                c.close()
                del self.consumers[i]
                return
        raise AssertionError(f"no {protocol} consumer left")

    def produce(self, n):
        for _ in range(n):
            self.producer.produce(TOPIC, value=b"%d" % self.produced,
                                  partition=self.produced % PARTITIONS)
            self.produced += 1
        assert self.producer.flush(30) == 0

    def owned(self):
        return [{(tp.topic, tp.partition) for tp in c.assignment()}
                for _, c in self.consumers]

    def check_exclusive(self):
        owned = self.owned()
        flat = [tp for o in owned for tp in o]
        assert len(flat) == len(set(flat)), f"a partition owned twice: {owned}"

    def poll_round(self):
        for _, c in self.consumers:
            m = c.poll(0.05)
            self.check_exclusive()
            if m is None or m.error() is not None:
                continue
            value = int(m.value())
            self.seen[value] = self.seen.get(value, 0) + 1
            try:
                c.commit(message=m, asynchronous=False)
            except KafkaException:
                self.failed_commits += 1

    def settle(self):
        """Polls until everything produced was processed and the six partitions are
        spread over all members."""
        deadline = time.time() + STEP_DEADLINE_S
        while True:
            self.poll_round()
            owned = self.owned()
            done = (len(self.seen) == self.produced
                    and all(len(o) >= 1 for o in owned)
                    and sum(len(o) for o in owned) == PARTITIONS)
            if done:
                return
            assert time.time() < deadline, (
                f"not settled: processed {len(self.seen)}/{self.produced}, owned {owned}")

    def roll(self, old, new):
        """Replaces each `old` member by a `new` one, producing all along."""
        for _ in range(MEMBERS):
            self.produce(RECORDS_PER_STEP)
            self.close_oldest(old)
            self.produce(RECORDS_PER_STEP)
            self.start(new)
            self.settle()

    def check_processed(self):
        assert sorted(self.seen) == list(range(self.produced))
        duplicates = sum(n - 1 for n in self.seen.values())
        assert duplicates <= self.failed_commits, (duplicates, self.failed_commits)

    def close(self):
        for _, c in self.consumers:
            c.close()
        self.consumers = []


def group_type(admin, group):
    described = admin.describe_consumer_groups([group])[group].result(30)
    return str(described.type).split(".")[-1], described


def test_a_classic_group_is_rolled_to_the_consumer_protocol_and_back(fast_broker):
    admin = AdminClient({"bootstrap.servers": fast_broker.addr})
    for f in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
        f.result(30)
    roll = Roll(fast_broker.addr, "rolled")
    try:
        for _ in range(MEMBERS):
            roll.start("classic")
        roll.produce(RECORDS_PER_STEP)
        roll.settle()
        assert group_type(admin, "rolled")[0] == "CLASSIC"

        roll.roll("classic", "consumer")
        kind, described = group_type(admin, "rolled")
        assert kind == "CONSUMER"
        assert len(described.members) == MEMBERS
        roll.check_processed()

        # And back: the last consumer-protocol member leaving downgrades the group.
        roll.roll("consumer", "classic")
        kind, described = group_type(admin, "rolled")
        assert kind == "CLASSIC"
        assert len(described.members) == MEMBERS
        roll.check_processed()
    finally:
        roll.close()
