"""kafka-python infers the broker's version from ApiVersions by probing particular API
versions, newest first. kafka-python 2.3.3's newest active probe is DescribeClientQuotas
v0 (Kafka 2.6); its probes for 2.7 to 3.9 (Fetch 17 for 3.9 among them) are commented
out, so (2, 6) is what it infers from Kafka 4.x too, and from Moldau. Without
DescribeClientQuotas it would fall to Produce v8 and (2, 4)."""

from kafka import KafkaAdminClient, KafkaClient


def test_kafka_python_infers_what_it_infers_from_kafka_4(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.addr)
    try:
        assert admin.config["api_version"] == (2, 6)
    finally:
        admin.close()
    client = KafkaClient(bootstrap_servers=broker.addr)
    try:
        assert client.check_version() == (2, 6)
    finally:
        client.close()
