//! Whether this broker may act as a partition leader right now, from what it knows of
//! its own registration, before the metadata image says otherwise. The image can be
//! stale: a broker resumed after a pause longer than the session timeout, or a new
//! incarnation still replaying its metadata log or refused registration while its
//! predecessor's session lives, still finds itself named leader there, although the
//! controller has fenced it (or is about to) and elected another leader. Such a
//! broker's log and producer state lack what the real leader took since, so a write
//! accepted there is never replicated, and an idempotent producer's next batch looks
//! out of sequence (librdkafka's fatal "sequence desynchronization"). Kafka's broker
//! serves clients only once registered and caught up; Moldau also stops leading as
//! soon as the controller may have fenced it: a session lasts at most
//! `broker.session.timeout.ms` past the sending of the last heartbeat the
//! controller answered (measured from the send, on the monotonic clock, so a pause
//! counts).

use std::time::{Duration, Instant};

use crate::lifecycle_agent::LifecycleStatus;

/// Why this broker does not lead now (clients get NOT_LEADER_OR_FOLLOWER and look the
/// leader up again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotLeading {
    #[error("this broker is not registered with the controller (yet)")]
    NotRegistered,
    #[error("this broker is fenced by the controller")]
    Fenced,
    #[error("this broker's session may have expired: the controller answered no heartbeat sent in the last {session_timeout_ms} ms")]
    SessionLapsed { session_timeout_ms: u128 },
}

/// The decision: registered, unfenced at the controller's last answer, and that
/// answer to a request sent less than `session_timeout` before `now`.
pub fn may_lead(
    status: &LifecycleStatus,
    answered_sent_at: Option<Instant>,
    now: Instant,
    session_timeout: Duration,
) -> Result<(), NotLeading> {
    if status.epoch.is_none() {
        return Err(NotLeading::NotRegistered);
    }
    if status.fenced {
        return Err(NotLeading::Fenced);
    }
    let lapsed = NotLeading::SessionLapsed {
        session_timeout_ms: session_timeout.as_millis(),
    };
    let Some(sent_at) = answered_sent_at else {
        return Err(lapsed);
    };
    if now.saturating_duration_since(sent_at) >= session_timeout {
        return Err(lapsed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: Duration = Duration::from_millis(3000);

    fn status(epoch: Option<i64>, fenced: bool) -> LifecycleStatus {
        LifecycleStatus {
            epoch,
            fenced,
            should_shut_down: false,
        }
    }

    #[test]
    fn a_registered_unfenced_broker_heard_within_the_session_leads() {
        let sent = Instant::now();
        let now = sent + Duration::from_millis(2999);
        assert_eq!(
            may_lead(&status(Some(7), false), Some(sent), now, SESSION),
            Ok(())
        );
    }

    #[test]
    fn a_new_incarnation_leads_only_once_registered_and_unfenced() {
        let sent = Instant::now();
        // Refused registration (the old incarnation's session lives): the image still
        // names this node leader, but it is not this incarnation's registration.
        assert_eq!(
            may_lead(&status(None, true), None, sent, SESSION),
            Err(NotLeading::NotRegistered)
        );
        // Registered: fenced until caught up with the metadata log.
        assert_eq!(
            may_lead(&status(Some(142), true), Some(sent), sent, SESSION),
            Err(NotLeading::Fenced)
        );
        assert_eq!(
            may_lead(&status(Some(142), false), Some(sent), sent, SESSION),
            Ok(())
        );
    }

    #[test]
    fn a_broker_paused_past_the_session_timeout_stops_leading_before_any_answer() {
        // The last answered heartbeat was sent just before a SIGSTOP; resumed 4.8 s
        // later, nothing new answered yet: the controller may have fenced it.
        let sent = Instant::now();
        let resumed = sent + Duration::from_millis(4800);
        assert_eq!(
            may_lead(&status(Some(7), false), Some(sent), resumed, SESSION),
            Err(NotLeading::SessionLapsed {
                session_timeout_ms: 3000
            })
        );
        // Exactly the timeout is already too late: the controller fences at it.
        assert!(may_lead(&status(Some(7), false), Some(sent), sent + SESSION, SESSION).is_err());
    }
}
