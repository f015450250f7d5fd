#!/usr/bin/env python3
"""Cluster metadata figures (issue 11): topic creation latency, controller failover,
many partitions.

    .venv/bin/python bench/cluster_metadata.py create --nodes 1
    .venv/bin/python bench/cluster_metadata.py create --nodes 3
    .venv/bin/python bench/cluster_metadata.py failover
    .venv/bin/python bench/cluster_metadata.py partitions --nodes 1 --partitions 10000

Each run starts its own `moldau serve` processes (MOLDAU_BIN, else target/debug/moldau)
on free loopback ports in a temporary directory, formatted for one cluster id, and
kills them at the end.

- create: `--creates` topics (1 partition, replication factor min(3, nodes)) one
  after the other through a node that is not the active controller when there is
  one; p50/p99/max of each CreateTopics round trip (confluent-kafka AdminClient).
- failover: three nodes; kill -9 of the active controller (DescribeQuorum's leader),
  then CreateTopics through a surviving node until one succeeds: seconds from the
  kill to that success.
- partitions: `--partitions` partitions in topics of 100 (replication factor 1);
  Metadata of every topic (median of 5 round trips), each node's RSS; then every
  node stopped (SIGTERM) and started again: seconds until each printed its listening
  line and until Metadata shows every partition with a leader, and RSS again.

Print `uptime` with the figures: on the shared 2-core machine load changes them a lot.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("MOLDAU_BIN", os.path.join(ROOT, "target", "debug", "moldau"))
START_TIMEOUT_S = 300
PARTITIONS_PER_TOPIC = 100


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, node_id, base, voters, cluster_id, ctrl_port):
        self.id = node_id
        self.dir = os.path.join(base, f"d{node_id}")
        self.kafka_port = free_port()
        self.ctrl_port = ctrl_port
        self.voters = voters
        self.cluster_id = cluster_id
        self.proc = None
        self.log = open(os.path.join(base, f"d{node_id}.log"), "ab")

    @property
    def addr(self):
        return f"127.0.0.1:{self.kafka_port}"

    def start(self):
        """Starts the process; returns an event set once it prints its listening line."""
        cmd = [BIN, "serve", "--node-id", str(self.id),
               "--listen", self.addr, "--controller", f"127.0.0.1:{self.ctrl_port}",
               "--voters", self.voters, "--cluster-id", self.cluster_id,
               "--data-dir", self.dir, "--console", "off"]
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, env=env)
        ready = threading.Event()

        def read():
            for line in self.proc.stdout:
                if line.startswith(b"moldau listening kafka="):
                    ready.set()
        threading.Thread(target=read, daemon=True).start()
        return ready

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Cluster:
    def __init__(self, count):
        self.base = tempfile.mkdtemp(prefix="moldau-bench-cluster-")
        cluster_id = subprocess.check_output([BIN, "storage", "random-uuid"], text=True).strip()
        ports = [free_port() for _ in range(count)]
        voters = ",".join(f"{i + 1}@127.0.0.1:{p}" for i, p in enumerate(ports))
        self.nodes = [Node(i + 1, self.base, voters, cluster_id, ports[i]) for i in range(count)]

    def start(self, nodes=None):
        """Starts `nodes` (all) at once; seconds until every one is listening."""
        t0 = time.monotonic()
        events = [n.start() for n in (nodes or self.nodes)]
        for e in events:
            if not e.wait(START_TIMEOUT_S):
                raise RuntimeError(f"a node did not start; logs in {self.base}")
        return time.monotonic() - t0

    def running(self):
        return [n for n in self.nodes if n.proc and n.proc.poll() is None]

    def bootstrap(self, nodes=None):
        return ",".join(n.addr for n in (nodes or self.running()))

    def admin(self, nodes=None):
        return AdminClient({"bootstrap.servers": self.bootstrap(nodes)})

    def quorum_leader(self):
        """The active controller's id, from DescribeQuorum (moldau cluster describe)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            out = subprocess.run([BIN, "-b", self.bootstrap(), "--json", "cluster", "describe"],
                                 capture_output=True, text=True)
            if out.returncode == 0:
                leader = json.loads(out.stdout).get("quorum", {}).get("leader_id")
                if leader is not None:
                    return leader
            time.sleep(0.2)
        raise RuntimeError("no quorum leader")

    def wait_brokers(self, count):
        admin = self.admin()
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(admin.list_topics(timeout=10).brokers) < count:
            if time.monotonic() > deadline:
                raise RuntimeError("brokers did not register")
            time.sleep(0.2)

    def close(self):
        for n in self.nodes:
            n.kill()
        shutil.rmtree(self.base, ignore_errors=True)


def create(admin, name, partitions=1, rf=1, timeout=30):
    futures = admin.create_topics([NewTopic(name, partitions, rf)], request_timeout=timeout,
                                  operation_timeout=timeout)
    futures[name].result()


def percentile(samples, p):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def uptime():
    return subprocess.check_output(["uptime"], text=True).strip()


def run_create(args):
    cluster = Cluster(args.nodes)
    try:
        cluster.start()
        cluster.wait_brokers(args.nodes)
        leader = cluster.quorum_leader()
        via = [n for n in cluster.nodes if n.id != leader] or cluster.nodes
        admin = cluster.admin(via[:1])
        rf = min(3, args.nodes)
        samples = []
        for i in range(args.creates):
            t0 = time.monotonic()
            create(admin, f"latency-{i}", 1, rf)
            samples.append((time.monotonic() - t0) * 1000)
        print(f"create nodes={args.nodes} rf={rf} via node {via[0].id} (controller {leader}): "
              f"n={len(samples)} p50={percentile(samples, 0.5):.1f} ms "
              f"p99={percentile(samples, 0.99):.1f} ms max={max(samples):.1f} ms")
    finally:
        cluster.close()


def run_failover(args):
    cluster = Cluster(3)
    try:
        cluster.start()
        cluster.wait_brokers(3)
        create(cluster.admin(), "before-failover", 1, 3)
        leader = cluster.quorum_leader()
        victim = cluster.nodes[leader - 1]
        others = [n for n in cluster.nodes if n is not victim]
        admin = cluster.admin(others)
        t0 = time.monotonic()
        victim.kill()
        attempts = 0
        while True:
            attempts += 1
            try:
                create(admin, f"after-failover-{attempts}", 1, 1, timeout=5)
                break
            except Exception:  # no leader yet, or the request timed out
                if time.monotonic() - t0 > 120:
                    raise
        elapsed = time.monotonic() - t0
        new_leader = cluster.quorum_leader()
        print(f"failover: kill -9 of controller {leader} -> first CreateTopics ok in "
              f"{elapsed:.2f} s ({attempts} attempts; new controller {new_leader})")
    finally:
        cluster.close()


def metadata_ms(admin, rounds=5):
    samples = []
    for _ in range(rounds):
        t0 = time.monotonic()
        md = admin.list_topics(timeout=60)
        samples.append((time.monotonic() - t0) * 1000)
    return statistics.median(samples), md


def led_partitions(md):
    return sum(1 for t in md.topics.values() for p in t.partitions.values() if p.leader >= 0)


def run_partitions(args):
    cluster = Cluster(args.nodes)
    try:
        cluster.start()
        cluster.wait_brokers(args.nodes)
        admin = cluster.admin()
        topics = max(1, args.partitions // PARTITIONS_PER_TOPIC)
        t0 = time.monotonic()
        late = 0
        for i in range(topics):
            try:
                create(admin, f"many-{i}", PARTITIONS_PER_TOPIC, 1, timeout=120)
            except Exception as e:  # committed, but applied after the answer's wait
                if "was committed" not in str(e):
                    raise
                late += 1
        want = topics * PARTITIONS_PER_TOPIC
        while led_partitions(admin.list_topics(timeout=60)) < want:
            if time.monotonic() - t0 > START_TIMEOUT_S * 4:
                raise RuntimeError("the partitions never all had leaders")
            time.sleep(0.5)
        made = time.monotonic() - t0
        if late:
            print(f"  {late} of {topics} creates answered REQUEST_TIMED_OUT "
                  f"(committed, not yet applied by the answering broker)")
        ms, md = metadata_ms(admin)
        rss = [f"{n.rss_mib():.0f}" for n in cluster.nodes]
        print(f"partitions nodes={args.nodes}: {topics * PARTITIONS_PER_TOPIC} partitions "
              f"created in {made:.1f} s; Metadata (all topics) {ms:.1f} ms, "
              f"{led_partitions(md)} with a leader; RSS MiB per node {rss}")
        for n in cluster.nodes:
            n.stop()
        t1 = time.monotonic()
        listening = cluster.start()
        admin = cluster.admin()
        while led_partitions(admin.list_topics(timeout=60)) < want:
            if time.monotonic() - t1 > START_TIMEOUT_S:
                raise RuntimeError("the partitions did not come back with leaders")
            time.sleep(0.2)
        served = time.monotonic() - t1
        ms, _ = metadata_ms(admin)
        rss = [f"{n.rss_mib():.0f}" for n in cluster.nodes]
        print(f"restart nodes={args.nodes}: every node listening after {listening:.1f} s, "
              f"every partition led after {served:.1f} s; Metadata {ms:.1f} ms; "
              f"RSS MiB per node {rss}")
    finally:
        cluster.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["create", "failover", "partitions"])
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--creates", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=10_000)
    args = parser.parse_args()
    print(f"# {uptime()}", flush=True)
    {"create": run_create, "failover": run_failover, "partitions": run_partitions}[args.what](args)
    print(f"# {uptime()}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
