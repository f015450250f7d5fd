//! The cluster metadata snapshot: brokers, topics, partitions and their leaders, as
//! Metadata responses describe them.

use std::collections::HashMap;

use moldau_protocol::kafka::messages::MetadataResponse;

use crate::error::BrokerError;

/// One broker as metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// `node.id`.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// `broker.rack`, if set.
    pub rack: Option<String>,
}

impl BrokerInfo {
    /// `host:port`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One partition as metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub partition: i32,
    /// Leader node id, -1 when there is none.
    pub leader: i32,
    /// The leader's epoch.
    pub leader_epoch: i32,
    /// All replicas.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Replicas that are offline.
    pub offline_replicas: Vec<i32>,
    /// A per-partition error (e.g. LEADER_NOT_AVAILABLE).
    pub error: Option<BrokerError>,
}

/// One topic as metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Topic id (all zero when the broker sends none).
    pub topic_id: [u8; 16],
    /// True for `__consumer_offsets` and the like.
    pub is_internal: bool,
    /// Partitions sorted by index.
    pub partitions: Vec<PartitionInfo>,
}

/// A snapshot of cluster metadata.
#[derive(Debug, Clone, Default)]
pub struct ClusterMetadata {
    /// The cluster id, if the broker reports one.
    pub cluster_id: Option<String>,
    /// The active controller's id, -1 if unknown.
    pub controller_id: i32,
    /// Brokers by node id.
    pub brokers: HashMap<i32, BrokerInfo>,
    /// Known topics by name.
    pub topics: HashMap<String, TopicInfo>,
    /// Topics the broker reported as unknown or erroneous in the last refresh.
    pub topic_errors: HashMap<String, BrokerError>,
}

impl ClusterMetadata {
    /// Number of partitions of `topic`, if known.
    pub fn partition_count(&self, topic: &str) -> Option<usize> {
        self.topics.get(topic).map(|t| t.partitions.len())
    }

    /// Leader of a partition, if known and available.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let p = self.topics.get(topic)?.partitions.get(partition as usize)?;
        (p.leader >= 0 && p.partition == partition).then_some(p.leader)
    }

    /// Merges a Metadata response. With `only` set, only those topics are replaced,
    /// others stay as they were.
    pub(crate) fn merge(&mut self, resp: MetadataResponse, full: bool) {
        self.cluster_id = resp.cluster_id.map(|c| c.to_string());
        self.controller_id = resp.controller_id.0;
        if !resp.brokers.is_empty() {
            self.brokers = resp
                .brokers
                .into_iter()
                .map(|b| {
                    (
                        b.node_id.0,
                        BrokerInfo {
                            node_id: b.node_id.0,
                            host: b.host.to_string(),
                            port: b.port,
                            rack: b.rack.map(|r| r.to_string()),
                        },
                    )
                })
                .collect();
        }
        if full {
            self.topics.clear();
        }
        for t in resp.topics {
            let Some(name) = t.name.map(|n| n.0.to_string()) else {
                continue;
            };
            if let Some(err) = BrokerError::from_code(t.error_code, None) {
                self.topics.remove(&name);
                self.topic_errors.insert(name, err);
                continue;
            }
            self.topic_errors.remove(&name);
            let mut partitions: Vec<PartitionInfo> = t
                .partitions
                .into_iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.into_iter().map(|n| n.0).collect(),
                    isr: p.isr_nodes.into_iter().map(|n| n.0).collect(),
                    offline_replicas: p.offline_replicas.into_iter().map(|n| n.0).collect(),
                    error: BrokerError::from_code(p.error_code, None),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            self.topics.insert(
                name.clone(),
                TopicInfo {
                    name,
                    topic_id: *t.topic_id.as_bytes(),
                    is_internal: t.is_internal,
                    partitions,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::topic_name;
    use moldau_protocol::kafka::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use moldau_protocol::kafka::messages::BrokerId;
    use moldau_protocol::kafka::protocol::StrBytes;

    fn response(topic: &str, partitions: i32, error: i16) -> MetadataResponse {
        MetadataResponse::default()
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host(StrBytes::from_static_str("h"))
                .with_port(9092)])
            .with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some(topic_name(topic)))
                .with_error_code(error)
                .with_partitions(
                    (0..partitions)
                        .rev()
                        .map(|i| {
                            MetadataResponsePartition::default()
                                .with_partition_index(i)
                                .with_leader_id(BrokerId(1))
                        })
                        .collect(),
                )])
    }

    #[test]
    fn merge_sorts_partitions_and_keeps_other_topics() {
        let mut md = ClusterMetadata::default();
        md.merge(response("a", 3, 0), false);
        md.merge(response("b", 2, 0), false);
        assert_eq!(md.partition_count("a"), Some(3));
        assert_eq!(md.partition_count("b"), Some(2));
        assert_eq!(md.leader("a", 2), Some(1));
        assert_eq!(md.leader("a", 3), None);
        assert_eq!(md.brokers[&1].addr(), "h:9092");
        md.merge(response("a", 0, 3), false);
        assert_eq!(md.partition_count("a"), None);
        assert_eq!(md.topic_errors["a"].name, "UNKNOWN_TOPIC_OR_PARTITION");
        md.merge(response("c", 1, 0), true);
        assert_eq!(md.partition_count("b"), None);
    }
}
