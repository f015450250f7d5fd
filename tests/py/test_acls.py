"""ACLs enforced (issue 15) with real clients over SASL_PLAINTEXT (PLAIN):
confluent-kafka's AdminClient creates, describes and deletes ACLs; a principal
allowed to read one topic cannot write to it, cannot see other topics, cannot join a
group it has no ACL for; prefixed ACLs; DENY beats ALLOW; an ACL change applies to an
already connected client; super users bypass the ACLs; `moldau acl` and kcat."""

import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation,
                                   AclPermissionType, AdminClient, NewTopic,
                                   ResourcePatternType, ResourceType)

from conftest import Broker, moldau_bin
from test_security import jaas, kcat

USERS = {"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret"}
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


@pytest.fixture(scope="module")
def acl_broker():
    settings = {
        "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas(USERS),
        "authorizer.class.name": STANDARD_AUTHORIZER,
        # The loopback PLAINTEXT listener is the operator's door (moldau acl).
        "super.users": "User:admin;User:ANONYMOUS",
    }
    extra = []
    for k, v in settings.items():
        extra += ["--set", f"{k}={v}"]
    b = Broker(extra)
    yield b
    b.close()


def conf(broker, user):
    return {
        "bootstrap.servers": broker.listeners["SASL_PLAINTEXT"],
        "security.protocol": "sasl_plaintext",
        "sasl.mechanism": "PLAIN",
        "sasl.username": user,
        "sasl.password": USERS[user],
        "socket.timeout.ms": 10000,
    }


def admin_of(broker, user="admin"):
    return AdminClient(conf(broker, user))


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topics(broker, *names):
    admin = admin_of(broker)  # kept alive until the futures are done
    futures = admin.create_topics([NewTopic(n, 1, 1) for n in names])
    for f in futures.values():
        f.result(timeout=30)


def allow(broker, principal, op, rtype, name, pattern=ResourcePatternType.LITERAL,
          permission=AclPermissionType.ALLOW):
    binding = AclBinding(rtype, name, pattern, principal, "*", op, permission)
    admin = admin_of(broker)
    for f in admin.create_acls([binding]).values():
        f.result(timeout=30)
    return binding


def produce(broker, user, topic, values):
    """Delivery errors per record (None when delivered)."""
    errors = []
    p = Producer(dict(conf(broker, user), **{"message.timeout.ms": 10000}))
    for v in values:
        p.produce(topic, value=v, on_delivery=lambda err, _msg: errors.append(err))
    p.flush(30)
    return errors


def visible_topics(admin):
    return set(admin.list_topics(timeout=10).topics)


def test_admin_client_creates_describes_and_deletes_acls(acl_broker):
    topic = unique("acl-admin")
    binding = allow(acl_broker, "User:alice", AclOperation.READ, ResourceType.TOPIC, topic)
    admin = admin_of(acl_broker)
    match = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.MATCH, None, None,
                             AclOperation.ANY, AclPermissionType.ANY)
    described = admin.describe_acls(match).result(timeout=30)
    assert binding in described, described
    # A principal without ALTER on the cluster may not create ACLs.
    alice = admin_of(acl_broker, "alice")
    with pytest.raises(KafkaException) as refused:
        for f in alice.create_acls([binding]).values():
            f.result(timeout=30)
    assert refused.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    deleted = admin.delete_acls([match])
    for f in deleted.values():
        assert binding in f.result(timeout=30)
    assert admin.describe_acls(match).result(timeout=30) == []


def test_reader_cannot_write_cannot_see_other_topics_nor_join_other_groups(acl_broker):
    readable, hidden = unique("acl-ro"), unique("acl-hidden")
    group = unique("alice-group")
    create_topics(acl_broker, readable, hidden)
    assert produce(acl_broker, "admin", readable, [b"a", b"b"]) == [None, None]
    allow(acl_broker, "User:alice", AclOperation.READ, ResourceType.TOPIC, readable)
    allow(acl_broker, "User:alice", AclOperation.READ, ResourceType.GROUP, group)

    topics = visible_topics(admin_of(acl_broker, "alice"))
    assert readable in topics and hidden not in topics, topics

    errors = produce(acl_broker, "alice", readable, [b"x"])
    assert errors[0] is not None and errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    c = Consumer(dict(conf(acl_broker, "alice"), **{"group.id": group,
                                                    "auto.offset.reset": "earliest"}))
    c.subscribe([readable])
    got = []
    deadline = time.time() + 60
    while len(got) < 2 and time.time() < deadline:
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            got.append(m.value())
    c.close()
    assert got == [b"a", b"b"]

    other = Consumer(dict(conf(acl_broker, "alice"), **{"group.id": unique("no-acl-group"),
                                                        "auto.offset.reset": "earliest"}))
    other.subscribe([readable])
    error = None
    deadline = time.time() + 30
    while error is None and time.time() < deadline:
        m = other.poll(1.0)
        if m is not None and m.error() is not None:
            error = m.error()
    other.close()
    assert error is not None and error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, error


def test_prefixed_allow_and_deny_beats_allow(acl_broker):
    prefix = unique("team") + "-"
    ok, secret, outside = prefix + "ok", prefix + "secret", unique("outside")
    create_topics(acl_broker, ok, secret, outside)
    allow(acl_broker, "User:bob", AclOperation.WRITE, ResourceType.TOPIC, prefix,
          pattern=ResourcePatternType.PREFIXED)
    allow(acl_broker, "User:bob", AclOperation.WRITE, ResourceType.TOPIC, secret,
          permission=AclPermissionType.DENY)
    assert produce(acl_broker, "bob", ok, [b"1"]) == [None]
    for topic in (secret, outside):
        errors = produce(acl_broker, "bob", topic, [b"1"])
        assert errors[0] is not None, topic
        assert errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, (topic, errors)


def test_acl_change_applies_to_a_connected_client(acl_broker):
    topic = unique("acl-late")
    create_topics(acl_broker, topic)
    alice = admin_of(acl_broker, "alice")
    assert topic not in visible_topics(alice)
    binding = allow(acl_broker, "User:alice", AclOperation.DESCRIBE, ResourceType.TOPIC, topic)
    # The same client, on its open connection, sees the topic on its next request.
    deadline = time.time() + 30
    while topic not in visible_topics(alice) and time.time() < deadline:
        time.sleep(0.2)
    assert topic in visible_topics(alice)
    admin = admin_of(acl_broker)
    exactly = AclBindingFilter(binding.restype, binding.name, binding.resource_pattern_type,
                               binding.principal, binding.host, binding.operation,
                               binding.permission_type)
    for f in admin.delete_acls([exactly]).values():
        f.result(timeout=30)
    assert topic not in visible_topics(alice)


def test_super_user_bypasses_acls_and_others_get_nothing_by_default(acl_broker):
    topic = unique("acl-super")
    create_topics(acl_broker, topic)
    # An ACL on the topic for someone else, and a DENY for everyone.
    allow(acl_broker, "User:*", AclOperation.ALL, ResourceType.TOPIC, topic,
          permission=AclPermissionType.DENY)
    assert produce(acl_broker, "admin", topic, [b"s"]) == [None]
    assert topic in visible_topics(admin_of(acl_broker))
    # No ACL names carol's topics: allow.everyone.if.no.acl.found is false.
    lonely = unique("acl-lonely")
    create_topics(acl_broker, lonely)
    assert lonely not in visible_topics(admin_of(acl_broker, "bob"))


def test_moldau_acl_commands_and_kcat(acl_broker):
    topic = unique("acl-cli")
    create_topics(acl_broker, topic)
    assert produce(acl_broker, "admin", topic, [b"one", b"two"]) == [None, None]
    cli = [moldau_bin(), "-b", acl_broker.listeners["PLAINTEXT"], "acl"]

    def run(*args):
        out = subprocess.run(cli + list(args), capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    sasl = ["-b", acl_broker.listeners["SASL_PLAINTEXT"],
            "-X", "security.protocol=sasl_plaintext", "-X", "sasl.mechanisms=PLAIN",
            "-X", "sasl.username=bob", "-X", "sasl.password=bob-secret"]
    before = kcat(*sasl, "-L", "-t", topic)
    assert "Topic authorization failed" in before.stdout + before.stderr or \
        "TOPIC_AUTHORIZATION_FAILED" in before.stdout + before.stderr, before

    run("add", "--allow-principal", "User:bob", "--operation", "Read", "--topic", topic)
    listed = run("list", "--topic", topic)
    assert "User:bob" in listed and "READ" in listed and "ALLOW" in listed, listed
    out = kcat(*sasl, "-C", "-t", topic, "-o", "beginning", "-e", "-q")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["one", "two"]

    removed = run("remove", "--allow-principal", "User:bob", "--operation", "Read",
                  "--topic", topic)
    assert "1 ACL removed" in removed, removed
    assert "User:bob" not in run("list", "--topic", topic)
