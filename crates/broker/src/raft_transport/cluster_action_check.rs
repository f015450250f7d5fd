//! Kafka's rule for the controller's RPCs (Vote, Fetch, BrokerRegistration,
//! BrokerHeartbeat, AlterPartition, ...): the peer's principal needs CLUSTER_ACTION
//! on the cluster. A peer that logged in on a SASL controller listener is checked at
//! its login and again before each of its requests, against the ACLs of this node's
//! current metadata image, so a revoked permission closes a connected peer too. As
//! in Kafka, the ACLs live in the log this listener carries, so a quorum being
//! formed can count only on `super.users` (or `allow.everyone.if.no.acl.found`).

use moldau_metadata::raft::MetadataStateMachine;
use moldau_protocol::acl::AclOperation;
use moldau_security::{AclResource, Authorizer, KafkaPrincipal};

/// The authorizer and the image it decides over.
#[derive(Clone)]
pub struct ClusterActionCheck {
    authorizer: Authorizer,
    images: MetadataStateMachine,
}

impl ClusterActionCheck {
    pub fn new(authorizer: Authorizer, images: MetadataStateMachine) -> Self {
        ClusterActionCheck { authorizer, images }
    }

    /// Whether `principal`, connected from `host`, may call the controller.
    pub fn allows(&self, principal: &KafkaPrincipal, host: &str) -> bool {
        let image = self.images.image();
        self.authorizer
            .authorize(
                image.acls(),
                principal,
                host,
                AclOperation::ClusterAction,
                &AclResource::cluster(),
            )
            .is_allowed()
    }

    /// The reason a refused peer is given (and the log line names).
    pub fn refusal(principal: &KafkaPrincipal) -> String {
        format!(
            "CLUSTER_AUTHORIZATION_FAILED: {principal} is not authorized: CLUSTER_ACTION on the cluster is required on the controller listener"
        )
    }
}
