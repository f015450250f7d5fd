//! DescribeGroups: answered by the group coordinator state machine; the broker adds
//! what the caller may do with each group (KIP-430), as Kafka's API layer does.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_coordinator::{GroupRequest, GroupResponse};
use moldau_protocol::kafka::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

/// First DescribeGroups version carrying `authorized_operations`.
const AUTHORIZED_OPERATIONS_VERSION: i16 = 3;

/// Operations Kafka supports on a group, all allowed without an authorizer, as
/// Kafka's bit set: READ (3), DELETE (6), DESCRIBE (8).
pub const GROUP_OPERATIONS_ALL: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: DescribeGroupsRequest = super::decode(&ctx, body)?;
    let with_operations =
        ctx.version >= AUTHORIZED_OPERATIONS_VERSION && request.include_authorized_operations;
    super::group::forward(
        ctx,
        GroupRequest::DescribeGroups(request),
        move |r| match r {
            GroupResponse::DescribeGroups(response) => {
                Some(with_authorized_operations(response, with_operations))
            }
            _ => None,
        },
    )
    .await
}

/// Fills the operations of every group described without error when they were asked
/// for; otherwise they stay Kafka's "not provided" (i32::MIN).
fn with_authorized_operations(
    mut response: DescribeGroupsResponse,
    asked: bool,
) -> DescribeGroupsResponse {
    if asked {
        for group in response.groups.iter_mut().filter(|g| g.error_code == 0) {
            group.authorized_operations = GROUP_OPERATIONS_ALL;
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use moldau_protocol::kafka::messages::describe_groups_response::DescribedGroup;

    fn response() -> DescribeGroupsResponse {
        DescribeGroupsResponse::default().with_groups(vec![
            DescribedGroup::default(),
            DescribedGroup::default().with_error_code(69),
        ])
    }

    #[test]
    fn operations_only_when_asked_and_only_for_described_groups() {
        let filled = with_authorized_operations(response(), true);
        assert_eq!(filled.groups[0].authorized_operations, 328);
        assert_eq!(filled.groups[1].authorized_operations, i32::MIN);
        let plain = with_authorized_operations(response(), false);
        assert_eq!(plain.groups[0].authorized_operations, i32::MIN);
    }
}
