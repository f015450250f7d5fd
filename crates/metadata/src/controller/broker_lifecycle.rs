//! The active controller's broker lifecycle: registration, heartbeats, fencing after
//! the session timeout, unfencing once caught up, and controlled shutdown. A pure state
//! machine fed the image and the time; it returns the records to commit and the answer
//! to send once they are committed.
//!
//! Callers serialize: each call gets the image that holds the records of every earlier
//! call (the controller's one writer commits them before the next event).

use super::broker_session::{BrokerSession, ShutdownState};
use super::draft::Draft;
use super::election::LeaderElection;
use super::leader_elections::{ElectionKind, ElectionOutcome, ElectionTargets};
use super::messages::{HeartbeatReply, HeartbeatRequest, RegistrationReply, RegistrationRequest};
use super::re_registration::{admit_registration, LocalBroker};
use super::reassignment::{ReassignmentOutcome, ReassignmentTarget};
use super::ControllerError;
use crate::{BrokerRegistration, MetadataImage, MetadataRecord};
use moldau_protocol::ResponseError;
use std::collections::{BTreeMap, BTreeSet};

/// What the lifecycle needs from the controller's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleConfig {
    pub cluster_id: String,
    /// `broker.session.timeout.ms`: a broker not heard from for longer is fenced.
    pub session_timeout_ms: u64,
    /// The static `unclean.leader.election.enable`.
    pub unclean_leader_election: bool,
    /// `auto.leader.rebalance.enable`: how often and past what imbalance leadership
    /// moves back to preferred replicas; `None` when disabled.
    pub leader_rebalance: Option<LeaderRebalance>,
    /// The broker of this controller's own process (a combined node), whose
    /// registration never waits for an older incarnation's session.
    pub local_broker: Option<LocalBroker>,
}

/// Kafka's automatic preferred-leader rebalance settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderRebalance {
    /// `leader.imbalance.check.interval.seconds`, in milliseconds.
    pub check_interval_ms: u64,
    /// `leader.imbalance.per.broker.percentage`.
    pub imbalance_percentage: u32,
}

#[derive(Debug, Clone)]
pub struct BrokerLifecycle {
    config: LifecycleConfig,
    sessions: BTreeMap<i32, BrokerSession>,
    /// When the next automatic leader rebalance check is due (set on activation).
    next_rebalance_ms: Option<u64>,
}

impl BrokerLifecycle {
    pub fn new(config: LifecycleConfig) -> Self {
        BrokerLifecycle {
            config,
            sessions: BTreeMap::new(),
            next_rebalance_ms: None,
        }
    }

    /// This node became the active controller: every registered broker's session
    /// starts now, whatever an earlier controller knew.
    pub fn on_activate(&mut self, image: &MetadataImage, now_ms: u64) {
        self.sessions = image
            .brokers()
            .map(|b| (b.id, BrokerSession::new(b.epoch, now_ms)))
            .collect();
        self.next_rebalance_ms = self
            .config
            .leader_rebalance
            .map(|r| now_ms.saturating_add(r.check_interval_ms));
    }

    /// Brokers in a controlled shutdown: they may not lead nor get new replicas.
    pub fn in_controlled_shutdown(&self) -> BTreeSet<i32> {
        self.sessions
            .iter()
            .filter(|(_, s)| s.in_controlled_shutdown())
            .map(|(id, _)| *id)
            .collect()
    }

    /// When [`Self::on_tick`] next has something to do: the earliest session expiry
    /// of an unfenced broker, or the next leader rebalance check.
    pub fn next_deadline_ms(&self, image: &MetadataImage) -> Option<u64> {
        let expiry = self
            .sessions
            .iter()
            .filter(|(id, s)| {
                image
                    .broker(**id)
                    .is_some_and(|b| !b.fenced && b.epoch == s.epoch)
            })
            .map(|(_, s)| s.deadline_ms(self.config.session_timeout_ms))
            .min();
        expiry.into_iter().chain(self.next_rebalance_ms).min()
    }

    /// A broker registers. Its epoch is the offset its record is committed at (the
    /// image's next offset), it starts fenced, and leadership it still held under an
    /// earlier registration moves away. A registration over a live session of another
    /// incarnation is refused, unless it names that registration as its previous epoch
    /// (a clean restart).
    pub fn on_register(
        &mut self,
        image: &MetadataImage,
        request: &RegistrationRequest,
        now_ms: u64,
    ) -> Result<(Vec<MetadataRecord>, RegistrationReply), ControllerError> {
        if request.cluster_id != self.config.cluster_id {
            return Err(ControllerError::new(
                ResponseError::InconsistentClusterId,
                format!(
                    "Expected cluster ID {}, but got cluster ID {}",
                    self.config.cluster_id, request.cluster_id
                ),
            ));
        }
        if request.broker_id < 0 {
            return Err(ControllerError::new(
                ResponseError::InvalidRequest,
                format!("Invalid broker id {}", request.broker_id),
            ));
        }
        if request.listeners.is_empty() {
            return Err(ControllerError::new(
                ResponseError::InvalidRequest,
                format!("Broker {} registers no listener", request.broker_id),
            ));
        }
        let existing = image.broker(request.broker_id);
        admit_registration(
            existing,
            self.sessions.get(&request.broker_id),
            request,
            self.config.local_broker,
            now_ms,
            self.config.session_timeout_ms,
        )?;
        // The next offset; past the old epoch even if an older image numbered
        // records differently, since a broker's epochs only grow.
        let broker_epoch = image
            .last_offset()
            .saturating_add(1)
            .max(existing.map_or(0, |b| b.epoch.saturating_add(1)));
        let mut draft = Draft::new(image);
        draft.push_all(vec![MetadataRecord::RegisterBroker(BrokerRegistration {
            broker_id: request.broker_id,
            incarnation_id: request.incarnation_id,
            broker_epoch,
            endpoints: request.listeners.clone(),
            features: request.features.clone(),
            rack: request.rack.clone(),
            fenced: true,
            in_controlled_shutdown: false,
        })]);
        self.sessions
            .insert(request.broker_id, BrokerSession::new(broker_epoch, now_ms));
        let moves = self
            .election(draft.image(), &BTreeSet::new())
            .remove_from_isrs(&BTreeSet::from([request.broker_id]));
        draft.push_all(moves);
        Ok((draft.into_records(), RegistrationReply { broker_epoch }))
    }

    /// A broker heartbeats: its session is renewed, and it is unfenced once caught up,
    /// fenced if it asks, or taken through a controlled shutdown if it is stopping.
    pub fn on_heartbeat(
        &mut self,
        image: &MetadataImage,
        request: &HeartbeatRequest,
        now_ms: u64,
    ) -> Result<(Vec<MetadataRecord>, HeartbeatReply), ControllerError> {
        let id = request.broker_id;
        let broker = image.broker(id).ok_or_else(|| {
            ControllerError::new(
                ResponseError::BrokerIdNotRegistered,
                format!("No broker with ID {id} found."),
            )
        })?;
        if broker.epoch != request.broker_epoch {
            return Err(ControllerError::new(
                ResponseError::StaleBrokerEpoch,
                format!(
                    "Expected broker epoch {}, but got broker epoch {}",
                    broker.epoch, request.broker_epoch
                ),
            ));
        }
        let session = self
            .sessions
            .entry(id)
            .or_insert_with(|| BrokerSession::new(broker.epoch, now_ms));
        if session.epoch != broker.epoch {
            *session = BrokerSession::new(broker.epoch, now_ms);
        }
        session.last_contact_ms = now_ms;
        session.metadata_offset = request.current_metadata_offset;
        // Kafka unfences a broker once it has read its own registration. A broker
        // fenced later (silent past the session timeout: paused, or cut off) has read
        // that long ago, while its image may still name it leader of partitions that
        // moved away: unfenced at once it would serve them again from stale logs and
        // producer state until it catches up. So a fenced broker must also have read
        // this controller's image as it was when it first heard from the broker
        // fenced, which holds the fencing and the leadership moves.
        let must_read = if broker.fenced {
            *session.unfence_at_offset.get_or_insert(image.last_offset())
        } else {
            broker.epoch
        };
        let is_caught_up = request.current_metadata_offset >= broker.epoch.max(must_read);
        let reply = |fenced: bool, controlled: bool, shut_down: bool| HeartbeatReply {
            is_caught_up,
            is_fenced: fenced,
            in_controlled_shutdown: controlled,
            should_shut_down: shut_down,
        };
        if broker.fenced {
            if request.want_shut_down {
                return Ok((Vec::new(), reply(true, false, true)));
            }
            if request.want_fence || !is_caught_up {
                return Ok((Vec::new(), reply(true, false, false)));
            }
            session.unfence_at_offset = None;
            let records = self.unfence(image, id, broker.epoch);
            return Ok((records, reply(false, false, false)));
        }
        if request.want_fence {
            let records = self.fence(image, &BTreeMap::from([(id, broker.epoch)]));
            return Ok((records, reply(true, false, request.want_shut_down)));
        }
        if !request.want_shut_down && !session.in_controlled_shutdown() {
            return Ok((Vec::new(), reply(false, false, false)));
        }
        if let ShutdownState::Running = session.shutdown {
            session.shutdown = ShutdownState::Controlled { done_offset: None };
        }
        let moves = self
            .election(image, &self.in_controlled_shutdown())
            .remove_from_isrs(&BTreeSet::from([id]));
        if !moves.is_empty() {
            return Ok((moves, reply(false, true, false)));
        }
        let leads = image.partitions_led_by(id).next().is_some();
        let shut_down = !leads && self.others_caught_up(image, id);
        Ok((Vec::new(), reply(false, true, shut_down)))
    }

    /// Fences every unfenced broker whose session expired, moving its leadership, and
    /// elects leaders for partitions that lack one where a replica can lead.
    pub fn on_tick(&mut self, image: &MetadataImage, now_ms: u64) -> Vec<MetadataRecord> {
        self.sessions
            .retain(|id, s| image.broker(*id).is_some_and(|b| b.epoch == s.epoch));
        for b in image.brokers() {
            self.sessions
                .entry(b.id)
                .or_insert_with(|| BrokerSession::new(b.epoch, now_ms));
        }
        let timeout = self.config.session_timeout_ms;
        let expired: BTreeMap<i32, i64> = self
            .sessions
            .iter()
            .filter(|(id, s)| {
                image.broker(**id).is_some_and(|b| !b.fenced) && s.expired(now_ms, timeout)
            })
            .map(|(id, s)| (*id, s.epoch))
            .collect();
        let mut draft = Draft::new(image);
        if !expired.is_empty() {
            draft.push_all(self.fence(image, &expired));
        }
        let elections = self
            .election(draft.image(), &self.in_controlled_shutdown())
            .elect_leaderless();
        draft.push_all(elections);
        // A leader placed on a broker fenced while the placement was being committed.
        let moves = self
            .election(draft.image(), &self.in_controlled_shutdown())
            .move_leaders_off_unfit();
        draft.push_all(moves);
        if let (Some(rebalance), Some(due)) = (self.config.leader_rebalance, self.next_rebalance_ms)
        {
            if now_ms >= due {
                self.next_rebalance_ms = Some(now_ms.saturating_add(rebalance.check_interval_ms));
                let back = self
                    .election(draft.image(), &self.in_controlled_shutdown())
                    .rebalance_preferred_leaders(rebalance.imbalance_percentage);
                draft.push_all(back);
            }
        }
        draft.into_records()
    }

    /// ElectLeaders: the records electing `kind` leaders for `targets` (brokers in a
    /// controlled shutdown may not lead) and each partition's outcome.
    pub fn on_elect_leaders(
        &self,
        image: &MetadataImage,
        kind: ElectionKind,
        targets: &ElectionTargets,
    ) -> (Vec<MetadataRecord>, Vec<ElectionOutcome>) {
        let shutting_down = self.in_controlled_shutdown();
        let (records, outcomes) = self
            .election(image, &shutting_down)
            .elect_leaders(kind, targets);
        // Checked against the image as one commit would apply them.
        let mut draft = Draft::new(image);
        draft.push_all(records);
        (draft.into_records(), outcomes)
    }

    /// AlterPartitionReassignments: the records starting, completing or cancelling
    /// each target's reassignment (brokers in a controlled shutdown may not lead) and
    /// each partition's outcome.
    pub fn on_alter_reassignments(
        &self,
        image: &MetadataImage,
        targets: &[ReassignmentTarget],
        allow_rf_change: bool,
    ) -> (Vec<MetadataRecord>, Vec<ReassignmentOutcome>) {
        let shutting_down = self.in_controlled_shutdown();
        self.election(image, &shutting_down)
            .alter_reassignments(targets, allow_rf_change)
    }

    /// FenceBroker records for `brokers` (id, epoch), then their leadership moved.
    fn fence(&self, image: &MetadataImage, brokers: &BTreeMap<i32, i64>) -> Vec<MetadataRecord> {
        let mut draft = Draft::new(image);
        draft.push_all(
            brokers
                .iter()
                .map(|(&broker_id, &broker_epoch)| MetadataRecord::FenceBroker {
                    broker_id,
                    broker_epoch,
                })
                .collect(),
        );
        let ids = brokers.keys().copied().collect();
        let moves = self
            .election(draft.image(), &self.in_controlled_shutdown())
            .remove_from_isrs(&ids);
        draft.push_all(moves);
        draft.into_records()
    }

    /// UnfenceBroker, then leaders for partitions the broker can lead again.
    fn unfence(
        &self,
        image: &MetadataImage,
        broker_id: i32,
        broker_epoch: i64,
    ) -> Vec<MetadataRecord> {
        let mut draft = Draft::new(image);
        draft.push_all(vec![MetadataRecord::UnfenceBroker {
            broker_id,
            broker_epoch,
        }]);
        let elections = self
            .election(draft.image(), &self.in_controlled_shutdown())
            .elect_leaderless();
        draft.push_all(elections);
        draft.into_records()
    }

    /// Every other unfenced broker not itself shutting down has read the metadata up to
    /// where `id`'s leadership was gone (first noted now), so none still sends it
    /// requests as a leader.
    fn others_caught_up(&mut self, image: &MetadataImage, id: i32) -> bool {
        let Some(session) = self.sessions.get_mut(&id) else {
            return false;
        };
        let done = match &mut session.shutdown {
            ShutdownState::Controlled { done_offset } => {
                *done_offset.get_or_insert(image.last_offset())
            }
            ShutdownState::Running => return false,
        };
        self.sessions.iter().all(|(other, s)| {
            *other == id
                || s.in_controlled_shutdown()
                || image.broker(*other).is_none_or(|b| b.fenced)
                || s.metadata_offset >= done
        })
    }

    fn election<'a>(
        &self,
        image: &'a MetadataImage,
        unavailable: &'a BTreeSet<i32>,
    ) -> LeaderElection<'a> {
        LeaderElection {
            image,
            unavailable,
            unclean_default: self.config.unclean_leader_election,
        }
    }
}
