"""Consume-transform-produce with confluent-kafka under kill -9 of the broker: a loop
reads an input topic read_committed and, in one transaction per batch, writes each
record to an output topic and sends the consumed offsets with
`send_offsets_to_transaction`. A thread kills the broker with SIGKILL a few times
(mid-transaction or not) and restarts it on the same port and data. Whatever the
loop must abort it rewinds to the group's committed offsets. At the end a
read_committed reader finds every input record in the output exactly once."""

import threading
import time

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 3
PER_PARTITION = 200
KILLS = 3
BATCH = 10
PAUSE_S = 0.05
# Bounds the whole test, kills included.
DEADLINE_S = 90
OP_TIMEOUT_S = 10
# With its only broker down, librdkafka (2.10+) re-bootstraps: it retires the broker
# handle, and a TxnOffsetCommit waiting for that handle then never leaves
# (send_offsets_to_transaction blocks past its timeout). Reconnecting to the same
# address is what a restarted single broker needs.
CLIENT_RECOVERY = {"metadata.recovery.strategy": "none", "reconnect.backoff.max.ms": 500}


def create_topics(addr, names):
    admin = AdminClient({"bootstrap.servers": addr})
    new = [NewTopic(n, PARTITIONS, 1) for n in names]
    for f in admin.create_topics(new).values():
        f.result(30)


def fill_input(addr, topic):
    p = Producer({"bootstrap.servers": addr, "enable.idempotence": True})
    for part in range(PARTITIONS):
        for i in range(PER_PARTITION):
            p.produce(topic, f"{part}-{i}".encode(), partition=part)
    assert p.flush(30) == 0


def rewind(consumer):
    """Back to the group's committed offsets (the start where there are none)."""
    assignment = consumer.assignment()
    if not assignment:
        return
    for tp in consumer.committed(assignment, OP_TIMEOUT_S):
        if tp.offset < 0:
            tp.offset = OFFSET_BEGINNING
        consumer.seek(tp)


def done(consumer, ends):
    """True once the group's committed offsets reach the input's end everywhere."""
    tps = [TopicPartition("eos-in", p) for p in range(PARTITIONS)]
    try:
        got = consumer.committed(tps, OP_TIMEOUT_S)
    except KafkaException:
        return False
    return all(tp.offset == ends[tp.partition] for tp in got)


def run_loop(addr, stop_at, outcomes, first_commit, kills_done):
    """Processes eos-in into eos-out until everything is committed and the kills are
    over; counts how each transaction ended."""
    consumer = Consumer({
        **CLIENT_RECOVERY,
        "bootstrap.servers": addr,
        "group.id": "eos",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "session.timeout.ms": 10000,
    })
    consumer.subscribe(["eos-in"])

    def new_producer():
        p = Producer({
            "bootstrap.servers": addr,
            **CLIENT_RECOVERY,
            "transactional.id": "eos-loop",
            "transaction.timeout.ms": 10000,
        })
        p.init_transactions(OP_TIMEOUT_S * 3)
        return p

    producer = new_producer()
    ends = {p: PER_PARTITION for p in range(PARTITIONS)}
    finished = False
    while time.monotonic() < stop_at:
        # Small transactions, so that the kills find some in flight.
        msgs = consumer.consume(num_messages=BATCH, timeout=0.5)
        msgs = [m for m in msgs if m.error() is None]
        if not msgs:
            if kills_done.is_set() and done(consumer, ends):
                finished = True
                break
            continue
        try:
            producer.begin_transaction()
            for m in msgs:
                producer.produce("eos-out", m.value(), partition=m.partition())
            producer.send_offsets_to_transaction(
                consumer.position(consumer.assignment()),
                consumer.consumer_group_metadata(),
                OP_TIMEOUT_S,
            )
            commit_with_retries(producer, stop_at)
            outcomes["committed"] += 1
            first_commit.set()
            # Keeps the work spread over the kills.
            time.sleep(PAUSE_S)
        except KafkaException as e:
            err = e.args[0]
            if err.fatal():
                outcomes["fatal"] += 1
                producer = recreate(new_producer, stop_at)
            else:
                outcomes["aborted"] += 1
                abort_with_retries(producer, stop_at)
            rewind_with_retries(consumer, stop_at)
    consumer.close()
    assert finished, f"input not fully processed in time ({outcomes})"
    return producer


def commit_with_retries(producer, stop_at):
    while True:
        try:
            producer.commit_transaction(OP_TIMEOUT_S)
            return
        except KafkaException as e:
            if e.args[0].retriable() and time.monotonic() < stop_at:
                continue
            raise


def abort_with_retries(producer, stop_at):
    while True:
        try:
            producer.abort_transaction(OP_TIMEOUT_S)
            return
        except KafkaException as e:
            if time.monotonic() < stop_at and not e.args[0].fatal():
                time.sleep(0.2)
                continue
            raise


def recreate(new_producer, stop_at):
    while True:
        try:
            return new_producer()
        except KafkaException:
            if time.monotonic() >= stop_at:
                raise
            time.sleep(0.2)


def rewind_with_retries(consumer, stop_at):
    while time.monotonic() < stop_at:
        try:
            rewind(consumer)
            return
        except KafkaException:
            time.sleep(0.2)


def read_output(addr, stop_at):
    c = Consumer({
        "bootstrap.servers": addr,
        "group.id": "eos-check",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
    })
    c.assign([TopicPartition("eos-out", p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    values, eof = [], set()
    while len(eof) < PARTITIONS:
        assert time.monotonic() < stop_at, f"reading the output timed out ({len(values)})"
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                continue
            raise KafkaException(m.error())
        eof.discard(m.partition())
        values.append(m.value().decode())
    c.close()
    return values


def test_consume_transform_produce_is_exactly_once_across_kill_9(broker):
    stop_at = time.monotonic() + DEADLINE_S
    create_topics(broker.addr, ["eos-in", "eos-out"])
    fill_input(broker.addr, "eos-in")

    outcomes = {"committed": 0, "aborted": 0, "fatal": 0}
    # Transactions committed when each kill came: the kills hit the work.
    kills = []
    first_commit = threading.Event()
    kills_done = threading.Event()

    def killer():
        try:
            if not first_commit.wait(max(0.0, stop_at - 60 - time.monotonic())):
                return
            for i in range(KILLS):
                time.sleep(1.0 + 0.5 * i)
                broker.kill()
                kills.append(outcomes["committed"])
                time.sleep(0.3)
                broker.start()
        finally:
            kills_done.set()

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    producer = run_loop(broker.addr, stop_at, outcomes, first_commit, kills_done)
    t.join(timeout=max(0.0, stop_at - time.monotonic()))
    print(f"transactions: {outcomes}, committed at each kill: {kills}")
    assert len(kills) == KILLS, f"only {len(kills)} kills happened"
    assert kills[0] < PARTITIONS * PER_PARTITION // BATCH, "the work was over before a kill"

    values = read_output(broker.addr, stop_at + 15)
    expected = sorted(f"{p}-{i}" for p in range(PARTITIONS) for i in range(PER_PARTITION))
    duplicates = sorted({v for v in values if values.count(v) > 1})
    missing = sorted(set(expected) - set(values))
    assert not duplicates, f"duplicated: {duplicates[:10]} ({outcomes})"
    assert not missing, f"missing: {missing[:10]} ({outcomes})"
    assert sorted(values) == expected
    assert outcomes["committed"] > 0
    del producer


def committed_stable(addr, group, topic, partitions):
    """The group's committed offsets as a read_committed client fetches them (it asks
    for stable offsets, so it waits out pending transactions)."""
    c = Consumer({
        "bootstrap.servers": addr,
        "group.id": group,
        "isolation.level": "read_committed",
    })
    got = c.committed([TopicPartition(topic, p) for p in range(partitions)], 30)
    c.close()
    return [tp.offset for tp in got]


def test_everything_works_after_a_restart_in_the_middle_of_open_transactions(broker):
    create_topics(broker.addr, ["open-in", "open-out"])
    group_metadata = Consumer({
        "bootstrap.servers": broker.addr,
        "group.id": "open-g",
    }).consumer_group_metadata()
    # Two transactions left open with records and offsets: one will be taken over
    # by a new producer with its id, the other only ends by its timeout.
    open_txns = []
    for txn_id, timeout_ms, offset in [("open-a", 60000, 11), ("open-b", 3000, 22)]:
        p = Producer({
            "bootstrap.servers": broker.addr,
            "transactional.id": txn_id,
            "transaction.timeout.ms": timeout_ms,
        })
        p.init_transactions(30)
        p.begin_transaction()
        p.produce("open-out", f"lost-{txn_id}".encode(), partition=0)
        assert p.flush(30) == 0
        p.send_offsets_to_transaction(
            [TopicPartition("open-in", 0 if txn_id == "open-a" else 1, offset)],
            group_metadata,
            30,
        )
        open_txns.append(p)

    broker.kill()
    broker.start()

    # The first id's new producer aborts what its predecessor left open.
    p = Producer({"bootstrap.servers": broker.addr, "transactional.id": "open-a"})
    p.init_transactions(30)
    p.begin_transaction()
    p.produce("open-out", b"kept", partition=0)
    p.send_offsets_to_transaction([TopicPartition("open-in", 0, 5)], group_metadata, 30)
    p.commit_transaction(30)
    # The second ends by its timeout: its offset never shows, and once aborted the
    # partition is stable again.
    assert committed_stable(broker.addr, "open-g", "open-in", PARTITIONS) == [5, -1001, -1001]

    c = Consumer({
        "bootstrap.servers": broker.addr,
        "group.id": "open-check",
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
    })
    c.assign([TopicPartition("open-out", p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    values, eof = [], set()
    deadline = time.monotonic() + 30
    while len(eof) < PARTITIONS:
        assert time.monotonic() < deadline, f"reading timed out with {values}"
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                continue
            raise KafkaException(m.error())
        values.append(m.value().decode())
    c.close()
    assert values == ["kept"]
    del open_txns
