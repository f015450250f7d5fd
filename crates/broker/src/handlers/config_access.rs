//! The ACL check of the config APIs: a topic's configs need DESCRIBE_CONFIGS or
//! ALTER_CONFIGS on the topic (TOPIC_AUTHORIZATION_FAILED), a broker's (and the broker
//! loggers') the same operation on the cluster (CLUSTER_AUTHORIZATION_FAILED).

use super::describe_configs::RESOURCE_TOPIC;
use crate::error::BrokerError;
use crate::request_access::Access;
use moldau_protocol::acl::AclOperation;
use moldau_protocol::ResponseError;

/// Why `operation` on config resource (`resource_type`, `name`) is refused, if it is.
pub fn refusal(
    access: &Access,
    operation: AclOperation,
    resource_type: i8,
    name: &str,
) -> Option<BrokerError> {
    let (allowed, error) = if resource_type == RESOURCE_TOPIC {
        (
            access.topic(operation, name),
            ResponseError::TopicAuthorizationFailed,
        )
    } else {
        (
            access.cluster(operation),
            ResponseError::ClusterAuthorizationFailed,
        )
    };
    (!allowed).then(|| BrokerError::api(error, error.to_string()))
}
