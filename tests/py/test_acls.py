"""ACLs enforced (issue 15) with real clients over SASL_PLAINTEXT (PLAIN):
confluent-kafka's AdminClient creates, describes and deletes ACLs; a principal
allowed to read one topic cannot write to it, cannot see other topics, cannot join a
group it has no ACL for; prefixed ACLs; DENY beats ALLOW; an ACL change applies to an
already connected client; super users bypass the ACLs; `moldau acl` and kcat; a
regex subscription (KIP-848) is assigned only the topics its member may describe;
DescribeGroups hides groups whose assignments name topics the caller may not describe."""

import subprocess
import time
import uuid

import pytest
from confluent_kafka import (Consumer, ConsumerGroupTopicPartitions, KafkaError,
                             KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation,
                                   AclPermissionType, AdminClient, NewTopic,
                                   ResourcePatternType, ResourceType)
from kafka import KafkaAdminClient
from kafka.protocol.admin import DescribeGroupsRequest_v0
from kafka.protocol.txn_offset_commit import TxnOffsetCommitRequest_v0

import acl_requests
from conftest import Broker, moldau_bin
from test_security import jaas, kcat

USERS = {"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret",
         "carol": "carol-secret"}
# Kafka's error codes, as the raw answers carry them.
TOPIC_AUTHORIZATION_FAILED = 29
GROUP_AUTHORIZATION_FAILED = 30
CLUSTER_AUTHORIZATION_FAILED = 31
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
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


def raw_admin(broker, user):
    """kafka-python's admin client as `user`, to send requests one by one."""
    return KafkaAdminClient(bootstrap_servers=broker.listeners["SASL_PLAINTEXT"],
                            security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                            sasl_plain_username=user, sasl_plain_password=USERS[user],
                            request_timeout_ms=30000)


def commit_as_admin(broker, group, offsets):
    c = Consumer(dict(conf(broker, "admin"), **{"group.id": group}))
    c.commit(offsets=offsets, asynchronous=False)
    c.close()


def test_offset_fetch_hides_topics_the_principal_may_not_describe(acl_broker):
    shown, hidden, group = unique("of-shown"), unique("of-hidden"), unique("of-group")
    create_topics(acl_broker, shown, hidden)
    commit_as_admin(acl_broker, group, [TopicPartition(shown, 0, 1),
                                        TopicPartition(hidden, 0, 2)])
    allow(acl_broker, "User:carol", AclOperation.DESCRIBE, ResourceType.GROUP, group)
    allow(acl_broker, "User:carol", AclOperation.DESCRIBE, ResourceType.TOPIC, shown)
    carol = admin_of(acl_broker, "carol")

    def fetched(partitions=None):
        request = ConsumerGroupTopicPartitions(group, partitions)
        futures = carol.list_consumer_group_offsets([request])
        return futures[group].result(timeout=30).topic_partitions

    # Every committed topic: the undescribable one is left out.
    everything = fetched()
    assert [(tp.topic, tp.offset) for tp in everything] == [(shown, 1)], everything
    # Asked by name: refused on its partitions, its offset not revealed.
    named = {tp.topic: tp for tp in fetched([TopicPartition(shown, 0),
                                              TopicPartition(hidden, 0)])}
    assert named[shown].offset == 1 and named[shown].error is None, named
    assert named[hidden].offset != 2, named
    assert named[hidden].error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, named


def test_offset_delete_needs_read_on_the_topic(acl_broker):
    readable, unreadable = unique("od-read"), unique("od-noread")
    group = unique("od-group")
    create_topics(acl_broker, readable, unreadable)
    commit_as_admin(acl_broker, group, [TopicPartition(readable, 0, 1),
                                        TopicPartition(unreadable, 0, 1)])
    allow(acl_broker, "User:carol", AclOperation.DELETE, ResourceType.GROUP, group)
    allow(acl_broker, "User:carol", AclOperation.READ, ResourceType.TOPIC, readable)
    client = raw_admin(acl_broker, "carol")
    try:
        answer = client.send_request(acl_requests.OffsetDeleteRequest_v0(
            group_id=group, topics=[(readable, [0]), (unreadable, [0])]))
    finally:
        client.close()
    assert answer.error_code == 0, answer
    codes = {name: [code for _, code in partitions] for name, partitions in answer.topics}
    assert codes == {readable: [0], unreadable: [TOPIC_AUTHORIZATION_FAILED]}, codes
    # The refused topic's offset is still there.
    admin = admin_of(acl_broker)
    left = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    topics = {tp.topic for tp in left[group].result(timeout=30).topic_partitions}
    assert topics == {unreadable}, topics


def test_consumer_group_heartbeat_needs_describe_on_subscribed_topics(acl_broker):
    seen, unseen, group = unique("cgh-seen"), unique("cgh-unseen"), unique("cgh-group")
    create_topics(acl_broker, seen, unseen)
    allow(acl_broker, "User:carol", AclOperation.READ, ResourceType.GROUP, group)
    allow(acl_broker, "User:carol", AclOperation.READ, ResourceType.TOPIC, seen)
    client = raw_admin(acl_broker, "carol")
    try:
        answer = client.send_request(acl_requests.join_heartbeat(group, [seen, unseen]))
    finally:
        client.close()
    assert answer.error_code == TOPIC_AUTHORIZATION_FAILED, answer
    assert unseen in answer.error_message and seen not in answer.error_message, answer


def test_consumer_group_describe_refuses_groups_with_undescribable_topics(acl_broker):
    shown, hidden, group = unique("cgd-shown"), unique("cgd-hidden"), unique("cgd-group")
    create_topics(acl_broker, shown, hidden)
    # A member (the super user) is assigned both topics.
    admin = raw_admin(acl_broker, "admin")
    try:
        # FindCoordinator first: it brings the offsets topic (and the coordinator) up.
        admin.describe_consumer_groups([group])
        joined = admin.send_request(acl_requests.join_heartbeat(group, [shown, hidden]))
        assert joined.error_code == 0, joined
        described = admin.send_request(acl_requests.consumer_group_describe(group))
    finally:
        admin.close()
    (g,) = described.groups
    assert g[0] == 0 and len(g[7]) == 1, described
    allow(acl_broker, "User:carol", AclOperation.DESCRIBE, ResourceType.GROUP, group)
    allow(acl_broker, "User:carol", AclOperation.DESCRIBE, ResourceType.TOPIC, shown)

    def describe_as_carol():
        client = raw_admin(acl_broker, "carol")
        try:
            return client.send_request(acl_requests.consumer_group_describe(group)).groups[0]
        finally:
            client.close()

    # As Kafka: the whole group is refused, its members (and topics) not shown.
    error_code, error_message, group_id, *_rest = describe_as_carol()
    members = _rest[4]
    assert (error_code, group_id, members) == (TOPIC_AUTHORIZATION_FAILED, group, []), _rest
    assert "not authorized to describe" in error_message, error_message
    allow(acl_broker, "User:carol", AclOperation.DESCRIBE, ResourceType.TOPIC, hidden)
    error_code, _message, _id, *rest = describe_as_carol()
    assert error_code == 0 and len(rest[4]) == 1, rest


def test_created_topic_configs_need_describe_configs(acl_broker):
    prefix = unique("ct") + "-"
    allow(acl_broker, "User:carol", AclOperation.CREATE, ResourceType.TOPIC, prefix,
          pattern=ResourcePatternType.PREFIXED)
    client = raw_admin(acl_broker, "carol")
    try:
        blind = client.send_request(acl_requests.create_topic_v5(prefix + "blind"))
        allow(acl_broker, "User:carol", AclOperation.DESCRIBE_CONFIGS, ResourceType.TOPIC,
              prefix, pattern=ResourcePatternType.PREFIXED)
        seeing = client.send_request(acl_requests.create_topic_v5(prefix + "seeing"))
    finally:
        client.close()
    (name, error, _msg, partitions, replication, configs, tags), = blind.topics
    assert (name, error) == (prefix + "blind", 0), blind
    assert (partitions, replication, configs) == (-1, -1, []), blind
    # topic_config_error_code: tagged field 0 from v5.
    assert tags.get(0) == TOPIC_AUTHORIZATION_FAILED.to_bytes(2, "big"), blind
    (name, error, _msg, partitions, replication, configs, tags), = seeing.topics
    assert (error, partitions, replication) == (0, 1, 1), seeing
    assert any(c[0] == "cleanup.policy" for c in configs), seeing
    assert 0 not in tags, seeing


def test_log_dirs_need_cluster_describe_and_alter(acl_broker):
    topic = unique("logdirs")
    create_topics(acl_broker, topic)
    admin, carol = raw_admin(acl_broker, "admin"), raw_admin(acl_broker, "carol")
    try:
        described = admin.send_request(acl_requests.DescribeLogDirsRequest_v1(topics=None))
        refused = carol.send_request(acl_requests.DescribeLogDirsRequest_v1(topics=None))
        log_dir = described.results[0][1]
        moved = carol.send_request(acl_requests.AlterReplicaLogDirsRequest_v1(
            dirs=[(log_dir, [(topic, [0])])]))
    finally:
        admin.close()
        carol.close()
    assert any(topic == t[0] for t in described.results[0][2]), described
    # v1 has no top-level error: a principal without DESCRIBE on the cluster sees none.
    assert refused.results == [], refused
    assert moved.results == [(topic, [(0, CLUSTER_AUTHORIZATION_FAILED)])], moved


def test_transactional_offsets_need_group_and_topic_read(acl_broker):
    topic, group = unique("txo-in"), unique("txo-group")
    txn = unique("txo-txn")
    create_topics(acl_broker, topic)
    allow(acl_broker, "User:carol", AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, txn)
    # DESCRIBE lets the producer find the group's coordinator, READ is what it lacks.
    allow(acl_broker, "User:carol", AclOperation.DESCRIBE, ResourceType.GROUP, group)
    metadata = Consumer(dict(conf(acl_broker, "carol"), **{"group.id": group}))
    p = Producer(dict(conf(acl_broker, "carol"), **{"transactional.id": txn}))
    p.init_transactions(30)

    def send_offsets():
        p.begin_transaction()
        try:
            p.send_offsets_to_transaction([TopicPartition(topic, 0, 1)],
                                          metadata.consumer_group_metadata(), 30)
        except KafkaException as e:
            p.abort_transaction(30)
            return e.args[0].code()
        p.abort_transaction(30)
        return None

    try:
        # AddOffsetsToTxn: READ on the group.
        assert send_offsets() == KafkaError.GROUP_AUTHORIZATION_FAILED
        # TxnOffsetCommit: READ on the topic.
        allow(acl_broker, "User:carol", AclOperation.READ, ResourceType.GROUP, group)
        assert send_offsets() == KafkaError.TOPIC_AUTHORIZATION_FAILED
        allow(acl_broker, "User:carol", AclOperation.READ, ResourceType.TOPIC, topic)
        assert send_offsets() is None
    finally:
        metadata.close()


def test_txn_offset_commit_needs_transactional_id_write_and_group_read(acl_broker):
    topic, group, txn = unique("tx-in"), unique("tx-group"), unique("tx-txn")
    create_topics(acl_broker, topic)
    allow(acl_broker, "User:carol", AclOperation.READ, ResourceType.TOPIC, topic)
    client = raw_admin(acl_broker, "carol")

    def commit():
        answer = client.send_request(TxnOffsetCommitRequest_v0(
            transactional_id=txn, group_id=group, producer_id=1000, producer_epoch=0,
            topics=[(topic, [(0, 1, "")])]))
        return [code for _, partitions in answer.topics for _, code in partitions]

    try:
        assert commit() == [TRANSACTIONAL_ID_AUTHORIZATION_FAILED]
        allow(acl_broker, "User:carol", AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID,
              txn)
        assert commit() == [GROUP_AUTHORIZATION_FAILED]
    finally:
        client.close()


def assigned_topics(consumer):
    return {tp.topic for tp in consumer.assignment()}


def coordinator_view(broker, group):
    """Each member's (by client id) current and target assignment's topics, as the
    super user's ConsumerGroupDescribe reports them."""
    client = raw_admin(broker, "admin")
    try:
        (g,) = client.send_request(acl_requests.consumer_group_describe(group)).groups
    finally:
        client.close()
    assert g[0] == 0, g
    return {m[4]: {tp[2] for a in (m[8], m[9]) for tp in a[0]} for m in g[7]}


def test_regex_subscription_assigns_only_topics_the_member_may_describe(acl_broker):
    tag = uuid.uuid4().hex[:8]
    mine, theirs = f"rx-{tag}-mine", f"rx-{tag}-theirs"
    group = unique("rx-group")
    create_topics(acl_broker, mine, theirs)
    for user in ("alice", "bob"):
        allow(acl_broker, f"User:{user}", AclOperation.READ, ResourceType.GROUP, group)
    # Alice may see one of the two topics the regex matches; bob both.
    allow(acl_broker, "User:alice", AclOperation.READ, ResourceType.TOPIC, mine)
    allow(acl_broker, "User:bob", AclOperation.READ, ResourceType.TOPIC, f"rx-{tag}-",
          ResourcePatternType.PREFIXED)

    def consumer(user):
        c = Consumer(dict(conf(acl_broker, user), **{
            "group.id": group, "group.protocol": "consumer",
            "auto.offset.reset": "earliest", "client.id": f"rx-{user}"}))
        c.subscribe([f"^rx-{tag}-.*"])
        return c

    alice = consumer("alice")
    bob = None
    seen_by_alice = set()
    try:
        # Alone in the group, alice is still given only the topic she may describe.
        deadline = time.time() + 60
        while time.time() < deadline and not assigned_topics(alice):
            alice.poll(0.2)
        seen_by_alice |= assigned_topics(alice)
        assert seen_by_alice == {mine}, seen_by_alice
        # What the coordinator holds for her (librdkafka would not show a topic it
        # cannot see in Metadata): current and target assignments name `mine` only.
        assert coordinator_view(acl_broker, group)["rx-alice"] == {mine}
        bob = consumer("bob")
        deadline = time.time() + 60
        while time.time() < deadline:
            alice.poll(0.1)
            bob.poll(0.1)
            seen_by_alice |= assigned_topics(alice)
            if assigned_topics(bob) == {theirs} and assigned_topics(alice) == {mine}:
                break
        assert assigned_topics(bob) == {theirs}, assigned_topics(bob)
        assert seen_by_alice == {mine}, seen_by_alice
        assert coordinator_view(acl_broker, group) == {"rx-alice": {mine}, "rx-bob": {theirs}}
    finally:
        alice.close()
        if bob is not None:
            bob.close()


def describe_groups_v0(broker, user, group):
    client = raw_admin(broker, user)
    try:
        return client.send_request(DescribeGroupsRequest_v0(groups=[group])).groups[0]
    finally:
        client.close()


def test_describe_groups_refuses_groups_whose_assignments_name_undescribable_topics(acl_broker):
    shown, hidden = unique("dg-shown"), unique("dg-hidden")
    classic, kip848 = unique("dg-classic"), unique("dg-848")
    create_topics(acl_broker, shown, hidden)
    # A classic group: the super user's consumer is assigned both topics.
    member = Consumer(dict(conf(acl_broker, "admin"), **{"group.id": classic}))
    member.subscribe([shown, hidden])
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(member.assignment()) < 2:
            member.poll(0.2)
        assert {tp.topic for tp in member.assignment()} == {shown, hidden}
        # A KIP-848 group, described through the classic API too.
        admin = raw_admin(acl_broker, "admin")
        try:
            joined = admin.send_request(acl_requests.join_heartbeat(kip848, [shown, hidden]))
            assert joined.error_code == 0, joined
        finally:
            admin.close()
        for group in (classic, kip848):
            allow(acl_broker, "User:carol", AclOperation.DESCRIBE, ResourceType.GROUP, group)
        allow(acl_broker, "User:carol", AclOperation.DESCRIBE, ResourceType.TOPIC, shown)
        for group in (classic, kip848):
            # As ConsumerGroupDescribe: refused whole, no member (nor topic) shown.
            error_code, group_id, _state, _ptype, _protocol, members = \
                describe_groups_v0(acl_broker, "carol", group)
            assert (error_code, group_id, members) == \
                (TOPIC_AUTHORIZATION_FAILED, group, []), members
        allow(acl_broker, "User:carol", AclOperation.DESCRIBE, ResourceType.TOPIC, hidden)
        for group in (classic, kip848):
            error_code, _id, _state, ptype, _protocol, members = \
                describe_groups_v0(acl_broker, "carol", group)
            assert (error_code, ptype, len(members)) == (0, "consumer", 1), members
    finally:
        member.close()
