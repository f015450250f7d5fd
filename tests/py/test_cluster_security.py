"""Secured traffic between nodes (issue 15) on three real `moldau serve` processes:
the controller listener on SSL (client certificates required) carries the Raft
quorum and broker registrations, and the inter-broker listener on SASL_SSL (PLAIN,
`sasl.mechanism.inter.broker.protocol`; SCRAM-SHA-256 in another test) carries
replication. The nodes replicate,
elect a new controller after kill -9 of the active one, and confluent-kafka
produces and consumes over SASL_SSL. A node whose inter-broker password is wrong is
refused by the others: its replicas never join the ISR, and both sides log why.
Certificates are made here with the openssl command."""

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import close_all, moldau_bin, start_cluster

OPENSSL = shutil.which("openssl")
NODES = 3
CLUSTER_ID = "c2VjdXJlLWNsdXN0ZXItMQ"
SETTLE_S = 60
BROKER_PASSWORD = "broker-secret"
ALICE_PASSWORD = "alice-secret"


def openssl(*args, cwd):
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki():
    """A CA and one certificate every node uses as server and as client."""
    assert OPENSSL, "openssl is missing: scripts/test installs it with apt-get"
    d = tempfile.mkdtemp(prefix="moldau-cluster-pki-")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=moldau-test-ca", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "node.key",
            "-out", "node.csr", "-subj", "/CN=moldau-node", cwd=d)
    with open(os.path.join(d, "node.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth,clientAuth\n")
    openssl("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", "node.pem", "-extfile", "node.ext", cwd=d)
    with open(os.path.join(d, "keystore.pem"), "w") as out:
        for part in ("node.pem", "node.key"):
            with open(os.path.join(d, part)) as f:
                out.write(f.read())
    yield d
    shutil.rmtree(d, ignore_errors=True)


def settings(pki, broker_password, mechanism="PLAIN"):
    jaas = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="broker" password="{broker_password}" '
            f'user_broker="{BROKER_PASSWORD}" user_alice="{ALICE_PASSWORD}";')
    scram = ("org.apache.kafka.common.security.scram.ScramLoginModule required "
             f'username="broker" password="{broker_password}";')
    chosen = {
        "listeners": "PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:SASL_SSL,CONTROLLER:SSL",
        "inter.broker.listener.name": "INTERNAL",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": os.path.join(pki, "keystore.pem"),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": os.path.join(pki, "ca.pem"),
        "listener.name.controller.ssl.client.auth": "required",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": mechanism,
        "listener.name.internal.plain.sasl.jaas.config": jaas,
        "broker.heartbeat.interval.ms": "500",
        "broker.session.timeout.ms": "3000",
        "replica.lag.time.max.ms": "3000",
        "offsets.topic.replication.factor": "3",
        "offsets.topic.num.partitions": "3",
    }
    if mechanism != "PLAIN":
        chosen["sasl.enabled.mechanisms"] = f"PLAIN,{mechanism}"
        chosen[f"listener.name.internal.{mechanism.lower()}.sasl.jaas.config"] = scram
    return chosen


def start_secure_cluster(pki, log_dir, password_of=lambda node: BROKER_PASSWORD, mechanism="PLAIN"):
    def extra_of(node_id):
        chosen = settings(pki, password_of(node_id), mechanism)
        return [arg for k, v in chosen.items() for arg in ("--set", f"{k}={v}")]

    return start_cluster(NODES, CLUSTER_ID, extra_of, log_dir=log_dir)


@pytest.fixture
def logs():
    d = tempfile.mkdtemp(prefix="moldau-cluster-logs-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def plaintext(nodes):
    return ",".join(n.addr for n in nodes if n.proc is not None)


def sasl_ssl(nodes, pki):
    return {
        "bootstrap.servers": ",".join(n.listeners["INTERNAL"] for n in nodes if n.proc is not None),
        "security.protocol": "sasl_ssl",
        "ssl.ca.location": os.path.join(pki, "ca.pem"),
        "sasl.mechanism": "PLAIN",
        "sasl.username": "alice",
        "sasl.password": ALICE_PASSWORD,
        "socket.timeout.ms": 10000,
    }


def wait_for_brokers(addr, count):
    admin = AdminClient({"bootstrap.servers": addr})
    deadline = time.time() + SETTLE_S
    while len(admin.list_topics(timeout=10).brokers) < count:
        assert time.time() < deadline, "brokers never registered"
        time.sleep(0.2)


def isr_of(addr, topic):
    admin = AdminClient({"bootstrap.servers": addr})
    md = admin.list_topics(topic, timeout=10)
    p = md.topics[topic].partitions.get(0)
    return sorted(p.isrs) if p is not None and p.leader >= 0 else []


def active_controller(addr):
    """The Raft leader as `addr` reports it (DescribeQuorum via the CLI)."""
    out = subprocess.run([moldau_bin(), "-b", addr, "--json", "cluster", "describe"],
                         capture_output=True, timeout=30)
    try:
        return json.loads(out.stdout)["quorum"]["leader_id"]
    except (ValueError, KeyError, TypeError):
        return None


def produce(conf, topic, values):
    p = Producer(dict(conf, **{"acks": "all", "enable.idempotence": True,
                               "message.timeout.ms": 30000}))
    failures = []
    for v in values:
        p.produce(topic, value=v, partition=0,
                  on_delivery=lambda err, _m: err and failures.append(err))
        p.poll(0)
    assert p.flush(SETTLE_S) == 0, "undelivered records"
    assert not failures, failures


def consume(conf, topic, count):
    """The first `count` values of partition 0, read by an assigned consumer (group
    coordinator failover is test_failover.py's subject)."""
    c = Consumer(dict(conf, **{"group.id": f"reader-{topic}", "enable.auto.commit": False}))
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    deadline = time.time() + SETTLE_S
    while len(got) < count and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m.value())
    c.close()
    return got


def create_topic(conf, name, replicas):
    admin = AdminClient(conf)
    topic = NewTopic(name, 1, replicas, config={"min.insync.replicas": "2"})
    admin.create_topics([topic])[name].result(30)


def test_tls_controllers_and_sasl_ssl_brokers_replicate_and_fail_over(pki, logs):
    nodes = start_secure_cluster(pki, logs)
    try:
        wait_for_brokers(plaintext(nodes), NODES)
        conf = sasl_ssl(nodes, pki)
        topic = "sasl-ssl-replicated"
        create_topic(conf, topic, NODES)
        values = [f"r-{i}".encode() for i in range(50)]
        produce(conf, topic, values)
        # Every follower logs in over SASL_SSL and stays in sync.
        deadline = time.time() + SETTLE_S
        while isr_of(plaintext(nodes), topic) != [1, 2, 3]:
            assert time.time() < deadline, f"followers never caught up: {isr_of(plaintext(nodes), topic)}"
            time.sleep(0.2)

        deadline = time.time() + SETTLE_S
        controller = None
        while controller not in (1, 2, 3):
            assert time.time() < deadline, "no active controller"
            controller = active_controller(nodes[0].addr)
            time.sleep(0.2)
        nodes[controller - 1].kill()
        survivors = [n for n in nodes if n.proc is not None]
        deadline = time.time() + SETTLE_S
        while True:
            seen = {active_controller(n.addr) for n in survivors}
            if len(seen) == 1 and next(iter(seen)) not in (None, controller):
                break
            assert time.time() < deadline, f"no new controller: {seen}"
            time.sleep(0.2)

        # Once the dead broker is fenced (placed on no new topic), the new controller
        # decides over TLS: a topic on the two brokers left.
        admin = AdminClient({"bootstrap.servers": plaintext(nodes)})
        deadline = time.time() + SETTLE_S
        while controller in admin.list_topics(timeout=10).brokers:
            assert time.time() < deadline, "the killed broker was never fenced"
            time.sleep(0.2)
        conf = sasl_ssl(nodes, pki)
        create_topic(conf, "after-failover", 2)
        produce(conf, "after-failover", [b"after"])
        assert consume(conf, "after-failover", 1) == [b"after"]
        assert consume(conf, topic, len(values)) == values
        for n in nodes:
            with open(n.log_path) as f:
                text = f.read()
            assert "failed authentication" not in text, text[-2000:]
    finally:
        close_all(nodes)


def test_a_node_with_a_wrong_inter_broker_password_is_refused(pki, logs):
    nodes = start_secure_cluster(pki, logs, password_of=lambda n: "wrong" if n == 3 else BROKER_PASSWORD)
    try:
        wait_for_brokers(plaintext(nodes), NODES)
        topic = "no-wrong-password"
        conf = sasl_ssl(nodes, pki)
        admin = AdminClient(conf)
        # Led by node 1, so node 3 must fetch from it with its wrong login.
        new = NewTopic(topic, num_partitions=1, replica_assignment=[[1, 2, 3]],
                       config={"min.insync.replicas": "2"})
        admin.create_topics([new])[topic].result(30)
        # acks=all completes once node 3, which cannot fetch, leaves the ISR.
        produce(conf, topic, [b"a", b"b"])
        deadline = time.time() + SETTLE_S
        while isr_of(plaintext(nodes), topic) != [1, 2]:
            assert time.time() < deadline, f"isr {isr_of(plaintext(nodes), topic)}"
            time.sleep(0.2)
        deadline = time.time() + 5
        while time.time() < deadline:
            assert 3 not in isr_of(plaintext(nodes), topic), "node 3 joined the ISR"
            time.sleep(0.5)
        assert consume(conf, topic, 2) == [b"a", b"b"]
        with open(nodes[2].log_path) as f:
            refused_here = f.read()
        assert "SASL login to the leader" in refused_here, refused_here[-2000:]
        assert "invalid credentials" in refused_here, refused_here[-2000:]
        with open(nodes[0].log_path) as f:
            leader_log = f.read()
        assert "failed authentication" in leader_log, leader_log[-2000:]
        # The others keep serving: node 3 is running, never crashed.
        assert nodes[2].proc.poll() is None
    finally:
        close_all(nodes)


def test_brokers_log_in_to_each_other_with_scram(pki, logs):
    """SCRAM credentials live in the metadata log: replication starts once the
    broker's user exists (created here with `moldau user`), as in Kafka."""
    nodes = start_secure_cluster(pki, logs, mechanism="SCRAM-SHA-256")
    try:
        wait_for_brokers(plaintext(nodes), NODES)
        subprocess.run([moldau_bin(), "-b", nodes[0].addr, "user", "add", "broker",
                        "--mechanism", "SCRAM-SHA-256", "--password", BROKER_PASSWORD],
                       check=True, capture_output=True, timeout=30)
        conf = sasl_ssl(nodes, pki)
        topic = "scram-replicated"
        create_topic(conf, topic, NODES)
        produce(conf, topic, [b"x", b"y"])
        deadline = time.time() + SETTLE_S
        while isr_of(plaintext(nodes), topic) != [1, 2, 3]:
            assert time.time() < deadline, f"followers never caught up: {isr_of(plaintext(nodes), topic)}"
            time.sleep(0.2)
        assert consume(conf, topic, 2) == [b"x", b"y"]
    finally:
        close_all(nodes)
