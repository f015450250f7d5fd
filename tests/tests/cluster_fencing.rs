//! Brokers register, heartbeat, are fenced and shut down in a controlled way (issue
//! 11), on three real `moldau serve` processes with short heartbeat and session
//! settings, seen through librdkafka's Metadata and `moldau cluster describe`:
//! - kill -9 of a broker: after the session timeout it is no longer listed, its
//!   single-replica partitions have no leader (LEADER_NOT_AVAILABLE), its three-replica
//!   partitions are led by another replica, and describe shows it fenced; restarted,
//!   it registers again and leads its partitions again;
//! - SIGTERM of a broker: it hands its leadership to other in-sync replicas before it
//!   exits (with status 0), so Metadata shows the new leaders at once, while the
//!   broker is not fenced (no session expired).
//!
//! Every wait has a deadline; nothing asserts on timing (the times are printed).

mod rdkafka_support;

use moldau_e2e::{moldau_bin, ClusterProcesses};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

const NODES: i32 = 3;
/// Upper bound of any wait (elections and session timeouts on a loaded machine).
const WAIT_MAX: Duration = Duration::from_secs(40);

fn settings(heartbeat_ms: u32, session_ms: u32) -> Vec<String> {
    vec![
        "--set".into(),
        format!("broker.heartbeat.interval.ms={heartbeat_ms}"),
        "--set".into(),
        format!("broker.session.timeout.ms={session_ms}"),
    ]
}

async fn create(bootstrap: &str, name: &str, partitions: i32, replication: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let results = admin
        .create_topics(
            &[NewTopic::new(
                name,
                partitions,
                TopicReplication::Fixed(replication),
            )],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(15))),
        )
        .await
        .expect("create topics");
    for r in results {
        r.expect("topic created");
    }
}

/// What one Metadata answer says: the listed brokers, and per topic each
/// partition's (leader, error).
struct View {
    brokers: BTreeSet<i32>,
    partitions: BTreeMap<String, BTreeMap<i32, (i32, Option<RDKafkaErrorCode>)>>,
}

impl View {
    fn leaders(&self, topic: &str) -> BTreeMap<i32, i32> {
        self.partitions[topic]
            .iter()
            .map(|(p, (leader, _))| (*p, *leader))
            .collect()
    }
}

fn view(bootstrap: &str) -> View {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("metadata client");
    let md = client
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    View {
        brokers: md.brokers().iter().map(|b| b.id()).collect(),
        partitions: md
            .topics()
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions()
                    .iter()
                    .map(|p| (p.id(), (p.leader(), p.error().map(RDKafkaErrorCode::from))))
                    .collect();
                (t.name().to_string(), partitions)
            })
            .collect(),
    }
}

/// Polls Metadata through `bootstrap` until `done` holds, within [`WAIT_MAX`].
fn wait_for(bootstrap: &str, what: &str, done: impl Fn(&View) -> bool) -> View {
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        let v = view(bootstrap);
        if done(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: brokers {:?}, partitions {:?}",
            v.brokers,
            v.partitions
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every partition of `topic` has a leader and all three brokers are listed.
fn settled(v: &View, topic: &str, partitions: usize) -> bool {
    v.brokers.len() == NODES as usize
        && v.partitions
            .get(topic)
            .is_some_and(|ps| ps.len() == partitions && ps.values().all(|(leader, _)| *leader >= 0))
}

/// (id, fenced) of every broker `moldau cluster describe` lists through `bootstrap`.
fn described_brokers(bootstrap: &str) -> BTreeMap<i64, bool> {
    let out = Command::new(moldau_bin())
        .args(["-b", bootstrap, "--json", "cluster", "describe"])
        .output()
        .expect("moldau cluster describe");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    doc["brokers"]
        .as_array()
        .expect("brokers")
        .iter()
        .map(|b| {
            (
                b["id"].as_i64().expect("id"),
                b["fenced"].as_bool().expect("fenced"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_broker_is_fenced_and_leads_again_once_restarted() {
    let mut cluster = ClusterProcesses::start_with(NODES as usize, |_| settings(500, 3000));
    let (solo, trio) = ("solo", "trio");
    create(&cluster.addr(1), solo, 6, 1).await;
    create(&cluster.addr(1), trio, 3, 3).await;
    let before = wait_for(&cluster.addr(1), "leaders on every node", |v| {
        settled(v, solo, 6) && settled(v, trio, 3)
    });
    let solo_before = before.leaders(solo);
    assert_eq!(
        solo_before.values().copied().collect::<BTreeSet<_>>(),
        (1..=NODES).collect(),
        "six single-replica partitions are led by all three nodes"
    );

    let victim = 3;
    let killed_at = Instant::now();
    cluster.kill(victim);
    let fenced = wait_for(&cluster.addr(1), "broker 3 fenced", |v| {
        !v.brokers.contains(&victim)
            && v.leaders(solo)
                .iter()
                .all(|(p, leader)| (solo_before[p] == victim) == (*leader == -1))
            && v.leaders(trio).values().all(|l| *l >= 0 && *l != victim)
    });
    eprintln!(
        "kill -9 to fenced in Metadata: {} ms (session timeout 3000 ms)",
        killed_at.elapsed().as_millis()
    );
    assert_eq!(fenced.brokers, BTreeSet::from([1, 2]));
    for (p, (leader, error)) in &fenced.partitions[solo] {
        if *leader == -1 {
            assert_eq!(
                *error,
                Some(RDKafkaErrorCode::LeaderNotAvailable),
                "{solo}-{p}"
            );
        }
    }
    let described = described_brokers(&cluster.addr(2));
    assert_eq!(described.get(&3), Some(&true), "describe: {described:?}");
    assert_eq!(described.get(&1), Some(&false), "describe: {described:?}");

    cluster.restart(victim);
    wait_for(&cluster.addr(1), "broker 3 back as leader", |v| {
        v.brokers.contains(&victim) && v.leaders(solo) == solo_before
    });
    // The restarted node learns of its own unfencing by replicating the metadata
    // log, a moment after the controller committed it.
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        let described = described_brokers(&cluster.addr(3));
        if described.values().all(|fenced| !fenced) && described.len() == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "describe after restart: {described:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_broker_hands_its_leadership_over_before_it_exits() {
    // A session far longer than the hand-over: leadership that moves was handed
    // over, not taken after a fence.
    let mut cluster = ClusterProcesses::start_with(NODES as usize, |_| settings(500, 20_000));
    let topic = "handover";
    create(&cluster.addr(1), topic, 6, 3).await;
    let before = wait_for(&cluster.addr(1), "leaders on every node", |v| {
        settled(v, topic, 6)
    });
    let leaders = before.leaders(topic);
    let victim = 2;
    assert!(
        leaders.values().any(|l| *l == victim),
        "broker {victim} leads a partition: {leaders:?}"
    );

    let stopping_at = Instant::now();
    // Waits for the exit and asserts status 0.
    cluster.stop(victim);
    eprintln!("SIGTERM to exit: {} ms", stopping_at.elapsed().as_millis());
    let after = view(&cluster.addr(1));
    let moved = after.leaders(topic);
    for (p, leader) in &moved {
        assert!(
            *leader >= 0 && *leader != victim,
            "{topic}-{p} led by {leader} after broker {victim} stopped: {moved:?}"
        );
        if leaders[p] != victim {
            assert_eq!(*leader, leaders[p], "{topic}-{p} kept its leader");
        }
    }
    let described = described_brokers(&cluster.addr(1));
    assert_eq!(
        described.get(&i64::from(victim)),
        Some(&false),
        "handed over without being fenced: {described:?}"
    );
}
