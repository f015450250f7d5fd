"""Issue 12: a leader paused (SIGSTOP) past the broker session timeout is fenced and
replaced by the controller; resumed, its own image still names it leader until it
catches up with the metadata log. It must take no write then: its log and producer
state lack what the new leader took meanwhile. The chaos test saw such a node answer
an idempotent producer OUT_OF_ORDER_SEQUENCE_NUMBER from that stale state, which
librdkafka takes as a fatal "sequence desynchronization" when the batch is the one
it expects acknowledged next. The right answer is NOT_LEADER_OR_FOLLOWER: the client
looks the leader up again and its batch is stored once, in order.

Raw requests (kafka-python's protocol classes over a socket) give the batches the
producer id and sequences the scenario needs; the request for the resumed node is
written to its socket while it is still stopped, so it is the first thing it reads."""

import shutil
import socket
import struct
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.protocol.api import RequestHeader
from kafka.protocol.init_producer_id import InitProducerIdRequest_v1
from kafka.protocol.produce import ProduceRequest_v5
from kafka.record.default_records import DefaultRecordBatchBuilder

from test_chaos import Cluster

TOPIC = "stale-leader"
NONE = 0
NOT_LEADER_OR_FOLLOWER = 6
SETTLE_S = 60


def wait_for(what, check, timeout=SETTLE_S):
    deadline = time.time() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.time() < deadline, what
        time.sleep(0.2)


def leader_and_isr(admin):
    """(leader, sorted isr) of the topic's partition 0, or None while unknown."""
    try:
        t = admin.list_topics(TOPIC, timeout=5).topics.get(TOPIC)
    except Exception:  # a broker not answering yet; asked again
        return None
    if t is None or t.error is not None or 0 not in t.partitions:
        return None
    p = t.partitions[0]
    return p.leader, sorted(p.isrs)


def connect(addr):
    host, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=20)
    sock.settimeout(20)
    return sock


def send(sock, request, correlation_id):
    header = RequestHeader(request, correlation_id, "stale-leader-test")
    body = header.encode() + request.encode()
    sock.sendall(struct.pack(">i", len(body)) + body)


def receive(sock, request):
    def exactly(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            assert chunk, "connection closed"
            buf += chunk
        return buf

    (size,) = struct.unpack(">i", exactly(4))
    frame = exactly(size)
    return request.RESPONSE_TYPE.decode(frame[4:])  # past the correlation id


def call(addr, request):
    with connect(addr) as sock:
        send(sock, request, 1)
        return receive(sock, request)


def produce_request(producer_id, epoch, sequence):
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=0, is_transactional=False,
        producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence,
        batch_size=1 << 20)
    builder.append(0, timestamp=int(time.time() * 1000), key=None,
                   value=f"record-{sequence}".encode(), headers=[])
    return ProduceRequest_v5(
        transactional_id=None, required_acks=-1, timeout=10000,
        topics=[(TOPIC, [(0, bytes(builder.build()))])])


def produce_error(response):
    [(_, [(_, error, _offset, _ts, _start)])] = response.topics
    return error


def produce_until_stored(cluster, admin, producer_id, epoch, sequence):
    """Sends the batch to whichever node leads until one stores it (a retry of a
    stored batch is answered as stored)."""
    def stored():
        state = leader_and_isr(admin)
        if state is None or state[0] < 0:
            return False
        addr = cluster.nodes[state[0] - 1].addr
        try:
            return produce_error(call(addr, produce_request(producer_id, epoch, sequence))) == NONE
        except OSError:
            return False
    wait_for(f"sequence {sequence} stored", stored)


def test_a_resumed_fenced_leader_refuses_writes_until_it_is_leader_again():
    cluster = Cluster()
    try:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
        def brokers():
            try:
                return len(admin.list_topics(timeout=10).brokers)
            except Exception:  # a node still starting; asked again
                return 0
        wait_for("three brokers registered", lambda: brokers() == 3)
        topic = NewTopic(TOPIC, 1, 3, config={"min.insync.replicas": "2"})
        admin.create_topics([topic])[TOPIC].result(30)
        leader, _ = wait_for("every replica in sync",
                             lambda: (s := leader_and_isr(admin)) and len(s[1]) == 3 and s)
        stale = cluster.nodes[leader - 1]

        def init_producer_id():
            init = call(stale.addr, InitProducerIdRequest_v1(
                transactional_id=None, transaction_timeout_ms=60000))
            # Retriable while the cluster settles (a producer id block not granted yet).
            return init if init.error_code == NONE else None
        init = wait_for("a producer id", init_producer_id)
        producer_id, epoch = init.producer_id, init.producer_epoch
        produce_until_stored(cluster, admin, producer_id, epoch, 0)

        # Paused past the session timeout: fenced, and another replica leads.
        cluster.pause(leader - 1)
        others = AdminClient({"bootstrap.servers": ",".join(
            n.addr for i, n in enumerate(cluster.nodes) if i != leader - 1)})
        wait_for("a new leader", lambda: (s := leader_and_isr(others)) and s[0] not in (-1, leader))
        produce_until_stored(cluster, admin=others, producer_id=producer_id, epoch=epoch,
                             sequence=1)

        # The producer's next batch reaches the old leader first thing on resuming.
        with connect(stale.addr) as sock:
            send(sock, produce_request(producer_id, epoch, 2), 7)
            cluster.resume(leader - 1)
            error = produce_error(receive(sock, ProduceRequest_v5))
        assert error == NOT_LEADER_OR_FOLLOWER, \
            f"the resumed, fenced leader answered error {error} instead of NOT_LEADER_OR_FOLLOWER"

        # The client goes to the real leader; every batch is stored once, in order.
        produce_until_stored(cluster, admin, producer_id, epoch, 2)
        consumer = Consumer({"bootstrap.servers": cluster.bootstrap(), "group.id": "stale-leader",
                             "enable.partition.eof": True, "error_cb": lambda _e: None})
        consumer.assign([TopicPartition(TOPIC, 0, 0)])
        values = []
        deadline = time.time() + SETTLE_S
        while time.time() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if len(values) >= 3:
                    break
                continue
            values.append(msg.value())
        consumer.close()
        assert values == [b"record-0", b"record-1", b"record-2"], values
    except BaseException:
        print(f"node logs kept in {cluster.log_dir}")
        raise
    else:
        shutil.rmtree(cluster.log_dir, ignore_errors=True)
    finally:
        cluster.close()
