"""Produce and consume throughput over TLS against plaintext, and the rate of new
TLS handshakes, on one `moldau serve` process with a PLAINTEXT and an SSL listener.
The same load tool (confluent-kafka, librdkafka) drives both listeners in one run,
alternating them so a change in machine load hits both alike; medians are printed.

    .venv/bin/python bench/tls_compare.py --moldau target/release/moldau --records 200000

Certificates are made with the openssl command in a temporary directory."""

import argparse
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", "ca.key",
            "-out", "ca.pem", "-subj", "/CN=bench-ca", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=localhost", cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "server.ext", cwd=d)
    with open(os.path.join(d, "keystore.pem"), "w") as out:
        for part in ("server.pem", "server.key"):
            with open(os.path.join(d, part)) as f:
                out.write(f.read())


def start_broker(binary, d):
    cmd = [binary, "serve", "--data-dir", os.path.join(d, "data"), "--console", "off",
           "--listen", "127.0.0.1:0",
           "--set", "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
           "--set", "ssl.keystore.type=PEM",
           "--set", f"ssl.keystore.location={os.path.join(d, 'keystore.pem')}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, RUST_LOG="warn"))
    listeners = {}
    ready = threading.Event()

    def read():
        for line in proc.stdout:
            m = re.match(r"moldau listening listener\.(\S+?)=(\S+)", line)
            if m:
                listeners[m.group(1)] = m.group(2)
            if line.startswith("moldau listening kafka="):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60):
        proc.kill()
        raise RuntimeError("broker did not start")
    return proc, listeners


def produce(conf, topic, records, size):
    p = Producer(dict(conf, **{"acks": "1", "linger.ms": 5, "batch.size": 1_000_000,
                               "queue.buffering.max.kbytes": 1_000_000}))
    value = os.urandom(size)
    p.list_topics(topic, timeout=10)
    start = time.perf_counter()
    for i in range(records):
        while True:
            try:
                p.produce(topic, value=value, key=str(i).encode())
                break
            except BufferError:
                p.poll(0.01)
    assert p.flush(120) == 0
    return records * size / (time.perf_counter() - start) / 1e6


def consume(conf, topic, records, size):
    c = Consumer(dict(conf, **{"group.id": f"bench-{uuid.uuid4().hex[:6]}",
                               "fetch.max.bytes": 16 << 20,
                               "max.partition.fetch.bytes": 4 << 20,
                               "enable.auto.commit": False}))
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    start = time.perf_counter()
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    seen = 0
    while seen < records:
        for m in c.consume(10_000, 1.0):
            if m.error() is None:
                seen += 1
    elapsed = time.perf_counter() - start
    c.close()
    return records * size / elapsed / 1e6


def handshakes(addr, ca, count):
    """New TLS connections per second (handshake completed, then closed)."""
    host, port = addr.rsplit(":", 1)
    context = ssl.create_default_context(cafile=ca)
    start = time.perf_counter()
    for _ in range(count):
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost"):
                pass
    return count / (time.perf_counter() - start)


def connects(addr, count):
    host, port = addr.rsplit(":", 1)
    start = time.perf_counter()
    for _ in range(count):
        with socket.create_connection((host, int(port)), timeout=10):
            pass
    return count / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--moldau", default="target/release/moldau")
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--handshakes", type=int, default=500)
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="moldau-tls-bench-")
    make_pki(d)
    proc, listeners = start_broker(args.moldau, d)
    try:
        ca = os.path.join(d, "ca.pem")
        confs = {
            "PLAINTEXT": {"bootstrap.servers": listeners["PLAINTEXT"]},
            "SSL": {"bootstrap.servers": listeners["SSL"], "security.protocol": "ssl",
                    "ssl.ca.location": ca},
        }
        admin = AdminClient(confs["PLAINTEXT"])
        results = {k: {"produce": [], "consume": []} for k in confs}
        for r in range(args.rounds):
            for name, conf in confs.items():
                topic = f"bench-{name.lower()}-{r}"
                admin.create_topics([NewTopic(topic, 6, 1)])[topic].result(30)
                results[name]["produce"].append(produce(conf, topic, args.records, args.size))
                results[name]["consume"].append(consume(conf, topic, args.records, args.size))
                print(name, r, {k: round(v[-1], 1) for k, v in results[name].items()}, flush=True)
        for name in confs:
            print(f"{name}: produce {statistics.median(results[name]['produce']):.1f} MB/s, "
                  f"consume {statistics.median(results[name]['consume']):.1f} MB/s (median of {args.rounds})")
        tls = [handshakes(listeners["SSL"], ca, args.handshakes) for _ in range(args.rounds)]
        tcp = [connects(listeners["PLAINTEXT"], args.handshakes) for _ in range(args.rounds)]
        print(f"new TLS connections: {statistics.median(tls):.0f}/s "
              f"(plain TCP connects: {statistics.median(tcp):.0f}/s), one client thread")
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
