"""Leader elections (issue 12) on three combined broker+controller nodes: after the
preferred leader is killed and restarted, ElectLeaders PREFERRED (confluent-kafka's
`elect_leaders`, kafka-python's `perform_leader_election`, `moldau leader-election`)
moves leadership back to it; `auto.leader.rebalance.enable` does so by itself; UNCLEAN
gives a partition whose only in-sync replica is gone a leader outside the ISR."""

import subprocess
import time

import pytest
from confluent_kafka import ElectionType
from confluent_kafka import TopicPartition as CkTopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from conftest import close_all, moldau_bin, start_cluster

NODES = 3
CLUSTER_ID = "bGVhZGVyLWVsZWN0aW9uMQ"
ELECTION_NOT_NEEDED = 84
# Brokers are fenced (and their leadership moved) soon after a kill -9.
FAST_FENCING = [
    "--set", "broker.heartbeat.interval.ms=500",
    "--set", "broker.session.timeout.ms=3000",
]


def start_three(extra):
    return start_cluster(NODES, CLUSTER_ID, lambda node_id: FAST_FENCING + extra)


@pytest.fixture
def cluster():
    nodes = start_three(["--set", "auto.leader.rebalance.enable=false"])
    yield nodes
    close_all(nodes)


@pytest.fixture
def rebalancing_cluster():
    nodes = start_three(["--set", "leader.imbalance.check.interval.seconds=1"])
    yield nodes
    close_all(nodes)


def partition_state(bootstrap, topic):
    """{partition: (leader, isr)} as the broker at `bootstrap` answers Metadata."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        (described,) = admin.describe_topics([topic])
    finally:
        admin.close()
    return {p["partition"]: (p["leader"], sorted(p["isr"])) for p in described["partitions"]}


def wait_for(what, check, timeout=90):
    deadline = time.time() + timeout
    while True:
        try:
            result = check()
        except Exception:  # a broker just killed or starting: ask again
            result = None
        if result:
            return result
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def create_topic(nodes, topic, assignments):
    admin = KafkaAdminClient(bootstrap_servers=nodes[0].addr, request_timeout_ms=30000)
    wait_for("three brokers", lambda: len(admin.describe_cluster()["brokers"]) == NODES)
    admin.create_topics([NewTopic(topic, num_partitions=-1, replication_factor=-1,
                                  replica_assignments=assignments)])
    admin.close()
    wait_for("leaders", lambda: all(
        leader == assignments[p][0]
        for p, (leader, _) in partition_state(nodes[0].addr, topic).items()))


def produce(bootstrap, topic, partition, values):
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=20)
    for v in values:
        producer.send(topic, value=v, partition=partition).get(60)
    producer.close()


def consume(bootstrap, topic, partition, count):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=30000)
    consumer.assign([TopicPartition(topic, partition)])
    consumer.seek_to_beginning()
    values = []
    deadline = time.time() + 60
    while len(values) < count and time.time() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            values.extend(r.value for r in records)
    consumer.close()
    return values


def fail_over_and_return(nodes, topic, partition, preferred):
    """Kills the preferred leader, waits for another leader, restarts it and waits
    until it is back in the ISR (not leading)."""
    survivor = nodes[preferred % NODES].addr
    nodes[preferred - 1].kill()
    wait_for("a new leader", lambda: partition_state(survivor, topic)[partition][0]
             not in (-1, preferred))
    nodes[preferred - 1].start()
    state = wait_for("the restarted replica in sync",
                     lambda: (s := partition_state(survivor, topic)[partition])
                     and preferred in s[1] and s)
    return state


def test_preferred_election_moves_leadership_back(cluster):
    topic = "elect-preferred"
    create_topic(cluster, topic, {0: [1, 2, 3], 1: [2, 3, 1]})
    produce(cluster[1].addr, topic, 0, [b"before-%d" % i for i in range(10)])

    leader, _ = fail_over_and_return(cluster, topic, 0, preferred=1)
    assert leader != 1
    produce(cluster[1].addr, topic, 0, [b"during-%d" % i for i in range(10)])
    # Disabled automatic rebalance: it stays where the failover put it.
    time.sleep(2)
    assert partition_state(cluster[1].addr, topic)[0][0] == leader

    admin = AdminClient({"bootstrap.servers": cluster[2].addr})
    future = admin.elect_leaders(ElectionType.PREFERRED, [CkTopicPartition(topic, 0),
                                                         CkTopicPartition(topic, 1)])
    results = future.result(60)
    assert results[CkTopicPartition(topic, 0)] is None
    # Partition 1's leader is its preferred replica already.
    not_needed = results[CkTopicPartition(topic, 1)]
    assert not_needed is not None and not_needed.code() == ELECTION_NOT_NEEDED
    wait_for("the preferred leader back", lambda: partition_state(cluster[2].addr, topic)[0][0] == 1)

    produce(cluster[0].addr, topic, 0, [b"after-%d" % i for i in range(10)])
    assert consume(cluster[0].addr, topic, 0, 30) == (
        [b"before-%d" % i for i in range(10)] + [b"during-%d" % i for i in range(10)]
        + [b"after-%d" % i for i in range(10)])

    # Asked again: nothing to do, and confluent-kafka reports it per partition.
    again = admin.elect_leaders(ElectionType.PREFERRED, [CkTopicPartition(topic, 0)]).result(60)
    assert again[CkTopicPartition(topic, 0)].code() == ELECTION_NOT_NEEDED


def test_kafka_python_and_the_cli_elect_preferred_leaders(cluster):
    topic = "elect-tools"
    create_topic(cluster, topic, {0: [2, 3, 1]})
    produce(cluster[0].addr, topic, 0, [b"x"])

    fail_over_and_return(cluster, topic, 0, preferred=2)
    admin = KafkaAdminClient(bootstrap_servers=cluster[0].addr)
    # Raises on any partition error other than ELECTION_NOT_NEEDED.
    response = admin.perform_leader_election(0, {topic: [0]})
    admin.close()
    assert [(t, [r[:2] for r in results]) for t, results
            in response.replication_election_results] == [(topic, [(0, 0)])]
    wait_for("leader 2", lambda: partition_state(cluster[0].addr, topic)[0][0] == 2)

    fail_over_and_return(cluster, topic, 0, preferred=2)
    done = subprocess.run(
        [moldau_bin(), "leader-election", "-b", cluster[0].addr,
         "--election-type", "PREFERRED", "--all-topic-partitions"],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"Successfully completed leader election (PREFERRED) for partitions {topic}-0" \
        in done.stdout, done.stdout
    wait_for("leader 2", lambda: partition_state(cluster[0].addr, topic)[0][0] == 2)
    # Nothing left to elect: a partition named explicitly is reported as such.
    done = subprocess.run(
        [moldau_bin(), "leader-election", "-b", cluster[0].addr,
         "--election-type", "preferred", "--topic", topic, "--partition", "0"],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"Valid replica already elected for partitions {topic}-0" in done.stdout


def test_auto_leader_rebalance_moves_leadership_back(rebalancing_cluster):
    nodes = rebalancing_cluster
    topic = "elect-auto"
    create_topic(nodes, topic, {0: [3, 1, 2]})
    produce(nodes[0].addr, topic, 0, [b"a"])
    nodes[2].kill()
    wait_for("a new leader",
             lambda: partition_state(nodes[0].addr, topic)[0][0] not in (-1, 3))
    nodes[2].start()
    # No admin call: the controller's imbalance check elects the preferred replica.
    wait_for("the preferred leader back",
             lambda: partition_state(nodes[0].addr, topic)[0] == (3, [1, 2, 3]))
    assert consume(nodes[0].addr, topic, 0, 1) == [b"a"]


def test_unclean_election_elects_a_replica_outside_the_isr(cluster):
    topic = "elect-unclean"
    create_topic(cluster, topic, {0: [1, 2]})
    produce(cluster[2].addr, topic, 0, [b"both-%d" % i for i in range(5)])
    observer = cluster[2].addr

    # 2 goes first (fenced: out of the ISR), then 1, the last in-sync replica. 2
    # comes back at once, so that two of the three controllers keep a quorum.
    cluster[1].kill()
    wait_for("ISR [1]", lambda: partition_state(observer, topic)[0] == (1, [1]))
    cluster[0].kill()
    cluster[1].start()
    wait_for("no leader", lambda: partition_state(observer, topic)[0][0] == -1)
    # unclean.leader.election.enable is false: 2 does not lead by itself.
    time.sleep(4)
    assert partition_state(observer, topic)[0][0] == -1

    admin = AdminClient({"bootstrap.servers": observer})
    results = admin.elect_leaders(ElectionType.UNCLEAN, [CkTopicPartition(topic, 0)]).result(60)
    assert results[CkTopicPartition(topic, 0)] is None
    assert wait_for("leader 2", lambda: partition_state(observer, topic)[0] == (2, [2]))
    # 2 had what was acknowledged with acks=all while it was in the ISR.
    assert consume(observer, topic, 0, 5) == [b"both-%d" % i for i in range(5)]

    # Led now: another unclean election is not needed.
    again = admin.elect_leaders(ElectionType.UNCLEAN, [CkTopicPartition(topic, 0)]).result(60)
    assert again[CkTopicPartition(topic, 0)].code() == ELECTION_NOT_NEEDED
