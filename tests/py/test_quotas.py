"""Client quotas as librdkafka sees them: a producer over its producer_byte_rate is told
to back off (throttle_cb fires, the broker's `throttle` statistic is above 0), while a
producer with another client id beside it is never throttled; an admin client over its
controller_mutation_rate or its request_percentage is told to back off too; a consumer
over its consumer_byte_rate is throttled and still reads every record exactly once."""

import json
import socket
import struct
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

ALTER_CLIENT_QUOTAS = 49
# A value of this size 100 times is 1 MB, twice a 50 000 bytes/s quota over
# Kafka's 10 s window.
VALUE_BYTES = 10_000
RECORDS = 100
QUOTA_BYTES_PER_SEC = 50_000.0
# Longest wait for a statistic or a callback.
WAIT_S = 30


def _string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def set_client_quota(addr, client_id, key, value):
    """AlterClientQuotas v0 by hand (neither client library has it): one entity
    client-id=`client_id`, one op. Returns the entry's error code."""
    body = struct.pack(">i", 1)  # entries
    body += struct.pack(">i", 1) + _string("client-id") + _string(client_id)
    body += struct.pack(">i", 1) + _string(key) + struct.pack(">d?", value, False)
    body += struct.pack(">?", False)  # validate_only
    header = struct.pack(">hhi", ALTER_CLIENT_QUOTAS, 0, 1) + _string("quota-admin")
    frame = header + body
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=WAIT_S) as conn:
        conn.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", _read(conn, 4))[0]
        response = _read(conn, size)
    correlation_id, _throttle, entries, error_code = struct.unpack(">iiih", response[:14])
    assert correlation_id == 1 and entries == 1
    return error_code


def _read(conn, n):
    out = b""
    while len(out) < n:
        chunk = conn.recv(n - len(out))
        assert chunk, "connection closed"
        out += chunk
    return out


class Observed:
    """What one producer's callbacks reported."""

    def __init__(self):
        self.throttle_events = []
        self.throttle_max_ms = 0
        self.stats_seen = 0

    def on_throttle(self, event):
        self.throttle_events.append(event.throttle_time)

    def on_stats(self, text):
        stats = json.loads(text)
        self.stats_seen += 1
        for b in stats.get("brokers", {}).values():
            self.throttle_max_ms = max(self.throttle_max_ms, b.get("throttle", {}).get("max", 0))


def producer(addr, client_id, observed):
    return Producer({
        "bootstrap.servers": addr,
        "client.id": client_id,
        "acks": 1,
        "linger.ms": 50,
        "statistics.interval.ms": 200,
        "throttle_cb": observed.on_throttle,
        "stats_cb": observed.on_stats,
    })


def send_a_megabyte(p, topic):
    for _ in range(RECORDS):
        p.produce(topic, value=b"v" * VALUE_BYTES)
    assert p.flush(WAIT_S) == 0


def poll_until(p, done):
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert time.monotonic() < deadline, "timed out"
        p.poll(0.1)


def test_a_producer_over_its_quota_sees_the_throttle_and_its_neighbour_does_not(broker):
    assert set_client_quota(broker.addr, "noisy", "producer_byte_rate", QUOTA_BYTES_PER_SEC) == 0
    topic = "quota-librdkafka"

    quiet_seen = Observed()
    quiet = producer(broker.addr, "quiet", quiet_seen)
    send_a_megabyte(quiet, topic)
    # Two more statistics after everything is answered.
    after = quiet_seen.stats_seen
    poll_until(quiet, lambda: quiet_seen.stats_seen >= after + 2)

    noisy_seen = Observed()
    noisy = producer(broker.addr, "noisy", noisy_seen)
    send_a_megabyte(noisy, topic)
    poll_until(noisy, lambda: noisy_seen.throttle_events and noisy_seen.throttle_max_ms > 0)

    # librdkafka also reports the end of a throttle, as 0.
    assert max(noisy_seen.throttle_events) > 0, noisy_seen.throttle_events
    assert quiet_seen.throttle_events == []
    assert quiet_seen.throttle_max_ms == 0


def test_an_admin_client_over_its_mutation_rate_sees_the_throttle(broker):
    # One partition per second: 20 partitions at once go 9 over the 11 s burst.
    assert set_client_quota(broker.addr, "mutator", "controller_mutation_rate", 1.0) == 0
    seen = Observed()
    admin = AdminClient({"bootstrap.servers": broker.addr, "client.id": "mutator",
                         "throttle_cb": seen.on_throttle})
    created = admin.create_topics([NewTopic("many", num_partitions=20, replication_factor=1)])
    created["many"].result(WAIT_S)
    deadline = time.monotonic() + WAIT_S
    while not seen.throttle_events:
        assert time.monotonic() < deadline, "no throttle reported"
        admin.poll(0.1)
    assert max(seen.throttle_events) > 0


def test_an_admin_client_over_its_request_percentage_sees_the_throttle_and_its_neighbour_does_not(broker):
    # 0.01 percent of a handler thread is 1 ms of handling over Kafka's 10 s window:
    # a few dozen Metadata requests use it up.
    assert set_client_quota(broker.addr, "busy-admin", "request_percentage", 0.01) == 0
    requests_max = 2000

    def admin(client_id, seen):
        return AdminClient({"bootstrap.servers": broker.addr, "client.id": client_id,
                            "throttle_cb": seen.on_throttle})

    busy_seen = Observed()
    busy = admin("busy-admin", busy_seen)
    sent = 0
    deadline = time.monotonic() + WAIT_S * 2
    while not busy_seen.throttle_events:
        assert sent < requests_max and time.monotonic() < deadline, "no throttle reported"
        busy.list_topics(timeout=WAIT_S)
        busy.poll(0)
        sent += 1
    assert max(busy_seen.throttle_events) > 0
    # Kafka bounds a request quota's throttle to one sample of the window (1 s).
    assert max(busy_seen.throttle_events) <= 1000, busy_seen.throttle_events

    calm_seen = Observed()
    calm = admin("calm-admin", calm_seen)
    for _ in range(sent):
        calm.list_topics(timeout=WAIT_S)
        calm.poll(0)
    calm.poll(0.5)
    assert calm_seen.throttle_events == []


def test_a_consumer_over_its_byte_rate_is_throttled_and_reads_every_record_once(broker):
    topic = "quota-consumer"
    records = 60
    value_bytes = 10_000
    # 600 kB against 40 kB/s: the first 400 kB fit Kafka's 10 s window, the rest waits.
    assert set_client_quota(broker.addr, "slow-reader", "consumer_byte_rate", 40_000.0) == 0
    p = Producer({"bootstrap.servers": broker.addr, "linger.ms": 0})
    for i in range(records):
        # One batch per record, so that each fetch stays far below the window's bytes.
        p.produce(topic, value=str(i).encode().ljust(value_bytes, b"."))
        assert p.flush(WAIT_S) == 0

    seen = Observed()
    c = Consumer({
        "bootstrap.servers": broker.addr,
        "client.id": "slow-reader",
        "group.id": "slow-readers",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        # A fetch over the window's bytes would be throttled every time (as in Kafka).
        "fetch.max.bytes": 30_000,
        "max.partition.fetch.bytes": 30_000,
        "message.max.bytes": 30_000,
        "throttle_cb": seen.on_throttle,
    })
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + WAIT_S * 2
    try:
        while len(got) < records:
            assert time.monotonic() < deadline, f"read {len(got)} of {records}"
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            got.append((m.offset(), int(m.value().rstrip(b"."))))
        # Nothing more arrives: no record is delivered twice.
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            m = c.poll(0.2)
            assert m is None or m.error(), f"extra record at offset {m.offset()}"
    finally:
        c.close()
    assert got == [(i, i) for i in range(records)]
    assert seen.throttle_events and max(seen.throttle_events) > 0, seen.throttle_events
