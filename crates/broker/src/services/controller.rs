//! Metadata changes for handlers: topic creation and deletion, partition growth and
//! config changes decided by the active controller (forwarded when it is another
//! node), raw record commits, leader elections and partition reassignments.

use crate::acl_changes::{created_bindings, deleted_bindings};
use crate::broker::Broker;
use crate::controller::NewTopic;
use crate::error::BrokerError;
use moldau_metadata::controller::{ConfigAlteration, TopicDeletion};
use moldau_metadata::controller::{
    ControllerError, ElectionKind, ElectionOutcome, ElectionTargets, OngoingReassignment,
    ReassignmentOutcome, ReassignmentTarget,
};
use moldau_metadata::{MetadataImage, MetadataRecord, TopicId};
use moldau_protocol::kafka::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
};
use std::sync::Arc;

#[derive(Clone)]
pub struct Controller {
    broker: Arc<Broker>,
}

impl Controller {
    pub(crate) fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }

    /// Commits `records` as one entry; returns once this node has applied them.
    pub async fn commit(
        &self,
        records: &[MetadataRecord],
    ) -> Result<Arc<MetadataImage>, BrokerError> {
        self.broker.commit(records).await
    }

    /// CreateTopics: (id, partitions, replication factor) of the topic created.
    pub async fn create_topic(
        &self,
        topic: &NewTopic,
        validate_only: bool,
    ) -> Result<(TopicId, i32, i16), BrokerError> {
        self.broker.create_topic(topic, validate_only).await
    }

    /// A topic created because a client asked for it (`auto.create.topics.enable`).
    pub async fn auto_create_topic(&self, name: &str) -> Result<(), BrokerError> {
        self.broker.auto_create_topic(name).await
    }

    pub async fn ensure_offsets_topic(&self) -> Result<(), BrokerError> {
        self.broker.ensure_offsets_topic().await
    }

    pub async fn ensure_transaction_state_topic(&self) -> Result<(), BrokerError> {
        self.broker.ensure_transaction_state_topic().await
    }

    pub async fn delete_topic(&self, name: &str) -> Result<TopicId, BrokerError> {
        self.broker.delete_topic(name).await
    }

    /// DeleteTopics of one topic, decided by the active controller: its name and
    /// id as found there.
    pub async fn delete_topic_as(
        &self,
        deletion: TopicDeletion,
    ) -> Result<(String, TopicId), BrokerError> {
        self.broker.delete_topic_as(deletion).await
    }

    /// CreateAcls (authorized by the caller), decided by the active controller.
    pub async fn create_acls(
        &self,
        request: &CreateAclsRequest,
    ) -> Result<Result<CreateAclsResponse, ControllerError>, BrokerError> {
        let decided = self.broker.controller.create_acls(request).await?;
        if let Ok(response) = &decided {
            // Answered once shown here too, as a commit through this node was.
            let created = created_bindings(request, response);
            let shown = |i: &MetadataImage| {
                created
                    .iter()
                    .all(|c| i.acls().iter().any(|a| a.same_binding(c)))
            };
            self.broker.await_acls_shown(shown).await;
        }
        Ok(decided)
    }

    /// DeleteAcls (authorized by the caller), matched and decided by the active
    /// controller on its image.
    pub async fn delete_acls(
        &self,
        request: &DeleteAclsRequest,
    ) -> Result<Result<DeleteAclsResponse, ControllerError>, BrokerError> {
        let decided = self.broker.controller.delete_acls(request).await?;
        if let Ok(response) = &decided {
            let deleted = deleted_bindings(response);
            let gone = |i: &MetadataImage| {
                !deleted
                    .iter()
                    .any(|d| i.acls().iter().any(|a| a.same_binding(d)))
            };
            self.broker.await_acls_shown(gone).await;
        }
        Ok(decided)
    }

    /// IncrementalAlterConfigs / AlterConfigs of one resource, decided by the
    /// active controller.
    pub async fn alter_configs(
        &self,
        alteration: ConfigAlteration,
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        self.broker.alter_configs(alteration, validate_only).await
    }

    pub async fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        self.broker
            .create_partitions(name, count, validate_only)
            .await
    }

    pub async fn alter_topic_configs(
        &self,
        name: &str,
        changes: &[(String, Option<String>)],
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        self.broker
            .alter_topic_configs(name, changes, validate_only)
            .await
    }

    pub async fn alter_broker_configs(
        &self,
        changes: &[(String, Option<String>)],
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        self.broker
            .alter_broker_configs(changes, validate_only)
            .await
    }

    /// ElectLeaders, decided by the active controller.
    pub async fn elect_leaders(
        &self,
        kind: ElectionKind,
        targets: &ElectionTargets,
    ) -> Result<Result<Vec<ElectionOutcome>, ControllerError>, BrokerError> {
        self.broker.controller.elect_leaders(kind, targets).await
    }

    /// AlterPartitionReassignments, decided by the active controller.
    pub async fn alter_reassignments(
        &self,
        targets: &[ReassignmentTarget],
        allow_rf_change: bool,
    ) -> Result<Result<Vec<ReassignmentOutcome>, ControllerError>, BrokerError> {
        self.broker
            .controller
            .alter_reassignments(targets, allow_rf_change)
            .await
    }

    /// ListPartitionReassignments, answered by the active controller.
    pub async fn list_reassignments(
        &self,
        targets: &ElectionTargets,
    ) -> Result<Result<Vec<OngoingReassignment>, ControllerError>, BrokerError> {
        self.broker.controller.list_reassignments(targets).await
    }
}
