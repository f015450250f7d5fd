"""Kafka client side of the browser tests, with confluent-kafka (librdkafka).

    kafka_helper.py produce BOOTSTRAP TOPIC COUNT
        Produces COUNT records (key k<i>, value {"n": i}) and waits for every ack.
    kafka_helper.py consume BOOTSTRAP TOPIC GROUP COUNT BATCH PAUSE_S
        Joins GROUP, consumes COUNT records BATCH at a time, commits after each batch
        and sleeps PAUSE_S, so the group's lag visibly shrinks; then leaves the group.
    kafka_helper.py hold848 BOOTSTRAP TOPIC GROUP SECONDS
        Joins GROUP with the KIP-848 consumer protocol (group.protocol=consumer),
        prints "assigned N" once it owns N partitions, keeps polling for SECONDS (or
        until stdin closes), then leaves the group.
    kafka_helper.py txn-open BOOTSTRAP TOPIC TRANSACTIONAL_ID SECONDS
        Begins a transaction, produces one record in it, prints "open", waits
        SECONDS and aborts it.
Progress goes to stdout, one line per step.
"""

import json
import sys
import time

from confluent_kafka import Consumer, Producer


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


def hold848(bootstrap, topic, group, seconds):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "client.id": "browser-test-848",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    c.subscribe([topic])
    deadline = time.time() + seconds
    announced = False
    while time.time() < deadline:
        c.poll(0.2)
        owned = c.assignment()
        if owned and not announced:
            print(f"assigned {len(owned)}", flush=True)
            announced = True
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


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "produce":
        produce(args[0], args[1], int(args[2]))
    elif cmd == "consume":
        consume(args[0], args[1], args[2], int(args[3]), int(args[4]), float(args[5]))
    elif cmd == "txn-open":
        txn_open(args[0], args[1], args[2], float(args[3]))
    elif cmd == "hold848":
        hold848(args[0], args[1], args[2], float(args[3]))
    else:
        sys.exit(f"unknown command {cmd}")
