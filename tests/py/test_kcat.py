"""Debian's kcat (librdkafka 2.0.2) against a real moldau broker."""

import shutil
import subprocess

KCAT = shutil.which("kcat") or shutil.which("kafkacat")


def test_kcat_list_produce_consume(broker):
    assert KCAT, "kcat is missing: scripts/test installs it with apt-get"
    out = subprocess.run([KCAT, "-b", broker.addr, "-L"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "1 brokers:" in out.stdout
    assert "broker 1 at" in out.stdout and "(controller)" in out.stdout

    p = subprocess.run([KCAT, "-b", broker.addr, "-P", "-t", "demo"], input="a\nb\n",
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    c = subprocess.run([KCAT, "-b", broker.addr, "-C", "-t", "demo", "-e"],
                       capture_output=True, text=True, timeout=30)
    assert c.returncode == 0, c.stderr
    assert c.stdout.splitlines() == ["a", "b"]

    listing = subprocess.run([KCAT, "-b", broker.addr, "-L", "-t", "demo"], capture_output=True,
                             text=True, timeout=30)
    assert 'topic "demo" with 1 partitions' in listing.stdout
