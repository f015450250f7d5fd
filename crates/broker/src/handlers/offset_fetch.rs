//! OffsetFetch: handled by the group coordinator state machine. As Kafka's API layer
//! does, the broker then hides what the principal may not DESCRIBE: a topic asked for
//! by name answers TOPIC_AUTHORIZATION_FAILED on each partition, and a topic of an
//! "all topics" fetch is left out. A group the principal may not DESCRIBE is refused
//! before (group_access.rs) and keeps its GROUP_AUTHORIZATION_FAILED.

use crate::request::{CloseConnection, Deferred, RequestContext};
use crate::request_access::Access;
use bytes::Bytes;
use moldau_coordinator::{GroupRequest, GroupResponse};
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
};
use moldau_protocol::kafka::messages::{OffsetFetchRequest, OffsetFetchResponse};
use moldau_protocol::ResponseError;

/// How the fetch of one group named its topics.
struct Asked {
    group: String,
    /// False for a fetch of every topic the group committed (topics null).
    by_name: bool,
}

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: OffsetFetchRequest = super::decode(&ctx, body)?;
    let access = ctx.access();
    let asked: Vec<Asked> = if request.groups.is_empty() {
        vec![Asked {
            group: request.group_id.to_string(),
            by_name: request.topics.is_some(),
        }]
    } else {
        request
            .groups
            .iter()
            .map(|g| Asked {
                group: g.group_id.to_string(),
                by_name: g.topics.is_some(),
            })
            .collect()
    };
    super::group::forward(ctx, GroupRequest::OffsetFetch(request), move |r| match r {
        GroupResponse::OffsetFetch(mut response) => {
            hide_undescribable(&access, &asked, &mut response);
            Some(response)
        }
        _ => None,
    })
    .await
}

/// Applies the topic DESCRIBE check to the answer of every group the principal may
/// describe.
fn hide_undescribable(access: &Access, asked: &[Asked], response: &mut OffsetFetchResponse) {
    if !access.enforced() {
        return;
    }
    let describable = |group: &str| access.group(AclOperation::Describe, group);
    let allowed = |topic: &str| access.topic(AclOperation::Describe, topic);
    let denied = ResponseError::TopicAuthorizationFailed.code();
    if let [single] = asked {
        if response.groups.is_empty() && describable(&single.group) {
            if single.by_name {
                for t in &mut response.topics {
                    if !allowed(t.name.as_str()) {
                        t.partitions.iter_mut().for_each(|p| {
                            *p = OffsetFetchResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_committed_offset(-1)
                                .with_committed_leader_epoch(-1)
                                .with_metadata(Some(Default::default()))
                                .with_error_code(denied)
                        });
                    }
                }
            } else {
                response.topics.retain(|t| allowed(t.name.as_str()));
            }
        }
    }
    for group in &mut response.groups {
        if group.error_code != 0 || !describable(group.group_id.as_str()) {
            continue;
        }
        let by_name = asked
            .iter()
            .find(|a| a.group == group.group_id.as_str())
            .is_some_and(|a| a.by_name);
        if by_name {
            for t in &mut group.topics {
                if !allowed(t.name.as_str()) {
                    t.partitions.iter_mut().for_each(|p| {
                        *p = OffsetFetchResponsePartitions::default()
                            .with_partition_index(p.partition_index)
                            .with_committed_offset(-1)
                            .with_committed_leader_epoch(-1)
                            .with_metadata(Some(Default::default()))
                            .with_error_code(denied)
                    });
                }
            }
        } else {
            group.topics.retain(|t| allowed(t.name.as_str()));
        }
    }
}
