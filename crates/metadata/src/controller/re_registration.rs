//! Whether a broker's registration may replace the one its id already has: Kafka's
//! DUPLICATE_BROKER_REGISTRATION rule, with KIP-966's `PreviousBrokerEpoch` letting a
//! cleanly stopped broker take its id back at once.

use super::broker_session::BrokerSession;
use super::messages::RegistrationRequest;
use super::ControllerError;
use crate::BrokerImage;
use moldau_protocol::ResponseError;

/// Why a registration replaces (or takes) its broker id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// No broker has that id yet.
    NewBroker,
    /// The same process registers again (same incarnation id).
    SameIncarnation,
    /// A restart after a clean shutdown: the broker kept the epoch of the registration
    /// it stopped under, which is the current one, so the old process is gone.
    CleanRestart,
    /// The old registration is fenced or its session expired: nobody holds the id.
    OldSessionOver,
    /// The broker of this controller's own process (a combined node): no other
    /// process can hold the id while this one holds its voter id and data directory.
    ThisProcess,
}

/// The broker running in the controller's own process, if any: its id and incarnation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalBroker {
    pub broker_id: i32,
    pub incarnation_id: [u8; 16],
}

/// Decides on `request` against the id's current registration `existing` and this
/// controller's session of it. A session the controller only assumed at activation
/// counts as live: the old incarnation may be alive and not have heartbeated to this
/// controller yet, so only its previous epoch proves it gone before the session ends.
pub fn admit_registration(
    existing: Option<&BrokerImage>,
    session: Option<&BrokerSession>,
    request: &RegistrationRequest,
    local: Option<LocalBroker>,
    now_ms: u64,
    session_timeout_ms: u64,
) -> Result<Admission, ControllerError> {
    let Some(existing) = existing else {
        return Ok(Admission::NewBroker);
    };
    if existing.incarnation_id == request.incarnation_id {
        return Ok(Admission::SameIncarnation);
    }
    if request.previous_broker_epoch == Some(existing.epoch) {
        return Ok(Admission::CleanRestart);
    }
    if local
        == Some(LocalBroker {
            broker_id: request.broker_id,
            incarnation_id: request.incarnation_id,
        })
    {
        return Ok(Admission::ThisProcess);
    }
    let live = !existing.fenced
        && session
            .is_some_and(|s| s.epoch == existing.epoch && !s.expired(now_ms, session_timeout_ms));
    if live {
        return Err(ControllerError::new(
            ResponseError::DuplicateBrokerRegistration,
            "Another broker is registered with that broker id.",
        ));
    }
    Ok(Admission::OldSessionOver)
}
