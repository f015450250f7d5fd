//! Chunk processing against a real broker: ordered commits, failure handling,
//! key-parallel order, and a processor killed with SIGKILL mid-chunk.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moldau_client::admin::AdminClient;
use moldau_client::chunk::KeyParallelOptions;
use moldau_client::consumer::{Consumer, ConsumerBuilder};
use moldau_client::producer::ProducerBuilder;
use moldau_client::{Error, OffsetReset, ProducerRecord, TopicPartition};

const BROKER_PROPS: &[&str] = &[
    "num.partitions=3",
    "group.initial.rebalance.delay.ms=0",
    "offsets.topic.num.partitions=1",
];

async fn produce_keyed(addr: &str, topic: &str, n: usize, keys: usize) {
    let producer = ProducerBuilder::new(addr).build().unwrap();
    let mut fs = Vec::new();
    let mut seq: HashMap<usize, usize> = HashMap::new();
    for i in 0..n {
        let k = i % keys;
        let s = seq.entry(k).or_default();
        let rec = ProducerRecord::new(topic, format!("{k}:{s}")).with_key(format!("key-{k}"));
        *s += 1;
        fs.push(producer.send(rec).await.unwrap());
    }
    for f in fs {
        f.await.unwrap();
    }
    producer.close().await.unwrap();
}

fn consumer(addr: &str, group: &str) -> Consumer {
    ConsumerBuilder::new(addr)
        .group_id(group)
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false)
        .max_poll_records(50)
        .heartbeat_interval(Duration::from_millis(300))
        .build()
        .unwrap()
}

async fn end_offsets(admin: &AdminClient, topic: &str) -> BTreeMap<TopicPartition, i64> {
    let tps = admin.partitions_of(&[topic]).await.unwrap();
    admin
        .list_offsets(&tps, moldau_client::admin::OffsetSpec::Latest)
        .await
        .unwrap()
        .into_iter()
        .map(|(tp, l)| (tp, l.offset))
        .collect()
}

#[tokio::test]
async fn chunks_commit_in_order_and_failures_commit_nothing_past_them() {
    let Some(broker) = common::start_broker(BROKER_PROPS) else {
        return;
    };
    let topic = common::unique("chunks");
    let group = common::unique("cg");
    produce_keyed(&broker.addr, &topic, 600, 10).await;
    let admin = AdminClient::connect(&broker.addr).unwrap();

    // Fail on the chunk holding partition 0's offset 120.
    let c = consumer(&broker.addr, &group);
    c.subscribe(&[&topic]).await.unwrap();
    let processed = Arc::new(Mutex::new(0usize));
    let p = processed.clone();
    let err = c
        .process_chunks(move |chunk| {
            let fail = chunk.iter().any(|r| r.partition == 0 && r.offset == 120);
            if !fail {
                *p.lock().unwrap() += chunk.len();
            }
            async move {
                if fail {
                    Err("poisoned record")
                } else {
                    Ok(())
                }
            }
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Processing(_)), "{err}");
    let committed = admin.list_group_offsets(&group).await.unwrap();
    let p0 = committed
        .get(&TopicPartition::new(&topic, 0))
        .map_or(0, |o| o.offset);
    assert!(p0 <= 120, "committed {p0} past the failed record");
    let committed_before: i64 = committed.values().map(|o| o.offset).sum();
    c.close().await.unwrap();

    // A fresh run completes everything; commits end at the log end.
    let c = consumer(&broker.addr, &group);
    c.subscribe(&[&topic]).await.unwrap();
    let ends = end_offsets(&admin, &topic).await;
    let total: i64 = ends.values().sum();
    let seen = Arc::new(Mutex::new(0i64));
    let (s, closer) = (seen.clone(), c.clone());
    let run = tokio::spawn(async move {
        c.process_chunks(move |chunk| {
            *s.lock().unwrap() += chunk.len() as i64;
            async { Ok::<(), String>(()) }
        })
        .await
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let committed = admin.list_group_offsets(&group).await.unwrap();
        let done = ends
            .iter()
            .all(|(tp, end)| committed.get(tp).map(|o| o.offset) == Some(*end));
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "commits never reached the end");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    closer.close().await.unwrap();
    run.await.unwrap().unwrap();
    assert!(*seen.lock().unwrap() >= total - committed_before);
}

#[tokio::test]
async fn key_parallel_keeps_per_key_order_and_commits_everything() {
    let Some(broker) = common::start_broker(BROKER_PROPS) else {
        return;
    };
    let topic = common::unique("keyed");
    let group = common::unique("kg");
    const N: usize = 2000;
    const KEYS: usize = 25;
    produce_keyed(&broker.addr, &topic, N, KEYS).await;
    let admin = AdminClient::connect(&broker.addr).unwrap();
    let ends = end_offsets(&admin, &topic).await;

    let c = consumer(&broker.addr, &group);
    c.subscribe(&[&topic]).await.unwrap();
    let order: Arc<Mutex<HashMap<usize, Vec<usize>>>> = Arc::default();
    let running = Arc::new(Mutex::new((0usize, 0usize))); // (now, max)
    let (o, r) = (order.clone(), running.clone());
    let closer = c.clone();
    let opts = KeyParallelOptions {
        max_concurrency: 8,
        max_pending_records: 300,
        commit_interval: Duration::from_millis(50),
    };
    let run = tokio::spawn(async move {
        c.process_by_key(opts, move |rec| {
            let (o, r) = (o.clone(), r.clone());
            async move {
                {
                    let mut g = r.lock().unwrap();
                    g.0 += 1;
                    g.1 = g.1.max(g.0);
                }
                let v = String::from_utf8(rec.value.unwrap().to_vec()).unwrap();
                let (k, s) = v.split_once(':').unwrap();
                let (k, s): (usize, usize) = (k.parse().unwrap(), s.parse().unwrap());
                tokio::time::sleep(Duration::from_micros(200 + (s as u64 * 37) % 900)).await;
                o.lock().unwrap().entry(k).or_default().push(s);
                r.lock().unwrap().0 -= 1;
                Ok::<(), String>(())
            }
        })
        .await
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let committed = admin.list_group_offsets(&group).await.unwrap();
        if ends
            .iter()
            .all(|(tp, end)| committed.get(tp).map(|o| o.offset) == Some(*end))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "commits never reached the end: {committed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    closer.close().await.unwrap();
    run.await.unwrap().unwrap();
    let order = order.lock().unwrap();
    assert_eq!(order.len(), KEYS);
    for (k, seqs) in order.iter() {
        let expected: Vec<usize> = (0..seqs.len()).collect();
        assert_eq!(seqs, &expected, "key {k} out of order");
    }
    assert_eq!(order.values().map(Vec::len).sum::<usize>(), N);
    let max_parallel = running.lock().unwrap().1;
    assert!(
        max_parallel > 1 && max_parallel <= 8,
        "parallelism {max_parallel}"
    );
}

/// Locates (building if needed) the chunk_processor example.
fn chunk_processor_bin() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe
        .parent()?
        .parent()?
        .join("examples")
        .join("chunk_processor");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "-p",
                "moldau-client",
                "--example",
                "chunk_processor",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .ok()?;
        if !status.success() {
            return None;
        }
    }
    bin.exists().then_some(bin)
}

fn read_output(path: &std::path::Path) -> Vec<(i32, i64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn chunk_processor_killed_mid_chunk_loses_and_skips_nothing() {
    let Some(broker) = common::start_broker(BROKER_PROPS) else {
        return;
    };
    let Some(bin) = chunk_processor_bin() else {
        eprintln!("chunk_processor example not built; skipping");
        return;
    };
    let topic = common::unique("crash");
    let group = common::unique("crashg");
    const N: usize = 1500;
    produce_keyed(&broker.addr, &topic, N, 30).await;
    let admin = AdminClient::connect(&broker.addr).unwrap();
    let ends = end_offsets(&admin, &topic).await;
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("processed.txt");
    let spawn = || {
        Command::new(&bin)
            .args([&broker.addr, &group, &topic])
            .arg(&out_path)
            .arg("2") // ms per record: chunks of up to 100 take ~200 ms
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };

    // First run: kill it with SIGKILL while it is in the middle of chunks.
    let mut child = spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    while read_output(&out_path).len() < 430 {
        assert!(Instant::now() < deadline, "processor made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = read_output(&out_path);
    let committed: BTreeMap<TopicPartition, i64> = admin
        .list_group_offsets(&group)
        .await
        .unwrap()
        .into_iter()
        .map(|(tp, o)| (tp, o.offset))
        .collect();
    // Nothing committed that was not processed.
    for (tp, &c) in &committed {
        let done: BTreeSet<i64> = before
            .iter()
            .filter(|(p, _)| *p == tp.partition)
            .map(|&(_, o)| o)
            .collect();
        for o in 0..c {
            assert!(
                done.contains(&o),
                "{tp}: offset {o} committed but never processed"
            );
        }
    }
    // The kill landed mid-chunk: something was processed but not committed.
    let processed_total = before.len() as i64;
    let committed_total: i64 = committed.values().sum();
    assert!(processed_total >= committed_total);

    // Second run: resumes exactly at the commits and finishes everything.
    let mut child = spawn();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let now: BTreeMap<TopicPartition, i64> = admin
            .list_group_offsets(&group)
            .await
            .unwrap()
            .into_iter()
            .map(|(tp, o)| (tp, o.offset))
            .collect();
        if ends.iter().all(|(tp, e)| now.get(tp) == Some(e)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "second run did not finish: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let all = read_output(&out_path);
    let after = &all[before.len()..];
    for (tp, end) in &ends {
        let p = tp.partition;
        let resumed_at = after.iter().find(|(q, _)| *q == p).map(|&(_, o)| o);
        let c = committed.get(tp).copied().unwrap_or(0);
        if c < *end {
            assert_eq!(
                resumed_at,
                Some(c),
                "{tp}: restart did not resume at the commit"
            );
        }
        let seen: BTreeSet<i64> = all
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|&(_, o)| o)
            .collect();
        let expected: BTreeSet<i64> = (0..*end).collect();
        assert_eq!(seen, expected, "{tp}: lost or skipped records");
    }
}

#[tokio::test]
async fn key_parallel_hands_partitions_over_without_loss_or_skips() {
    let Some(broker) = common::start_broker(BROKER_PROPS) else {
        return;
    };
    let topic = common::unique("handover");
    let group = common::unique("hg");
    const N: usize = 1200;
    produce_keyed(&broker.addr, &topic, N, 40).await;
    let admin = AdminClient::connect(&broker.addr).unwrap();
    let ends = end_offsets(&admin, &topic).await;
    let processed: Arc<Mutex<Vec<(i32, i64)>>> = Arc::default();
    let opts = KeyParallelOptions {
        max_concurrency: 4,
        max_pending_records: 100,
        commit_interval: Duration::from_millis(50),
    };
    let start_member = |c: Consumer| {
        let p = processed.clone();
        tokio::spawn(async move {
            c.process_by_key(opts, move |r| {
                let p = p.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    p.lock().unwrap().push((r.partition, r.offset));
                    Ok::<(), String>(())
                }
            })
            .await
        })
    };
    let a = consumer(&broker.addr, &group);
    a.subscribe(&[&topic]).await.unwrap();
    let run_a = start_member(a.clone());
    // Let a get going, then b joins and takes partitions over mid-flight.
    let deadline = Instant::now() + Duration::from_secs(30);
    while processed.lock().unwrap().len() < 150 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let b = consumer(&broker.addr, &group);
    b.subscribe(&[&topic]).await.unwrap();
    let run_b = start_member(b.clone());
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let committed = admin.list_group_offsets(&group).await.unwrap();
        if ends
            .iter()
            .all(|(tp, end)| committed.get(tp).map(|o| o.offset) == Some(*end))
        {
            break;
        }
        assert!(Instant::now() < deadline, "commits stalled: {committed:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!b.assignment().is_empty(), "b never got partitions");
    a.close().await.unwrap();
    b.close().await.unwrap();
    run_a.await.unwrap().unwrap();
    run_b.await.unwrap().unwrap();
    let seen: BTreeSet<(i32, i64)> = processed.lock().unwrap().iter().copied().collect();
    for (tp, end) in &ends {
        for o in 0..*end {
            assert!(
                seen.contains(&(tp.partition, o)),
                "{tp}: offset {o} never processed"
            );
        }
    }
}
