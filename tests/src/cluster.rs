//! Several `moldau serve` processes forming one cluster on loopback: N combined
//! broker+controller nodes (ids 1..=N) sharing `controller.quorum.voters`, each with
//! its own data directory, Kafka port and controller port, plus per-node extra
//! arguments. Nodes can be killed (SIGKILL), stopped (SIGTERM) and restarted on the
//! same ports and data; every process is killed when the cluster is dropped.

use crate::BrokerProcess;
use std::net::TcpListener;
use std::path::PathBuf;

/// The cluster id every node is started with (`moldau storage random-uuid` shape).
pub const TEST_CLUSTER_ID: &str = "MkU3OEVBNTcwNTJENDM2Qk";

pub struct ClusterProcesses {
    /// Index `id - 1`; `None` never happens after start (a killed node keeps its
    /// `BrokerProcess`, whose child is gone).
    nodes: Vec<BrokerProcess>,
    /// `id@127.0.0.1:port,…`.
    pub voters: String,
    _temp: tempfile::TempDir,
}

/// A port free right now (bound to port 0, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl ClusterProcesses {
    /// Starts `count` nodes with the same `extra` arguments.
    pub fn start(count: usize, extra: &[&str]) -> Self {
        Self::start_with(count, |_| extra.iter().map(|s| s.to_string()).collect())
    }

    /// Starts `count` nodes at once; `per_node(id)` gives each node's extra arguments.
    pub fn start_with(count: usize, per_node: impl Fn(i32) -> Vec<String> + Sync) -> Self {
        assert!(count > 0, "a cluster has a node");
        let temp = tempfile::tempdir().expect("tempdir");
        let controller_ports: Vec<u16> = (0..count).map(|_| free_port()).collect();
        let voters = controller_ports
            .iter()
            .enumerate()
            .map(|(i, port)| format!("{}@127.0.0.1:{port}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let dirs: Vec<PathBuf> = (1..=count)
            .map(|id| temp.path().join(format!("node-{id}")))
            .collect();
        // Started together: a node's start-up waits (bounded) for a quorum leader.
        let nodes = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..count)
                .map(|i| {
                    let id = (i + 1) as i32;
                    let mut args = vec![
                        "--node-id".to_string(),
                        id.to_string(),
                        "--controller".to_string(),
                        format!("127.0.0.1:{}", controller_ports[i]),
                        "--voters".to_string(),
                        voters.clone(),
                        "--cluster-id".to_string(),
                        TEST_CLUSTER_ID.to_string(),
                    ];
                    args.extend(per_node(id));
                    let dir = dirs[i].clone();
                    scope.spawn(move || {
                        let args: Vec<&str> = args.iter().map(String::as_str).collect();
                        BrokerProcess::start_in(&dir, &args, None)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("node start thread"))
                .collect()
        });
        ClusterProcesses {
            nodes,
            voters,
            _temp: temp,
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `id` (1-based).
    pub fn node(&mut self, id: i32) -> &mut BrokerProcess {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Node `id`'s Kafka address.
    pub fn addr(&self, id: i32) -> String {
        self.nodes[(id - 1) as usize].addr.clone()
    }

    /// Node `id`'s data directory.
    pub fn data_dir(&self, id: i32) -> PathBuf {
        self.nodes[(id - 1) as usize].data_dir.clone()
    }

    /// Node `id`'s log lines since its last (re)start.
    pub fn log_lines(&self, id: i32) -> Vec<String> {
        self.nodes[(id - 1) as usize].log_lines()
    }

    /// Whether node `id` runs.
    pub fn is_running(&self, id: i32) -> bool {
        self.nodes[(id - 1) as usize].pid().is_some()
    }

    /// The Kafka addresses of the running nodes, as a bootstrap list.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .filter(|n| n.pid().is_some())
            .map(|n| n.addr.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// SIGKILL of node `id`.
    pub fn kill(&mut self, id: i32) {
        self.node(id).kill();
    }

    /// SIGTERM of node `id`, waiting for it to exit.
    pub fn stop(&mut self, id: i32) {
        self.node(id).stop();
    }

    /// Starts node `id` again on its ports and data directory.
    pub fn restart(&mut self, id: i32) {
        self.node(id).restart();
    }

    /// Restarts every stopped node at once (they wait for each other's quorum).
    pub fn restart_all_stopped(&mut self) {
        std::thread::scope(|scope| {
            for node in self.nodes.iter_mut().filter(|n| n.pid().is_none()) {
                scope.spawn(move || node.restart());
            }
        });
    }
}
