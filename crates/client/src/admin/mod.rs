//! The admin client: topics and partitions, configs, groups and their offsets,
//! record deletion, and the cluster's description.
//!
//! ```no_run
//! # async fn demo() -> moldau_client::Result<()> {
//! use moldau_client::admin::{AdminClient, NewTopic};
//! let admin = AdminClient::connect("127.0.0.1:9092")?;
//! admin.create_topic(NewTopic::new("payments", 12)).await?;
//! for (group, lag) in admin.group_lag("billing").await? {
//!     println!("{group}: {lag:?}");
//! }
//! # Ok(()) }
//! ```

mod configs;
mod groups;
mod quorum;
mod transaction_types;
mod transactions;
mod types;

use std::collections::BTreeMap;

use moldau_protocol::kafka::messages::create_partitions_request::CreatePartitionsTopic;
use moldau_protocol::kafka::messages::create_topics_request::{
    CreatableTopic, CreatableTopicConfig,
};
use moldau_protocol::kafka::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use moldau_protocol::kafka::messages::delete_topics_request::DeleteTopicState;
use moldau_protocol::kafka::messages::{
    ApiKey, CreatePartitionsRequest, CreateTopicsRequest, DeleteRecordsRequest,
    DeleteTopicsRequest, DescribeClusterRequest,
};
use moldau_protocol::kafka::protocol::StrBytes;

pub use transaction_types::*;
pub use transactions::TransactionFilter;
pub use types::*;

use crate::cluster::{topic_name, BrokerInfo, ClientConfig, Cluster, Lane, TopicInfo};
use crate::error::{check_code, BrokerError, Error, Result};
use crate::offsets::{self, ListedOffset};
use crate::record::TopicPartition;

/// How long the broker may take for topic creation/deletion, in ms.
const ADMIN_TIMEOUT_MS: i32 = 30_000;

/// An admin client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AdminClient {
    cluster: Cluster,
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Turns per-item error codes into a map of results.
fn item_result(code: i16, message: Option<&StrBytes>) -> Result<()> {
    match BrokerError::from_code(code, message.map(|m| m.to_string())) {
        None => Ok(()),
        Some(e) => Err(Error::Broker(e)),
    }
}

impl AdminClient {
    /// An admin client with `config`.
    pub fn new(config: ClientConfig) -> Result<AdminClient> {
        Ok(AdminClient {
            cluster: Cluster::new(config)?,
        })
    }

    /// An admin client for these bootstrap servers (comma separated), defaults
    /// otherwise.
    pub fn connect(bootstrap_servers: &str) -> Result<AdminClient> {
        AdminClient::new(ClientConfig {
            bootstrap_servers: bootstrap_servers
                .split(',')
                .map(|s| s.trim().to_string())
                .collect(),
            ..ClientConfig::default()
        })
    }

    /// The cluster view.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Creates topics; the result per topic says whether it worked
    /// (TOPIC_ALREADY_EXISTS and the like are per-topic errors).
    pub async fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
    ) -> Result<BTreeMap<String, Result<()>>> {
        let creatable: Vec<CreatableTopic> = topics
            .iter()
            .map(|t| {
                CreatableTopic::default()
                    .with_name(topic_name(&t.name))
                    .with_num_partitions(t.partitions)
                    .with_replication_factor(t.replication_factor)
                    .with_configs(
                        t.configs
                            .iter()
                            .map(|(k, v)| {
                                CreatableTopicConfig::default()
                                    .with_name(sb(k))
                                    .with_value(Some(sb(v)))
                            })
                            .collect(),
                    )
            })
            .collect();
        let req = CreateTopicsRequest::default()
            .with_topics(creatable)
            .with_timeout_ms(ADMIN_TIMEOUT_MS)
            .with_validate_only(validate_only);
        let resp = self.cluster.send_any(&req).await?;
        let out: BTreeMap<String, Result<()>> = resp
            .topics
            .iter()
            .map(|t| {
                (
                    t.name.0.to_string(),
                    item_result(t.error_code, t.error_message.as_ref()),
                )
            })
            .collect();
        let created: Vec<String> = out
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(n, _)| n.clone())
            .collect();
        if !created.is_empty() && !validate_only {
            let _ = self.cluster.refresh(Some(&created)).await;
        }
        Ok(out)
    }

    /// Creates one topic, failing on any error.
    pub async fn create_topic(&self, topic: NewTopic) -> Result<()> {
        let name = topic.name.clone();
        let mut out = self.create_topics(&[topic], false).await?;
        out.remove(&name)
            .unwrap_or_else(|| Err(Error::Protocol(format!("no result for topic {name}"))))
    }

    /// Deletes topics by name; the result per topic says whether it worked.
    pub async fn delete_topics(&self, names: &[&str]) -> Result<BTreeMap<String, Result<()>>> {
        let resp = self
            .cluster
            .send_any_with(ApiKey::DeleteTopics, |version| {
                let req = DeleteTopicsRequest::default().with_timeout_ms(ADMIN_TIMEOUT_MS);
                if version >= 6 {
                    req.with_topics(
                        names
                            .iter()
                            .map(|n| DeleteTopicState::default().with_name(Some(topic_name(n))))
                            .collect(),
                    )
                } else {
                    req.with_topic_names(names.iter().map(|n| topic_name(n)).collect())
                }
            })
            .await?;
        Ok(resp
            .responses
            .iter()
            .map(|r| {
                (
                    r.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                    item_result(r.error_code, r.error_message.as_ref()),
                )
            })
            .collect())
    }

    /// Grows `topic` to `total_partitions` partitions.
    pub async fn create_partitions(&self, topic: &str, total_partitions: i32) -> Result<()> {
        let req = CreatePartitionsRequest::default()
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(topic_name(topic))
                .with_count(total_partitions)])
            .with_timeout_ms(ADMIN_TIMEOUT_MS);
        let resp = self.cluster.send_any(&req).await?;
        for r in &resp.results {
            item_result(r.error_code, r.error_message.as_ref())?;
        }
        let _ = self.cluster.refresh(Some(&[topic.to_string()])).await;
        Ok(())
    }

    /// Names of all topics (internal ones included when `include_internal`).
    pub async fn list_topics(&self, include_internal: bool) -> Result<Vec<String>> {
        let md = self.cluster.refresh(None).await?;
        let mut names: Vec<String> = md
            .topics
            .values()
            .filter(|t| include_internal || !t.is_internal)
            .map(|t| t.name.clone())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Partitions, leaders and replicas of `topics`; unknown topics are errors.
    pub async fn describe_topics(&self, topics: &[&str]) -> Result<Vec<TopicInfo>> {
        let names: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        let md = self.cluster.refresh(Some(&names)).await?;
        names
            .iter()
            .map(|n| match md.topics.get(n) {
                Some(t) => Ok(t.clone()),
                None => Err(md
                    .topic_errors
                    .get(n)
                    .map(|e| Error::Broker(e.clone()))
                    .unwrap_or_else(|| Error::UnknownTopic(n.clone()))),
            })
            .collect()
    }

    /// The cluster id, controller and brokers. Uses DescribeCluster when the broker
    /// has it, else Metadata.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let conn = self.cluster.any_connection().await?;
        if conn.versions().has(ApiKey::DescribeCluster) {
            let resp = self
                .cluster
                .send_any_with(ApiKey::DescribeCluster, |_| {
                    // v2+: fenced brokers too, marked (ignored by older versions).
                    DescribeClusterRequest::default().with_include_fenced_brokers(true)
                })
                .await?;
            check_code(resp.error_code, resp.error_message.as_deref())?;
            let mut brokers: Vec<BrokerInfo> = resp
                .brokers
                .iter()
                .map(|b| BrokerInfo {
                    node_id: b.broker_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.as_ref().map(|r| r.to_string()),
                })
                .collect();
            brokers.sort_by_key(|b| b.node_id);
            let mut fenced_brokers: Vec<i32> = resp
                .brokers
                .iter()
                .filter(|b| b.is_fenced)
                .map(|b| b.broker_id.0)
                .collect();
            fenced_brokers.sort_unstable();
            return Ok(ClusterDescription {
                cluster_id: Some(resp.cluster_id.to_string()),
                controller_id: resp.controller_id.0,
                brokers,
                fenced_brokers,
            });
        }
        let md = self.cluster.refresh(Some(&[])).await?;
        let mut brokers: Vec<BrokerInfo> = md.brokers.values().cloned().collect();
        brokers.sort_by_key(|b| b.node_id);
        Ok(ClusterDescription {
            cluster_id: md.cluster_id.clone(),
            controller_id: md.controller_id,
            brokers,
            fenced_brokers: Vec::new(),
        })
    }

    /// Offsets of partitions by [`OffsetSpec`] (earliest, latest, by timestamp).
    pub async fn list_offsets(
        &self,
        partitions: &[TopicPartition],
        spec: OffsetSpec,
    ) -> Result<BTreeMap<TopicPartition, ListedOffset>> {
        let req: Vec<(TopicPartition, i64)> = partitions
            .iter()
            .map(|tp| (tp.clone(), spec.timestamp()))
            .collect();
        let listed = offsets::list_offsets(&self.cluster, &req, 0).await?;
        Ok(listed.into_iter().collect())
    }

    /// All partitions of `topics`.
    pub async fn partitions_of(&self, topics: &[&str]) -> Result<Vec<TopicPartition>> {
        Ok(self
            .describe_topics(topics)
            .await?
            .into_iter()
            .flat_map(|t| {
                t.partitions
                    .into_iter()
                    .map(move |p| TopicPartition::new(t.name.clone(), p.partition))
            })
            .collect())
    }

    /// Deletes records before the given offsets (moves the log start offset); the
    /// result holds each partition's new low watermark.
    pub async fn delete_records(
        &self,
        before: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let topics: Vec<String> = before.keys().map(|tp| tp.topic.clone()).collect();
        let md = self.cluster.refresh(Some(&topics)).await?;
        let mut by_node: BTreeMap<i32, Vec<(&TopicPartition, i64)>> = BTreeMap::new();
        for (tp, &offset) in before {
            let node = md
                .leader(&tp.topic, tp.partition)
                .ok_or_else(|| Error::UnknownTopic(tp.to_string()))?;
            by_node.entry(node).or_default().push((tp, offset));
        }
        let mut out = BTreeMap::new();
        for (node, items) in by_node {
            let mut topics: Vec<DeleteRecordsTopic> = Vec::new();
            for (tp, offset) in &items {
                let part = DeleteRecordsPartition::default()
                    .with_partition_index(tp.partition)
                    .with_offset(*offset);
                match topics.iter_mut().find(|t| *t.name.0 == *tp.topic) {
                    Some(t) => t.partitions.push(part),
                    None => topics.push(
                        DeleteRecordsTopic::default()
                            .with_name(topic_name(&tp.topic))
                            .with_partitions(vec![part]),
                    ),
                }
            }
            let req = DeleteRecordsRequest::default()
                .with_topics(topics)
                .with_timeout_ms(ADMIN_TIMEOUT_MS);
            let resp = self.cluster.send_to(node, Lane::Data, &req).await?;
            for t in resp.topics {
                for p in t.partitions {
                    check_code(p.error_code, None)?;
                    out.insert(
                        TopicPartition::new(t.name.0.to_string(), p.partition_index),
                        p.low_watermark,
                    );
                }
            }
        }
        Ok(out)
    }
}
