"""TLS and SASL listeners (issue 15) with real clients: confluent-kafka (librdkafka),
kafka-python and kcat over SSL, SASL_PLAINTEXT and SASL_SSL. Certificates are made
here with the openssl command: a CA, the broker's certificate, a client certificate
the CA signed, one it signed that expired in 2020, and a client certificate from a CA
the broker does not trust; a keystore file replaced while the broker runs is served
to the next connection."""

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from conftest import Broker, moldau_bin

OPENSSL = shutil.which("openssl")
KCAT = shutil.which("kcat") or shutil.which("kafkacat")
PLAIN_USERS = {"alice": "alice-secret", "bob": "bob-secret"}


def openssl(*args, cwd):
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", f"/CN={name}", cwd=d)


def make_signed(d, name, ca, subject, san=None):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", subject, cwd=d)
    # Extensions make it an X.509 v3 certificate, the only version WebPKI accepts.
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\n")
        if san:
            f.write(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
        else:
            f.write("extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext",
            cwd=d)


def make_expired(d, name, ca, subject):
    """A client certificate signed by `ca` that expired in 2020 (`openssl ca`, which
    unlike `x509 -req` takes explicit validity dates)."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", subject, cwd=d)
    index = os.path.join(d, f"{name}-index.txt")
    open(index, "w").close()
    with open(os.path.join(d, f"{name}-serial"), "w") as f:
        f.write("1000\n")
    with open(os.path.join(d, f"{name}-ca.cnf"), "w") as f:
        f.write(f"[ca]\ndefault_ca = past\n[past]\ndatabase = {index}\n"
                f"new_certs_dir = {d}\nserial = {d}/{name}-serial\ndefault_md = sha256\n"
                "policy = any\nx509_extensions = ext\n[any]\ncommonName = supplied\n"
                "[ext]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = clientAuth\n")
    openssl("ca", "-batch", "-config", f"{name}-ca.cnf", "-cert", f"{ca}.pem",
            "-keyfile", f"{ca}.key", "-in", f"{name}.csr", "-out", f"{name}.pem", "-notext",
            "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", cwd=d)


@pytest.fixture(scope="module")
def pki():
    assert OPENSSL, "openssl is missing: scripts/test installs it with apt-get"
    d = tempfile.mkdtemp(prefix="moldau-pki-")
    make_ca(d, "ca")
    make_ca(d, "rogue-ca")
    make_signed(d, "server", "ca", "/CN=localhost", "DNS:localhost,IP:127.0.0.1")
    make_signed(d, "client", "ca", "/O=Example/CN=alice")
    make_signed(d, "rogue", "rogue-ca", "/CN=mallory")
    make_expired(d, "expired", "ca", "/CN=expired-alice")
    # The broker's next certificate, from another CA (certificate reload).
    make_signed(d, "server-next", "rogue-ca", "/CN=localhost", "DNS:localhost,IP:127.0.0.1")
    # The broker's PEM keystore: its certificate followed by its key, one file.
    with open(os.path.join(d, "server-keystore.pem"), "w") as out:
        for part in ("server.pem", "server.key"):
            with open(os.path.join(d, part)) as f:
                out.write(f.read())
    yield d
    shutil.rmtree(d, ignore_errors=True)


def jaas(users):
    entries = " ".join(f'user_{u}="{p}"' for u, p in users.items())
    return f"org.apache.kafka.common.security.plain.PlainLoginModule required {entries};"


@pytest.fixture(scope="module")
def secure_broker(pki):
    settings = {
        "listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,"
                     "SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": os.path.join(pki, "server-keystore.pem"),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": os.path.join(pki, "ca.pem"),
        "listener.name.ssl.ssl.client.auth": "required",
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas(PLAIN_USERS),
        "listener.name.sasl_ssl.plain.sasl.jaas.config": jaas(PLAIN_USERS),
    }
    extra = []
    for k, v in settings.items():
        extra += ["--set", f"{k}={v}"]
    b = Broker(extra)
    assert set(b.listeners) >= {"SSL", "SASL_PLAINTEXT", "SASL_SSL"}, b.listeners
    yield b
    b.close()


def ssl_settings(pki, client="client"):
    s = {"ssl.ca.location": os.path.join(pki, "ca.pem")}
    if client:
        s["ssl.certificate.location"] = os.path.join(pki, f"{client}.pem")
        s["ssl.key.location"] = os.path.join(pki, f"{client}.key")
    return s


def client_config(broker, listener, pki=None, client="client", user=None, password=None,
                  mechanism="PLAIN"):
    conf = {
        "bootstrap.servers": broker.listeners[listener],
        "security.protocol": listener.lower(),
        "socket.timeout.ms": 10000,
    }
    if listener in ("SSL", "SASL_SSL"):
        conf.update(ssl_settings(pki, client if listener == "SSL" else None))
    if user is not None:
        conf.update({"sasl.mechanism": mechanism, "sasl.username": user,
                     "sasl.password": password})
    return conf


def round_trip(conf):
    """Creates a topic, produces three records and reads them back through `conf`."""
    topic = f"sec-{uuid.uuid4().hex[:8]}"
    p = Producer(dict(conf, **{"message.timeout.ms": 20000}))
    for i in range(3):
        p.produce(topic, key=b"k", value=f"v{i}".encode())
    assert p.flush(30) == 0, "records not delivered"
    c = Consumer(dict(conf, **{"group.id": f"g-{topic}", "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    got = []
    for _ in range(60):
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            got.append(m.value())
        if len(got) == 3:
            break
    c.close()
    assert got == [b"v0", b"v1", b"v2"]


def refused(conf, expect=None):
    """The client cannot list topics; returns the error text."""
    errors = []
    conf = dict(conf, **{"error_cb": lambda e: errors.append(str(e))})
    admin = AdminClient(conf)
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=8)
    admin.poll(1)  # serves error_cb
    text = " ".join(errors)
    if expect:
        assert expect in text, text
    return text


def still_serving(broker):
    admin = AdminClient({"bootstrap.servers": broker.listeners["PLAINTEXT"]})
    assert admin.list_topics(timeout=10).brokers


def test_ssl_with_a_client_certificate(secure_broker, pki):
    round_trip(client_config(secure_broker, "SSL", pki))


def test_ssl_refuses_missing_and_untrusted_client_certificates(secure_broker, pki):
    refused(client_config(secure_broker, "SSL", pki, client=None))
    refused(client_config(secure_broker, "SSL", pki, client="rogue"))
    still_serving(secure_broker)


def test_ssl_refuses_an_expired_client_certificate(secure_broker, pki):
    # Signed by the trusted CA, so only its dates make it unacceptable.
    refused(client_config(secure_broker, "SSL", pki, client="expired"), "certificate expired")
    still_serving(secure_broker)


def test_client_refuses_an_untrusted_broker_certificate(secure_broker, pki):
    conf = client_config(secure_broker, "SSL", pki)
    conf["ssl.ca.location"] = os.path.join(pki, "rogue-ca.pem")
    refused(conf, "certificate verify failed")
    still_serving(secure_broker)


def test_plaintext_client_on_a_tls_port_is_closed(secure_broker):
    host, port = secure_broker.listeners["SSL"].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        # ApiVersions v0, correlation id 7, no client id: not a TLS ClientHello.
        body = struct.pack(">hhih", 18, 0, 7, -1)
        s.sendall(struct.pack(">i", len(body)) + body)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        # rustls may send a TLS alert record before closing; never a Kafka response.
        assert not data or data[0] == 0x15, data
    still_serving(secure_broker)


def test_sasl_plain_over_plaintext_and_tls(secure_broker, pki):
    round_trip(client_config(secure_broker, "SASL_PLAINTEXT", user="alice",
                             password="alice-secret"))
    round_trip(client_config(secure_broker, "SASL_SSL", pki, user="bob",
                             password="bob-secret"))


def test_sasl_wrong_password_fails_cleanly(secure_broker, pki):
    text = refused(client_config(secure_broker, "SASL_PLAINTEXT", user="alice",
                                 password="wrong"))
    assert "Authentication failed" in text, text
    refused(client_config(secure_broker, "SASL_SSL", pki, user="nobody", password="x"))
    still_serving(secure_broker)


def test_requests_before_authentication_close_the_connection(secure_broker):
    host, port = secure_broker.listeners["SASL_PLAINTEXT"].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        # Metadata v1 for all topics, before any SaslHandshake.
        body = struct.pack(">hhih", 3, 1, 9, -1) + struct.pack(">i", -1)
        s.sendall(struct.pack(">i", len(body)) + body)
        assert s.recv(4096) == b""


def test_sasl_mechanism_not_enabled_is_refused(pki):
    b = Broker(["--set", "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
                "--set", "sasl.enabled.mechanisms=SCRAM-SHA-256"])
    try:
        text = refused(client_config(b, "SASL_PLAINTEXT", user="alice", password="x"))
        assert "PLAIN" in text, text
    finally:
        b.close()


def test_kafka_python_over_sasl_ssl(secure_broker, pki):
    from kafka import KafkaConsumer, KafkaProducer

    topic = f"kp-{uuid.uuid4().hex[:8]}"
    common = dict(
        bootstrap_servers=secure_broker.listeners["SASL_SSL"],
        security_protocol="SASL_SSL",
        ssl_cafile=os.path.join(pki, "ca.pem"),
        sasl_mechanism="PLAIN",
        sasl_plain_username="alice",
        sasl_plain_password="alice-secret",
    )
    p = KafkaProducer(**common)
    for i in range(3):
        p.send(topic, f"m{i}".encode()).get(timeout=30)
    p.close()
    c = KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=10000, **common)
    assert [m.value for m in c][:3] == [b"m0", b"m1", b"m2"]
    c.close()


def kcat(*args, stdin=None):
    assert KCAT, "kcat is missing: scripts/test installs it with apt-get"
    return subprocess.run([KCAT, *args], input=stdin, capture_output=True, text=True,
                          timeout=60)


def test_kcat_over_ssl_and_sasl(secure_broker, pki):
    topic = f"kc-{uuid.uuid4().hex[:8]}"
    ssl = ["-b", secure_broker.listeners["SSL"], "-X", "security.protocol=ssl",
           "-X", f"ssl.ca.location={pki}/ca.pem",
           "-X", f"ssl.certificate.location={pki}/client.pem",
           "-X", f"ssl.key.location={pki}/client.key"]
    out = kcat(*ssl, "-P", "-t", topic, stdin="one\ntwo\n")
    assert out.returncode == 0, out.stderr
    sasl = ["-b", secure_broker.listeners["SASL_PLAINTEXT"],
            "-X", "security.protocol=sasl_plaintext", "-X", "sasl.mechanisms=PLAIN",
            "-X", "sasl.username=alice", "-X", "sasl.password=alice-secret"]
    out = kcat(*sasl, "-C", "-t", topic, "-o", "beginning", "-e", "-q")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["one", "two"]
    sasl_ssl = ["-b", secure_broker.listeners["SASL_SSL"],
                "-X", "security.protocol=sasl_ssl", "-X", "sasl.mechanisms=PLAIN",
                "-X", "sasl.username=bob", "-X", "sasl.password=bob-secret",
                "-X", f"ssl.ca.location={pki}/ca.pem"]
    out = kcat(*sasl_ssl, "-C", "-t", topic, "-o", "beginning", "-e", "-q")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["one", "two"]
    out = kcat("-b", secure_broker.listeners["SASL_PLAINTEXT"],
               "-X", "security.protocol=sasl_plaintext", "-X", "sasl.mechanisms=PLAIN",
               "-X", "sasl.username=alice", "-X", "sasl.password=nope", "-L", "-m", "5")
    assert out.returncode != 0


def encrypted_keystore(pki, password):
    """The broker's certificate and its key as encrypted PKCS#8 (AES-256, PBKDF2)."""
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "server.key",
            "-out", "server-encrypted.key", "-passout", f"pass:{password}", cwd=pki)
    path = os.path.join(pki, "server-encrypted-keystore.pem")
    with open(path, "w") as out:
        for part in ("server.pem", "server-encrypted.key"):
            with open(os.path.join(pki, part)) as f:
                out.write(f.read())
    return path


def as_flags(settings):
    flags = []
    for k, v in settings.items():
        flags += ["--set", f"{k}={v}"]
    return flags


def test_encrypted_private_key_with_ssl_key_password(pki):
    settings = {
        "listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": encrypted_keystore(pki, "key-secret"),
        "ssl.key.password": "key-secret",
    }
    b = Broker(as_flags(settings))
    try:
        round_trip(client_config(b, "SSL", pki, client=None))
    finally:
        b.close()
    # A wrong password, or none, stops start-up with a message naming the property.
    for password in ("wrong", None):
        s = dict(settings)
        s.pop("ssl.key.password")
        if password is not None:
            s["ssl.key.password"] = password
        d = tempfile.mkdtemp(prefix="moldau-py-")
        try:
            out = subprocess.run([moldau_bin(), "serve", "--listen", "127.0.0.1:0",
                                  "--data-dir", d, "--console", "off"] + as_flags(s),
                                 capture_output=True, text=True, timeout=60)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        assert out.returncode != 0, (password, out.stdout)
        assert "ssl.key.password" in out.stderr, (password, out.stderr)


def keystore(pki, name):
    parts = []
    for part in (f"{name}.pem", f"{name}.key"):
        with open(os.path.join(pki, part)) as f:
            parts.append(f.read())
    return "".join(parts)


def test_a_changed_keystore_file_is_served_without_a_restart(pki):
    d = tempfile.mkdtemp(prefix="moldau-reload-")
    path = os.path.join(d, "keystore.pem")
    with open(path, "w") as f:
        f.write(keystore(pki, "server"))
    settings = {"listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
                "ssl.keystore.type": "PEM", "ssl.keystore.location": path}
    extra = []
    for k, v in settings.items():
        extra += ["--set", f"{k}={v}"]
    b = Broker(extra)
    try:
        def trusting(ca):
            return {"bootstrap.servers": b.listeners["SSL"], "security.protocol": "ssl",
                    "ssl.ca.location": os.path.join(pki, f"{ca}.pem"),
                    "socket.timeout.ms": 10000}

        assert AdminClient(trusting("ca")).list_topics(timeout=10).brokers
        # Replaced in one rename, as certificate tools do.
        with open(path + ".new", "w") as f:
            f.write(keystore(pki, "server-next"))
        os.replace(path + ".new", path)
        deadline = time.time() + 30
        while True:
            try:
                assert AdminClient(trusting("rogue-ca")).list_topics(timeout=5).brokers
                break
            except KafkaException:
                assert time.time() < deadline, "the new certificate was never served"
        refused(trusting("ca"), "certificate verify failed")
    finally:
        b.close()
        shutil.rmtree(d, ignore_errors=True)
