#!/usr/bin/env python3
"""A member joining a stable consumer group (not a test): classic protocol vs KIP-848.

    .venv/bin/python bench/groups/bench_join_stable.py                 # starts target/debug/moldau
    .venv/bin/python bench/groups/bench_join_stable.py --members 50 --protocols classic,consumer

For each protocol, --members librdkafka consumers (confluent-kafka, one polling thread
each) subscribe to a topic of --partitions partitions while a producer writes to every
partition; once the group is stable (every partition owned, no assignment change for
--settle-s seconds) one more member subscribes. Measured:

- join: from the newcomer's subscribe() to its first non-empty assignment, and to its
  first record;
- pause of the others: for each old member, the longest time any partition it holds
  both before and after the join was not assigned to it (revoked, then given back).
  With the classic eager protocol every member gives up everything at each rebalance;
  with the consumer protocol only the partitions that move are revoked, so members
  keep consuming the rest (target: no pause).

Both protocols use the clients' and broker's defaults for their intervals unless
--classic-heartbeat-ms / --consumer-heartbeat-ms say otherwise (Kafka: classic
heartbeat.interval.ms 3000; group.consumer.heartbeat.interval.ms 5000, set on the
broker). A fresh broker is started per protocol (group.initial.rebalance.delay.ms=0).

Measured on Moldau (debug build, 2-core VM shared with ~8 compiling engineers, load
average 19-21 during the run, 2026-12-06; 50 members + 1, 100 partitions, defaults):

    classic   newcomer: first partition 1.53 s, first record 1.81 s; partitions moved 1;
              members paused 50/50, median 0.55 s, max 0.59 s
    consumer  newcomer: first partition 5.82 s, first record 5.83 s; partitions moved 1;
              members paused 0/50

The classic (eager) rebalance stops every member for about half a second to move one
partition; KIP-848 stops nobody, and the newcomer waits for the owner's next heartbeat
(it learns to revoke) and then its own (it receives the partition): up to two
group.consumer.heartbeat.interval.ms (5 s by default), broker-side work being a few ms.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOPIC = "join-bench"


def start_broker(consumer_heartbeat_ms):
    binary = os.environ.get("MOLDAU_BIN", os.path.join(ROOT, "target", "debug", "moldau"))
    data = tempfile.mkdtemp(prefix="moldau-bench-join-")
    args = [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--console", "off",
            "--set", "group.initial.rebalance.delay.ms=0"]
    if consumer_heartbeat_ms is not None:
        args += ["--set", f"group.consumer.heartbeat.interval.ms={consumer_heartbeat_ms}",
                 "--set", f"group.consumer.min.heartbeat.interval.ms={min(consumer_heartbeat_ms, 5000)}"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, RUST_LOG="warn"))
    for line in proc.stdout:
        m = re.match(r"moldau listening kafka=(\S+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, data, m.group(1)
    raise RuntimeError("broker did not start")


class Member(threading.Thread):
    """One consumer polling in its own thread; records when it holds what."""

    def __init__(self, name, addr, group, protocol, heartbeat_ms):
        super().__init__(daemon=True)
        conf = {"bootstrap.servers": addr, "group.id": group, "client.id": name,
                "group.protocol": protocol, "auto.offset.reset": "latest",
                "enable.auto.commit": True}
        if protocol == "classic" and heartbeat_ms is not None:
            conf["heartbeat.interval.ms"] = heartbeat_ms
        self.consumer = Consumer(conf)
        self.lock = threading.Lock()
        self.owned = set()
        self.revoked_at = {}      # partition -> when it was last revoked
        self.gaps = {}            # partition -> longest revoked..reassigned gap
        self.first_assigned = None
        self.first_record = None
        self.last_change = time.monotonic()
        self.stop = False

    def on_assign(self, _consumer, partitions):
        now = time.monotonic()
        with self.lock:
            for tp in partitions:
                p = tp.partition
                self.owned.add(p)
                if p in self.revoked_at:
                    gap = now - self.revoked_at.pop(p)
                    self.gaps[p] = max(self.gaps.get(p, 0.0), gap)
            if partitions and self.first_assigned is None:
                self.first_assigned = now
            self.last_change = now

    def on_revoke(self, _consumer, partitions):
        now = time.monotonic()
        with self.lock:
            for tp in partitions:
                self.owned.discard(tp.partition)
                self.revoked_at[tp.partition] = now
            self.last_change = now

    def run(self):
        self.consumer.subscribe([TOPIC], on_assign=self.on_assign, on_revoke=self.on_revoke,
                                on_lost=self.on_revoke)
        while not self.stop:
            m = self.consumer.poll(0.2)
            if m is not None and m.error() is None and self.first_record is None:
                self.first_record = time.monotonic()
        self.consumer.close()

    def snapshot(self):
        with self.lock:
            return set(self.owned), self.last_change


def produce_forever(addr, partitions, stop):
    p = Producer({"bootstrap.servers": addr, "linger.ms": 50})
    i = 0
    while not stop.is_set():
        for part in range(partitions):
            p.produce(TOPIC, value=b"%d" % i, partition=part)
        i += 1
        p.poll(0)
        time.sleep(0.1)
    p.flush(10)


def wait_stable(members, partitions, settle_s, limit_s):
    """Every partition owned once, every member holding some, nothing moving."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        snaps = [m.snapshot() for m in members]
        owned = [o for o, _ in snaps]
        covered = set().union(*owned)
        exclusive = sum(len(o) for o in owned) == len(covered)
        quiet = time.monotonic() - max(t for _, t in snaps) >= settle_s
        everyone = all(owned)
        if covered == set(range(partitions)) and exclusive and everyone and quiet:
            return owned
        time.sleep(0.5)
    raise RuntimeError("group did not become stable")


def run(protocol, args):
    proc, data, addr = start_broker(args.consumer_heartbeat_ms)
    stop = threading.Event()
    members = []
    producer = None
    try:
        admin = AdminClient({"bootstrap.servers": addr})
        admin.create_topics([NewTopic(TOPIC, args.partitions, 1)])[TOPIC].result(30)
        producer = threading.Thread(target=produce_forever, args=(addr, args.partitions, stop),
                                    daemon=True)
        producer.start()
        group = f"bench-{protocol}"
        members = [Member(f"m{i}", addr, group, protocol, args.classic_heartbeat_ms)
                   for i in range(args.members)]
        started = time.monotonic()
        for m in members:
            m.start()
        before = wait_stable(members, args.partitions, args.settle_s, args.limit_s)
        formed_s = time.monotonic() - started - args.settle_s
        for m in members:
            with m.lock:
                m.gaps.clear()
                m.revoked_at.clear()
        newcomer = Member("newcomer", addr, group, protocol, args.classic_heartbeat_ms)
        joined = time.monotonic()
        newcomer.start()
        after = wait_stable(members + [newcomer], args.partitions, args.settle_s, args.limit_s)
        pauses = []
        for m, had, has in zip(members, before, after):
            kept = had & has
            with m.lock:
                still_out = {p: time.monotonic() - t for p, t in m.revoked_at.items() if p in kept}
                gaps = [m.gaps.get(p, 0.0) for p in kept] + list(still_out.values())
            pauses.append(max(gaps, default=0.0))
        moved = sum(len(had - has) for had, has in zip(before, after))
        assigned_s = (newcomer.first_assigned or float("nan")) - joined
        record_s = (newcomer.first_record or float("nan")) - joined
        paused = [p for p in pauses if p > 0]
        print(f"{protocol:9} group of {args.members} formed in {formed_s:5.1f} s; newcomer: "
              f"first partition {assigned_s:5.2f} s, first record {record_s:5.2f} s; "
              f"partitions moved {moved}; members paused {len(paused)}/{args.members}, "
              f"pause median {statistics.median(pauses):5.2f} s, max {max(pauses):5.2f} s",
              flush=True)
        newcomer.stop = True
        members.append(newcomer)
    finally:
        stop.set()
        if producer is not None:
            producer.join(timeout=30)
        for m in members:
            m.stop = True
        for m in members:
            m.join(timeout=30)
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=50)
    ap.add_argument("--partitions", type=int, default=100)
    ap.add_argument("--protocols", default="classic,consumer")
    ap.add_argument("--settle-s", type=float, default=8.0)
    ap.add_argument("--limit-s", type=float, default=300.0)
    ap.add_argument("--classic-heartbeat-ms", type=int, default=None)
    ap.add_argument("--consumer-heartbeat-ms", type=int, default=None)
    args = ap.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores", flush=True)
    for protocol in args.protocols.split(","):
        run(protocol, args)
    print(f"load after: {os.getloadavg()[0]:.2f} (1 min)", flush=True)


if __name__ == "__main__":
    main()
