#!/usr/bin/env python3
"""Metadata replay after a crash (issue 17): one `moldau serve` creates `--topics`
topics of `--partitions` partitions, one CreateTopics each (one metadata log entry
each), is killed -9 (no snapshot at stop), and is started again: the seconds until it
prints its listening line, most of which is replaying those entries.

    .venv/bin/python bench/metadata_replay.py --topics 1000 --partitions 20

MOLDAU_BIN picks the binary (else target/debug/moldau); run two binaries one after
the other for an A/B figure. Print `uptime` with it: load changes it a lot.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("MOLDAU_BIN", os.path.join(ROOT, "target", "debug", "moldau"))
START_TIMEOUT_S = 300


def start(data_dir):
    """Starts the broker; returns the process, its address and seconds to listening."""
    started = time.time()
    proc = subprocess.Popen(
        [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--console", "off"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=dict(os.environ, RUST_LOG="warn"),
    )
    for line in proc.stdout:
        m = re.match(r"moldau listening kafka=(\S+)", line)
        if m:
            return proc, m.group(1), time.time() - started
        if time.time() - started > START_TIMEOUT_S:
            break
    proc.kill()
    proc.wait()
    raise SystemExit(f"{BIN} did not start (exit {proc.returncode})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=20)
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="moldau-replay-")
    proc = None
    try:
        proc, addr, _ = start(data_dir)
        admin = AdminClient({"bootstrap.servers": addr})
        created_at = time.time()
        for i in range(args.topics):
            name = f"replay-{i}"
            admin.create_topics([NewTopic(name, args.partitions, 1)])[name].result()
        created = time.time() - created_at
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc, _, listening = start(data_dir)
        print(f"# {os.popen('uptime').read().strip()}")
        print(
            f"replay {BIN}: {args.topics} topics x {args.partitions} created in "
            f"{created:.1f} s; after kill -9 listening in {listening:.2f} s"
        )
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
