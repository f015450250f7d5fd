"""kafka-python's idempotent producer against a real moldau broker: batches whose
acknowledgements a proxy loses are retried and stored once; a kill -9 between two
sends of the same producer loses nothing and duplicates nothing, and neither do 50
kill -9 cycles while it keeps sending."""

import random
import socket
import struct
import threading
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from conftest import Broker

PRODUCE_API_KEY = 0
FRAME_BYTES_MAX = 64 * 1024 * 1024


def read_frame(sock):
    """One size-prefixed Kafka frame, or None at end of stream."""
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
    (size,) = struct.unpack(">i", head)
    if size < 0 or size > FRAME_BYTES_MAX:
        return None
    body = b""
    while len(body) < size:
        chunk = sock.recv(min(65536, size - len(body)))
        if not chunk:
            return None
        body += chunk
    return head + body


class ProduceDroppingProxy:
    """Forwards to the broker, but loses the responses to the first `drops` Produce
    requests: the broker stores the batch, the client never hears of it and retries."""

    def __init__(self, drops):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"
        self.drops_left = drops
        self.dropped = 0
        self.lock = threading.Lock()
        self.target = None

    def start(self, target):
        self.target = target
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            host, port = self.target.rsplit(":", 1)
            try:
                broker = socket.create_connection((host, int(port)))
            except OSError:
                client.close()
                continue
            doomed = set()
            threading.Thread(target=self._requests, args=(client, broker, doomed), daemon=True).start()
            threading.Thread(target=self._responses, args=(broker, client, doomed), daemon=True).start()

    def _requests(self, client, broker, doomed):
        try:
            while (frame := read_frame(client)) is not None:
                if len(frame) >= 12:
                    api_key, _, correlation = struct.unpack(">hhi", frame[4:12])
                    with self.lock:
                        if api_key == PRODUCE_API_KEY and self.drops_left > 0:
                            self.drops_left -= 1
                            doomed.add(correlation)
                broker.sendall(frame)
        except OSError:
            pass
        self._close(client, broker)

    def _responses(self, broker, client, doomed):
        try:
            while (frame := read_frame(broker)) is not None:
                (correlation,) = struct.unpack(">i", frame[4:8])
                with self.lock:
                    lose = correlation in doomed
                    if lose:
                        self.dropped += 1
                if lose:
                    break
                client.sendall(frame)
        except OSError:
            pass
        self._close(client, broker)

    @staticmethod
    def _close(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.listener.close()


def stored_values(addr, topic):
    consumer = KafkaConsumer(bootstrap_servers=addr, enable_auto_commit=False, consumer_timeout_ms=5000)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    records = [(m.offset, m.value) for m in consumer]
    consumer.close()
    return records


def test_lost_produce_responses_are_retried_and_stored_once():
    proxy = ProduceDroppingProxy(drops=2)
    broker = Broker(extra=["--advertise", proxy.addr])
    try:
        proxy.start(broker.addr)
        admin = KafkaAdminClient(bootstrap_servers=proxy.addr, request_timeout_ms=10000)
        admin.create_topics([NewTopic("py-idem", num_partitions=1, replication_factor=1)])
        admin.close()

        producer = KafkaProducer(bootstrap_servers=proxy.addr, enable_idempotence=True, acks="all",
                                 linger_ms=5, batch_size=2048, retries=50, request_timeout_ms=10000)
        sent = [b"v%04d" % i for i in range(200)]
        for v in sent:
            producer.send("py-idem", value=v, partition=0)
        producer.flush(60)
        producer.close()
        assert proxy.dropped == 2, "the proxy lost no response"

        records = stored_values(broker.addr, "py-idem")
        assert [o for o, _ in records] == list(range(len(sent))), "duplicates or gaps in offsets"
        assert [v for _, v in records] == sent
    finally:
        broker.close()
        proxy.close()


def test_kill_9_between_sends_of_one_producer():
    broker = Broker()
    try:
        producer = KafkaProducer(bootstrap_servers=broker.addr, enable_idempotence=True, acks="all",
                                 retries=100, reconnect_backoff_ms=100, request_timeout_ms=10000)
        first = [b"a%03d" % i for i in range(50)]
        for v in first:
            producer.send("py-idem-crash", value=v, partition=0)
        producer.flush(30)

        broker.kill()
        broker.start()

        second = [b"b%03d" % i for i in range(50)]
        for v in second:
            producer.send("py-idem-crash", value=v, partition=0)
        producer.flush(60)
        producer.close()

        records = stored_values(broker.addr, "py-idem-crash")
        assert [v for _, v in records] == first + second
        assert [o for o, _ in records] == list(range(100))
    finally:
        broker.close()


KILL_CYCLES = 50
# Bounds of the random time the producer runs before each kill, in seconds.
LOAD_S_MIN = 0.05
LOAD_S_MAX = 0.3
# Records sent between two short pauses (bounds the records a run checks).
RECORDS_PER_PAUSE = 20


def test_idempotent_producer_through_50_kill_9_cycles():
    broker = Broker()
    try:
        producer = KafkaProducer(bootstrap_servers=broker.addr, enable_idempotence=True, acks="all",
                                 linger_ms=2, retries=10000, reconnect_backoff_ms=50,
                                 reconnect_backoff_max_ms=200, request_timeout_ms=10000)
        sent = []
        failures = []
        stop = threading.Event()

        def produce():
            i = 0
            while not stop.is_set():
                value = b"s%07d" % i
                future = producer.send("py-idem-cycles", value=value, partition=0)
                future.add_errback(lambda e: failures.append(repr(e)))
                sent.append(value)
                i += 1
                if i % RECORDS_PER_PAUSE == 0:
                    time.sleep(0.005)

        thread = threading.Thread(target=produce, daemon=True)
        thread.start()
        for _ in range(KILL_CYCLES):
            time.sleep(random.uniform(LOAD_S_MIN, LOAD_S_MAX))
            broker.kill()
            broker.start()
        time.sleep(LOAD_S_MAX)
        stop.set()
        thread.join(60)
        producer.flush(120)
        producer.close()
        assert not failures, failures

        records = stored_values(broker.addr, "py-idem-cycles")
        values = [v for _, v in records]
        assert len(set(values)) == len(values), "a record is stored twice"
        assert values == sent, "records missing (gap) or out of order"
        print(f"{KILL_CYCLES} kill -9 cycles, {len(sent)} records, each stored once")
    finally:
        broker.close()
