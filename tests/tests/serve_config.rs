//! `moldau serve` configuration: bad properties stop start-up with a message naming
//! them; a TOML file and MOLDAU_* variables configure the broker.

use moldau_e2e::{moldau_bin, BrokerProcess};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use std::process::Command;
use std::time::Duration;

fn serve_fails_with(args: &[&str], envs: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(moldau_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--console",
            "off",
            "--data-dir",
        ])
        .arg(dir.path())
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    assert!(!out.status.success(), "start-up must fail for {args:?}");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn unknown_or_bad_properties_stop_start_up_naming_them() {
    let err = serve_fails_with(&["--set", "no.such.property=1"], &[]);
    assert!(err.contains("no.such.property"), "{err}");
    let err = serve_fails_with(&["--set", "num.partitions=many"], &[]);
    assert!(
        err.contains("num.partitions") && err.contains("many"),
        "{err}"
    );
    let err = serve_fails_with(&[], &[("MOLDAU_SET", "log.retention.ms=soon")]);
    assert!(err.contains("log.retention.ms"), "{err}");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "log.segment.bytes = \"big\"\n").unwrap();
    let err = serve_fails_with(&["--config", file.path().to_str().unwrap()], &[]);
    assert!(err.contains("log.segment.bytes"), "{err}");
}

#[test]
fn toml_file_and_environment_configure_the_broker() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "num.partitions = 4\n\"auto.create.topics.enable\" = true\n",
    )
    .unwrap();
    let config = file.path().to_str().unwrap().to_string();
    std::env::set_var("MOLDAU_NODE_ID", "7");
    let broker = BrokerProcess::start(&["--config", &config]);
    std::env::remove_var("MOLDAU_NODE_ID");
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .unwrap();
    let md = p
        .client()
        .fetch_metadata(Some("from-config"), Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        md.topics()[0].partitions().len(),
        4,
        "num.partitions from TOML"
    );
    assert_eq!(md.brokers()[0].id(), 7, "node id from MOLDAU_NODE_ID");
}
