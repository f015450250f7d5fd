//! The resource a request acts on, as the authorizer sees it.

use moldau_protocol::acl::{AclResourceType, CLUSTER_RESOURCE_NAME};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclResource<'a> {
    pub resource_type: AclResourceType,
    pub name: &'a str,
}

impl<'a> AclResource<'a> {
    pub fn topic(name: &'a str) -> Self {
        AclResource {
            resource_type: AclResourceType::Topic,
            name,
        }
    }
    pub fn group(name: &'a str) -> Self {
        AclResource {
            resource_type: AclResourceType::Group,
            name,
        }
    }
    pub fn transactional_id(name: &'a str) -> Self {
        AclResource {
            resource_type: AclResourceType::TransactionalId,
            name,
        }
    }
    /// The cluster (`kafka-cluster`).
    pub fn cluster() -> Self {
        AclResource {
            resource_type: AclResourceType::Cluster,
            name: CLUSTER_RESOURCE_NAME,
        }
    }
}
