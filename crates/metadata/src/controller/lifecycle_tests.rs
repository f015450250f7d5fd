use super::test_support::*;
use super::*;
use crate::{
    BrokerEndpoint, BrokerImage, MetadataImage, MetadataRecord, SecurityProtocol, NO_LEADER,
};
use moldau_protocol::ResponseError;
use std::collections::BTreeSet;

const SESSION_TIMEOUT_MS: u64 = 9_000;
const HEARTBEAT_INTERVAL_MS: u64 = 2_000;

/// The controller's side: an image the records are committed to, and the clock.
struct Controller {
    image: MetadataImage,
    lifecycle: BrokerLifecycle,
    now_ms: u64,
}

impl Controller {
    fn new() -> Self {
        Controller {
            image: MetadataImage::new(),
            lifecycle: BrokerLifecycle::new(LifecycleConfig {
                cluster_id: "cluster-a".into(),
                session_timeout_ms: SESSION_TIMEOUT_MS,
                unclean_leader_election: false,
                leader_rebalance: None,
                local_broker: None,
            }),
            now_ms: 1_000,
        }
    }

    fn commit(&mut self, records: &[MetadataRecord]) {
        apply(&mut self.image, records);
    }

    fn register(&mut self, id: i32, incarnation: u8) -> Result<i64, ControllerError> {
        self.register_after(id, incarnation, None)
    }

    /// A registration naming `previous_epoch` (KIP-966's PreviousBrokerEpoch).
    fn register_after(
        &mut self,
        id: i32,
        incarnation: u8,
        previous_epoch: Option<i64>,
    ) -> Result<i64, ControllerError> {
        let request = RegistrationRequest {
            previous_broker_epoch: previous_epoch,
            ..registration_request(id, incarnation)
        };
        let (records, reply) = self
            .lifecycle
            .on_register(&self.image, &request, self.now_ms)?;
        self.commit(&records);
        Ok(reply.broker_epoch)
    }

    fn heartbeat_with(
        &mut self,
        id: i32,
        want_shut_down: bool,
    ) -> Result<HeartbeatReply, ControllerError> {
        let request = HeartbeatRequest {
            broker_id: id,
            broker_epoch: self.image.broker(id).map_or(-1, |b| b.epoch),
            current_metadata_offset: self.image.last_offset(),
            want_fence: false,
            want_shut_down,
        };
        let (records, reply) = self
            .lifecycle
            .on_heartbeat(&self.image, &request, self.now_ms)?;
        self.commit(&records);
        Ok(reply)
    }

    fn heartbeat(&mut self, id: i32) -> HeartbeatReply {
        self.heartbeat_with(id, false).expect("heartbeat accepted")
    }

    fn tick(&mut self) -> Vec<MetadataRecord> {
        let records = self.lifecycle.on_tick(&self.image, self.now_ms);
        self.commit(&records);
        records
    }

    /// Registers and heartbeats each broker until unfenced.
    fn start(&mut self, ids: &[i32]) {
        for &id in ids {
            self.register(id, 1).expect("registered");
            assert!(!self.heartbeat(id).is_fenced);
        }
    }

    fn fenced(&self, id: i32) -> bool {
        self.image.broker(id).expect("registered").fenced
    }

    fn leaders(&self, topic: &str) -> Vec<i32> {
        let t = self.image.topic(topic).expect("topic");
        t.partitions.values().map(|p| p.leader).collect()
    }
}

fn registration_request(id: i32, incarnation: u8) -> RegistrationRequest {
    RegistrationRequest {
        broker_id: id,
        cluster_id: "cluster-a".into(),
        incarnation_id: [incarnation; 16],
        listeners: vec![BrokerEndpoint {
            name: "PLAINTEXT".into(),
            host: "127.0.0.1".into(),
            port: 9092 + id as u16,
            security_protocol: SecurityProtocol::Plaintext,
        }],
        features: Vec::new(),
        rack: None,
        previous_broker_epoch: None,
    }
}

#[test]
fn a_broker_registers_fenced_with_its_records_offset_as_epoch_and_unfences_when_caught_up() {
    let mut c = Controller::new();
    c.start(&[1]);
    let request = registration_request(2, 1);
    let (records, reply) = c
        .lifecycle
        .on_register(&c.image, &request, c.now_ms)
        .expect("ok");
    assert_eq!(reply.broker_epoch, c.image.last_offset() + 1);
    let [MetadataRecord::RegisterBroker(r)] = records.as_slice() else {
        panic!("one registration: {records:?}")
    };
    assert!(r.fenced && r.broker_epoch == reply.broker_epoch);
    c.commit(&records);
    // Behind its own registration: caught up false, stays fenced, nothing written.
    let behind = HeartbeatRequest {
        broker_id: 2,
        broker_epoch: reply.broker_epoch,
        current_metadata_offset: reply.broker_epoch - 1,
        want_fence: false,
        want_shut_down: false,
    };
    let (records, answer) = c
        .lifecycle
        .on_heartbeat(&c.image, &behind, c.now_ms)
        .expect("ok");
    assert!(records.is_empty());
    assert!(!answer.is_caught_up && answer.is_fenced);
    let answer = c.heartbeat(2);
    assert!(answer.is_caught_up && !answer.is_fenced);
    assert!(!c.fenced(2));
}

#[test]
fn registration_and_heartbeat_refusals_carry_kafkas_codes() {
    let mut c = Controller::new();
    c.start(&[1]);
    let mut other_cluster = registration_request(2, 1);
    other_cluster.cluster_id = "cluster-b".into();
    let err = c
        .lifecycle
        .on_register(&c.image, &other_cluster, c.now_ms)
        .expect_err("wrong cluster");
    assert_eq!(err.error, ResponseError::InconsistentClusterId);
    let err = c.heartbeat_with(7, false).expect_err("not registered");
    assert_eq!(err.error, ResponseError::BrokerIdNotRegistered);
    let stale = HeartbeatRequest {
        broker_id: 1,
        broker_epoch: c.image.broker(1).expect("1").epoch - 1,
        current_metadata_offset: c.image.last_offset(),
        want_fence: false,
        want_shut_down: false,
    };
    let err = c
        .lifecycle
        .on_heartbeat(&c.image, &stale, c.now_ms)
        .expect_err("stale");
    assert_eq!(err.error, ResponseError::StaleBrokerEpoch);
}

#[test]
fn a_second_live_incarnation_is_a_duplicate_until_the_session_expires() {
    let mut c = Controller::new();
    c.start(&[1]);
    let err = c.register(1, 2).expect_err("duplicate");
    assert_eq!(err.error, ResponseError::DuplicateBrokerRegistration);
    assert_eq!(
        err.message,
        "Another broker is registered with that broker id."
    );
    // The first incarnation stops heartbeating: fenced after the timeout, then free.
    c.now_ms += SESSION_TIMEOUT_MS + 1;
    assert!(!c.tick().is_empty());
    assert!(c.fenced(1));
    let old_epoch = c.image.broker(1).expect("1").epoch;
    let epoch = c.register(1, 2).expect("new incarnation");
    assert!(epoch > old_epoch);
    assert_eq!(c.image.broker(1).expect("1").incarnation_id, [2; 16]);
}

#[test]
fn heartbeats_keep_a_broker_unfenced_and_silence_fences_it_after_the_session_timeout() {
    let mut c = Controller::new();
    c.start(&[1, 2]);
    add_topic(&mut c.image, "t", &[&[1], &[2], &[1, 2]]);
    for _ in 0..10 {
        c.now_ms += HEARTBEAT_INTERVAL_MS;
        c.heartbeat(1);
        c.heartbeat(2);
        assert!(c.tick().is_empty());
    }
    // Broker 2 goes silent; 1 keeps heartbeating.
    let silent_since = c.now_ms;
    while c.now_ms <= silent_since + SESSION_TIMEOUT_MS {
        assert!(!c.fenced(2), "fenced before the timeout");
        c.now_ms += 500;
        c.heartbeat(1);
        c.tick();
    }
    assert!(c.fenced(2));
    assert_eq!(c.leaders("t"), vec![1, NO_LEADER, 1]);
    assert_eq!(
        c.lifecycle.next_deadline_ms(&c.image),
        Some(c.now_ms + SESSION_TIMEOUT_MS + 1)
    );
}

#[test]
fn a_new_active_controller_starts_every_session_afresh() {
    let mut c = Controller::new();
    c.start(&[1]);
    // Long silence under the old controller, then a new one takes over.
    c.now_ms += 10 * SESSION_TIMEOUT_MS;
    c.lifecycle = BrokerLifecycle::new(LifecycleConfig {
        cluster_id: "cluster-a".into(),
        session_timeout_ms: SESSION_TIMEOUT_MS,
        unclean_leader_election: false,
        leader_rebalance: None,
        local_broker: None,
    });
    c.lifecycle.on_activate(&c.image, c.now_ms);
    c.now_ms += SESSION_TIMEOUT_MS;
    assert!(c.tick().is_empty(), "the session started at activation");
    c.now_ms += 1;
    assert!(!c.tick().is_empty());
    assert!(c.fenced(1));
}

#[test]
fn a_killed_broker_loses_leadership_and_leads_again_after_it_registers_anew() {
    let mut c = Controller::new();
    c.start(&[1, 2, 3]);
    let usable = placement_brokers(&c.image, &c.lifecycle.in_controlled_shutdown());
    let assignment = place_replicas(
        &usable,
        &PlacementRequest {
            first_partition: 0,
            partitions: 6,
            replication_factor: 1,
        },
        PlacementStart::Random,
        &mut SeededRandom::new(11),
    )
    .expect("placed");
    let id = crate::TopicId([5; 16]);
    let mut records = vec![MetadataRecord::Topic {
        name: "t".into(),
        id,
    }];
    records.extend(
        new_partition_records(&c.image, id, 0, &assignment, &BTreeSet::new()).expect("records"),
    );
    c.commit(&records);
    let before = c.leaders("t");
    assert_eq!(before.iter().collect::<BTreeSet<_>>().len(), 3);
    // kill -9 of broker 3: no more heartbeats.
    for _ in 0..6 {
        c.now_ms += HEARTBEAT_INTERVAL_MS;
        c.heartbeat(1);
        c.heartbeat(2);
        c.tick();
    }
    assert!(c.fenced(3));
    let during = c.leaders("t");
    for (b, d) in before.iter().zip(&during) {
        assert_eq!(*d, if *b == 3 { NO_LEADER } else { *b });
    }
    // Restart: a new incarnation registers, catches up and leads again.
    c.register(3, 2).expect("re-registered");
    assert!(c.leaders("t").iter().all(|l| *l != 3));
    assert!(!c.heartbeat(3).is_fenced);
    assert_eq!(c.leaders("t"), before);
}

#[test]
fn controlled_shutdown_moves_leadership_then_lets_the_broker_stop() {
    let mut c = Controller::new();
    c.start(&[1, 2]);
    add_topic(&mut c.image, "t", &[&[1, 2], &[1], &[2, 1]]);
    let reply = c.heartbeat_with(1, true).expect("ok");
    assert!(reply.in_controlled_shutdown && !reply.should_shut_down);
    assert_eq!(c.leaders("t"), vec![2, NO_LEADER, 2]);
    // The leaderless single-replica partition is not handed back to 1.
    assert!(c.tick().is_empty());
    assert_eq!(c.lifecycle.in_controlled_shutdown(), BTreeSet::from([1]));
    // 1 leads nothing now, but 2 has not read that far yet.
    let reply = c.heartbeat_with(1, true).expect("ok");
    assert!(reply.in_controlled_shutdown && !reply.should_shut_down);
    c.heartbeat(2);
    let reply = c.heartbeat_with(1, true).expect("ok");
    assert!(reply.should_shut_down);
}

#[test]
fn a_re_registration_while_leading_moves_leadership_until_unfenced() {
    let mut c = Controller::new();
    c.start(&[1, 2]);
    add_topic(&mut c.image, "t", &[&[1, 2], &[1]]);
    c.register(1, 1).expect("same incarnation re-registers");
    assert!(c.fenced(1));
    assert_eq!(c.leaders("t"), vec![2, NO_LEADER]);
    assert!(!c.heartbeat(1).is_fenced);
    assert_eq!(c.leaders("t"), vec![2, 1]);
}

/// A controller that just took over: every session assumed live from now, none heard.
fn failed_over(c: &mut Controller) {
    c.lifecycle = BrokerLifecycle::new(LifecycleConfig {
        cluster_id: "cluster-a".into(),
        session_timeout_ms: SESSION_TIMEOUT_MS,
        unclean_leader_election: false,
        leader_rebalance: None,
        local_broker: None,
    });
    c.lifecycle.on_activate(&c.image, c.now_ms);
}

#[test]
fn a_new_controller_refuses_a_second_incarnation_while_the_assumed_session_lives() {
    let mut c = Controller::new();
    c.start(&[1, 2]);
    failed_over(&mut c);
    // Within the first heartbeat interval another process takes broker 1's id.
    c.now_ms += HEARTBEAT_INTERVAL_MS / 2;
    let err = c
        .register(1, 2)
        .expect_err("the old incarnation may be alive");
    assert_eq!(err.error, ResponseError::DuplicateBrokerRegistration);
    // An epoch that is not the current registration's proves nothing.
    let current = c.image.broker(1).expect("1").epoch;
    let err = c
        .register_after(1, 2, Some(current - 1))
        .expect_err("not the current registration");
    assert_eq!(err.error, ResponseError::DuplicateBrokerRegistration);
    // The same incarnation is no duplicate.
    c.register(2, 1)
        .expect("re-registration of the same incarnation");
    // Broker 1's old incarnation never heartbeats: fenced at the session's end,
    // then the new one registers.
    c.now_ms += SESSION_TIMEOUT_MS;
    assert!(!c.tick().is_empty());
    assert!(c.fenced(1));
    c.register(1, 2).expect("the old session expired");
    assert_eq!(c.image.broker(1).expect("1").incarnation_id, [2; 16]);
}

#[test]
fn a_cleanly_stopped_broker_re_registers_at_once_with_its_previous_epoch() {
    let mut c = Controller::new();
    c.start(&[1, 2]);
    let stopped_under = c.image.broker(1).expect("1").epoch;
    failed_over(&mut c);
    // The assumed session would block a new incarnation; the previous epoch does not.
    let epoch = c
        .register_after(1, 2, Some(stopped_under))
        .expect("a clean restart replaces its own registration");
    assert!(epoch > stopped_under);
    assert_eq!(c.image.broker(1).expect("1").incarnation_id, [2; 16]);
    assert!(c.fenced(1));
    assert!(!c.heartbeat(1).is_fenced);
    // Also under a controller that heard the old incarnation a moment ago.
    c.heartbeat(2);
    let stopped_under = c.image.broker(2).expect("2").epoch;
    c.register_after(2, 5, Some(stopped_under))
        .expect("heard from, yet the same node restarted");
}

#[test]
fn the_registration_decision_admits_new_same_clean_and_expired_and_refuses_live_others() {
    let mut c = Controller::new();
    c.start(&[1]);
    let image = c.image.broker(1).expect("1").clone();
    let live = BrokerSession::new(image.epoch, c.now_ms);
    let decide = |incarnation: u8, previous: Option<i64>, fenced: bool, now_ms: u64| {
        let existing = BrokerImage {
            fenced,
            ..image.clone()
        };
        let request = RegistrationRequest {
            previous_broker_epoch: previous,
            ..registration_request(1, incarnation)
        };
        admit_registration(
            Some(&existing),
            Some(&live),
            &request,
            None,
            now_ms,
            SESSION_TIMEOUT_MS,
        )
    };
    let now = c.now_ms;
    let request = registration_request(1, 2);
    assert_eq!(
        admit_registration(None, None, &request, None, now, SESSION_TIMEOUT_MS),
        Ok(Admission::NewBroker)
    );
    assert_eq!(decide(1, None, false, now), Ok(Admission::SameIncarnation));
    assert_eq!(
        decide(2, Some(image.epoch), false, now),
        Ok(Admission::CleanRestart)
    );
    let duplicate = decide(2, None, false, now).expect_err("live session");
    assert_eq!(duplicate.error, ResponseError::DuplicateBrokerRegistration);
    let unknown = decide(2, Some(image.epoch + 7), false, now).expect_err("unknown epoch");
    assert_eq!(unknown.error, ResponseError::DuplicateBrokerRegistration);
    assert_eq!(decide(2, None, true, now), Ok(Admission::OldSessionOver));
    // This controller's own process: broker 1 with incarnation 2 runs here.
    let existing = c.image.broker(1).expect("1");
    let here = LocalBroker {
        broker_id: 1,
        incarnation_id: [2; 16],
    };
    assert_eq!(
        admit_registration(
            Some(existing),
            Some(&live),
            &request,
            Some(here),
            now,
            SESSION_TIMEOUT_MS
        ),
        Ok(Admission::ThisProcess)
    );
    let elsewhere = LocalBroker {
        incarnation_id: [3; 16],
        ..here
    };
    let err = admit_registration(
        Some(existing),
        Some(&live),
        &request,
        Some(elsewhere),
        now,
        SESSION_TIMEOUT_MS,
    )
    .expect_err("another process");
    assert_eq!(err.error, ResponseError::DuplicateBrokerRegistration);
    assert_eq!(
        decide(2, None, false, now + SESSION_TIMEOUT_MS + 1),
        Ok(Admission::OldSessionOver)
    );
}

#[test]
fn a_tick_moves_a_leader_off_a_fenced_broker() {
    let mut c = Controller::new();
    c.start(&[1, 2]);
    c.now_ms += SESSION_TIMEOUT_MS + 1;
    c.heartbeat(1);
    c.tick();
    assert!(c.fenced(2));
    // A placement committed while 2 was being fenced made it a leader.
    add_topic(&mut c.image, "t", &[&[2, 1]]);
    assert_eq!(c.leaders("t"), vec![2]);
    assert!(!c.tick().is_empty());
    assert_eq!(c.leaders("t"), vec![1]);
}

#[test]
fn a_broker_fenced_by_silence_is_unfenced_only_once_it_has_read_its_fencing() {
    let mut c = Controller::new();
    c.start(&[1, 2]);
    add_topic(&mut c.image, "t", &[&[2, 1]]);
    // What broker 2 has read when it is paused: it leads "t"-0.
    let read_when_paused = c.image.last_offset();
    c.now_ms += SESSION_TIMEOUT_MS + 1;
    c.heartbeat(1);
    c.tick();
    assert!(c.fenced(2));
    assert_eq!(c.leaders("t"), vec![1]);
    // Resumed, it heartbeats before its image has caught up: it has read past its
    // registration, not past its fencing, so it stays fenced.
    let resumed = HeartbeatRequest {
        broker_id: 2,
        broker_epoch: c.image.broker(2).expect("registered").epoch,
        current_metadata_offset: read_when_paused,
        want_fence: false,
        want_shut_down: false,
    };
    let (records, answer) = c
        .lifecycle
        .on_heartbeat(&c.image, &resumed, c.now_ms)
        .expect("ok");
    assert!(records.is_empty(), "nothing written: {records:?}");
    assert!(answer.is_fenced && !answer.is_caught_up);
    assert!(c.fenced(2));
    // Once it has read the fencing and the leadership moved away, it is unfenced.
    let answer = c.heartbeat(2);
    assert!(answer.is_caught_up && !answer.is_fenced);
    assert!(!c.fenced(2));
}
