//! `/metrics` stays bounded on a node with many partitions: partition sizes and
//! offsets are one series per topic by default and one per partition only with
//! `metrics.partition.level=true`; a malformed value stops start-up.

mod topic_support;

use moldau_e2e::{moldau_bin, scrape_metrics, BrokerProcess};
use std::process::Command;
use std::time::{Duration, Instant};
use topic_support::{create_topic, RawClient, NONE};

const TOPICS: usize = 20;
const PARTITIONS_PER_TOPIC: usize = 100;
/// The families with a series per partition at partition level.
const PARTITION_FAMILIES: [&str; 4] = [
    "moldau_partition_size_bytes",
    "moldau_partition_log_start_offset",
    "moldau_partition_log_end_offset",
    "moldau_partition_high_watermark",
];
/// A clean shutdown syncs every partition's active segment: thousands of fsyncs.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest wait for a restarted broker to host every partition again.
const HOSTED_TIMEOUT: Duration = Duration::from_secs(300);

fn topic(t: usize) -> String {
    format!("series-{t:02}")
}

/// The series (sample lines) of `family` in `text`, of this test's topics.
fn series<'a>(text: &'a str, family: &str) -> Vec<&'a str> {
    let prefix = format!("{family}{{topic=\"series-");
    text.lines().filter(|l| l.starts_with(&prefix)).collect()
}

fn console(broker: &BrokerProcess) -> String {
    broker
        .console_addr
        .clone()
        .expect("started with the console")
}

#[test]
fn two_thousand_partitions_are_per_topic_series_unless_partition_level_is_set() {
    let temp = tempfile::tempdir().expect("tempdir");
    let mut broker = BrokerProcess::start_in(temp.path(), &["--console", "127.0.0.1:0"], None);
    let mut admin = RawClient::connect(&broker.addr);
    for t in 0..TOPICS {
        let error = create_topic(&mut admin, &topic(t), PARTITIONS_PER_TOPIC as i32, &[]);
        assert_eq!(error, NONE, "creating {}", topic(t));
    }
    // CreateTopics answers once the partitions are hosted here.
    let text = scrape_metrics(&console(&broker));
    for family in PARTITION_FAMILIES {
        let lines = series(&text, family);
        assert_eq!(lines.len(), TOPICS, "{family}: one series per topic");
        assert!(
            lines.iter().all(|l| !l.contains("partition=")),
            "{family}: no partition label by default: {lines:?}"
        );
    }
    drop(admin);
    broker.stop_within(SHUTDOWN_TIMEOUT);

    let broker = BrokerProcess::start_in(
        temp.path(),
        &[
            "--console",
            "127.0.0.1:0",
            "--set",
            "metrics.partition.level=true",
        ],
        None,
    );
    let expected = TOPICS * PARTITIONS_PER_TOPIC;
    let deadline = Instant::now() + HOSTED_TIMEOUT;
    let text = loop {
        let text = scrape_metrics(&console(&broker));
        if series(&text, PARTITION_FAMILIES[0]).len() >= expected {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "not every partition hosted after restart"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    for family in PARTITION_FAMILIES {
        let lines = series(&text, family);
        assert_eq!(lines.len(), expected, "{family}: one series per partition");
        assert!(
            lines.iter().all(|l| l.contains(",partition=\"")),
            "{family}: partition label at partition level"
        );
    }
}

#[test]
fn a_malformed_partition_level_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(moldau_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--console", "off"])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--set", "metrics.partition.level=yes"])
        .output()
        .expect("running moldau");
    assert!(!out.status.success(), "start-up must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("metrics.partition.level"), "{err}");
}
