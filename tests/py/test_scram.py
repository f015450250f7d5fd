"""SCRAM-SHA-256 and SCRAM-SHA-512 (issue 15): credentials set through
AlterUserScramCredentials (confluent-kafka's admin client) and `moldau user`, kept in
the metadata log, and used by confluent-kafka and kafka-python over
SASL_PLAINTEXT and SASL_SSL."""

import os
import subprocess

import pytest
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

from conftest import Broker, moldau_bin
from test_security import client_config, pki, refused, round_trip, still_serving  # noqa: F401


@pytest.fixture(scope="module")
def scram_broker(pki):  # noqa: F811
    settings = {
        "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": os.path.join(pki, "server-keystore.pem"),
        "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
    }
    extra = []
    for k, v in settings.items():
        extra += ["--set", f"{k}={v}"]
    b = Broker(extra)
    admin = AdminClient({"bootstrap.servers": b.listeners["PLAINTEXT"]})
    upserts = [
        UserScramCredentialUpsertion("alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"alice-secret"),
        UserScramCredentialUpsertion("alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"alice-secret"),
    ]
    for f in admin.alter_user_scram_credentials(upserts).values():
        f.result(timeout=30)
    yield b
    b.close()


def test_credentials_are_described_without_secrets(scram_broker):
    admin = AdminClient({"bootstrap.servers": scram_broker.listeners["PLAINTEXT"]})
    described = admin.describe_user_scram_credentials(["alice"])
    infos = described["alice"].result(timeout=30).scram_credential_infos
    got = sorted((i.mechanism, i.iterations) for i in infos)
    assert got == [(ScramMechanism.SCRAM_SHA_256, 4096), (ScramMechanism.SCRAM_SHA_512, 8192)]
    with pytest.raises(Exception):
        admin.describe_user_scram_credentials(["nobody"])["nobody"].result(timeout=30)


def test_confluent_kafka_scram_256_and_512(scram_broker, pki):  # noqa: F811
    round_trip(client_config(scram_broker, "SASL_PLAINTEXT", user="alice",
                             password="alice-secret", mechanism="SCRAM-SHA-256"))
    round_trip(client_config(scram_broker, "SASL_SSL", pki, user="alice",
                             password="alice-secret", mechanism="SCRAM-SHA-512"))


def test_scram_wrong_password_and_unknown_user_fail_cleanly(scram_broker):
    text = refused(client_config(scram_broker, "SASL_PLAINTEXT", user="alice",
                                 password="wrong", mechanism="SCRAM-SHA-256"))
    assert "Authentication failed" in text, text
    refused(client_config(scram_broker, "SASL_PLAINTEXT", user="nobody",
                          password="x", mechanism="SCRAM-SHA-512"))
    still_serving(scram_broker)


def test_kafka_python_scram_over_sasl_ssl(scram_broker, pki):  # noqa: F811
    from kafka import KafkaConsumer, KafkaProducer

    common = dict(
        bootstrap_servers=scram_broker.listeners["SASL_SSL"],
        security_protocol="SASL_SSL",
        ssl_cafile=os.path.join(pki, "ca.pem"),
        sasl_mechanism="SCRAM-SHA-256",
        sasl_plain_username="alice",
        sasl_plain_password="alice-secret",
    )
    p = KafkaProducer(**common)
    for i in range(3):
        p.send("kp-scram", f"m{i}".encode()).get(timeout=30)
    p.close()
    c = KafkaConsumer("kp-scram", auto_offset_reset="earliest", consumer_timeout_ms=10000, **common)
    assert [m.value for m in c][:3] == [b"m0", b"m1", b"m2"]
    c.close()


def test_moldau_user_commands(scram_broker):
    cli = [moldau_bin(), "-b", scram_broker.listeners["PLAINTEXT"]]
    out = subprocess.run(cli + ["user", "add", "carol", "--mechanism", "SCRAM-SHA-512"],
                         input="carol-secret\n", capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    out = subprocess.run(cli + ["user", "list"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "carol" in out.stdout and "SCRAM-SHA-512(iterations=4096)" in out.stdout, out.stdout
    # Debian's kcat (librdkafka 2.0.2) repeats its own nonce in client-final, which
    # Kafka refuses too ("nonce differs"); confluent-kafka's librdkafka is used here.
    carol = client_config(scram_broker, "SASL_PLAINTEXT", user="carol",
                          password="carol-secret", mechanism="SCRAM-SHA-512")
    round_trip(carol)
    out = subprocess.run(cli + ["user", "delete", "carol"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    refused(carol)  # a deleted user no longer authenticates
