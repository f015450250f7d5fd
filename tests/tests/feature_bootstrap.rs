//! A new cluster's feature levels, as Kafka 4.1 sets them at format: `moldau serve`
//! on an empty directory and `moldau storage format` without flags finalize the
//! latest production levels (transaction.version 2, group.version 1); `--feature`
//! and `--release-version` choose older ones, which a restart keeps.

mod topic_support;

use moldau_e2e::{moldau_bin, BrokerProcess};
use moldau_protocol::kafka::messages::{ApiVersionsRequest, ApiVersionsResponse};
use std::path::Path;
use std::process::Command;
use topic_support::RawClient;

fn finalized(r: &ApiVersionsResponse, name: &str) -> Option<i16> {
    r.finalized_features
        .iter()
        .find(|f| f.name.as_str() == name)
        .map(|f| f.max_version_level)
}

/// (transaction.version, group.version) the broker at `addr` has finalized.
fn levels(addr: &str) -> (Option<i16>, Option<i16>) {
    let mut c = RawClient::connect(addr);
    let v = c.call(4, &ApiVersionsRequest::default());
    assert_eq!(finalized(&v, "metadata.version"), Some(7));
    (
        finalized(&v, "transaction.version"),
        finalized(&v, "group.version"),
    )
}

/// `moldau storage format` of `dir` as node 1 with `flags`; panics unless it succeeds.
fn format(dir: &Path, flags: &[&str]) -> String {
    let cluster = Command::new(moldau_bin())
        .args(["storage", "random-uuid"])
        .output()
        .unwrap();
    let cluster = String::from_utf8_lossy(&cluster.stdout).trim().to_string();
    let out = Command::new(moldau_bin())
        .args([
            "storage",
            "format",
            "-t",
            &cluster,
            "--node-id",
            "1",
            "--data-dir",
        ])
        .arg(dir)
        .args(flags)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn a_new_cluster_finalizes_transaction_version_2_and_keeps_it() {
    let temp = tempfile::tempdir().unwrap();
    // serve formats an empty directory itself, at the latest levels.
    let dir = temp.path().join("fresh");
    let mut broker = BrokerProcess::start_in(&dir, &[], None);
    assert_eq!(levels(&broker.addr), (Some(2), Some(1)));
    broker.stop();
    broker.restart();
    assert_eq!(levels(&broker.addr), (Some(2), Some(1)));
    drop(broker);

    // `storage format` without flags writes the same levels.
    let formatted = temp.path().join("formatted");
    let printed = format(&formatted, &[]);
    assert!(printed.contains("transaction.version=2"), "{printed}");
    let broker = BrokerProcess::start_in(&formatted, &[], None);
    assert_eq!(levels(&broker.addr), (Some(2), Some(1)));
}

#[test]
fn a_cluster_formatted_at_older_levels_keeps_them_across_restarts() {
    let temp = tempfile::tempdir().unwrap();
    let tv1 = temp.path().join("tv1");
    format(&tv1, &["--feature", "transaction.version=1"]);
    let mut broker = BrokerProcess::start_in(&tv1, &[], None);
    assert_eq!(levels(&broker.addr), (Some(1), Some(1)));
    // No silent upgrade on restart.
    broker.stop();
    broker.restart();
    assert_eq!(levels(&broker.addr), (Some(1), Some(1)));
    drop(broker);

    // A 3.9 cluster has neither KIP-890 part 2 nor KIP-848 finalized.
    let old = temp.path().join("release-3.9");
    format(&old, &["--release-version", "3.9"]);
    let broker = BrokerProcess::start_in(&old, &[], None);
    assert_eq!(levels(&broker.addr), (None, None));
}

#[test]
fn format_refuses_levels_it_cannot_run() {
    let temp = tempfile::tempdir().unwrap();
    for flags in [
        &["--feature", "transaction.version=3"][..],
        &["--feature", "no.such.feature=1"][..],
        &["--release-version", "3.2"][..],
        &["--release-version", "latest"][..],
    ] {
        let dir = temp.path().join("refused");
        let out = Command::new(moldau_bin())
            .args(["storage", "format", "-t", "MkU3OEVBNTcwNTJENDM2Qk"])
            .args(["--node-id", "1", "--data-dir"])
            .arg(&dir)
            .args(flags)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flags:?} must be refused");
        assert!(
            !dir.join("meta.properties").exists(),
            "nothing is formatted for {flags:?}"
        );
    }
}
