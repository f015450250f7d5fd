//! What the connection's principal may do, asked of the ACL authorizer over the
//! current metadata image (so an ACL change applies to the next request of every
//! connection). Without an authorizer (`authorizer.class.name` empty) everything is
//! allowed, as in Kafka.

use crate::request::RequestContext;
use crate::services::MetadataView;
use moldau_metadata::MetadataImage;
use moldau_protocol::acl::{AclOperation, AclResourceType};
use moldau_security::{AclResource, Authorizer, KafkaPrincipal};
use std::sync::Arc;

/// Operations Kafka reports in a topic's authorized operations.
pub const TOPIC_OPERATIONS: &[AclOperation] = &[
    AclOperation::Read,
    AclOperation::Write,
    AclOperation::Create,
    AclOperation::Delete,
    AclOperation::Alter,
    AclOperation::Describe,
    AclOperation::DescribeConfigs,
    AclOperation::AlterConfigs,
];
/// Operations Kafka reports in a group's authorized operations.
pub const GROUP_OPERATIONS: &[AclOperation] = &[
    AclOperation::Read,
    AclOperation::Describe,
    AclOperation::Delete,
];
/// Operations Kafka reports in the cluster's authorized operations.
pub const CLUSTER_OPERATIONS: &[AclOperation] = &[
    AclOperation::Create,
    AclOperation::ClusterAction,
    AclOperation::DescribeConfigs,
    AclOperation::AlterConfigs,
    AclOperation::IdempotentWrite,
    AclOperation::Alter,
    AclOperation::Describe,
];

/// One request's view of the authorizer: the principal, its host and the image.
/// Owned, so a deferred answer (a group response filtered later) can keep it.
#[derive(Clone)]
pub struct Access {
    metadata: MetadataView,
    image: Arc<MetadataImage>,
    principal: Arc<KafkaPrincipal>,
    host: Arc<str>,
}

impl RequestContext {
    /// The authorizer's view for this request, over the current image.
    pub fn access(&self) -> Access {
        Access {
            metadata: self.metadata(),
            image: self.metadata().image(),
            principal: Arc::clone(&self.principal),
            host: Arc::from(self.client_host.as_str()),
        }
    }
}

impl Access {
    /// The authorizer's view for a principal that no connection carries: the web
    /// console's logged-in user, acting from `host`.
    pub fn for_principal(metadata: MetadataView, principal: KafkaPrincipal, host: &str) -> Access {
        Access {
            image: metadata.image(),
            metadata,
            principal: Arc::new(principal),
            host: Arc::from(host),
        }
    }

    /// For the group coordinator (a regex subscription resolves to the topics the
    /// member may describe): DESCRIBE on a topic for this principal and host, over
    /// the image current at each call; None without an authorizer. It holds the
    /// image feed, not the broker, since a member keeps it.
    pub fn topic_describe_check(&self) -> Option<moldau_coordinator::TopicDescribeCheck> {
        let authorizer = self.authorizer()?.clone();
        let images = self.metadata.images();
        let principal = Arc::clone(&self.principal);
        let host = Arc::clone(&self.host);
        Some(moldau_coordinator::TopicDescribeCheck::new(move |topic| {
            let image = images.borrow().clone();
            authorizer
                .authorize(
                    image.acls(),
                    &principal,
                    &host,
                    AclOperation::Describe,
                    &AclResource::topic(topic),
                )
                .is_allowed()
        }))
    }

    /// The principal this view decides for.
    pub fn principal(&self) -> &KafkaPrincipal {
        &self.principal
    }

    fn authorizer(&self) -> Option<&Authorizer> {
        self.metadata.config().authorizer.as_ref()
    }

    /// Whether an authorizer is configured at all.
    pub fn enforced(&self) -> bool {
        self.authorizer().is_some()
    }

    pub fn allows(&self, operation: AclOperation, resource: &AclResource<'_>) -> bool {
        self.authorizer().is_none_or(|a| {
            a.authorize(
                self.image.acls(),
                &self.principal,
                &self.host,
                operation,
                resource,
            )
            .is_allowed()
        })
    }

    pub fn topic(&self, operation: AclOperation, name: &str) -> bool {
        self.allows(operation, &AclResource::topic(name))
    }

    pub fn group(&self, operation: AclOperation, name: &str) -> bool {
        self.allows(operation, &AclResource::group(name))
    }

    pub fn cluster(&self, operation: AclOperation) -> bool {
        self.allows(operation, &AclResource::cluster())
    }

    pub fn transactional_id(&self, operation: AclOperation, id: &str) -> bool {
        self.allows(operation, &AclResource::transactional_id(id))
    }

    /// May the principal do `operation` on some resource of `resource_type`?
    pub fn any(&self, operation: AclOperation, resource_type: AclResourceType) -> bool {
        self.authorizer().is_none_or(|a| {
            a.authorize_any(
                self.image.acls(),
                &self.principal,
                &self.host,
                operation,
                resource_type,
            )
            .is_allowed()
        })
    }

    /// The authorized-operations bit field for `resource` over `candidates`.
    pub fn operations(&self, resource: &AclResource<'_>, candidates: &[AclOperation]) -> i32 {
        match self.authorizer() {
            None => candidates
                .iter()
                .fold(0, |bits, op| bits | (1 << op.code())),
            Some(a) => a.authorized_operations(
                self.image.acls(),
                &self.principal,
                &self.host,
                resource,
                candidates,
            ),
        }
    }
}
