"""Pytest fixtures: a real moldau broker process on a free loopback port, and a
cluster of them."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def moldau_bin():
    path = os.environ.get("MOLDAU_BIN")
    if path:
        return path
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "debug", "moldau")


class Broker:
    def __init__(self, extra=(), log_path=None, log_level=None, data_dir=None):
        # --data-dir sets log.dirs (a comma-separated list, as in Kafka).
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="moldau-py-")
        self.extra = list(extra)
        # Where the process's log (stderr) goes; inherited when None.
        self.log_path = log_path
        # RUST_LOG for the process: MOLDAU_TEST_LOG, else `log_level`, else warn.
        self.log_level = os.environ.get("MOLDAU_TEST_LOG", log_level or "warn")
        self.port = 0
        self.proc = None
        self.start()

    def start(self):
        cmd = [
            moldau_bin(), "serve",
            "--listen", f"127.0.0.1:{self.port}",
            "--data-dir", self.data_dir,
            "--console", "off",
        ] + self.extra
        env = dict(os.environ, RUST_LOG=self.log_level)
        log = open(self.log_path, "a") if self.log_path else None
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        if log:
            log.close()
        found = {}
        self.listeners = {}

        def read():
            for line in self.proc.stdout:
                named = re.match(r"moldau listening listener\.(\S+?)=(\S+)", line)
                if named:
                    self.listeners[named.group(1)] = named.group(2)
                m = re.match(r"moldau listening kafka=(\S+)", line)
                if m:
                    found["addr"] = m.group(1)
                    ready.set()

        ready = threading.Event()
        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60):
            self.proc.kill()
            raise RuntimeError("broker did not start")
        self.addr = found["addr"]
        self.port = int(self.addr.rsplit(":", 1)[1])

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(30) == 0
            self.proc = None

    def kill(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def close(self):
        self.kill()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def free_port():
    """A loopback port free right now (bound to port 0, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cluster(count, cluster_id, extra_of=lambda node_id: [], log_dir=None):
    """Starts `count` combined broker+controller nodes (ids 1..count) sharing one
    quorum, all at once (each node's start-up waits for a quorum leader). `extra_of(id)`
    gives a node's further arguments; with `log_dir`, node N logs to node-N.log there.
    If any node fails to start, the others are closed and the error raised."""
    controllers = [free_port() for _ in range(count)]
    voters = ",".join(f"{i + 1}@127.0.0.1:{c}" for i, c in enumerate(controllers))
    nodes = [None] * count
    errors = []

    def start(i):
        node_id = i + 1
        extra = [
            "--node-id", str(node_id),
            "--controller", f"127.0.0.1:{controllers[i]}",
            "--voters", voters,
            "--cluster-id", cluster_id,
        ] + list(extra_of(node_id))
        log_path = os.path.join(log_dir, f"node-{node_id}.log") if log_dir else None
        try:
            nodes[i] = Broker(extra=extra, log_path=log_path)
        except Exception as e:  # reported below, after every start has ended
            errors.append(e)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        close_all(nodes)
        raise AssertionError(errors)
    return nodes


def close_all(nodes):
    for n in nodes:
        if n is not None:
            n.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Leaves each phase's report on the test item (`rep_setup`, `rep_call`), so a
    fixture can keep what it collected when the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def broker():
    b = Broker()
    yield b
    b.close()
