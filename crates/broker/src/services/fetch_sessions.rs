//! Incremental fetch sessions (KIP-227), shared by every connection.

use crate::broker::Broker;
use crate::fetch_session::FetchSessionCache;
use std::sync::Arc;

#[derive(Clone)]
pub struct FetchSessions {
    broker: Arc<Broker>,
}

impl FetchSessions {
    pub(crate) fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }
}

impl std::ops::Deref for FetchSessions {
    type Target = FetchSessionCache;

    fn deref(&self) -> &FetchSessionCache {
        &self.broker.fetch_sessions
    }
}
