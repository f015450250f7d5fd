//! Cluster identity as `kafka-storage.sh` manages it: `moldau storage random-uuid`,
//! `format` and `info`, and `moldau serve` refusing a data directory formatted for
//! another node or another cluster.

use moldau_e2e::{moldau_bin, workspace_path, BrokerProcess};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn moldau(args: &[&str]) -> Output {
    Command::new(moldau_bin()).args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn random_uuid() -> String {
    let out = moldau(&["storage", "random-uuid"]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

fn meta_properties(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("meta.properties")).unwrap()
}

/// `moldau serve` on `dir` that must exit non-zero; its stderr.
fn serve_refused(dir: &Path, extra: &[&str]) -> String {
    let out = Command::new(moldau_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--console", "off"])
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve must refuse {extra:?}");
    stderr(&out)
}

fn cluster_id_seen_by_librdkafka(addr: &str) -> Option<String> {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .unwrap();
    p.client().fetch_cluster_id(Duration::from_secs(10))
}

#[test]
fn random_uuid_prints_kafka_style_ids() {
    let a = random_uuid();
    let b = random_uuid();
    assert_ne!(a, b);
    for id in [a, b] {
        assert_eq!(id.len(), 22, "{id}");
        assert!(!id.starts_with('-'), "{id}");
        assert!(
            id.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "{id}"
        );
    }
}

#[test]
fn format_writes_kraft_meta_properties_and_serve_uses_them() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("d1");
    let cluster = random_uuid();
    let d = dir.to_str().unwrap();
    let out = moldau(&[
        "storage",
        "format",
        "--cluster-id",
        &cluster,
        "--node-id",
        "3",
        "--data-dir",
        d,
        "--initial-controllers",
        "3@127.0.0.1:9093",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = meta_properties(&dir);
    for line in [
        "version=1".to_string(),
        format!("cluster.id={cluster}"),
        "node.id=3".to_string(),
    ] {
        assert!(meta.lines().any(|l| l == line), "{line} in {meta}");
    }
    let directory_id = meta
        .lines()
        .find_map(|l| l.strip_prefix("directory.id="))
        .expect("directory.id");
    assert_eq!(directory_id.len(), 22);

    // Formatting again is refused, naming the directory; --ignore-formatted skips it.
    let again = moldau(&[
        "storage",
        "format",
        "-t",
        &random_uuid(),
        "--node-id",
        "3",
        "--data-dir",
        d,
    ]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already formatted") && stderr(&again).contains(d),
        "{}",
        stderr(&again)
    );
    let ignored = moldau(&[
        "storage",
        "format",
        "-t",
        &random_uuid(),
        "--node-id",
        "3",
        "--data-dir",
        d,
        "-g",
    ]);
    assert!(ignored.status.success(), "{}", stderr(&ignored));
    assert_eq!(
        meta_properties(&dir),
        meta,
        "an ignored directory is left alone"
    );

    let info = moldau(&["storage", "info", "--data-dir", d, "--node-id", "3"]);
    assert!(info.status.success(), "{}", stderr(&info));
    assert!(stdout(&info).contains(&format!("cluster.id={cluster}")));

    // The broker runs with the formatted identity and clients see its cluster id.
    let mut broker =
        BrokerProcess::start_in(&dir, &["--node-id", "3", "--cluster-id", &cluster], None);
    assert_eq!(
        cluster_id_seen_by_librdkafka(&broker.addr).as_deref(),
        Some(cluster.as_str())
    );
    broker.stop();
    assert_eq!(
        meta_properties(&dir),
        meta,
        "serve keeps the formatted identity"
    );
}

#[test]
fn format_refuses_what_it_cannot_honour() {
    let temp = tempfile::tempdir().unwrap();
    let d = temp.path().join("d").to_str().unwrap().to_string();
    let bad_id = moldau(&["storage", "format", "-t", "not-a-uuid", "--data-dir", &d]);
    assert!(!bad_id.status.success());
    assert!(
        stderr(&bad_id).contains("not-a-uuid"),
        "{}",
        stderr(&bad_id)
    );
    let voters = moldau(&[
        "storage",
        "format",
        "-t",
        &random_uuid(),
        "--node-id",
        "1",
        "--data-dir",
        &d,
        "--initial-controllers",
        "1@127.0.0.1:9093,2@127.0.0.1:9193",
    ]);
    assert!(!voters.status.success());
    assert!(stderr(&voters).contains("2 voters"), "{}", stderr(&voters));
    assert!(!temp.path().join("d").join("meta.properties").exists());
    let info = moldau(&["storage", "info", "--data-dir", &d]);
    assert!(
        !info.status.success(),
        "an unformatted directory is a problem"
    );
}

#[test]
fn serve_refuses_a_directory_of_another_node_or_cluster() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let cluster = random_uuid();
    let out = moldau(&[
        "storage",
        "format",
        "-t",
        &cluster,
        "--node-id",
        "2",
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = dir.display().to_string();

    let err = serve_refused(dir, &["--node-id", "5"]);
    let line = err
        .lines()
        .find(|l| l.contains("node.id 2"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains(&shown) && line.contains('5'), "{line}");

    let other = random_uuid();
    let err = serve_refused(dir, &["--node-id", "2", "--cluster-id", &other]);
    let line = err
        .lines()
        .find(|l| l.contains(&other))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains(&shown) && line.contains(&cluster), "{line}");

    // The same through the property name in a config file.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        format!("\"node.id\" = 2\n\"cluster.id\" = \"{other}\"\n"),
    )
    .unwrap();
    let err = serve_refused(dir, &["--config", file.path().to_str().unwrap()]);
    assert!(err.contains(&other) && err.contains(&cluster), "{err}");
}

#[test]
fn serve_formats_an_empty_directory_itself() {
    let temp = tempfile::tempdir().unwrap();
    let plain = temp.path().join("plain");
    let mut broker = BrokerProcess::start_in(&plain, &[], None);
    let seen = cluster_id_seen_by_librdkafka(&broker.addr).expect("a cluster id");
    broker.stop();
    let meta = meta_properties(&plain);
    assert!(
        meta.contains(&format!("cluster.id={seen}")) && meta.contains("node.id=1"),
        "{meta}"
    );

    // Given a cluster id, an empty directory is formatted with it.
    let given = random_uuid();
    let named = temp.path().join("named");
    let broker = BrokerProcess::start_in(&named, &["--cluster-id", &given], None);
    assert_eq!(
        cluster_id_seen_by_librdkafka(&broker.addr).as_deref(),
        Some(given.as_str())
    );
    drop(broker);
    assert!(meta_properties(&named).contains(&format!("cluster.id={given}")));
}

#[test]
fn format_and_info_read_node_id_and_log_dirs_from_the_serve_config() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let config = temp.path().join("moldau.toml");
    std::fs::write(
        &config,
        format!("\"node.id\" = 4\n\"log.dirs\" = \"{}\"\n", dir.display()),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let cluster = random_uuid();
    let out = moldau(&["storage", "format", "-t", &cluster, "-c", config]);
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = meta_properties(&dir);
    assert!(
        meta.contains("node.id=4") && meta.contains(&cluster),
        "{meta}"
    );
    let info = moldau(&["storage", "info", "-c", config]);
    assert!(info.status.success(), "{}", stderr(&info));
    assert!(stdout(&info).contains(&dir.display().to_string()));
    // Asked about another node id, info reports the mismatch.
    let other = moldau(&["storage", "info", "-c", config, "--node-id", "5"]);
    assert!(!other.status.success());
    assert!(stdout(&other).contains("node.id 4"), "{}", stdout(&other));
}

/// A port free right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

#[test]
fn a_node_formatted_for_another_cluster_is_refused_when_it_joins() {
    let temp = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let voters = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}@127.0.0.1:{p}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let cluster = random_uuid();
    // Nodes 1 and 2, a majority, form the cluster.
    let nodes: Vec<BrokerProcess> = std::thread::scope(|scope| {
        let starts: Vec<_> = (1..=2)
            .map(|id: usize| {
                let (dir, voters, cluster) =
                    (temp.path().join(format!("n{id}")), &voters, &cluster);
                let controller = format!("127.0.0.1:{}", ports[id - 1]);
                scope.spawn(move || {
                    let id = id.to_string();
                    BrokerProcess::start_in(
                        &dir,
                        &[
                            "--node-id",
                            &id,
                            "--controller",
                            &controller,
                            "--voters",
                            voters,
                            "--cluster-id",
                            cluster,
                        ],
                        None,
                    )
                })
            })
            .collect();
        starts.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Node 3's directory belongs to another cluster; it is not given an id.
    let stray = temp.path().join("n3");
    let other = random_uuid();
    let out = moldau(&[
        "storage",
        "format",
        "-t",
        &other,
        "--node-id",
        "3",
        "--data-dir",
        stray.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut child = Command::new(moldau_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--console", "off"])
        .args(["--node-id", "3", "--voters", &voters])
        .args(["--controller", &format!("127.0.0.1:{}", ports[2])])
        .arg("--data-dir")
        .arg(&stray)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("a node of another cluster kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{err}");
    // The last word names the directory, its cluster id and the voters' one.
    let stray_dir = stray.display().to_string();
    let line = err
        .lines()
        .find(|l| l.contains("INCONSISTENT_CLUSTER_ID") && l.contains(&stray_dir))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains(&other) && line.contains(&cluster), "{line}");
    // The cluster itself still works: it lists its two brokers.
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &nodes[0].addr)
        .create()
        .unwrap();
    let md = p
        .client()
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    let ids: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
    assert!(!ids.contains(&3), "{ids:?}");
}

#[test]
fn a_quorum_member_does_not_name_a_cluster_itself() {
    let temp = tempfile::tempdir().unwrap();
    let (mine, peer) = (free_port(), free_port());
    let voters = format!("1@127.0.0.1:{mine},2@127.0.0.1:{peer}");
    let err = serve_refused(
        temp.path(),
        &[
            "--node-id",
            "1",
            "--controller",
            &format!("127.0.0.1:{mine}"),
            "--voters",
            &voters,
        ],
    );
    assert!(
        err.contains("not formatted")
            && err.contains(&temp.path().display().to_string())
            && err.contains("moldau storage format")
            && err.contains("--cluster-id"),
        "{err}"
    );
    assert!(!temp.path().join("meta.properties").exists());
}

/// `scripts/cluster` on its own ports and directory; stopped (or killed) on drop.
struct ScriptCluster {
    dir: std::path::PathBuf,
    port: u16,
}

impl ScriptCluster {
    fn run(&self, action: &str) -> Output {
        Command::new(workspace_path("scripts/cluster"))
            .arg(action)
            .env("MOLDAU_BIN", moldau_bin())
            .env("MOLDAU_CLUSTER_DIR", &self.dir)
            .env("MOLDAU_CLUSTER_PORT", self.port.to_string())
            .output()
            .unwrap()
    }
}

impl Drop for ScriptCluster {
    fn drop(&mut self) {
        for n in 1..=3 {
            let pid = std::fs::read_to_string(self.dir.join(format!("d{n}.pid")));
            if let Ok(pid) = pid {
                let _ = Command::new("kill").args(["-9", pid.trim()]).status();
            }
        }
    }
}

/// A base port whose six ports the script uses (`base + 100k`, `+1`) are free now.
fn free_script_ports() -> u16 {
    (0..200)
        .map(|i| 20_000 + i * 7)
        .find(|base| {
            (0..3u16).all(|n| {
                [0u16, 1]
                    .iter()
                    .all(|c| std::net::TcpListener::bind(("127.0.0.1", base + n * 100 + c)).is_ok())
            })
        })
        .expect("free ports")
}

#[test]
fn the_quick_start_script_formats_three_nodes_for_one_cluster() {
    let temp = tempfile::tempdir().unwrap();
    let cluster = ScriptCluster {
        dir: temp.path().join("cluster"),
        port: free_script_ports(),
    };
    let out = cluster.run("start");
    assert!(out.status.success(), "{}", stderr(&out));
    let ids: Vec<String> = (1..=3)
        .map(|n| {
            let meta = meta_properties(&cluster.dir.join(format!("d{n}")));
            assert!(meta.contains(&format!("node.id={n}")), "{meta}");
            meta.lines()
                .find_map(|l| l.strip_prefix("cluster.id="))
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    // Every node's broker registers and they report that one cluster id.
    let bootstrap = format!("127.0.0.1:{}", cluster.port + 100);
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let brokers = p
            .client()
            .fetch_metadata(None, Duration::from_secs(5))
            .map(|md| md.brokers().len())
            .unwrap_or(0);
        if brokers == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "three brokers never registered ({brokers})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        cluster_id_seen_by_librdkafka(&bootstrap).as_deref(),
        Some(ids[0].as_str())
    );
    let out = cluster.run("stop");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("node 3 stopped"), "{}", stdout(&out));
}
