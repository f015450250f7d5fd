"""The controller listener under ACLs (issue 15): as in Kafka, the controller's RPCs
need CLUSTER_ACTION on the cluster. One combined node (broker and controller) with a
SASL_PLAINTEXT controller listener and the StandardAuthorizer: a peer logging in as
a user that is neither a super user nor granted CLUSTER_ACTION is refused with
CLUSTER_AUTHORIZATION_FAILED; granted it with `moldau acl`, it is served; revoked,
its open connection is closed at its next request. The peer is played here by a
socket speaking the controller listener's frames (4-byte length, JSON)."""

import json
import socket
import struct
import subprocess
import time

import pytest

from conftest import Broker, free_port, moldau_bin

CLUSTER_ID = "Y29udHJvbGxlci1hY2wtMQ"
PASSWORDS = {"broker": "broker-secret", "mallory": "mallory-secret"}
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
TIMEOUT_S = 30


@pytest.fixture(scope="module")
def node():
    port = free_port()
    users = " ".join(f'user_{u}="{p}"' for u, p in PASSWORDS.items())
    jaas = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="broker" password="{PASSWORDS["broker"]}" {users};')
    settings = {
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": jaas,
        "authorizer.class.name": STANDARD_AUTHORIZER,
        # The controller's own login and the operator's PLAINTEXT door.
        "super.users": "User:broker;User:ANONYMOUS",
    }
    extra = ["--node-id", "1", "--controller", f"127.0.0.1:{port}",
             "--voters", f"1@127.0.0.1:{port}", "--cluster-id", CLUSTER_ID]
    for k, v in settings.items():
        extra += ["--set", f"{k}={v}"]
    b = Broker(extra)
    b.controller_port = port
    yield b
    b.close()


def send(sock, message):
    body = json.dumps(message).encode()
    sock.sendall(struct.pack(">I", len(body)) + body)


def receive(sock):
    """The next frame's JSON, or None when the listener closed the connection."""
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
    (length,) = struct.unpack(">I", head)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            return None
        body += chunk
    return json.loads(body)


def log_in(node, user):
    """A connection to the controller listener and the answer to its PLAIN login."""
    sock = socket.create_connection(("127.0.0.1", node.controller_port), timeout=TIMEOUT_S)
    message = list(f"\0{user}\0{PASSWORDS[user]}".encode())
    send(sock, {"SaslAuthenticate": {"mechanism": "PLAIN", "message": message}})
    return sock, receive(sock)


def hello(sock):
    send(sock, {"cluster_id": CLUSTER_ID, "from": 1, "request": "Hello"})
    return receive(sock)


def acl(node, action, *args):
    out = subprocess.run([moldau_bin(), "-b", node.addr, "acl", action,
                          "--allow-principal", "User:mallory", "--operation", "ClusterAction",
                          "--cluster", *args], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert out.returncode == 0, out.stderr


def eventually(what, probe):
    deadline = time.time() + TIMEOUT_S
    while time.time() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_login_without_cluster_action_is_refused_on_the_controller_listener(node):
    sock, answer = log_in(node, "mallory")
    try:
        refusal = answer["SaslAuthenticate"]["Err"]
        assert refusal.startswith("CLUSTER_AUTHORIZATION_FAILED"), refusal
        assert "User:mallory" in refusal, refusal
        assert receive(sock) is None, "the connection is closed"
    finally:
        sock.close()
    # The super user (the controller's own login) is served.
    sock, answer = log_in(node, "broker")
    try:
        assert answer == {"SaslAuthenticate": {"Ok": []}}, answer
        assert hello(sock) == "Hello"
    finally:
        sock.close()


def test_cluster_action_granted_then_revoked_applies_to_a_connected_peer(node):
    acl(node, "add")

    def logged_in():
        sock, answer = log_in(node, "mallory")
        if answer == {"SaslAuthenticate": {"Ok": []}}:
            return sock
        sock.close()
        return None

    sock = eventually("mallory's CLUSTER_ACTION", logged_in)
    try:
        assert hello(sock) == "Hello"
        acl(node, "remove")

        def closed():
            try:
                return hello(sock) is None
            except OSError:
                return True

        eventually("the revoked peer's connection to close", closed)
    finally:
        sock.close()
    _sock, answer = log_in(node, "mallory")
    _sock.close()
    assert answer["SaslAuthenticate"]["Err"].startswith("CLUSTER_AUTHORIZATION_FAILED"), answer
