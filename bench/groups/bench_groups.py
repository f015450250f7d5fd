#!/usr/bin/env python3
"""Consumer-group benchmark (not a test): how fast a group starts consuming, and how
long OffsetCommit takes under a steady commit rate.

    .venv/bin/python bench/groups/bench_groups.py              # starts target/debug/moldau
    .venv/bin/python bench/groups/bench_groups.py --bootstrap 127.0.0.1:9092   # any broker

1. join-to-consume: 3 librdkafka consumers (confluent-kafka) subscribe to a 6-partition
   topic that already holds records; measured is the time from the last subscribe()
   to the moment all three have received a record, with the broker's
   group.initial.rebalance.delay.ms = 0 (started that way when the script starts the
   broker; set it yourself otherwise). Reported for librdkafka's default heartbeat
   interval (3 s: members learn of a rebalance through their heartbeat) and a 100 ms
   one, which shows the broker's own share.
2. commit latency: OffsetCommit requests (v2, simple-consumer generation -1, one
   partition each) sent open-loop at --commit-rate per second on one connection by a
   bare protocol client; latency = response arrival - send time; p50/p99/max.
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import struct
import subprocess
import tempfile
import threading
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARTITIONS = 6


def start_broker():
    binary = os.environ.get("MOLDAU_BIN", os.path.join(ROOT, "target", "debug", "moldau"))
    data = tempfile.mkdtemp(prefix="moldau-bench-groups-")
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--console", "off",
         "--set", "group.initial.rebalance.delay.ms=0"],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, RUST_LOG="warn"))
    for line in proc.stdout:
        m = re.match(r"moldau listening kafka=(\S+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, data, m.group(1)
    raise RuntimeError("broker did not start")


def prepare_topic(addr, topic):
    admin = AdminClient({"bootstrap.servers": addr})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(10)
    p = Producer({"bootstrap.servers": addr})
    for i in range(PARTITIONS * 10):
        p.produce(topic, value=b"x%d" % i, partition=i % PARTITIONS)
    p.flush(10)


def join_to_consume(addr, topic, group, heartbeat_ms):
    """Seconds from the last subscribe() until every member received a record."""
    consumers = [Consumer({
        "bootstrap.servers": addr, "group.id": group, "client.id": "bench-%d" % i,
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "heartbeat.interval.ms": heartbeat_ms, "session.timeout.ms": 6000,
    }) for i in range(3)]
    first_record = [None] * 3
    subscribed = threading.Barrier(4)
    stop = threading.Event()

    def run(i):
        c = consumers[i]
        c.subscribe([topic])
        subscribed.wait()
        while not stop.is_set() and first_record[i] is None:
            m = c.poll(0.01)
            if m is not None and not m.error():
                first_record[i] = time.monotonic()
        while not stop.is_set():  # keep serving rebalances for the others
            c.poll(0.01)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    subscribed.wait()
    last_subscribe = time.monotonic()
    deadline = last_subscribe + 60
    while any(t is None for t in first_record) and time.monotonic() < deadline:
        time.sleep(0.001)
    stop.set()
    for t in threads:
        t.join()
    for c in consumers:
        c.close()
    if any(t is None for t in first_record):
        return None
    return max(first_record) - last_subscribe


# --- bare protocol client for OffsetCommit -------------------------------------

def kstring(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def frame(api_key, version, correlation_id, body):
    header = struct.pack(">hhi", api_key, version, correlation_id) + kstring("bench-commit")
    msg = header + body
    return struct.pack(">i", len(msg)) + msg


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return buf


def read_response(sock):
    size = struct.unpack(">i", read_exact(sock, 4))[0]
    data = read_exact(sock, size)
    return struct.unpack(">i", data[:4])[0], data[4:]


def find_coordinator(addr, group):
    host, port = addr.rsplit(":", 1)
    deadline = time.time() + 30
    while True:
        with socket.create_connection((host, int(port))) as s:
            s.sendall(frame(10, 0, 1, kstring(group)))
            _, body = read_response(s)
            error = struct.unpack(">h", body[:2])[0]
            if error == 0:
                return
        if time.time() > deadline:
            raise RuntimeError("no coordinator for %s: error %d" % (group, error))
        time.sleep(0.1)


def commit_body(group, topic, partition, offset):
    # OffsetCommit v2: group, generation -1, member "", retention -1, [topic [partition]]
    return (kstring(group) + struct.pack(">i", -1) + kstring("") + struct.pack(">q", -1)
            + struct.pack(">i", 1) + kstring(topic) + struct.pack(">i", 1)
            + struct.pack(">iq", partition, offset) + kstring(""))


def commit_latency(addr, topic, group, rate, seconds):
    find_coordinator(addr, group)
    host, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    total = int(rate * seconds)
    sent = {}
    latencies = []
    errors = []

    def reader():
        for _ in range(total):
            cid, body = read_response(sock)
            arrived = time.monotonic()
            latencies.append(arrived - sent.pop(cid))
            # v2 response: [topic [partition, error]] -> first partition's error code
            error = struct.unpack(">h", body[-2:])[0]
            if error:
                errors.append(error)

    t = threading.Thread(target=reader)
    t.start()
    start = time.monotonic()
    for i in range(total):
        due = start + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        cid = i + 1
        sent[cid] = time.monotonic()
        sock.sendall(frame(8, 2, cid, commit_body(group, topic, i % PARTITIONS, i)))
    t.join()
    elapsed = time.monotonic() - start
    sock.close()
    latencies.sort()
    return {
        "commits": total,
        "achieved_rate": total / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "max_ms": latencies[-1] * 1000,
        "mean_ms": statistics.mean(latencies) * 1000,
        "errors": len(errors),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bootstrap", help="broker to measure (default: start target/debug/moldau)")
    ap.add_argument("--rounds", type=int, default=5, help="join-to-consume repetitions")
    ap.add_argument("--commit-rate", type=float, default=1000.0, help="commits per second")
    ap.add_argument("--commit-seconds", type=float, default=10.0)
    args = ap.parse_args()

    proc = data = None
    addr = args.bootstrap
    if addr is None:
        proc, data, addr = start_broker()
    try:
        topic = "bench-groups-%d" % int(time.time())
        prepare_topic(addr, topic)
        for heartbeat_ms in (3000, 100):
            runs = []
            for r in range(args.rounds):
                d = join_to_consume(addr, topic, "bench-join-%d-%d" % (heartbeat_ms, r), heartbeat_ms)
                runs.append(d)
            done = sorted(d * 1000 for d in runs if d is not None)
            print("join-to-consume, 3 members, heartbeat.interval.ms=%d: %s ms (median %.0f, %d/%d rounds)"
                  % (heartbeat_ms, ", ".join("%.0f" % d for d in done),
                     statistics.median(done) if done else float("nan"), len(done), len(runs)))
        r = commit_latency(addr, topic, "bench-commits", args.commit_rate, args.commit_seconds)
        print("OffsetCommit at %.0f/s (achieved %.0f/s, %d commits, %d errors): "
              "p50 %.2f ms, p99 %.2f ms, max %.2f ms, mean %.2f ms"
              % (args.commit_rate, r["achieved_rate"], r["commits"], r["errors"],
                 r["p50_ms"], r["p99_ms"], r["max_ms"], r["mean_ms"]))
    finally:
        if proc:
            proc.terminate()
            proc.wait(30)
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
