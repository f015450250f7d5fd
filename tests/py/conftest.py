"""Pytest fixtures: a real moldau broker process on a free loopback port."""

import os
import re
import shutil
import signal
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
    def __init__(self, extra=(), log_path=None):
        self.data_dir = tempfile.mkdtemp(prefix="moldau-py-")
        self.extra = list(extra)
        # Where the process's log (stderr) goes; inherited when None.
        self.log_path = log_path
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
        env = dict(os.environ, RUST_LOG=os.environ.get("MOLDAU_TEST_LOG", "warn"))
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


@pytest.fixture
def broker():
    b = Broker()
    yield b
    b.close()
