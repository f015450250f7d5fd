//! The requests the coordinator answers and the responses it gives.

use std::sync::Arc;

use moldau_protocol::kafka::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, DeleteGroupsRequest, DeleteGroupsResponse,
    DescribeGroupsRequest, DescribeGroupsResponse, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest,
    ListGroupsResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest,
    OffsetDeleteResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
    SyncGroupResponse, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};

/// Who sent a request and in which version; responses are shaped for that version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestContext {
    /// `client.id` from the request header.
    pub client_id: String,
    /// The client's address as the broker sees it (Kafka shows it as `/1.2.3.4`).
    pub client_host: String,
    /// Version of the request (and so of the response).
    pub api_version: i16,
    /// ConsumerGroupHeartbeat under ACLs: which topics the sender's principal may
    /// DESCRIBE (its regex subscription resolves to those only); None without an
    /// authorizer.
    pub topic_describe: Option<TopicDescribeCheck>,
}

/// Whether a principal may DESCRIBE a topic, as the broker's authorizer decides at
/// each call (so ACL changes apply at the member's next heartbeat). The coordinator
/// only calls it; it does no I/O of its own.
#[derive(Clone)]
pub struct TopicDescribeCheck(Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl TopicDescribeCheck {
    pub fn new(check: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        TopicDescribeCheck(Arc::new(check))
    }

    pub fn allows(&self, topic: &str) -> bool {
        (self.0)(topic)
    }
}

impl std::fmt::Debug for TopicDescribeCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TopicDescribeCheck")
    }
}

/// Two checks are the same when they are the same function.
impl PartialEq for TopicDescribeCheck {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TopicDescribeCheck {}

/// A group API request, decoded by the broker.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupRequest {
    JoinGroup(JoinGroupRequest),
    SyncGroup(SyncGroupRequest),
    Heartbeat(HeartbeatRequest),
    LeaveGroup(LeaveGroupRequest),
    OffsetCommit(OffsetCommitRequest),
    OffsetFetch(OffsetFetchRequest),
    ListGroups(ListGroupsRequest),
    DescribeGroups(DescribeGroupsRequest),
    DeleteGroups(DeleteGroupsRequest),
    OffsetDelete(OffsetDeleteRequest),
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest),
    ConsumerGroupDescribe(ConsumerGroupDescribeRequest),
    TxnOffsetCommit(TxnOffsetCommitRequest),
    /// Not a Kafka API: the partitions each member of a consumer-protocol group has
    /// been told to give up and still holds (ConsumerGroupDescribe shows, as Kafka's,
    /// only assigned ones). For the web console's "waiting on revocation".
    PendingRevocations(String),
}

/// Partitions of one topic a member has yet to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRevocation {
    pub member_id: String,
    pub topic: String,
    pub partitions: Vec<i32>,
}

/// The response to a [`GroupRequest`], same variant, ready to encode in the request's
/// version.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupResponse {
    JoinGroup(JoinGroupResponse),
    SyncGroup(SyncGroupResponse),
    Heartbeat(HeartbeatResponse),
    LeaveGroup(LeaveGroupResponse),
    OffsetCommit(OffsetCommitResponse),
    OffsetFetch(OffsetFetchResponse),
    ListGroups(ListGroupsResponse),
    DescribeGroups(DescribeGroupsResponse),
    DeleteGroups(DeleteGroupsResponse),
    OffsetDelete(OffsetDeleteResponse),
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse),
    ConsumerGroupDescribe(ConsumerGroupDescribeResponse),
    TxnOffsetCommit(TxnOffsetCommitResponse),
    /// Empty for an unknown or classic group.
    PendingRevocations(Vec<PendingRevocation>),
}
