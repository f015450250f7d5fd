"""Kafka client side of the browser tests, with confluent-kafka (librdkafka).

    kafka_helper.py produce BOOTSTRAP TOPIC COUNT
        Produces COUNT records (key k<i>, value {"n": i}) and waits for every ack.
    kafka_helper.py consume BOOTSTRAP TOPIC GROUP COUNT BATCH PAUSE_S
        Joins GROUP, consumes COUNT records BATCH at a time, commits after each batch
        and sleeps PAUSE_S, so the group's lag visibly shrinks; then leaves the group.
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


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "produce":
        produce(args[0], args[1], int(args[2]))
    elif cmd == "consume":
        consume(args[0], args[1], args[2], int(args[3]), int(args[4]), float(args[5]))
    else:
        sys.exit(f"unknown command {cmd}")
