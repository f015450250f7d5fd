//! `moldau acl add|remove|list`: ACLs as `kafka-acls.sh --add|--remove|--list` manages
//! them (CreateAcls, DeleteAcls, DescribeAcls): principals to allow or deny, from
//! hosts, the operations, and the resources (topics, groups, the cluster,
//! transactional ids, delegation tokens) with a LITERAL or PREFIXED pattern.

use clap::{Args, Subcommand};
use moldau_protocol::acl::{
    AclOperation, AclPatternType, AclPermission, AclResourceType, CLUSTER_RESOURCE_NAME,
};
use moldau_protocol::kafka::messages::create_acls_request::AclCreation;
use moldau_protocol::kafka::messages::delete_acls_request::DeleteAclsFilter;
use moldau_protocol::kafka::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use moldau_protocol::kafka::protocol::StrBytes;
use serde_json::json;

use crate::context::Context;
use crate::output::{self, Table};

/// Kafka's code for ANY in the ACL enums, and MATCH among pattern types.
const ANY_CODE: i8 = 1;
const MATCH_CODE: i8 = 2;

/// `moldau acl …`
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  moldau acl add --allow-principal User:alice --operation Read --topic payments
  moldau acl add --allow-principal User:alice --operation Read --group billing
  moldau acl add --allow-principal User:bob --operation Write --topic team- --resource-pattern-type prefixed
  moldau acl add --deny-principal User:mallory --operation All --topic '*'
  moldau acl list --topic payments
  moldau acl remove --allow-principal User:alice --operation Read --topic payments")]
pub struct AclArgs {
    #[command(subcommand)]
    command: AclCommand,
}

#[derive(Subcommand, Debug)]
enum AclCommand {
    /// Add ACLs: every principal × host × operation × resource given.
    Add(AclSpec),
    /// Remove the ACLs matching the options (no principal or operation: all of the
    /// resources' ACLs).
    Remove(AclSpec),
    /// List ACLs, of the resources given or all.
    List(AclSpec),
}

#[derive(Args, Debug, Default)]
struct AclSpec {
    /// Principal (`User:alice`, `User:*`) to allow; repeatable.
    #[arg(long)]
    allow_principal: Vec<String>,
    /// Principal to deny; repeatable.
    #[arg(long)]
    deny_principal: Vec<String>,
    /// Hosts the allow principals may connect from (default `*`).
    #[arg(long)]
    allow_host: Vec<String>,
    /// Hosts the deny principals are refused from (default `*`).
    #[arg(long)]
    deny_host: Vec<String>,
    /// Principal whose ACLs `list` shows.
    #[arg(long)]
    principal: Option<String>,
    /// Operation (Read, Write, Create, Delete, Alter, Describe, ClusterAction,
    /// DescribeConfigs, AlterConfigs, IdempotentWrite, CreateTokens, DescribeTokens,
    /// All); repeatable.
    #[arg(long)]
    operation: Vec<String>,
    /// Topic name (or prefix; `*` is every topic); repeatable.
    #[arg(long)]
    topic: Vec<String>,
    /// Consumer group id (or prefix); repeatable.
    #[arg(long)]
    group: Vec<String>,
    /// The cluster resource.
    #[arg(long)]
    cluster: bool,
    /// Transactional id (or prefix); repeatable.
    #[arg(long)]
    transactional_id: Vec<String>,
    /// Delegation token id; repeatable.
    #[arg(long)]
    delegation_token: Vec<String>,
    /// literal or prefixed (add); also any or match (remove, list).
    #[arg(long)]
    resource_pattern_type: Option<String>,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

impl AclSpec {
    fn resources(&self) -> Vec<(AclResourceType, String)> {
        let mut out = Vec::new();
        let mut add = |t: AclResourceType, names: &[String]| {
            out.extend(names.iter().map(|n| (t, n.clone())));
        };
        add(AclResourceType::Topic, &self.topic);
        add(AclResourceType::Group, &self.group);
        add(AclResourceType::TransactionalId, &self.transactional_id);
        add(AclResourceType::DelegationToken, &self.delegation_token);
        if self.cluster {
            out.push((AclResourceType::Cluster, CLUSTER_RESOURCE_NAME.to_string()));
        }
        out
    }

    fn operations(&self) -> anyhow::Result<Vec<AclOperation>> {
        self.operation
            .iter()
            .map(|o| {
                AclOperation::parse(o).ok_or_else(|| anyhow::anyhow!("unknown operation '{o}'"))
            })
            .collect()
    }

    /// The pattern type code, `default` when not given.
    fn pattern_code(&self, default: i8, filters: bool) -> anyhow::Result<i8> {
        let Some(text) = &self.resource_pattern_type else {
            return Ok(default);
        };
        match text.to_ascii_lowercase().as_str() {
            "any" if filters => Ok(ANY_CODE),
            "match" if filters => Ok(MATCH_CODE),
            other => AclPatternType::parse(other)
                .map(AclPatternType::code)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "--resource-pattern-type must be literal or prefixed{}",
                        if filters { ", any or match" } else { "" }
                    )
                }),
        }
    }

    /// (permission, principal, host) for every principal and host given.
    fn entries(&self) -> Vec<(AclPermission, String, String)> {
        let mut out = Vec::new();
        let star = vec!["*".to_string()];
        for (permission, principals, hosts) in [
            (
                AclPermission::Allow,
                &self.allow_principal,
                &self.allow_host,
            ),
            (AclPermission::Deny, &self.deny_principal, &self.deny_host),
        ] {
            let hosts = if hosts.is_empty() { &star } else { hosts };
            for p in principals {
                for h in hosts {
                    out.push((permission, p.clone(), h.clone()));
                }
            }
        }
        out
    }
}

/// Runs `moldau acl …`.
pub fn run(ctx: &Context, args: AclArgs) -> anyhow::Result<()> {
    let admin = ctx.admin()?;
    ctx.runtime()?.block_on(ctx.timed(async {
        let cluster = admin.cluster();
        match args.command {
            AclCommand::Add(spec) => {
                let pattern = spec.pattern_code(AclPatternType::Literal.code(), false)?;
                let operations = spec.operations()?;
                let resources = spec.resources();
                let entries = spec.entries();
                anyhow::ensure!(!entries.is_empty(), "give --allow-principal or --deny-principal");
                anyhow::ensure!(!operations.is_empty(), "give at least one --operation");
                anyhow::ensure!(
                    !resources.is_empty(),
                    "give a resource: --topic, --group, --cluster, --transactional-id or --delegation-token"
                );
                let mut creations = Vec::new();
                for (resource_type, name) in &resources {
                    for (permission, principal, host) in &entries {
                        for op in &operations {
                            creations.push(
                                AclCreation::default()
                                    .with_resource_type(resource_type.code())
                                    .with_resource_name(s(name))
                                    .with_resource_pattern_type(pattern)
                                    .with_principal(s(principal))
                                    .with_host(s(host))
                                    .with_operation(op.code())
                                    .with_permission_type(permission.code()),
                            );
                        }
                    }
                }
                let count = creations.len();
                let response = cluster
                    .send_any(&CreateAclsRequest::default().with_creations(creations))
                    .await
                    .map_err(|e| ctx.explain(e))?;
                for r in &response.results {
                    anyhow::ensure!(
                        r.error_code == 0,
                        "CreateAcls failed: error {} {}",
                        r.error_code,
                        r.error_message.as_deref().unwrap_or("")
                    );
                }
                output::print(&output::count_of(count as u64, "ACL added", "ACLs added"))
            }
            AclCommand::Remove(spec) => {
                let pattern = spec.pattern_code(AclPatternType::Literal.code(), true)?;
                let resources = spec.resources();
                anyhow::ensure!(
                    !resources.is_empty(),
                    "give a resource: --topic, --group, --cluster, --transactional-id or --delegation-token"
                );
                let operations: Vec<i8> = match spec.operations()? {
                    ops if ops.is_empty() => vec![ANY_CODE],
                    ops => ops.iter().map(|o| o.code()).collect(),
                };
                let entries: Vec<(i8, Option<String>, Option<String>)> = match spec.entries() {
                    e if e.is_empty() => vec![(ANY_CODE, None, None)],
                    e => e
                        .into_iter()
                        .map(|(p, principal, host)| (p.code(), Some(principal), Some(host)))
                        .collect(),
                };
                let mut filters = Vec::new();
                for (resource_type, name) in &resources {
                    for (permission, principal, host) in &entries {
                        for op in &operations {
                            filters.push(
                                DeleteAclsFilter::default()
                                    .with_resource_type_filter(resource_type.code())
                                    .with_resource_name_filter(Some(s(name)))
                                    .with_pattern_type_filter(pattern)
                                    .with_principal_filter(principal.as_deref().map(s))
                                    .with_host_filter(host.as_deref().map(s))
                                    .with_operation(*op)
                                    .with_permission_type(*permission),
                            );
                        }
                    }
                }
                let response = cluster
                    .send_any(&DeleteAclsRequest::default().with_filters(filters))
                    .await
                    .map_err(|e| ctx.explain(e))?;
                let mut removed = 0u64;
                for r in &response.filter_results {
                    anyhow::ensure!(
                        r.error_code == 0,
                        "DeleteAcls failed: error {} {}",
                        r.error_code,
                        r.error_message.as_deref().unwrap_or("")
                    );
                    removed += r.matching_acls.len() as u64;
                }
                output::print(&output::count_of(removed, "ACL removed", "ACLs removed"))
            }
            AclCommand::List(spec) => {
                let pattern = spec.pattern_code(ANY_CODE, true)?;
                let mut requests = Vec::new();
                let base = DescribeAclsRequest::default()
                    .with_pattern_type_filter(pattern)
                    .with_principal_filter(spec.principal.as_deref().map(s))
                    .with_host_filter(None)
                    .with_operation(ANY_CODE)
                    .with_permission_type(ANY_CODE);
                let resources = spec.resources();
                if resources.is_empty() {
                    requests.push(
                        base.clone()
                            .with_resource_type_filter(ANY_CODE)
                            .with_resource_name_filter(None),
                    );
                }
                for (resource_type, name) in &resources {
                    requests.push(
                        base.clone()
                            .with_resource_type_filter(resource_type.code())
                            .with_resource_name_filter(Some(s(name))),
                    );
                }
                let mut rows: Vec<[String; 7]> = Vec::new();
                for request in requests {
                    let response = cluster
                        .send_any(&request)
                        .await
                        .map_err(|e| ctx.explain(e))?;
                    anyhow::ensure!(
                        response.error_code == 0,
                        "DescribeAcls failed: error {} {}",
                        response.error_code,
                        response.error_message.as_deref().unwrap_or("")
                    );
                    for r in &response.resources {
                        for a in &r.acls {
                            let name = |code: i8, f: fn(i8) -> Option<&'static str>| {
                                f(code).map_or_else(|| code.to_string(), str::to_string)
                            };
                            rows.push([
                                name(r.resource_type, |c| AclResourceType::from_code(c).map(AclResourceType::name)),
                                r.resource_name.to_string(),
                                name(r.pattern_type, |c| AclPatternType::from_code(c).map(AclPatternType::name)),
                                a.principal.to_string(),
                                a.host.to_string(),
                                name(a.operation, |c| AclOperation::from_code(c).map(AclOperation::name)),
                                name(a.permission_type, |c| AclPermission::from_code(c).map(AclPermission::name)),
                            ]);
                        }
                    }
                }
                rows.sort();
                rows.dedup();
                if ctx.json {
                    let acls: Vec<serde_json::Value> = rows
                        .iter()
                        .map(|r| {
                            json!({
                                "resource_type": r[0], "resource_name": r[1], "pattern_type": r[2],
                                "principal": r[3], "host": r[4], "operation": r[5], "permission": r[6],
                            })
                        })
                        .collect();
                    return output::print_json(&json!(acls));
                }
                let mut table = Table::new(&[
                    "RESOURCE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION",
                ]);
                for r in rows {
                    table.row(r.to_vec());
                }
                output::print(&table.render())
            }
        }
    }))
}
