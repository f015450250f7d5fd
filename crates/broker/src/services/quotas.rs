//! Client quotas: produce/fetch byte rates, request time (KIP-124) and controller
//! mutations (KIP-599).

use crate::broker::Broker;
use crate::client_quota_manager::ClientQuotaManager;
use crate::controller_mutation_quota::ControllerMutationQuotas;
use crate::request_quota::RequestTime;
use std::sync::Arc;

#[derive(Clone)]
pub struct Quotas {
    broker: Arc<Broker>,
}

impl Quotas {
    pub(crate) fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }

    /// Byte and request rates of clients under a quota.
    pub fn clients(&self) -> &ClientQuotaManager {
        &self.broker.client_quotas
    }

    /// Partitions created and deleted by clients under a controller mutation quota.
    pub fn controller_mutations(&self) -> &ControllerMutationQuotas {
        &self.broker.controller_mutations
    }

    /// The request quota's throttle (ms) for `time` spent on behalf of (user, client).
    pub fn request_throttle(&self, user: &str, client_id: &str, time: &RequestTime) -> u64 {
        crate::request_quota::count(&self.broker, user, client_id, time)
    }
}
