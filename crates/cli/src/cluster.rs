//! `moldau cluster describe`: cluster id, controller, brokers (rack, fenced), the
//! metadata quorum (leader, epoch, each controller's lag) and the API versions the
//! cluster speaks.

use clap::{Args, Subcommand};
use moldau_client::admin::{QuorumDescription, QuorumReplica};
use moldau_client::api_versions::client_range;
use moldau_client::AdminClient;
use moldau_protocol::kafka::messages::{ApiKey, ApiVersionsRequest};
use moldau_protocol::kafka::protocol::StrBytes;
use serde_json::{json, Value};

use crate::context::Context;
use crate::output::{self, Table};

/// `moldau cluster …`
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  moldau cluster describe
  moldau -b kafka1:9092 cluster describe --json")]
pub struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Subcommand, Debug)]
enum ClusterCommand {
    /// Cluster id, controller, brokers (rack, fenced), the metadata quorum, and the
    /// API versions the broker supports.
    #[command(after_help = "Examples:
  moldau cluster describe
  moldau cluster describe --json | jq '.api_versions[] | select(.name == \"Fetch\")'")]
    Describe,
}

/// One API as the broker announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ApiRow {
    key: i16,
    name: String,
    min: i16,
    max: i16,
    /// The version this tool would use, if it uses the API at all.
    used: Option<i16>,
}

/// Runs `moldau cluster …`.
pub fn run(ctx: &Context, args: ClusterArgs) -> anyhow::Result<()> {
    let admin = ctx.admin()?;
    ctx.runtime()?.block_on(ctx.timed(async {
        match args.command {
            ClusterCommand::Describe => describe(ctx, &admin).await,
        }
    }))
}

async fn describe(ctx: &Context, admin: &AdminClient) -> anyhow::Result<()> {
    let cluster = admin.describe_cluster().await.map_err(|e| ctx.explain(e))?;
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("moldau-cli"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    let versions = admin
        .cluster()
        .send_any(&request)
        .await
        .map_err(|e| ctx.explain(e))?;
    let mut apis: Vec<ApiRow> = versions
        .api_keys
        .iter()
        .map(|a| {
            let known = ApiKey::try_from(a.api_key).ok();
            ApiRow {
                key: a.api_key,
                name: known.map_or_else(|| format!("Unknown{}", a.api_key), |k| format!("{k:?}")),
                min: a.min_version,
                max: a.max_version,
                used: known.and_then(client_range).and_then(|(cmin, cmax)| {
                    let high = cmax.min(a.max_version);
                    (high >= cmin.max(a.min_version)).then_some(high)
                }),
            }
        })
        .collect();
    apis.sort_by_key(|a| a.key);
    let controller = (cluster.controller_id >= 0).then_some(cluster.controller_id);
    // A cluster without DescribeQuorum (or whose quorum has no leader right now)
    // still describes its brokers.
    let quorum = if apis.iter().any(|a| a.key == ApiKey::DescribeQuorum as i16) {
        admin.describe_quorum().await.map_err(|e| e.to_string())
    } else {
        Err("the broker does not answer DescribeQuorum".to_string())
    };
    let fenced = |id: i32| cluster.fenced_brokers.contains(&id);
    if ctx.json {
        return output::print_json(&json!({
            "cluster_id": cluster.cluster_id,
            "controller_id": controller,
            "brokers": cluster.brokers.iter().map(|b| json!({
                "id": b.node_id, "host": b.host, "port": b.port, "rack": b.rack,
                "fenced": fenced(b.node_id),
            })).collect::<Vec<_>>(),
            "quorum": match &quorum {
                Ok(q) => quorum_json(q),
                Err(e) => json!({ "error": e }),
            },
            "api_versions": apis.iter().map(|a| json!({
                "key": a.key, "name": a.name, "min_version": a.min, "max_version": a.max,
                "client_version": a.used,
            })).collect::<Vec<Value>>(),
        }));
    }
    let mut text = format!(
        "Cluster: {}  Controller: {}  Brokers: {}\n\n",
        cluster.cluster_id.as_deref().unwrap_or("-"),
        controller.map_or_else(|| "none".to_string(), |c| c.to_string()),
        cluster.brokers.len()
    );
    let mut brokers = Table::new(&["ID", "HOST", "PORT", "RACK", "FENCED", "ROLE"]);
    for b in &cluster.brokers {
        brokers.row(vec![
            b.node_id.to_string(),
            b.host.clone(),
            b.port.to_string(),
            b.rack.clone().unwrap_or_else(|| "-".into()),
            if fenced(b.node_id) { "yes" } else { "no" }.into(),
            if Some(b.node_id) == controller {
                "controller".into()
            } else {
                "-".into()
            },
        ]);
    }
    text.push_str(&brokers.render());
    text.push('\n');
    match &quorum {
        Ok(q) => text.push_str(&quorum_text(q)),
        Err(e) => text.push_str(&format!("Quorum: unavailable ({e})\n")),
    }
    let mut table = Table::new(&["KEY", "API", "MIN", "MAX", "CLIENT-USES"]);
    for a in &apis {
        table.row(vec![
            a.key.to_string(),
            a.name.clone(),
            a.min.to_string(),
            a.max.to_string(),
            a.used.map_or_else(|| "-".to_string(), |v| v.to_string()),
        ]);
    }
    text.push('\n');
    text.push_str(&table.render());
    output::print(&text)
}

/// How far `r` trails the quorum's high watermark (None when its end is unknown).
fn lag(q: &QuorumDescription, r: &QuorumReplica) -> Option<i64> {
    (r.log_end_offset >= 0).then(|| (q.high_watermark - r.log_end_offset).max(0))
}

fn quorum_json(q: &QuorumDescription) -> Value {
    let replicas = |v: &[QuorumReplica]| {
        v.iter()
            .map(|r| json!({ "id": r.replica_id, "log_end_offset": r.log_end_offset, "lag": lag(q, r) }))
            .collect::<Vec<_>>()
    };
    json!({
        "leader_id": (q.leader_id >= 0).then_some(q.leader_id),
        "leader_epoch": q.leader_epoch,
        "high_watermark": q.high_watermark,
        "voters": replicas(&q.voters),
        "observers": replicas(&q.observers),
    })
}

fn quorum_text(q: &QuorumDescription) -> String {
    let leader = if q.leader_id >= 0 {
        q.leader_id.to_string()
    } else {
        "none".to_string()
    };
    let mut text = format!(
        "Quorum: leader {leader}  epoch {}  high watermark {}\n\n",
        q.leader_epoch, q.high_watermark
    );
    let mut table = Table::new(&["ID", "ROLE", "LOG-END", "LAG"]);
    let voters = q.voters.iter().map(|r| (r, "voter"));
    for (r, role) in voters.chain(q.observers.iter().map(|r| (r, "observer"))) {
        let role = if r.replica_id == q.leader_id {
            "leader"
        } else {
            role
        };
        let unknown = || "-".to_string();
        table.row(vec![
            r.replica_id.to_string(),
            role.to_string(),
            if r.log_end_offset >= 0 {
                r.log_end_offset.to_string()
            } else {
                unknown()
            },
            lag(q, r).map_or_else(unknown, |l| l.to_string()),
        ]);
    }
    text.push_str(&table.render());
    text
}
