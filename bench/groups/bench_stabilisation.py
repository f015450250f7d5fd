#!/usr/bin/env python3
"""Group stabilisation (not a test): classic consumers joining one after another, how
long until the group is stable with every member assigned.

    .venv/bin/python bench/groups/bench_stabilisation.py             # starts target/debug/moldau twice
    .venv/bin/python bench/groups/bench_stabilisation.py --bootstrap 127.0.0.1:9092 --delay-ms 3000

--members librdkafka consumers (confluent-kafka; session.timeout.ms 3000,
heartbeat.interval.ms 1000, range assignor) subscribe to one topic of --partitions
partitions, --gap-s apart. Measured from the first subscribe() to the moment every
member holds its final, non-empty assignment and the assignments cover the topic
(the last on_assign); also the number of assignments each member went through.
Run once with the broker's group.initial.rebalance.delay.ms at Kafka's default
(3000) and once at 0, each on a broker of its own (with group.min.session.timeout.ms
at 3000: Kafka's default minimum, 6000, refuses a 3 s session).

What Kafka's algorithm gives for the same settings (its InitialDelayedJoin): the first
rebalance of an empty group waits the delay; when the wait ends and a member joined
during it, it waits again (another delay, bounded by the rebalance timeout), so it
completes at the first multiple of the delay that ends a whole delay without a join:
delay x (floor(last join / delay) + 2); members at 0, 1, 2 and 3 s with a 3 s delay,
9 s, each member assigned once. With delay 0 every join rebalances at once; members
learn of a rebalance through their next heartbeat (1 s), so the group is stable about
one heartbeat after the last member joins (about 4 s), the first members assigned
several times.

Measured on Moldau (debug build, loaded 2-core VM, 2026-12-06): delay 3000: 9.1 s,
assignments per member [1, 1, 1, 1]; delay 0: 4.2 s, [3, 2, 1, 1]. Both as Kafka's
algorithm predicts.
"""

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start_broker(delay_ms):
    binary = os.environ.get("MOLDAU_BIN", os.path.join(ROOT, "target", "debug", "moldau"))
    data = tempfile.mkdtemp(prefix="moldau-bench-stabilise-")
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--console", "off",
         "--set", f"group.initial.rebalance.delay.ms={delay_ms}",
         # Kafka's default minimum is 6 s; a 3 s session needs it lowered, there too.
         "--set", "group.min.session.timeout.ms=3000"],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, RUST_LOG="warn"))
    for line in proc.stdout:
        m = re.match(r"moldau listening kafka=(\S+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, data, m.group(1)
    raise RuntimeError("broker did not start")


class Member(threading.Thread):
    def __init__(self, addr, group, topic, start):
        super().__init__(daemon=True)
        self.assignments = []  # (seconds since start, [partitions])
        self.stop = threading.Event()
        self.start_time = start
        self.consumer = Consumer({
            "bootstrap.servers": addr, "group.id": group,
            "session.timeout.ms": 3000, "heartbeat.interval.ms": 1000,
            "partition.assignment.strategy": "range", "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        })
        self.topic = topic

    def on_assign(self, consumer, partitions):
        self.assignments.append((time.monotonic() - self.start_time,
                                 sorted(p.partition for p in partitions)))

    def run(self):
        self.consumer.subscribe([self.topic], on_assign=self.on_assign)
        while not self.stop.is_set():
            m = self.consumer.poll(0.1)
            if m is not None and m.error() is not None:
                print("consumer error:", m.error())
        self.consumer.close()


def warm_up(addr, topic):
    """One member alone until assigned, so the offsets topic exists and its
    coordinator is loaded before anything is measured."""
    assigned = threading.Event()
    c = Consumer({"bootstrap.servers": addr, "group.id": f"{topic}-warm-up",
                  "session.timeout.ms": 6000})
    c.subscribe([topic], on_assign=lambda *_: assigned.set())
    deadline = time.monotonic() + 120
    while not assigned.is_set():
        if time.monotonic() > deadline:
            raise RuntimeError("warm-up member never assigned")
        c.poll(0.2)
    c.close()


def measure(addr, members, partitions, gap_s, settle_s):
    run = f"{int(time.time() * 1000)}"
    topic, group = f"stabilise-{run}", f"stabilise-{run}"
    admin = AdminClient({"bootstrap.servers": addr})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    warm_up(addr, topic)
    start = time.monotonic()
    started = []
    for i in range(members):
        m = Member(addr, group, topic, start)
        m.start()
        started.append(m)
        if i + 1 < members:
            time.sleep(gap_s)
    # Long enough after the last join for any rebalance to finish.
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline:
        time.sleep(0.2)
    for m in started:
        m.stop.set()
    for m in started:
        m.join(30)
    finals = [m.assignments[-1] if m.assignments else (None, []) for m in started]
    covered = sorted(p for _, ps in finals for p in ps)
    complete = covered == list(range(partitions)) and all(ps for _, ps in finals)
    stable_at = max(t for t, _ in finals if t is not None) if complete else None
    rounds = [len(m.assignments) for m in started]
    return stable_at, rounds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bootstrap", help="an already running broker (its delay as given)")
    ap.add_argument("--delay-ms", type=int, action="append",
                    help="group.initial.rebalance.delay.ms values (default 3000 and 0)")
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--gap-s", type=float, default=1.0)
    ap.add_argument("--settle-s", type=float, default=20.0)
    args = ap.parse_args()
    delays = args.delay_ms or [3000, 0]
    for delay in delays:
        proc = data = None
        addr = args.bootstrap
        if addr is None:
            proc, data, addr = start_broker(delay)
        try:
            stable_at, rounds = measure(addr, args.members, args.partitions, args.gap_s,
                                        args.settle_s)
        finally:
            if proc:
                proc.kill()
                proc.wait()
                shutil.rmtree(data, ignore_errors=True)
        figure = "never complete" if stable_at is None else f"{stable_at:.1f} s"
        print(f"group.initial.rebalance.delay.ms={delay}: {args.members} members "
              f"{args.gap_s:g} s apart stable after {figure}; assignments per member {rounds}")


if __name__ == "__main__":
    main()
