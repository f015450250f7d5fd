//! The controller's soft state about one registered broker: when it was last heard
//! from, how far it has read the metadata, whether it is shutting down. Not in the log
//! (as in KRaft): a new active controller starts every session afresh.

/// Where a broker is in a controlled shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownState {
    Running,
    /// Asked to shut down; leadership is being moved away. `done_offset`: the metadata
    /// offset at which the image first showed it leading nothing; it may stop once every
    /// other live broker has read that far.
    Controlled {
        done_offset: Option<i64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSession {
    /// The registration this session belongs to.
    pub epoch: i64,
    pub last_contact_ms: u64,
    /// The last metadata offset the broker reported; -1 before its first heartbeat.
    pub metadata_offset: i64,
    pub shutdown: ShutdownState,
    /// While the broker is fenced: the metadata offset it must have read before it is
    /// unfenced, this controller's image when it first heard from the fenced broker
    /// (see `BrokerLifecycle::on_heartbeat`).
    pub unfence_at_offset: Option<i64>,
}

impl BrokerSession {
    pub fn new(epoch: i64, now_ms: u64) -> Self {
        BrokerSession {
            epoch,
            last_contact_ms: now_ms,
            metadata_offset: -1,
            shutdown: ShutdownState::Running,
            unfence_at_offset: None,
        }
    }

    /// No heartbeat for longer than the session timeout.
    pub fn expired(&self, now_ms: u64, session_timeout_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_contact_ms) > session_timeout_ms
    }

    /// When the session expires without a heartbeat.
    pub fn deadline_ms(&self, session_timeout_ms: u64) -> u64 {
        self.last_contact_ms
            .saturating_add(session_timeout_ms)
            .saturating_add(1)
    }

    pub fn in_controlled_shutdown(&self) -> bool {
        matches!(self.shutdown, ShutdownState::Controlled { .. })
    }
}
