//! The broker's side of its lifecycle, as KRaft's BrokerLifecycleManager: registers
//! with the active controller at start (listeners, rack, incarnation id, supported
//! features), heartbeats every `broker.heartbeat.interval.ms` with how far it has
//! applied the metadata log (which unfences it once caught up), registers again when
//! the controller no longer knows its epoch, and asks for a controlled shutdown when
//! the process is stopping.

use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::{Duration, Instant};

use moldau_metadata::controller::{HeartbeatRequest, RegistrationRequest};
use moldau_protocol::ResponseError;
use tokio::sync::watch;

use crate::broker::Broker;
use crate::leadership_lease::NotLeading;

/// Pause before registering again after a refusal (another incarnation's session
/// still live) or while there is no controller.
const REGISTRATION_RETRY_INTERVAL: Duration = Duration::from_millis(250);
/// Heartbeat period while a controlled shutdown is under way: the controller answers
/// `should_shut_down` on a heartbeat, so the broker asks often.
const SHUTDOWN_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(50);

/// What the broker knows of its registration, from the controller's last answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleStatus {
    /// The broker epoch of the accepted registration; none before (or after the
    /// controller forgot it).
    pub epoch: Option<i64>,
    pub fenced: bool,
    /// The controller moved this broker's leadership away: it may stop now.
    pub should_shut_down: bool,
}

pub struct LifecycleAgent {
    /// Random per process start: tells this incarnation from an earlier one.
    incarnation_id: [u8; 16],
    heartbeat_interval: Duration,
    /// `broker.session.timeout.ms`: the controller fences a broker it has not heard
    /// from for this long.
    session_timeout: Duration,
    /// When the last registration or heartbeat the controller answered was sent: the
    /// controller cannot have fenced this broker before that plus the session timeout.
    answered_sent_at: parking_lot::Mutex<Option<Instant>>,
    status: watch::Sender<LifecycleStatus>,
    want_shut_down: watch::Sender<bool>,
    /// Why the controller will never accept this broker (another cluster's data
    /// directory); the broker must stop.
    refusal: watch::Sender<Option<String>>,
    /// Registration attempts refused or unanswered since the last success: the
    /// first is logged at WARN, the retries at DEBUG (a restarted broker waiting
    /// out its old session retried 650 times a chaos run, each a WARN line).
    registration_retries: std::sync::atomic::AtomicU32,
}

impl LifecycleAgent {
    pub fn new(
        incarnation_id: [u8; 16],
        heartbeat_interval: Duration,
        session_timeout: Duration,
    ) -> Self {
        LifecycleAgent {
            incarnation_id,
            heartbeat_interval,
            session_timeout,
            answered_sent_at: parking_lot::Mutex::new(None),
            status: watch::channel(LifecycleStatus {
                epoch: None,
                fenced: true,
                should_shut_down: false,
            })
            .0,
            want_shut_down: watch::channel(false).0,
            refusal: watch::channel(None).0,
            registration_retries: Default::default(),
        }
    }

    /// Set once the controller refused this broker for good.
    pub fn refusal(&self) -> watch::Receiver<Option<String>> {
        self.refusal.subscribe()
    }

    /// This broker can never join (`why`): it stops, as on the controller's refusal.
    pub fn refuse(&self, why: String) {
        self.refusal.send_if_modified(|refusal| {
            let first = refusal.is_none();
            if first {
                *refusal = Some(why);
            }
            first
        });
    }

    pub fn incarnation_id(&self) -> [u8; 16] {
        self.incarnation_id
    }

    /// Follows the status as the controller answers.
    pub fn status(&self) -> watch::Receiver<LifecycleStatus> {
        self.status.subscribe()
    }

    /// Whether this broker may act as a partition leader now (see
    /// [`crate::leadership_lease`]).
    pub fn may_lead(&self) -> Result<(), NotLeading> {
        crate::leadership_lease::may_lead(
            &self.status.borrow(),
            *self.answered_sent_at.lock(),
            Instant::now(),
            self.session_timeout,
        )
    }

    /// From now on heartbeats ask for a controlled shutdown.
    pub fn request_shut_down(&self) {
        self.want_shut_down.send_replace(true);
    }

    /// Registers and heartbeats for `broker` until it is dropped or `stopped` turns
    /// true.
    pub async fn run(broker: Weak<Broker>, mut stopped: watch::Receiver<bool>) {
        loop {
            let Some(b) = broker.upgrade() else { return };
            let pause = b.lifecycle.step(&b).await;
            let mut want_shut_down = b.lifecycle.want_shut_down.subscribe();
            let mut published = b.published.subscribe();
            let fenced = b.lifecycle.status.borrow().fenced;
            drop(b);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = want_shut_down.changed() => {}
                // A fenced broker heartbeats as soon as it has applied more of the
                // log, so it is unfenced once caught up without waiting an interval.
                _ = published.changed(), if fenced => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// One registration or heartbeat; returns the pause before the next.
    async fn step(&self, broker: &Broker) -> Duration {
        let status = *self.status.borrow();
        let Some(epoch) = status.epoch else {
            return self.register(broker).await;
        };
        let want_shut_down = *self.want_shut_down.borrow();
        let request = HeartbeatRequest {
            broker_id: broker.node_id,
            broker_epoch: epoch,
            current_metadata_offset: *broker.published.borrow(),
            want_fence: status.fenced && broker.stays_fenced_while_recovering(),
            want_shut_down,
        };
        let sent_at = Instant::now();
        match broker.controller.heartbeat(&request).await {
            Ok(Ok(reply)) => {
                *self.answered_sent_at.lock() = Some(sent_at);
                if status.fenced && !reply.is_fenced {
                    tracing::info!(epoch, "broker unfenced");
                }
                self.status.send_replace(LifecycleStatus {
                    epoch: Some(epoch),
                    fenced: reply.is_fenced,
                    should_shut_down: reply.should_shut_down,
                });
            }
            Ok(Err(refused))
                if matches!(
                    refused.error,
                    ResponseError::StaleBrokerEpoch | ResponseError::BrokerIdNotRegistered
                ) =>
            {
                // Fenced and re-registered elsewhere, or a controller that lost our
                // registration: register anew.
                tracing::warn!(epoch, error = %refused.message, "heartbeat refused; registering again");
                broker.logs.set_broker_epoch(None);
                self.status.send_replace(LifecycleStatus {
                    epoch: None,
                    fenced: true,
                    should_shut_down: false,
                });
                return Duration::ZERO;
            }
            Ok(Err(refused)) => tracing::warn!(error = %refused.message, "heartbeat refused"),
            Err(e) => tracing::warn!(error = %e, "heartbeat not answered"),
        }
        if want_shut_down {
            SHUTDOWN_HEARTBEAT_INTERVAL
        } else {
            self.heartbeat_interval
        }
    }

    async fn register(&self, broker: &Broker) -> Duration {
        let request = match self.registration_request(broker) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot describe this broker for registration");
                return self.heartbeat_interval;
            }
        };
        let sent_at = Instant::now();
        match broker.controller.register(&request).await {
            Ok(Ok(reply)) => {
                *self.answered_sent_at.lock() = Some(sent_at);
                let retries = self.registration_retries.swap(0, Ordering::Relaxed);
                tracing::info!(
                    epoch = reply.broker_epoch,
                    retries,
                    "broker registered (fenced until caught up)"
                );
                // A clean shutdown keeps it, so the next start replaces this
                // registration at once rather than waiting out its session.
                broker.logs.set_broker_epoch(Some(reply.broker_epoch));
                self.status.send_replace(LifecycleStatus {
                    epoch: Some(reply.broker_epoch),
                    fenced: true,
                    should_shut_down: false,
                });
                Duration::ZERO
            }
            Ok(Err(refused)) if refused.error == ResponseError::InconsistentClusterId => {
                let why = format!(
                    "the active controller refused this broker (INCONSISTENT_CLUSTER_ID): its data directory {} is formatted for cluster {}, which is not the cluster of controller.quorum.voters; format it for that cluster's id (moldau storage format --cluster-id) or use an empty directory",
                    broker.data_dir.display(),
                    broker.cluster_id
                );
                tracing::error!("{why}");
                self.refusal.send_replace(Some(why));
                // Not retried: the broker stops.
                Duration::from_secs(3600)
            }
            Ok(Err(refused)) => {
                if self.registration_retries.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(error = %refused.message, code = ?refused.error, "broker registration refused; retrying (retries logged at DEBUG)");
                } else {
                    tracing::debug!(error = %refused.message, code = ?refused.error, "broker registration refused; retrying");
                }
                REGISTRATION_RETRY_INTERVAL
            }
            Err(e) => {
                if self.registration_retries.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(error = %e, "broker registration not answered; retrying (retries logged at DEBUG)");
                } else {
                    tracing::debug!(error = %e, "broker registration not answered; retrying");
                }
                REGISTRATION_RETRY_INTERVAL
            }
        }
    }

    /// This broker as it registers: every client listener (the inter-broker one
    /// first: the image's host and port are the first endpoint's), rack, features.
    fn registration_request(
        &self,
        broker: &Broker,
    ) -> Result<RegistrationRequest, crate::error::BrokerError> {
        Ok(RegistrationRequest {
            broker_id: broker.node_id,
            cluster_id: broker.cluster_id.clone(),
            incarnation_id: self.incarnation_id,
            listeners: broker.registered_endpoints()?,
            features: moldau_metadata::features::SUPPORTED_FEATURES
                .iter()
                .map(|f| moldau_metadata::BrokerFeature {
                    name: f.name.to_string(),
                    min_supported: f.min_level,
                    max_supported: f.max_level,
                })
                .collect(),
            rack: broker.config.node.rack.clone(),
            previous_broker_epoch: broker.logs.previous_broker_epoch(),
        })
    }
}
