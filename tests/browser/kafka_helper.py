"""Kafka client side of the browser tests, with confluent-kafka (librdkafka).

    kafka_helper.py produce BOOTSTRAP TOPIC COUNT
        Produces COUNT records (key k<i>, value {"n": i}) and waits for every ack.
    kafka_helper.py consume BOOTSTRAP TOPIC GROUP COUNT BATCH PAUSE_S
        Joins GROUP, consumes COUNT records BATCH at a time, commits after each batch
        and sleeps PAUSE_S, so the group's lag visibly shrinks; then leaves the group.
    kafka_helper.py hold848 BOOTSTRAP TOPIC GROUP SECONDS [REVOKE_DELAY_S]
        Joins GROUP with the KIP-848 consumer protocol (group.protocol=consumer),
        prints "assigned N" once it owns N partitions, keeps polling for SECONDS (or
        until stdin closes), then leaves the group. With REVOKE_DELAY_S, a revocation
        prints "revoking N" and is acknowledged only that long after (the rebalance
        callback sleeps), so the partitions stay owned while another member waits.
    kafka_helper.py txn-open BOOTSTRAP TOPIC TRANSACTIONAL_ID SECONDS
        Begins a transaction, produces one record in it, prints "open", waits
        SECONDS and aborts it.
    kafka_helper.py hang BOOTSTRAP TOPIC PARTITION PRODUCER_ID AGE_S
        Writes three records with raw Produce requests: "before", then "hanging" in a
        transaction of PRODUCER_ID (an id no coordinator handed out) timestamped
        AGE_S ago and never ended, then "after"; prints "start OFFSET" of the
        hanging one. Only an operator can end that transaction.
    kafka_helper.py read-committed BOOTSTRAP TOPIC PARTITION WANT SECONDS
        Reads the partition from the start with isolation.level=read_committed
        until it has WANT records or SECONDS passed; prints "values" and a JSON list.
Progress goes to stdout, one line per step.
"""

import json
import socket
import struct
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition


def produce(bootstrap, topic, count):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    failures = []
    for i in range(count):
        p.produce(topic, key=f"k{i}", value=json.dumps({"n": i}),
                  on_delivery=lambda err, _msg: err and failures.append(err))
    left = p.flush(30)
    if left or failures:
        sys.exit(f"produce failed: {left} unsent, errors {failures[:3]}")
    print(f"produced {count}", flush=True)


def consume(bootstrap, topic, group, count, batch, pause_s):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": "browser-test-consumer",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 10000,
    })
    c.subscribe([topic])
    consumed = 0
    deadline = time.time() + 120
    while consumed < count and time.time() < deadline:
        msgs = [m for m in c.consume(num_messages=batch, timeout=1.0) if not m.error()]
        if not msgs:
            continue
        consumed += len(msgs)
        c.commit(asynchronous=False)
        print(f"consumed {consumed}", flush=True)
        time.sleep(pause_s)
    c.close()
    print("closed", flush=True)
    if consumed < count:
        sys.exit(f"consumed only {consumed} of {count}")


def hold848(bootstrap, topic, group, seconds, revoke_delay_s=0.0):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "client.id": "browser-test-848",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })

    closing = []

    def on_revoke(_consumer, partitions):
        # librdkafka acknowledges the revocation once this callback returns.
        if partitions and revoke_delay_s and not closing:
            print(f"revoking {len(partitions)}", flush=True)
            time.sleep(revoke_delay_s)

    c.subscribe([topic], on_revoke=on_revoke)
    deadline = time.time() + seconds
    announced = False
    while time.time() < deadline:
        c.poll(0.2)
        owned = c.assignment()
        if owned and not announced:
            print(f"assigned {len(owned)}", flush=True)
            announced = True
    closing.append(True)
    c.close()
    print("closed", flush=True)
    if not announced:
        sys.exit("never assigned a partition")


def txn_open(bootstrap, topic, txid, seconds):
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txid,
                  "transaction.timeout.ms": 60000})
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, key="txn", value="in a transaction")
    if p.flush(30):
        sys.exit("the transactional record was not sent")
    print("open", flush=True)
    time.sleep(seconds)
    p.abort_transaction(30)
    print("aborted", flush=True)


def _crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _varint(n):
    n = (n << 1) ^ (n >> 63)  # zigzag
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _batch(value, timestamp, producer_id, producer_epoch, transactional):
    """One record batch (magic 2, uncompressed) holding one keyless record."""
    v = value.encode()
    record = b"\0" + _varint(0) + _varint(0) + _varint(-1) + _varint(len(v)) + v + _varint(0)
    record = _varint(len(record)) + record
    attributes = 0x10 if transactional else 0
    after_crc = struct.pack(">hiqqqhii", attributes, 0, timestamp, timestamp,
                            producer_id, producer_epoch, 0 if producer_id >= 0 else -1, 1) + record
    head = struct.pack(">ib", 0, 2)  # partition leader epoch, magic
    body = head + struct.pack(">I", _crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(body)) + body


def _produce_raw(bootstrap, topic, partition, batch):
    """Produce v3 (acks=all) of one batch; returns its base offset."""
    host, port = bootstrap.rsplit(":", 1)
    t = topic.encode()
    client = b"browser-test-raw"
    body = struct.pack(">hhih", 0, 3, 1, len(client)) + client
    body += struct.pack(">hhi", -1, -1, 10000)  # null transactional id, acks, timeout
    body += struct.pack(">ih", 1, len(t)) + t + struct.pack(">iii", 1, partition, len(batch)) + batch
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _read(s, 4))[0]
        answer = _read(s, size)
    name_len = struct.unpack(">h", answer[8:10])[0]
    at = 10 + name_len + 4
    _partition, error, base_offset = struct.unpack(">ihq", answer[at:at + 14])
    if error:
        sys.exit(f"produce refused with error {error}")
    return base_offset


def _read(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            sys.exit("connection closed")
        buf += chunk
    return buf


def hang(bootstrap, topic, partition, producer_id, age_s):
    now = int(time.time() * 1000)
    _produce_raw(bootstrap, topic, partition, _batch("before", now, -1, -1, False))
    start = _produce_raw(bootstrap, topic, partition,
                         _batch("hanging", now - int(age_s * 1000), producer_id, 0, True))
    _produce_raw(bootstrap, topic, partition, _batch("after", now, -1, -1, False))
    print(f"start {start}", flush=True)


def read_committed(bootstrap, topic, partition, want, seconds):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "browser-test-read-committed",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
    })
    c.assign([TopicPartition(topic, partition, 0)])
    values = []
    deadline = time.time() + seconds
    while len(values) < want and time.time() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error():
            values.append(m.value().decode())
    c.close()
    print("values " + json.dumps(values), flush=True)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "produce":
        produce(args[0], args[1], int(args[2]))
    elif cmd == "consume":
        consume(args[0], args[1], args[2], int(args[3]), int(args[4]), float(args[5]))
    elif cmd == "txn-open":
        txn_open(args[0], args[1], args[2], float(args[3]))
    elif cmd == "hold848":
        hold848(args[0], args[1], args[2], float(args[3]), float(args[4]) if len(args) > 4 else 0.0)
    elif cmd == "hang":
        hang(args[0], args[1], int(args[2]), int(args[3]), float(args[4]))
    elif cmd == "read-committed":
        read_committed(args[0], args[1], int(args[2]), int(args[3]), float(args[4]))
    else:
        sys.exit(f"unknown command {cmd}")
