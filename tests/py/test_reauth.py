"""KIP-368 re-authentication (issue 15): with `connections.max.reauth.ms` set, the
broker tells a SASL client its session lifetime in SaslAuthenticate; librdkafka
re-authenticates on the same connection and keeps producing, a raw client that does
not is disconnected on its first request after the session expired, and a
re-authentication cannot change the principal."""

import logging
import socket
import struct
import time
import uuid

import pytest
from confluent_kafka import Producer

from conftest import Broker
from test_security import jaas

REAUTH_MS = 1500
USERS = {"alice": "alice-secret", "bob": "bob-secret"}


@pytest.fixture(scope="module")
def reauth_broker():
    b = Broker(["--set", "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
                "--set", "sasl.enabled.mechanisms=PLAIN",
                "--set", f"listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas(USERS)}",
                "--set", f"connections.max.reauth.ms={REAUTH_MS}"])
    yield b
    b.close()


class RawClient:
    """Kafka requests as bytes (request header v1), to see exactly what the broker
    answers and when it closes."""

    def __init__(self, address):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.correlation = 0

    def request(self, api_key, version, body):
        self.correlation += 1
        header = struct.pack(">hhih", api_key, version, self.correlation, -1)
        frame = header + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        size = self.read_exact(4)
        if size is None:
            return None
        (n,) = struct.unpack(">i", size)
        payload = self.read_exact(n)
        if payload is None:
            return None
        (correlation,) = struct.unpack(">i", payload[:4])
        assert correlation == self.correlation
        return payload[4:]

    def read_exact(self, n):
        data = b""
        while len(data) < n:
            try:
                chunk = self.sock.recv(n - len(data))
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            data += chunk
        return data

    def authenticate_plain(self, user, password):
        """SaslHandshake v1 (PLAIN) and SaslAuthenticate v1; returns (error code,
        session lifetime ms), or None when the broker closed the connection."""
        mechanism = b"PLAIN"
        answer = self.request(17, 1, struct.pack(">h", len(mechanism)) + mechanism)
        assert answer is not None and struct.unpack(">h", answer[:2])[0] == 0, answer
        token = b"\0" + user.encode() + b"\0" + password.encode()
        answer = self.request(36, 1, struct.pack(">i", len(token)) + token)
        if answer is None:
            return None
        (error,) = struct.unpack(">h", answer[:2])
        (message_len,) = struct.unpack(">h", answer[2:4])
        rest = answer[4 + max(message_len, 0):]
        (bytes_len,) = struct.unpack(">i", rest[:4])
        (lifetime,) = struct.unpack(">q", rest[4 + max(bytes_len, 0):][:8])
        return error, lifetime

    def api_versions(self):
        """ApiVersions v0: the error code, or None when the connection was closed."""
        answer = self.request(18, 0, b"")
        return None if answer is None else struct.unpack(">h", answer[:2])[0]

    def close(self):
        self.sock.close()


def test_session_lifetime_is_announced_and_an_expired_session_is_closed(reauth_broker):
    c = RawClient(reauth_broker.listeners["SASL_PLAINTEXT"])
    try:
        assert c.authenticate_plain("alice", "alice-secret") == (0, REAUTH_MS)
        assert c.api_versions() == 0, "a live session is served"
        # Past the announced lifetime without re-authenticating: the next request
        # closes the connection instead of being answered.
        time.sleep(REAUTH_MS / 1000 + 1.0)
        assert c.api_versions() is None
    finally:
        c.close()


def test_raw_reauthentication_renews_and_cannot_change_the_principal(reauth_broker):
    c = RawClient(reauth_broker.listeners["SASL_PLAINTEXT"])
    try:
        assert c.authenticate_plain("alice", "alice-secret") == (0, REAUTH_MS)
        time.sleep(REAUTH_MS / 1000 + 1.0)
        # A SaslHandshake after expiry still starts a re-authentication (as Kafka).
        assert c.authenticate_plain("alice", "alice-secret") == (0, REAUTH_MS)
        assert c.api_versions() == 0, "the renewed session is served"
        error, _ = c.authenticate_plain("bob", "bob-secret")
        assert error == 58, "SASL_AUTHENTICATION_FAILED: the principal may not change"
        assert c.api_versions() is None, "and the connection is closed"
    finally:
        c.close()


def test_librdkafka_reauthenticates_and_keeps_producing(reauth_broker):
    logs = []
    logger = logging.getLogger(f"reauth-{uuid.uuid4().hex[:6]}")
    logger.setLevel(logging.DEBUG)
    handler = logging.Handler()
    handler.emit = lambda record: logs.append(record.getMessage())
    logger.addHandler(handler)

    topic = f"kip368-{uuid.uuid4().hex[:8]}"
    p = Producer({
        "bootstrap.servers": reauth_broker.listeners["SASL_PLAINTEXT"],
        "security.protocol": "sasl_plaintext",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "alice",
        "sasl.password": "alice-secret",
        "message.timeout.ms": 20000,
        "debug": "security,broker",
    }, logger=logger)
    delivered = []
    failed = []

    def on_delivery(err, msg):
        (failed if err else delivered).append(err or msg.offset())

    # Four session lifetimes of steady producing.
    deadline = time.monotonic() + 4 * REAUTH_MS / 1000
    sent = 0
    while time.monotonic() < deadline:
        p.produce(topic, value=f"v{sent}".encode(), on_delivery=on_delivery)
        sent += 1
        p.poll(0.1)
    assert p.flush(30) == 0
    assert failed == [] and len(delivered) == sent, (failed, len(delivered), sent)
    # librdkafka logs one REAUTH op per re-authentication on the same connection.
    reauths = [m for m in logs if m.startswith("REAUTH") and "Received REAUTH op" in m]
    assert len(reauths) >= 2, [m for m in logs if m.startswith("REAUTH")]
    disconnects = [m for m in logs if "expired" in m.lower()]
    assert disconnects == [], disconnects
