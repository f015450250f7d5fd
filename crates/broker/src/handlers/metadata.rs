//! Metadata: the live brokers on the client's listener, the controller, and topics
//! with each partition's leadership from the image; creates unknown topics when
//! auto-creation is on and the client allows it. With an authorizer, topics the
//! principal may not DESCRIBE are left out of an all-topics answer and answered with
//! TOPIC_AUTHORIZATION_FAILED when named; auto-creation needs CREATE on the cluster or
//! the topic.

use super::metadata_partition::{partition_metadata, LocalReplica};
use crate::controller::validate_topic_name;
use crate::internal_topics::is_hidden;
use crate::request::{CloseConnection, Deferred, RequestContext};
use crate::request_access::{CLUSTER_OPERATIONS, TOPIC_OPERATIONS};
use bytes::Bytes;
use moldau_metadata::{MetadataImage, TopicImage};
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponseTopic,
};
use moldau_protocol::kafka::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use moldau_protocol::ResponseError;
use moldau_security::AclResource;

pub(crate) fn topic_response(
    image: &MetadataImage,
    topic: &TopicImage,
    ctx: &RequestContext,
) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .values()
        .map(|p| {
            let tp = moldau_log::TopicPartition::new(&topic.name, p.partition);
            let local = if ctx.partitions().get(&tp).is_some() {
                LocalReplica::Hosted
            } else if ctx.partitions().logs().offline_reason(&tp).is_some() {
                LocalReplica::Offline
            } else {
                LocalReplica::Pending
            };
            partition_metadata(image, p, ctx.metadata().node_id(), local)
        })
        .collect();
    MetadataResponseTopic::default()
        .with_error_code(0)
        .with_name(Some(TopicName(super::str_bytes(&topic.name))))
        .with_topic_id(topic.id.as_uuid())
        .with_is_internal(topic.internal)
        .with_partitions(partitions)
}

fn topic_error(name: Option<&str>, id: uuid::Uuid, error: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(error.code())
        .with_name(name.map(|n| TopicName(super::str_bytes(n))))
        .with_topic_id(id)
}

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: MetadataRequest = super::decode(&ctx, body)?;
    // v0 asks for every topic with an empty list; v1+ with a null one.
    let all_topics = match &request.topics {
        None => true,
        Some(t) => t.is_empty() && ctx.version == 0,
    };
    let allow_auto_create = (ctx.version < 4 || request.allow_auto_topic_creation)
        && ctx.config().settings.auto_create_topics_enable;

    let access = ctx.access();
    let mut topics = Vec::new();
    if all_topics {
        let image = ctx.metadata().image();
        topics.extend(
            image
                .topics()
                .filter(|t| !is_hidden(&t.name))
                .filter(|t| access.topic(AclOperation::Describe, &t.name))
                .map(|t| topic_response(&image, t, &ctx)),
        );
    } else {
        for requested in request.topics.unwrap_or_default() {
            let image = ctx.metadata().image();
            let name = requested.name.as_ref().map(|n| n.0.to_string());
            let Some(name) = name else {
                // Lookup by topic id (v10+).
                let id = moldau_metadata::TopicId(*requested.topic_id.as_bytes());
                match image.topic_by_id(&id) {
                    Some(t) if !access.topic(AclOperation::Describe, &t.name) => {
                        topics.push(topic_error(
                            None,
                            requested.topic_id,
                            ResponseError::TopicAuthorizationFailed,
                        ))
                    }
                    Some(t) => topics.push(topic_response(&image, t, &ctx)),
                    None => topics.push(topic_error(
                        None,
                        requested.topic_id,
                        ResponseError::UnknownTopicId,
                    )),
                }
                continue;
            };
            if is_hidden(&name) {
                // The metadata log is not a topic to clients.
                topics.push(topic_error(
                    Some(&name),
                    uuid::Uuid::nil(),
                    ResponseError::UnknownTopicOrPartition,
                ));
                continue;
            }
            if !access.topic(AclOperation::Describe, &name) {
                topics.push(topic_error(
                    Some(&name),
                    uuid::Uuid::nil(),
                    ResponseError::TopicAuthorizationFailed,
                ));
                continue;
            }
            if let Some(t) = image.topic(&name) {
                topics.push(topic_response(&image, t, &ctx));
                continue;
            }
            if validate_topic_name(&name).is_err() {
                topics.push(topic_error(
                    Some(&name),
                    uuid::Uuid::nil(),
                    ResponseError::InvalidTopicException,
                ));
                continue;
            }
            if !allow_auto_create {
                topics.push(topic_error(
                    Some(&name),
                    uuid::Uuid::nil(),
                    ResponseError::UnknownTopicOrPartition,
                ));
                continue;
            }
            if !access.cluster(AclOperation::Create) && !access.topic(AclOperation::Create, &name) {
                topics.push(topic_error(
                    Some(&name),
                    uuid::Uuid::nil(),
                    ResponseError::TopicAuthorizationFailed,
                ));
                continue;
            }
            match ctx.controller().auto_create_topic(&name).await {
                Ok(()) => {
                    let image = ctx.metadata().image();
                    match image.topic(&name) {
                        Some(t) => topics.push(topic_response(&image, t, &ctx)),
                        None => topics.push(topic_error(
                            Some(&name),
                            uuid::Uuid::nil(),
                            ResponseError::LeaderNotAvailable,
                        )),
                    }
                }
                Err(e) => {
                    tracing::warn!(topic = %name, "auto-create failed: {e}");
                    topics.push(
                        MetadataResponseTopic::default()
                            .with_error_code(e.code())
                            .with_name(Some(TopicName(super::str_bytes(&name)))),
                    );
                }
            }
        }
    }

    if ctx.version >= 8 && request.include_topic_authorized_operations {
        for t in topics.iter_mut().filter(|t| t.error_code == 0) {
            if let Some(name) = &t.name {
                t.topic_authorized_operations =
                    access.operations(&AclResource::topic(name.0.as_str()), TOPIC_OPERATIONS);
            }
        }
    }
    let image = ctx.metadata().image();
    // Clients are given only brokers that serve: registered and not fenced.
    let brokers = image
        .brokers()
        .filter(|b| !b.fenced)
        .map(|b| {
            let (host, port) = ctx.metadata().address_on(b, &ctx.listener);
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.id))
                .with_host(super::str_bytes(&host))
                .with_port(port)
                .with_rack(b.rack.as_deref().map(super::str_bytes))
        })
        .collect();
    let response = MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(super::str_bytes(ctx.metadata().cluster_id())))
        .with_controller_id(BrokerId(ctx.metadata().controller_for_clients(&image)))
        .with_topics(topics);
    let response =
        if (8..=10).contains(&ctx.version) && request.include_cluster_authorized_operations {
            response.with_cluster_authorized_operations(
                access.operations(&AclResource::cluster(), CLUSTER_OPERATIONS),
            )
        } else {
            response
        };
    ctx.ready(&response)
}
