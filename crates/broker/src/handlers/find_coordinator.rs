//! FindCoordinator: the coordinator of a group is the leader of its
//! `__consumer_offsets` partition, that of a transactional id the leader of its
//! `__transaction_state` partition; each topic is created on first use. Needs
//! DESCRIBE on the group or transactional id.

use crate::controller::{OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC};
use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::kafka::messages::find_coordinator_response::Coordinator;
use moldau_protocol::kafka::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use moldau_protocol::ResponseError;

/// Key types of FindCoordinator.
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// (node id, host, port) of the coordinator for one key.
fn locate(
    ctx: &RequestContext,
    listener: &str,
    key: &str,
    key_type: i8,
    topic_ready: bool,
) -> Result<(i32, String, i32), ResponseError> {
    let topic_name = match key_type {
        KEY_TYPE_GROUP => OFFSETS_TOPIC,
        KEY_TYPE_TRANSACTION => TRANSACTION_STATE_TOPIC,
        // Share groups (v6, KIP-932) are not enabled, as on a Kafka without them.
        _ => return Err(ResponseError::InvalidRequest),
    };
    if !topic_ready {
        return Err(ResponseError::CoordinatorNotAvailable);
    }
    let image = ctx.metadata().image();
    let Some(topic) = image.topic(topic_name) else {
        return Err(ResponseError::CoordinatorNotAvailable);
    };
    let partition = moldau_coordinator::partition_for_group(key, topic.partitions.len() as i32);
    let Some(leader) = topic
        .partitions
        .get(&partition)
        .and_then(|p| image.broker(p.leader))
    else {
        return Err(ResponseError::CoordinatorNotAvailable);
    };
    if leader.id == ctx.metadata().node_id() {
        // Right after the topic is created its partitions exist in the metadata before
        // this node hosts them; until then the group cannot be served, and a client
        // sent here would get NOT_COORDINATOR and back off for seconds.
        if ctx
            .partitions()
            .get_by_name(topic_name, partition)
            .is_none()
        {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
    }
    let (host, port) = ctx.metadata().address_on(leader, listener);
    Ok((leader.id, host, port))
}

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: FindCoordinatorRequest = super::decode(&ctx, body)?;
    let controller = ctx.controller();
    let created = match request.key_type {
        KEY_TYPE_GROUP => Some((OFFSETS_TOPIC, controller.ensure_offsets_topic().await)),
        KEY_TYPE_TRANSACTION => Some((
            TRANSACTION_STATE_TOPIC,
            controller.ensure_transaction_state_topic().await,
        )),
        _ => None,
    };
    let topic_ready = match created {
        Some((_, Ok(()))) => true,
        Some((name, Err(e))) => {
            tracing::warn!("creating {name}: {e}");
            false
        }
        None => false,
    };
    let access = ctx.access();
    let find = |key: &str| {
        use moldau_protocol::acl::AclOperation::Describe;
        match request.key_type {
            KEY_TYPE_GROUP if !access.group(Describe, key) => {
                Err(ResponseError::GroupAuthorizationFailed)
            }
            KEY_TYPE_TRANSACTION if !access.transactional_id(Describe, key) => {
                Err(ResponseError::TransactionalIdAuthorizationFailed)
            }
            _ => locate(&ctx, &ctx.listener, key, request.key_type, topic_ready),
        }
    };
    let response = if ctx.version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| {
                let c = Coordinator::default().with_key(key.clone());
                match find(key.as_str()) {
                    Ok((id, host, port)) => c
                        .with_error_code(0)
                        .with_error_message(None)
                        .with_node_id(BrokerId(id))
                        .with_host(super::str_bytes(&host))
                        .with_port(port),
                    Err(e) => c
                        .with_error_code(e.code())
                        .with_error_message(Some(super::str_bytes(&e.to_string())))
                        .with_node_id(BrokerId(-1))
                        .with_host(super::str_bytes(""))
                        .with_port(-1),
                }
            })
            .collect();
        FindCoordinatorResponse::default().with_coordinators(coordinators)
    } else {
        match find(request.key.as_str()) {
            Ok((id, host, port)) => FindCoordinatorResponse::default()
                .with_error_code(0)
                .with_error_message(None)
                .with_node_id(BrokerId(id))
                .with_host(super::str_bytes(&host))
                .with_port(port),
            Err(e) => FindCoordinatorResponse::default()
                .with_error_code(e.code())
                .with_error_message(Some(super::str_bytes(&e.to_string())))
                .with_node_id(BrokerId(-1))
                .with_host(super::str_bytes(""))
                .with_port(-1),
        }
    };
    ctx.ready(&response)
}
