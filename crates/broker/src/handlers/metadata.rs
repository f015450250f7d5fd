//! Metadata: brokers, controller, and topics with partition leadership; creates
//! unknown topics when auto-creation is on and the client allows it.

use crate::controller::validate_topic_name;
use crate::internal_topics::is_hidden;
use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::{MetadataImage, TopicImage};
use moldau_protocol::kafka::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use moldau_protocol::kafka::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use moldau_protocol::ResponseError;

/// Operations allowed on a topic without an authorizer, as Kafka's bit set:
/// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
pub const TOPIC_OPERATIONS_ALL: i32 = bits(&[3, 4, 5, 6, 7, 8, 10, 11]);
/// Operations Kafka supports on the cluster resource, all allowed without an
/// authorizer: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS,
/// ALTER_CONFIGS, IDEMPOTENT_WRITE.
pub const CLUSTER_OPERATIONS_ALL: i32 = bits(&[5, 7, 8, 9, 10, 11, 12]);

const fn bits(ops: &[i32]) -> i32 {
    let mut v = 0;
    let mut i = 0;
    while i < ops.len() {
        v |= 1 << ops[i];
        i += 1;
    }
    v
}

pub(crate) fn topic_response(
    image: &MetadataImage,
    topic: &TopicImage,
    ctx: &RequestContext,
) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .values()
        .map(|p| {
            let hosted = ctx
                .broker
                .replicas
                .get_by_name(&topic.name, p.partition)
                .is_some()
                || p.leader != ctx.broker.node_id;
            let alive = image.broker(p.leader).is_some() && hosted;
            // A replica whose log could not be opened is offline, as Kafka reports a
            // replica on a failed log directory.
            let offline = p.leader == ctx.broker.node_id
                && ctx
                    .broker
                    .logs
                    .offline_reason(&moldau_log::TopicPartition::new(&topic.name, p.partition))
                    .is_some();
            let offline_replicas = if offline {
                vec![BrokerId(ctx.broker.node_id)]
            } else {
                Vec::new()
            };
            MetadataResponsePartition::default()
                .with_error_code(if alive {
                    0
                } else {
                    ResponseError::LeaderNotAvailable.code()
                })
                .with_partition_index(p.partition)
                .with_leader_id(BrokerId(if alive { p.leader } else { -1 }))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().map(|b| BrokerId(*b)).collect())
                .with_isr_nodes(p.isr.iter().map(|b| BrokerId(*b)).collect())
                .with_offline_replicas(offline_replicas)
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

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: MetadataRequest = super::decode(&ctx, body)?;
    let broker = &ctx.broker;
    // v0 asks for every topic with an empty list; v1+ with a null one.
    let all_topics = match &request.topics {
        None => true,
        Some(t) => t.is_empty() && ctx.version == 0,
    };
    let allow_auto_create = (ctx.version < 4 || request.allow_auto_topic_creation)
        && broker.config.settings.auto_create_topics_enable;

    let mut topics = Vec::new();
    if all_topics {
        let image = broker.metadata.image();
        topics.extend(
            image
                .topics()
                .filter(|t| !is_hidden(&t.name))
                .map(|t| topic_response(&image, t, &ctx)),
        );
    } else {
        for requested in request.topics.unwrap_or_default() {
            let image = broker.metadata.image();
            let name = requested.name.as_ref().map(|n| n.0.to_string());
            let Some(name) = name else {
                // Lookup by topic id (v10+).
                let id = moldau_metadata::TopicId(*requested.topic_id.as_bytes());
                match image.topic_by_id(&id) {
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
            match broker.auto_create_topic(&name) {
                Ok(()) => {
                    let image = broker.metadata.image();
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
            t.topic_authorized_operations = TOPIC_OPERATIONS_ALL;
        }
    }
    let image = broker.metadata.image();
    let brokers = image
        .brokers()
        .map(|b| {
            let (host, port) = broker.address_on(b, &ctx.listener);
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.id))
                .with_host(super::str_bytes(&host))
                .with_port(port)
                .with_rack(b.rack.as_deref().map(super::str_bytes))
        })
        .collect();
    let response = MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(super::str_bytes(&broker.cluster_id)))
        .with_controller_id(BrokerId(broker.node_id))
        .with_topics(topics);
    let response =
        if (8..=10).contains(&ctx.version) && request.include_cluster_authorized_operations {
            response.with_cluster_authorized_operations(CLUSTER_OPERATIONS_ALL)
        } else {
            response
        };
    ctx.ready(&response)
}
