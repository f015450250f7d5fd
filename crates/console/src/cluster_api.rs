//! `/api/v1/cluster`, `/api/v1/cluster/throughput` and `/api/v1/brokers`: the
//! overview page's numbers and the brokers page (brokers with rack and fencing, the
//! active controller, the metadata quorum and each controller's lag).

use crate::caller::Caller;
use crate::console::Console;
use crate::error::ApiResult;
use crate::history::{RateSample, Rates, THROUGHPUT_SAMPLE_INTERVAL};
use axum::extract::State;
use axum::Json;
use moldau_broker::quorum_view::ReplicaProgress;
use moldau_protocol::acl::AclOperation;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A broker as the overview lists it.
#[derive(Debug, Serialize)]
pub struct BrokerSummary {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    /// The active controller.
    pub controller: bool,
    /// Registered but fenced: clients are not sent to it.
    pub fenced: bool,
    /// The broker serving this console.
    pub this_broker: bool,
    /// Start time (ms since the epoch); known for this broker only.
    pub up_since_ms: Option<i64>,
}

/// `GET /api/v1/cluster`
#[derive(Debug, Serialize)]
pub struct ClusterOverview {
    pub cluster_id: String,
    pub node_id: i32,
    /// The active controller, -1 during an election.
    pub controller_id: i32,
    pub version: &'static str,
    pub brokers: Vec<BrokerSummary>,
    pub topics: usize,
    pub internal_topics: usize,
    pub partitions: usize,
    pub rates: Rates,
    /// Group count by state; `None` when the coordinator could not be asked.
    pub groups_by_state: Option<BTreeMap<String, usize>>,
    pub quorum: QuorumSummary,
    /// Partitions with fewer in-sync replicas than replicas.
    pub under_replicated_count: usize,
    /// Partitions without a leader: no client can use them.
    pub offline_count: usize,
    /// Partitions with replicas being added or removed.
    pub reassigning_count: usize,
    /// The first [`PROBLEM_PARTITIONS_LISTED_MAX`] of each kind above, to show.
    pub problem_partitions: Vec<ProblemPartition>,
}

/// Most problem partitions listed by the overview (all are counted).
pub const PROBLEM_PARTITIONS_LISTED_MAX: usize = 50;

/// A partition the overview highlights.
#[derive(Debug, Serialize)]
pub struct ProblemPartition {
    pub topic: String,
    pub partition: i32,
    /// `offline`, `under_replicated` or `reassigning`.
    pub problem: &'static str,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// A replica of the metadata log.
#[derive(Debug, Serialize)]
pub struct QuorumReplica {
    pub id: i32,
    /// -1 when this node does not know it (only the active controller does).
    pub log_end_offset: i64,
    /// Entries behind the high watermark, when its log end is known.
    pub lag: Option<i64>,
}

/// The metadata quorum as this node sees it.
#[derive(Debug, Serialize)]
pub struct QuorumSummary {
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<QuorumReplica>,
    pub observers: Vec<QuorumReplica>,
}

fn quorum(console: &Console) -> QuorumSummary {
    let view = console.backend.metadata().quorum_view();
    let replicas = |v: &[ReplicaProgress]| {
        v.iter()
            .map(|r| QuorumReplica {
                id: r.replica_id,
                log_end_offset: r.log_end_offset,
                lag: (r.log_end_offset >= 0)
                    .then(|| (view.high_watermark - r.log_end_offset).max(0)),
            })
            .collect()
    };
    QuorumSummary {
        leader_id: view.leader_id,
        leader_epoch: view.leader_epoch,
        high_watermark: view.high_watermark,
        voters: replicas(&view.voters),
        observers: replicas(&view.observers),
    }
}

fn brokers(console: &Console) -> Vec<BrokerSummary> {
    let b = &console.backend;
    let metadata = b.metadata();
    let node_id = metadata.node_id();
    let controller_id = metadata.quorum_view().leader_id;
    metadata
        .image()
        .brokers()
        .map(|x| (x, x.first_address()))
        .map(|(x, (host, port))| BrokerSummary {
            id: x.id,
            host: host.to_string(),
            port,
            rack: x.rack.clone(),
            controller: x.id == controller_id,
            fenced: x.fenced,
            this_broker: x.id == node_id,
            up_since_ms: (x.id == node_id).then_some(b.started_at_ms()),
        })
        .collect()
}

/// The rates of the topics the caller may describe, summed: what a caller without
/// cluster DESCRIBE sees in place of the cluster-wide rates.
fn visible_rates(console: &Console, caller: &Caller) -> Rates {
    let image = console.backend.metadata().image();
    let mut sum = Rates::default();
    for t in image
        .topics()
        .filter(|t| caller.may_describe_topic(&t.name))
    {
        let r = console.history.topic_rates(&t.name);
        sum.bytes_in_per_sec += r.bytes_in_per_sec;
        sum.bytes_out_per_sec += r.bytes_out_per_sec;
        sum.records_in_per_sec += r.records_in_per_sec;
        sum.records_out_per_sec += r.records_out_per_sec;
    }
    sum
}

/// `GET /api/v1/cluster`. Under ACLs, topics, partitions and their problems count
/// only topics the caller may describe, groups only groups it may describe (as
/// ListGroups without cluster DESCRIBE), and the rates are those topics' unless it
/// may describe the cluster; the quorum's replicas need cluster DESCRIBE (as
/// DescribeQuorum).
pub async fn overview(
    State(console): State<Arc<Console>>,
    caller: Caller,
) -> ApiResult<Json<ClusterOverview>> {
    let image = console.backend.metadata().image();
    let cluster_wide = caller.may_describe_cluster();
    let (mut topics, mut internal_topics, mut partitions) = (0, 0, 0);
    for t in image
        .topics()
        .filter(|t| caller.may_describe_topic(&t.name))
    {
        if t.internal {
            internal_topics += 1;
        } else {
            topics += 1;
        }
        partitions += t.partitions.len();
    }
    let (mut under_replicated_count, mut offline_count, mut reassigning_count) = (0, 0, 0);
    let mut problem_partitions = Vec::new();
    for t in image
        .topics()
        .filter(|t| caller.may_describe_topic(&t.name))
    {
        for p in t.partitions.values() {
            let problem = if p.leader < 0 {
                offline_count += 1;
                "offline"
            } else if p.isr.len() < p.replicas.len() {
                under_replicated_count += 1;
                "under_replicated"
            } else if !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty() {
                reassigning_count += 1;
                "reassigning"
            } else {
                continue;
            };
            if problem_partitions.len() < PROBLEM_PARTITIONS_LISTED_MAX {
                problem_partitions.push(ProblemPartition {
                    topic: t.name.clone(),
                    partition: p.partition,
                    problem,
                    leader: p.leader,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    adding: p.adding_replicas.clone(),
                    removing: p.removing_replicas.clone(),
                });
            }
        }
    }
    let groups_by_state = match console.groups.list().await {
        Ok(groups) => {
            let mut by_state = BTreeMap::new();
            for g in groups
                .into_iter()
                .filter(|g| cluster_wide || caller.may_group(AclOperation::Describe, &g.group_id))
            {
                *by_state.entry(g.state).or_insert(0) += 1;
            }
            Some(by_state)
        }
        Err(e) => {
            tracing::debug!("overview without groups: {e}");
            None
        }
    };
    Ok(Json(ClusterOverview {
        cluster_id: console.backend.metadata().cluster_id().to_string(),
        node_id: console.backend.metadata().node_id(),
        controller_id: console.backend.metadata().quorum_view().leader_id,
        version: env!("CARGO_PKG_VERSION"),
        brokers: brokers(&console),
        topics,
        internal_topics,
        partitions,
        rates: if cluster_wide {
            console.history.current_rates()
        } else {
            visible_rates(&console, &caller)
        },
        groups_by_state,
        quorum: {
            let mut q = quorum(&console);
            if !cluster_wide {
                q.voters.clear();
                q.observers.clear();
            }
            q
        },
        under_replicated_count,
        offline_count,
        reassigning_count,
        problem_partitions,
    }))
}

/// `GET /api/v1/cluster/throughput`
#[derive(Debug, Serialize)]
pub struct Throughput {
    pub interval_ms: u64,
    pub samples: Vec<RateSample>,
}

/// `GET /api/v1/cluster/throughput`: cluster-wide, so empty for a caller who may
/// not describe the cluster.
pub async fn throughput(State(console): State<Arc<Console>>, caller: Caller) -> Json<Throughput> {
    Json(Throughput {
        interval_ms: THROUGHPUT_SAMPLE_INTERVAL.as_millis() as u64,
        samples: if caller.may_describe_cluster() {
            console.history.throughput()
        } else {
            Vec::new()
        },
    })
}

/// A log directory of a broker.
#[derive(Debug, Serialize)]
pub struct LogDir {
    pub path: String,
    /// Bytes of every partition log in it (the metadata log included).
    pub size_bytes: u64,
    pub partitions: usize,
    /// The directory failed: its partitions are not served.
    pub offline: bool,
    /// The filesystem's size and free space, when they can be read.
    pub total_bytes: Option<u64>,
    pub usable_bytes: Option<u64>,
}

/// A row of the brokers page.
#[derive(Debug, Serialize)]
pub struct BrokerDetail {
    #[serde(flatten)]
    pub broker: BrokerSummary,
    /// Known for this broker only.
    pub log_dirs: Option<Vec<LogDir>>,
    /// Partitions whose leader it is.
    pub partitions_led: usize,
}

/// `GET /api/v1/brokers`. Under ACLs, log directories need cluster DESCRIBE (as
/// DescribeLogDirs) and partitions led count only topics the caller may describe.
pub async fn list(
    State(console): State<Arc<Console>>,
    caller: Caller,
) -> ApiResult<Json<Vec<BrokerDetail>>> {
    let image = console.backend.metadata().image();
    let logs = Arc::clone(console.backend.partitions().logs());
    let local = tokio::task::spawn_blocking(move || {
        logs.describe(|_| true)
            .into_iter()
            .map(|d| LogDir {
                path: d.path.display().to_string(),
                size_bytes: d.partitions.iter().map(|p| p.size_bytes).sum(),
                partitions: d.partitions.iter().filter(|p| !p.is_future).count(),
                offline: d.offline.is_some(),
                total_bytes: d.space.map(|s| s.total_bytes),
                usable_bytes: d.space.map(|s| s.usable_bytes),
            })
            .collect::<Vec<_>>()
    })
    .await?;
    let mut local = Some(local).filter(|_| caller.may_describe_cluster());
    let out = brokers(&console)
        .into_iter()
        .map(|b| {
            let partitions_led = image
                .topics()
                .filter(|t| caller.may_describe_topic(&t.name))
                .flat_map(|t| t.partitions.values())
                .filter(|p| p.leader == b.id)
                .count();
            BrokerDetail {
                log_dirs: if b.this_broker { local.take() } else { None },
                partitions_led,
                broker: b,
            }
        })
        .collect();
    Ok(Json(out))
}
