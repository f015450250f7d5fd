//! Consumer groups as a Kafka admin client sees them: ListGroups, DescribeGroups,
//! OffsetFetch and OffsetCommit sent to the broker's own group coordinator through
//! its [`GroupService`](moldau_broker::group_service::GroupService), so the console
//! shows and changes exactly what `kafka-consumer-groups.sh` would.

use crate::consumer_group_view::ConsumerGroupView;
use crate::error::{ApiError, ApiResult};
use moldau_broker::console_backend::ConsoleBackend;
use moldau_broker::controller::OFFSETS_TOPIC;
use moldau_coordinator::consumer_protocol::{assignment_partitions, CONSUMER_PROTOCOL_TYPE};
use moldau_coordinator::PendingRevocation;
use moldau_coordinator::{GroupRequest, GroupResponse, RequestContext as GroupContext};
use moldau_protocol::kafka::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use moldau_protocol::kafka::messages::{ConsumerGroupDescribeRequest, DeleteGroupsRequest};
use moldau_protocol::kafka::messages::{
    DescribeGroupsRequest, GroupId, ListGroupsRequest, OffsetCommitRequest, OffsetFetchRequest,
    TopicName,
};
use moldau_protocol::kafka::protocol::StrBytes;
use serde::Serialize;
use std::time::Duration;

/// How long the console waits for the coordinator before giving up on a call.
pub const GROUP_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// `client.id` the console's requests carry (shown in the coordinator's logs).
pub const CONSOLE_CLIENT_ID: &str = "moldau-console";
/// Versions used: the newest each coordinator path answers in the shape used here.
const LIST_GROUPS_VERSION: i16 = 5;
const DESCRIBE_GROUPS_VERSION: i16 = 5;
const OFFSET_FETCH_VERSION: i16 = 7;
const OFFSET_COMMIT_VERSION: i16 = 8;
const DELETE_GROUPS_VERSION: i16 = 2;
/// ConsumerGroupDescribe's answer for a group that is not a consumer-protocol one.
const GROUP_ID_NOT_FOUND: i16 = moldau_protocol::ResponseError::GroupIdNotFound.code();
/// v1 tells classic members of a consumer group from consumer-protocol ones.
const CONSUMER_GROUP_DESCRIBE_VERSION: i16 = 1;

/// A group as ListGroups reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    /// `classic` or `consumer` (KIP-848), as ListGroups v5 reports it.
    pub group_type: String,
}

/// One member of a described group.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GroupMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    /// (topic, partitions) assigned, for consumer groups.
    pub assignment: Vec<AssignedTopic>,
}

/// Partitions of one topic assigned to a member.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AssignedTopic {
    pub topic: String,
    pub partitions: Vec<i32>,
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    /// The assignor in use (Kafka's "protocol"), e.g. `range`.
    pub assignor: String,
    pub members: Vec<GroupMember>,
}

impl GroupDescription {
    /// Kafka's tool refuses offset resets unless the group is Empty (or unknown: Dead).
    pub fn is_inactive(&self) -> bool {
        self.state == "Empty" || self.state == "Dead"
    }
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Talks to the broker's group coordinator.
#[derive(Clone)]
pub struct GroupAdmin {
    backend: ConsoleBackend,
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl GroupAdmin {
    pub fn new(backend: ConsoleBackend) -> Self {
        GroupAdmin { backend }
    }

    async fn call(&self, version: i16, request: GroupRequest) -> ApiResult<GroupResponse> {
        let service =
            self.backend.groups().service().ok_or_else(|| {
                ApiError::Unavailable("the group coordinator is not running".into())
            })?;
        let ctx = GroupContext {
            client_id: CONSOLE_CLIENT_ID.into(),
            client_host: "/127.0.0.1".into(),
            api_version: version,
            topic_describe: None,
        };
        let rx = service
            .submit(ctx, request)
            .await
            .map_err(|e| ApiError::Unavailable(e.0))?;
        match tokio::time::timeout(GROUP_CALL_TIMEOUT, rx).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(ApiError::Unavailable(
                "the group coordinator stopped".into(),
            )),
            Err(_) => Err(ApiError::Unavailable(
                "the group coordinator did not answer in time".into(),
            )),
        }
    }

    /// Whether `__consumer_offsets` exists: without it no group does.
    pub fn offsets_topic_exists(&self) -> bool {
        self.backend
            .metadata()
            .image()
            .topic(OFFSETS_TOPIC)
            .is_some()
    }

    /// Creates `__consumer_offsets` if needed (as FindCoordinator does) and has the
    /// coordinator load it before any request queued after this call.
    pub async fn ensure_coordinator(&self) -> ApiResult<()> {
        if self.offsets_topic_exists() {
            return Ok(());
        }
        self.backend.controller().ensure_offsets_topic().await?;
        if let Some(service) = self.backend.groups().service() {
            service.load_partitions();
        }
        Ok(())
    }

    /// Every group the coordinator knows, sorted by id.
    pub async fn list(&self) -> ApiResult<Vec<GroupListing>> {
        let request = ListGroupsRequest::default();
        let GroupResponse::ListGroups(r) = self
            .call(LIST_GROUPS_VERSION, GroupRequest::ListGroups(request))
            .await?
        else {
            return Err(ApiError::Internal(
                "coordinator answered another API".into(),
            ));
        };
        if r.error_code != 0 {
            return Err(ApiError::from_code(r.error_code, "listing groups"));
        }
        let mut groups: Vec<GroupListing> = r
            .groups
            .into_iter()
            .map(|g| GroupListing {
                group_id: g.group_id.to_string(),
                state: g.group_state.to_string(),
                protocol_type: g.protocol_type.to_string(),
                group_type: g.group_type.to_string(),
            })
            .collect();
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(groups)
    }

    /// Describes several groups in one request; an unknown group comes back `Dead`.
    pub async fn describe_many(&self, ids: &[String]) -> ApiResult<Vec<GroupDescription>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let request = DescribeGroupsRequest::default()
            .with_groups(ids.iter().map(|g| GroupId(str_bytes(g))).collect());
        let GroupResponse::DescribeGroups(r) = self
            .call(
                DESCRIBE_GROUPS_VERSION,
                GroupRequest::DescribeGroups(request),
            )
            .await?
        else {
            return Err(ApiError::Internal(
                "coordinator answered another API".into(),
            ));
        };
        let mut out = Vec::with_capacity(r.groups.len());
        for g in r.groups {
            if g.error_code != 0 {
                return Err(ApiError::from_code(
                    g.error_code,
                    &format!("describing group '{}'", g.group_id.as_str()),
                ));
            }
            let consumer = g.protocol_type.as_str() == CONSUMER_PROTOCOL_TYPE;
            let members = g
                .members
                .into_iter()
                .map(|m| GroupMember {
                    member_id: m.member_id.to_string(),
                    group_instance_id: m.group_instance_id.map(|s| s.to_string()),
                    client_id: m.client_id.to_string(),
                    host: m.client_host.to_string(),
                    assignment: if consumer {
                        // A malformed assignment shows as none rather than failing the page.
                        assignment_partitions(&m.member_assignment)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(topic, partitions)| AssignedTopic { topic, partitions })
                            .collect()
                    } else {
                        Vec::new()
                    },
                })
                .collect();
            out.push(GroupDescription {
                group_id: g.group_id.to_string(),
                state: g.group_state.to_string(),
                protocol_type: g.protocol_type.to_string(),
                assignor: g.protocol_data.to_string(),
                members,
            });
        }
        Ok(out)
    }

    pub async fn describe(&self, id: &str) -> ApiResult<GroupDescription> {
        self.describe_many(&[id.to_string()])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::Internal("DescribeGroups returned no group".into()))
    }

    /// Every committed offset of the group, sorted by topic and partition.
    pub async fn committed(&self, id: &str) -> ApiResult<Vec<CommittedOffset>> {
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(str_bytes(id)))
            .with_topics(None);
        let GroupResponse::OffsetFetch(r) = self
            .call(OFFSET_FETCH_VERSION, GroupRequest::OffsetFetch(request))
            .await?
        else {
            return Err(ApiError::Internal(
                "coordinator answered another API".into(),
            ));
        };
        if r.error_code != 0 {
            return Err(ApiError::from_code(
                r.error_code,
                &format!("fetching offsets of group '{id}'"),
            ));
        }
        let mut out = Vec::new();
        for t in r.topics {
            for p in t.partitions {
                if p.error_code == 0 && p.committed_offset >= 0 {
                    out.push(CommittedOffset {
                        topic: t.name.to_string(),
                        partition: p.partition_index,
                        offset: p.committed_offset,
                    });
                }
            }
        }
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }

    /// Commits offsets as the admin client does (no generation, no member), which the
    /// coordinator accepts only while the group has no members. Returns the
    /// partitions that failed, with their Kafka error codes.
    pub async fn commit(
        &self,
        id: &str,
        offsets: &[CommittedOffset],
    ) -> ApiResult<Vec<(String, i32, i16)>> {
        let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
        for o in offsets {
            let partition = OffsetCommitRequestPartition::default()
                .with_partition_index(o.partition)
                .with_committed_offset(o.offset)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(StrBytes::from_static_str("")));
            match topics.iter_mut().find(|t| t.name.as_str() == o.topic) {
                Some(t) => t.partitions.push(partition),
                None => topics.push(
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(str_bytes(&o.topic)))
                        .with_partitions(vec![partition]),
                ),
            }
        }
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(str_bytes(id)))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(StrBytes::from_static_str(""))
            .with_topics(topics);
        let GroupResponse::OffsetCommit(r) = self
            .call(OFFSET_COMMIT_VERSION, GroupRequest::OffsetCommit(request))
            .await?
        else {
            return Err(ApiError::Internal(
                "coordinator answered another API".into(),
            ));
        };
        let mut failed = Vec::new();
        for t in r.topics {
            for p in t.partitions {
                if p.error_code != 0 {
                    failed.push((t.name.to_string(), p.partition_index, p.error_code));
                }
            }
        }
        Ok(failed)
    }

    /// Deletes a group and its committed offsets (DeleteGroups), which the coordinator
    /// allows only while the group has no members.
    pub async fn delete(&self, id: &str) -> ApiResult<()> {
        let request =
            DeleteGroupsRequest::default().with_groups_names(vec![GroupId(str_bytes(id))]);
        let GroupResponse::DeleteGroups(r) = self
            .call(DELETE_GROUPS_VERSION, GroupRequest::DeleteGroups(request))
            .await?
        else {
            return Err(ApiError::Internal(
                "coordinator answered another API".into(),
            ));
        };
        let code = r.results.first().map_or(0, |g| g.error_code);
        if code != 0 {
            return Err(ApiError::from_code(code, &format!("deleting group '{id}'")));
        }
        Ok(())
    }

    /// The group as a KIP-848 consumer group, or `None` when it is a classic group
    /// (or unknown).
    /// The partitions members were told to give up and still hold (not in
    /// ConsumerGroupDescribe's assignments).
    async fn pending_revocations(&self, id: &str) -> ApiResult<Vec<PendingRevocation>> {
        match self
            .call(0, GroupRequest::PendingRevocations(id.to_string()))
            .await?
        {
            GroupResponse::PendingRevocations(p) => Ok(p),
            _ => Err(ApiError::Internal(
                "coordinator answered another API".into(),
            )),
        }
    }

    pub async fn describe_consumer(&self, id: &str) -> ApiResult<Option<ConsumerGroupView>> {
        let request =
            ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(str_bytes(id))]);
        let GroupResponse::ConsumerGroupDescribe(r) = self
            .call(
                CONSUMER_GROUP_DESCRIBE_VERSION,
                GroupRequest::ConsumerGroupDescribe(request),
            )
            .await?
        else {
            return Err(ApiError::Internal(
                "coordinator answered another API".into(),
            ));
        };
        let Some(g) = r.groups.first() else {
            return Ok(None);
        };
        match g.error_code {
            0 => {
                let pending = self.pending_revocations(id).await?;
                Ok(Some(ConsumerGroupView::of(g, &pending)))
            }
            GROUP_ID_NOT_FOUND => Ok(None),
            code => Err(ApiError::from_code(
                code,
                &format!("describing group '{id}'"),
            )),
        }
    }
}
