//! The transaction coordinator's transitions and error codes, without sockets.

use bytes::Bytes;

use super::coordinator::*;
use super::*;
use crate::codes;
use crate::effect::{AppendId, ReplyId};

const TX: &str = "tx";
const TIMEOUT_MS: i32 = 60_000;

/// A coordinator leading the one `__transaction_state` partition, with the records it
/// wrote (the partition's log) and the markers it asked for.
struct Harness {
    c: TransactionCoordinator,
    now: i64,
    next_reply: u64,
    next_pid: i64,
    log: Vec<(Bytes, Option<Bytes>)>,
    markers: Vec<MarkerJob>,
    /// Appends not yet reported durable (when `auto_complete` is off).
    held: Vec<AppendId>,
    auto_complete: bool,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(config())
    }

    fn with_config(config: TxnConfig) -> Self {
        let mut c = TransactionCoordinator::new(config);
        c.begin_loading(0, 7);
        let out = c.finish_loading(0, 1_000);
        assert!(out.is_empty());
        Harness {
            c,
            now: 1_000,
            next_reply: 0,
            next_pid: 5_000,
            log: Vec::new(),
            markers: Vec::new(),
            held: Vec::new(),
            auto_complete: true,
        }
    }

    /// Carries out effects: appends go to the log (and complete at once unless held);
    /// replies are returned.
    fn apply(&mut self, effects: Vec<TxnEffect>) -> Vec<(ReplyId, TxnResponse)> {
        let mut replies = Vec::new();
        let mut queue = effects;
        while !queue.is_empty() {
            let mut next = Vec::new();
            for e in queue {
                match e {
                    TxnEffect::Reply { id, response } => replies.push((id, response)),
                    TxnEffect::Append { id, key, value, .. } => {
                        self.log.push((key, value));
                        if self.auto_complete {
                            next.extend(self.c.append_completed(self.now, id, codes::NONE));
                        } else {
                            self.held.push(id);
                        }
                    }
                    TxnEffect::WriteMarkers(job) => self.markers.push(job),
                }
            }
            queue = next;
        }
        replies
    }

    fn send(&mut self, request: TxnRequest) -> TxnResponse {
        self.next_reply += 1;
        let id = ReplyId(self.next_reply);
        let out = self.c.handle(self.now, id, request);
        let replies = self.apply(out);
        let mine: Vec<TxnResponse> = replies
            .into_iter()
            .filter(|(r, _)| *r == id)
            .map(|(_, r)| r)
            .collect();
        assert_eq!(mine.len(), 1, "one answer per request: {mine:?}");
        mine.into_iter().next().expect("answer")
    }

    fn init(&mut self, expected: Option<(i64, i16)>) -> (i16, i64, i16) {
        self.next_pid += 1;
        match self.send(TxnRequest::InitProducerId(InitProducerId {
            transactional_id: TX.into(),
            timeout_ms: TIMEOUT_MS,
            expected,
            fresh_producer_id: self.next_pid,
        })) {
            TxnResponse::InitProducerId {
                error,
                producer_id,
                producer_epoch,
            } => (error, producer_id, producer_epoch),
            other => panic!("{other:?}"),
        }
    }

    fn add(&mut self, pid: i64, epoch: i16, partitions: &[(&str, i32)]) -> Vec<i16> {
        self.add_request(pid, epoch, partitions, false)
    }

    fn add_request(
        &mut self,
        pid: i64,
        epoch: i16,
        partitions: &[(&str, i32)],
        verify_only: bool,
    ) -> Vec<i16> {
        match self.send(TxnRequest::AddPartitions(AddPartitions {
            transactional_id: TX.into(),
            producer_id: pid,
            producer_epoch: epoch,
            partitions: partitions
                .iter()
                .map(|(t, p)| (t.to_string(), *p))
                .collect(),
            verify_only,
            transaction_version_2: false,
        })) {
            TxnResponse::AddPartitions { errors } => errors.into_iter().map(|(_, e)| e).collect(),
            other => panic!("{other:?}"),
        }
    }

    fn end(&mut self, pid: i64, epoch: i16, commit: bool) -> i16 {
        match self.send(TxnRequest::EndTxn(EndTxn {
            transactional_id: TX.into(),
            producer_id: pid,
            producer_epoch: epoch,
            commit,
            transaction_version_2: false,
            fresh_producer_id: -1,
        })) {
            TxnResponse::EndTxn { error, .. } => error,
            other => panic!("{other:?}"),
        }
    }

    /// EndTxn v5: (error, producer id, producer epoch) to continue with.
    fn end_v2(&mut self, pid: i64, epoch: i16, commit: bool) -> (i16, i64, i16) {
        self.next_pid += 1;
        match self.send(TxnRequest::EndTxn(EndTxn {
            transactional_id: TX.into(),
            producer_id: pid,
            producer_epoch: epoch,
            commit,
            transaction_version_2: true,
            fresh_producer_id: self.next_pid,
        })) {
            TxnResponse::EndTxn {
                error,
                producer_id,
                producer_epoch,
            } => (error, producer_id, producer_epoch),
            other => panic!("{other:?}"),
        }
    }

    /// A partition leader adding a Produce v12 batch's partition (TV2).
    fn add_v2(&mut self, pid: i64, epoch: i16, partitions: &[(&str, i32)]) -> Vec<i16> {
        match self.send(TxnRequest::AddPartitions(AddPartitions {
            transactional_id: TX.into(),
            producer_id: pid,
            producer_epoch: epoch,
            partitions: partitions
                .iter()
                .map(|(t, p)| (t.to_string(), *p))
                .collect(),
            verify_only: false,
            transaction_version_2: true,
        })) {
            TxnResponse::AddPartitions { errors } => errors.into_iter().map(|(_, e)| e).collect(),
            other => panic!("{other:?}"),
        }
    }

    /// Reports the last marker job written, as the marker sender would; the answers
    /// to requests that waited for the completion.
    fn finish_markers(&mut self) -> Vec<(ReplyId, TxnResponse)> {
        let job = self.markers.pop().expect("a marker job");
        let out = self.c.markers_written(
            self.now,
            &job.transactional_id,
            job.producer_id,
            job.producer_epoch,
        );
        self.apply(out)
    }

    /// Sends a request that must wait (no answer yet); its reply id.
    fn send_waiting(&mut self, request: TxnRequest) -> ReplyId {
        self.next_reply += 1;
        let id = ReplyId(self.next_reply);
        let out = self.c.handle(self.now, id, request);
        assert!(self.apply(out).is_empty(), "answered at once");
        id
    }

    fn state(&self) -> TxnState {
        self.c.describe(TX).expect("known id").state
    }

    fn tick(&mut self, now: i64) {
        self.now = now;
        let out = self.c.tick(now);
        assert!(self.apply(out).is_empty());
    }
}

fn config() -> TxnConfig {
    TxnConfig {
        transaction_state_num_partitions: 1,
        offsets_topic_num_partitions: 50,
        ..TxnConfig::default()
    }
}

#[test]
fn init_gives_a_new_id_epoch_zero_then_bumps_the_epoch() {
    let mut h = Harness::new();
    let (e, pid, epoch) = h.init(None);
    assert_eq!((e, pid, epoch), (codes::NONE, 5_001, 0));
    assert_eq!(h.state(), TxnState::Empty);
    let (e, pid2, epoch2) = h.init(None);
    assert_eq!((e, pid2, epoch2), (codes::NONE, pid, 1));
    // Each transition is one record, keyed by the id.
    assert_eq!(h.log.len(), 2);
    let key = TransactionLogKey::decode(&h.log[1].0).expect("key");
    assert_eq!(key.transactional_id, TX);
    let value = TransactionLogValue::decode(h.log[1].1.as_ref().expect("value")).expect("value");
    assert_eq!(
        (value.producer_id, value.producer_epoch, value.state),
        (pid, 1, TxnState::Empty)
    );
}

#[test]
fn init_refuses_timeouts_above_the_max_and_non_positive() {
    let mut h = Harness::with_config(TxnConfig {
        transaction_max_timeout_ms: 10_000,
        ..config()
    });
    for timeout_ms in [10_001, 0, -5] {
        let r = h.send(TxnRequest::InitProducerId(InitProducerId {
            transactional_id: TX.into(),
            timeout_ms,
            expected: None,
            fresh_producer_id: 1,
        }));
        assert_eq!(
            r,
            TxnResponse::InitProducerId {
                error: INVALID_TRANSACTION_TIMEOUT,
                producer_id: -1,
                producer_epoch: -1
            }
        );
    }
    assert!(h.log.is_empty());
}

#[test]
fn a_full_commit_goes_through_prepare_markers_complete() {
    let mut h = Harness::new();
    let (_, pid, epoch) = h.init(None);
    assert_eq!(h.add(pid, epoch, &[("a", 0), ("b", 1)]), vec![0, 0]);
    assert_eq!(h.state(), TxnState::Ongoing);
    // Adding partitions already in the transaction writes nothing.
    let before = h.log.len();
    assert_eq!(h.add(pid, epoch, &[("a", 0)]), vec![0]);
    assert_eq!(h.log.len(), before);
    assert_eq!(h.end(pid, epoch, true), codes::NONE);
    assert_eq!(h.state(), TxnState::PrepareCommit);
    let job = h.markers.last().expect("markers").clone();
    assert!(job.commit);
    assert_eq!(job.coordinator_epoch, 7);
    assert_eq!((job.producer_id, job.producer_epoch), (pid, epoch));
    assert_eq!(job.partitions, vec![("a".into(), 0), ("b".into(), 1)]);
    // While the markers are written, the producer must wait.
    assert_eq!(h.end(pid, epoch, true), CONCURRENT_TRANSACTIONS);
    assert_eq!(h.end(pid, epoch, false), INVALID_TXN_STATE);
    h.finish_markers();
    assert_eq!(h.state(), TxnState::CompleteCommit);
    assert!(h.c.describe(TX).expect("id").partitions.is_empty());
    // A retried commit is answered NONE; an abort now is out of place.
    assert_eq!(h.end(pid, epoch, true), codes::NONE);
    assert_eq!(h.end(pid, epoch, false), INVALID_TXN_STATE);
    // The next transaction starts from CompleteCommit.
    assert_eq!(h.add(pid, epoch, &[("c", 0)]), vec![0]);
    assert_eq!(h.state(), TxnState::Ongoing);
}

#[test]
fn an_abort_completes_with_abort_markers() {
    let mut h = Harness::new();
    let (_, pid, epoch) = h.init(None);
    h.add(pid, epoch, &[("a", 0)]);
    assert_eq!(h.end(pid, epoch, false), codes::NONE);
    assert_eq!(h.state(), TxnState::PrepareAbort);
    assert!(!h.markers.last().expect("job").commit);
    assert_eq!(h.end(pid, epoch, false), CONCURRENT_TRANSACTIONS);
    assert_eq!(h.end(pid, epoch, true), INVALID_TXN_STATE);
    h.finish_markers();
    assert_eq!(h.state(), TxnState::CompleteAbort);
    assert_eq!(h.end(pid, epoch, false), codes::NONE);
    assert_eq!(h.end(pid, epoch, true), INVALID_TXN_STATE);
}

#[test]
fn end_txn_without_a_transaction_is_an_invalid_state() {
    let mut h = Harness::new();
    let (_, pid, epoch) = h.init(None);
    assert_eq!(h.end(pid, epoch, true), INVALID_TXN_STATE);
}

#[test]
fn unknown_ids_producers_and_epochs_get_kafkas_errors() {
    let mut h = Harness::new();
    assert_eq!(h.add(1, 0, &[("a", 0)]), vec![INVALID_PRODUCER_ID_MAPPING]);
    assert_eq!(h.end(1, 0, true), INVALID_PRODUCER_ID_MAPPING);
    let (_, pid, epoch) = h.init(None);
    assert_eq!(
        h.add(pid + 1, epoch, &[("a", 0)]),
        vec![INVALID_PRODUCER_ID_MAPPING]
    );
    assert_eq!(h.add(pid, epoch + 1, &[("a", 0)]), vec![PRODUCER_FENCED]);
    assert_eq!(h.end(pid, epoch + 1, true), PRODUCER_FENCED);
    let r = h.send(TxnRequest::EndTxn(EndTxn {
        transactional_id: String::new(),
        producer_id: pid,
        producer_epoch: epoch,
        commit: true,
        transaction_version_2: false,
        fresh_producer_id: -1,
    }));
    assert_eq!(
        r,
        TxnResponse::EndTxn {
            error: INVALID_REQUEST,
            producer_id: -1,
            producer_epoch: -1
        }
    );
}

#[test]
fn ids_of_partitions_not_led_or_loading_are_refused() {
    let mut c = TransactionCoordinator::new(TxnConfig {
        transaction_state_num_partitions: 2,
        ..TxnConfig::default()
    });
    let p = c.partition_for(TX);
    let init = || {
        TxnRequest::InitProducerId(InitProducerId {
            transactional_id: TX.into(),
            timeout_ms: TIMEOUT_MS,
            expected: None,
            fresh_producer_id: 1,
        })
    };
    let error_of = |out: Vec<TxnEffect>| match out.as_slice() {
        [TxnEffect::Reply {
            response: TxnResponse::InitProducerId { error, .. },
            ..
        }] => *error,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        error_of(c.handle(0, ReplyId(1), init())),
        codes::NOT_COORDINATOR
    );
    c.begin_loading(p, 0);
    assert_eq!(
        error_of(c.handle(0, ReplyId(2), init())),
        codes::COORDINATOR_LOAD_IN_PROGRESS
    );
    assert_eq!(c.describe(TX), Err(codes::COORDINATOR_LOAD_IN_PROGRESS));
    c.finish_loading(p, 0);
    assert_eq!(c.describe(TX), Err(TRANSACTIONAL_ID_NOT_FOUND));
}

#[test]
fn a_new_producer_fences_the_open_transaction_and_aborts_it_first() {
    let mut h = Harness::new();
    let (_, pid, epoch) = h.init(None);
    h.add(pid, epoch, &[("a", 0)]);
    // The second producer of the same id: the open transaction is aborted under a
    // bumped epoch, and the newcomer is told to retry.
    let (e, _, _) = h.init(None);
    assert_eq!(e, CONCURRENT_TRANSACTIONS);
    assert_eq!(h.state(), TxnState::PrepareAbort);
    let job = h.markers.last().expect("abort markers").clone();
    assert!(!job.commit);
    assert_eq!(job.producer_epoch, epoch + 1);
    assert_eq!(job.partitions, vec![("a".into(), 0)]);
    let (e, _, _) = h.init(None);
    assert_eq!(e, CONCURRENT_TRANSACTIONS);
    h.finish_markers();
    assert_eq!(h.state(), TxnState::CompleteAbort);
    let (e, pid2, epoch2) = h.init(None);
    assert_eq!((e, pid2, epoch2), (codes::NONE, pid, epoch + 2));
    // The first producer is fenced now.
    assert_eq!(h.add(pid, epoch, &[("a", 0)]), vec![PRODUCER_FENCED]);
    assert_eq!(h.end(pid, epoch, true), PRODUCER_FENCED);
    let (e, _, _) = h.init(Some((pid, epoch)));
    assert_eq!(e, PRODUCER_FENCED);
}

#[test]
fn init_with_the_current_epoch_bumps_and_a_retry_gets_the_same_answer() {
    let mut h = Harness::new();
    let (_, pid, epoch) = h.init(None);
    let (e, pid2, epoch2) = h.init(Some((pid, epoch)));
    assert_eq!((e, pid2, epoch2), (codes::NONE, pid, epoch + 1));
    // The same request again (its answer was lost): no second bump.
    let writes = h.log.len();
    let (e, pid3, epoch3) = h.init(Some((pid, epoch)));
    assert_eq!((e, pid3, epoch3), (codes::NONE, pid, epoch + 1));
    assert_eq!(h.log.len(), writes);
}

#[test]
fn an_exhausted_epoch_takes_a_new_producer_id() {
    let mut h = Harness::new();
    let (_, pid, _) = h.init(None);
    // Replay a state at the last usable epoch.
    let mut meta = h.c.describe(TX).expect("id").clone();
    meta.producer_epoch = i16::MAX - 1;
    let mut c = TransactionCoordinator::new(config());
    c.begin_loading(0, 1);
    let key = TransactionLogKey {
        transactional_id: TX.into(),
    }
    .encode()
    .expect("key");
    let value = meta.to_value().encode().expect("value");
    assert!(c.load_record(0, &key, Some(&value)));
    c.finish_loading(0, h.now);
    h.c = c;
    let (e, pid2, epoch2) = h.init(None);
    assert_eq!(e, codes::NONE);
    assert_ne!(pid2, pid);
    assert_eq!(epoch2, 0);
    assert_eq!(h.c.describe(TX).expect("id").previous_producer_id, pid);
}

#[test]
fn requests_during_a_write_get_concurrent_transactions() {
    let mut h = Harness::new();
    let (_, pid, epoch) = h.init(None);
    h.auto_complete = false;
    h.next_reply += 1;
    let add = ReplyId(h.next_reply);
    let out = h.c.handle(
        h.now,
        add,
        TxnRequest::AddPartitions(AddPartitions {
            transactional_id: TX.into(),
            producer_id: pid,
            producer_epoch: epoch,
            partitions: vec![("a".into(), 0)],
            verify_only: false,
            transaction_version_2: false,
        }),
    );
    assert!(h.apply(out).is_empty(), "answered only once durable");
    assert_eq!(h.end(pid, epoch, true), CONCURRENT_TRANSACTIONS);
    assert_eq!(h.init(Some((pid, epoch))).0, CONCURRENT_TRANSACTIONS);
    let id = h.held.pop().expect("held append");
    let out = h.c.append_completed(h.now, id, codes::NONE);
    let replies = h.apply(out);
    assert_eq!(
        replies,
        vec![(
            add,
            TxnResponse::AddPartitions {
                errors: vec![(("a".into(), 0), codes::NONE)]
            }
        )]
    );
    assert_eq!(h.state(), TxnState::Ongoing);
}

#[test]
fn a_failed_write_changes_nothing_and_maps_the_error() {
    let mut h = Harness::new();
    h.auto_complete = false;
    h.next_reply += 1;
    let out = h.c.handle(
        h.now,
        ReplyId(h.next_reply),
        TxnRequest::InitProducerId(InitProducerId {
            transactional_id: TX.into(),
            timeout_ms: TIMEOUT_MS,
            expected: None,
            fresh_producer_id: 9,
        }),
    );
    h.apply(out);
    let id = h.held.pop().expect("held");
    let out =
        h.c.append_completed(h.now, id, codes::NOT_LEADER_OR_FOLLOWER);
    let replies = h.apply(out);
    assert_eq!(
        replies[0].1,
        TxnResponse::InitProducerId {
            error: codes::NOT_COORDINATOR,
            producer_id: -1,
            producer_epoch: -1
        }
    );
    assert_eq!(h.c.describe(TX), Err(TRANSACTIONAL_ID_NOT_FOUND));
}

#[test]
fn verify_only_checks_membership_without_writing() {
    let mut h = Harness::new();
    let (_, pid, epoch) = h.init(None);
    h.add(pid, epoch, &[("a", 0)]);
    let writes = h.log.len();
    assert_eq!(
        h.add_request(pid, epoch, &[("a", 0), ("a", 1)], true),
        vec![codes::NONE, INVALID_TXN_STATE]
    );
    assert_eq!(h.log.len(), writes);
    assert_eq!(
        h.add_request(pid, epoch + 1, &[("a", 0)], true),
        vec![PRODUCER_FENCED]
    );
}

#[test]
fn add_offsets_adds_the_groups_offsets_partition() {
    let mut h = Harness::new();
    let (_, pid, epoch) = h.init(None);
    let r = h.send(TxnRequest::AddOffsets(AddOffsets {
        transactional_id: TX.into(),
        producer_id: pid,
        producer_epoch: epoch,
        group_id: "my-group".into(),
    }));
    assert_eq!(r, TxnResponse::AddOffsets { error: codes::NONE });
    let partitions = &h.c.describe(TX).expect("id").partitions;
    assert!(partitions.contains(&(OFFSETS_TOPIC_NAME.to_string(), 12)));
    let r = h.send(TxnRequest::AddOffsets(AddOffsets {
        transactional_id: TX.into(),
        producer_id: pid,
        producer_epoch: epoch + 3,
        group_id: "my-group".into(),
    }));
    assert_eq!(
        r,
        TxnResponse::AddOffsets {
            error: PRODUCER_FENCED
        }
    );
}

#[test]
fn a_transaction_past_its_timeout_is_aborted_with_a_bumped_epoch() {
    let mut h = Harness::new();
    let (_, pid, epoch) = h.init(None);
    h.add(pid, epoch, &[("a", 0)]);
    let start = h.now;
    // Not yet: the check runs but the transaction is young.
    h.tick(start + 10_000);
    assert_eq!(h.state(), TxnState::Ongoing);
    h.tick(start + i64::from(TIMEOUT_MS) + 10_001);
    assert_eq!(h.state(), TxnState::PrepareAbort);
    let job = h.markers.last().expect("abort").clone();
    assert!(!job.commit);
    assert_eq!(job.producer_epoch, epoch + 1);
    h.finish_markers();
    assert_eq!(h.state(), TxnState::CompleteAbort);
    // The producer that let it time out is fenced.
    assert_eq!(h.end(pid, epoch, true), PRODUCER_FENCED);
}

#[test]
fn idle_ids_expire_after_the_expiration_time() {
    let mut h = Harness::with_config(TxnConfig {
        transactional_id_expiration_ms: 50_000,
        remove_expired_interval_ms: 10_000,
        ..config()
    });
    h.init(None);
    h.tick(40_000);
    assert!(h.c.describe(TX).is_ok());
    h.tick(60_000);
    assert_eq!(h.c.describe(TX), Err(TRANSACTIONAL_ID_NOT_FOUND));
    let (key, value) = h.log.last().expect("tombstone");
    assert_eq!(
        TransactionLogKey::decode(key)
            .expect("key")
            .transactional_id,
        TX
    );
    assert!(value.is_none());
}

#[test]
fn replay_restores_state_and_resumes_half_written_markers() {
    let mut h = Harness::new();
    let (_, pid, epoch) = h.init(None);
    h.add(pid, epoch, &[("a", 0), ("b", 2)]);
    h.end(pid, epoch, true);
    // A second id with an open transaction, and a third that was removed.
    let log = h.log.clone();
    let other = TxnMetadata {
        transactional_id: "other".into(),
        ..h.c.describe(TX).expect("id").clone()
    };
    let mut other_open = other.clone();
    other_open.state = TxnState::Ongoing;
    let gone_key = TransactionLogKey {
        transactional_id: "gone".into(),
    }
    .encode()
    .expect("key");

    let mut c = TransactionCoordinator::new(config());
    c.begin_loading(0, 8);
    for (k, v) in &log {
        assert!(c.load_record(0, k, v.as_deref()));
    }
    let other_key = TransactionLogKey {
        transactional_id: "other".into(),
    }
    .encode()
    .expect("key");
    let other_value = other_open.to_value().encode().expect("value");
    assert!(c.load_record(0, &other_key, Some(&other_value)));
    assert!(c.load_record(0, &gone_key, Some(&other_value)));
    assert!(c.load_record(0, &gone_key, None));
    assert!(!c.load_record(0, &[9, 9], Some(&[1])));
    let out = c.finish_loading(0, 2_000);
    let jobs: Vec<&MarkerJob> = out
        .iter()
        .filter_map(|e| match e {
            TxnEffect::WriteMarkers(j) => Some(j),
            _ => None,
        })
        .collect();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].transactional_id, TX);
    assert_eq!(jobs[0].coordinator_epoch, 8);
    assert!(jobs[0].commit);
    let t = c.describe(TX).expect("restored");
    assert_eq!((t.producer_id, t.producer_epoch), (pid, epoch));
    assert_eq!(t.state, TxnState::PrepareCommit);
    assert_eq!(c.describe("other").expect("other").state, TxnState::Ongoing);
    assert_eq!(c.describe("gone"), Err(TRANSACTIONAL_ID_NOT_FOUND));
    let (listed, loading) = c.list();
    assert_eq!(listed.count(), 2);
    assert!(!loading);
}

#[test]
fn resigning_answers_waiting_requests_not_coordinator() {
    let mut h = Harness::new();
    h.auto_complete = false;
    let out = h.c.handle(
        h.now,
        ReplyId(99),
        TxnRequest::InitProducerId(InitProducerId {
            transactional_id: TX.into(),
            timeout_ms: TIMEOUT_MS,
            expected: None,
            fresh_producer_id: 3,
        }),
    );
    h.apply(out);
    let out = h.c.resign(0);
    let replies = h.apply(out);
    assert_eq!(
        replies,
        vec![(
            ReplyId(99),
            TxnResponse::InitProducerId {
                error: codes::NOT_COORDINATOR,
                producer_id: -1,
                producer_epoch: -1
            }
        )]
    );
    assert_eq!(h.c.describe(TX), Err(codes::NOT_COORDINATOR));
    // The late durability report of the dropped write changes nothing.
    let id = h.held.pop().expect("held");
    assert!(h.c.append_completed(h.now, id, codes::NONE).is_empty());
    assert_eq!(h.c.next_deadline_ms(), None);
}

#[test]
fn transaction_version_2_bumps_the_epoch_with_every_end_txn() {
    let mut h = Harness::new();
    let (_, pid, e0) = h.init(None);
    assert_eq!(h.add_v2(pid, e0, &[("a", 0)]), vec![0]);
    assert_eq!(h.end_v2(pid, e0, true), (codes::NONE, pid, e0 + 1));
    assert_eq!(h.state(), TxnState::PrepareCommit);
    // The markers carry the bumped epoch: a late batch of the old one is fenced.
    let job = h.markers.last().expect("markers").clone();
    assert_eq!((job.producer_id, job.producer_epoch), (pid, e0 + 1));
    // Until they are written a retried commit is told to wait.
    assert_eq!(h.end_v2(pid, e0, true).0, CONCURRENT_TRANSACTIONS);
    h.finish_markers();
    assert_eq!(h.state(), TxnState::CompleteCommit);
    // A retried commit (old epoch) is answered with the epoch to go on with.
    assert_eq!(h.end_v2(pid, e0, true), (codes::NONE, pid, e0 + 1));
    assert_eq!(h.end_v2(pid, e0, false).0, INVALID_TXN_STATE);
    // The old epoch is fenced; the new one opens the next transaction.
    assert_eq!(h.add_v2(pid, e0, &[("b", 0)]), vec![PRODUCER_FENCED]);
    assert_eq!(h.add_v2(pid, e0 + 1, &[("b", 0)]), vec![0]);
    assert_eq!(h.end_v2(pid, e0 + 1, false), (codes::NONE, pid, e0 + 2));
    let job = h.markers.last().expect("markers").clone();
    assert!(!job.commit);
    assert_eq!(job.partitions, vec![("b".into(), 0)]);
    h.finish_markers();
    assert_eq!(h.state(), TxnState::CompleteAbort);
    // The stored state says which version the producer speaks.
    let last = h.log.last().and_then(|(_, v)| v.clone()).expect("value");
    let value = TransactionLogValue::decode(&last).expect("value");
    assert_eq!(value.client_transaction_version, 2);
    assert_eq!(value.producer_epoch, e0 + 2);
}

#[test]
fn transaction_version_2_aborts_with_no_partition_added_and_refuses_an_empty_commit() {
    let mut h = Harness::new();
    let (_, pid, e0) = h.init(None);
    assert_eq!(h.end_v2(pid, e0, true).0, INVALID_TXN_STATE);
    // The producer cannot know whether a leader added a partition: abort is fine.
    assert_eq!(h.end_v2(pid, e0, false), (codes::NONE, pid, e0 + 1));
    assert_eq!(h.state(), TxnState::PrepareAbort);
    assert!(h.markers.last().expect("job").partitions.is_empty());
    h.finish_markers();
    assert_eq!(h.state(), TxnState::CompleteAbort);
    // Another empty abort with the current epoch bumps again; an older one is fenced.
    assert_eq!(h.end_v2(pid, e0 + 1, false), (codes::NONE, pid, e0 + 2));
    h.finish_markers();
    assert_eq!(h.end_v2(pid, e0 + 5, false).0, PRODUCER_FENCED);
    assert_eq!(h.end_v2(pid + 1, e0, false).0, INVALID_PRODUCER_ID_MAPPING);
}

#[test]
fn transaction_version_2_epoch_exhaustion_moves_to_a_new_producer_id() {
    let mut h = Harness::new();
    let (_, pid, _) = h.init(None);
    // Bring the epoch to the last usable value through InitProducerId bumps is slow;
    // a replayed state at that epoch is the same thing.
    let mut state = h.c.describe(TX).expect("id").clone();
    state.producer_epoch = i16::MAX - 1;
    state.client_transaction_version = 2;
    let mut c = TransactionCoordinator::new(config());
    c.begin_loading(0, 8);
    let key = TransactionLogKey {
        transactional_id: TX.into(),
    }
    .encode()
    .expect("key");
    let value = state.to_value().encode().expect("value");
    assert!(c.load_record(0, &key, Some(&value)));
    assert!(c.finish_loading(0, h.now).is_empty());
    h.c = c;
    let exhausted = i16::MAX - 1;
    assert_eq!(h.add_v2(pid, exhausted, &[("a", 0)]), vec![0]);
    let (error, new_pid, new_epoch) = h.end_v2(pid, exhausted, true);
    assert_eq!(error, codes::NONE);
    assert_ne!(new_pid, pid);
    assert_eq!(new_epoch, 0);
    // The markers close the transaction under the old id at the highest epoch.
    let job = h.markers.last().expect("markers").clone();
    assert_eq!((job.producer_id, job.producer_epoch), (pid, i16::MAX));
    // The new id's first add waits for the old transaction to complete.
    let waiting = h.send_waiting(TxnRequest::AddPartitions(AddPartitions {
        transactional_id: TX.into(),
        producer_id: new_pid,
        producer_epoch: 0,
        partitions: vec![("a".into(), 0)],
        verify_only: false,
        transaction_version_2: true,
    }));
    let replies = h.finish_markers();
    assert_eq!(
        replies,
        vec![(
            waiting,
            TxnResponse::AddPartitions {
                errors: vec![(("a".into(), 0), codes::NONE)]
            }
        )]
    );
    h.markers.clear();
    let t = h.c.describe(TX).expect("id");
    assert_eq!((t.producer_id, t.producer_epoch), (new_pid, 0));
    assert_eq!(t.previous_producer_id, pid);
    // A retry of the commit under the old id gets the new id back.
    assert_eq!(h.add_v2(new_pid, 0, &[("a", 0)]), vec![0]);
    assert_eq!(h.end_v2(new_pid, 0, true), (codes::NONE, new_pid, 1));
}

#[test]
fn version_1_end_txn_keeps_the_epoch_beside_version_2() {
    let mut h = Harness::new();
    let (_, pid, e0) = h.init(None);
    h.add(pid, e0, &[("a", 0)]);
    assert_eq!(h.end(pid, e0, true), codes::NONE);
    assert_eq!(h.markers.last().expect("job").producer_epoch, e0);
    h.finish_markers();
    let t = h.c.describe(TX).expect("id");
    assert_eq!((t.producer_epoch, t.client_transaction_version), (e0, 0));
    // Version 1 values stay in the classic encoding.
    let last = h.log.last().and_then(|(_, v)| v.clone()).expect("value");
    assert_eq!(&last[..2], &[0, 0]);
}

/// An AddPartitionsToTxn or AddOffsetsToTxn arriving while the previous
/// transaction's markers are written is answered once they are, not with
/// CONCURRENT_TRANSACTIONS (which costs a client its retry backoff); one still
/// waiting after COMPLETION_WAIT_MS_MAX gets CONCURRENT_TRANSACTIONS after all.
#[test]
fn adds_during_the_markers_wait_for_the_completion() {
    let mut h = Harness::new();
    let (_, pid, epoch) = h.init(None);
    h.add(pid, epoch, &[("a", 0)]);
    assert_eq!(h.end(pid, epoch, true), codes::NONE);
    let add = h.send_waiting(TxnRequest::AddPartitions(AddPartitions {
        transactional_id: TX.into(),
        producer_id: pid,
        producer_epoch: epoch,
        partitions: vec![("c".into(), 0)],
        verify_only: false,
        transaction_version_2: false,
    }));
    let offsets = h.send_waiting(TxnRequest::AddOffsets(AddOffsets {
        transactional_id: TX.into(),
        producer_id: pid,
        producer_epoch: epoch,
        group_id: "g".into(),
    }));
    // Another producer's request is not held: it is fenced at once.
    assert_eq!(h.add(pid, epoch + 1, &[("c", 0)]), vec![PRODUCER_FENCED]);
    let mut replies = h.finish_markers();
    replies.sort_by_key(|(id, _)| id.0);
    assert_eq!(
        replies,
        vec![
            (
                add,
                TxnResponse::AddPartitions {
                    errors: vec![(("c".into(), 0), codes::NONE)]
                }
            ),
            (offsets, TxnResponse::AddOffsets { error: codes::NONE }),
        ]
    );
    let t = h.c.describe(TX).expect("id");
    assert_eq!(t.state, TxnState::Ongoing);
    assert_eq!(
        t.partitions.len(),
        2,
        "c-0 and the group's offsets partition"
    );

    // Markers that take too long: the waiting add is told to retry.
    assert_eq!(h.end(pid, epoch, true), codes::NONE);
    let late = h.send_waiting(TxnRequest::AddPartitions(AddPartitions {
        transactional_id: TX.into(),
        producer_id: pid,
        producer_epoch: epoch,
        partitions: vec![("d".into(), 0)],
        verify_only: false,
        transaction_version_2: false,
    }));
    assert_eq!(h.c.next_deadline_ms(), Some(h.now + COMPLETION_WAIT_MS_MAX));
    h.now += COMPLETION_WAIT_MS_MAX;
    let out = h.c.tick(h.now);
    assert_eq!(
        h.apply(out),
        vec![(
            late,
            TxnResponse::AddPartitions {
                errors: vec![(("d".into(), 0), CONCURRENT_TRANSACTIONS)]
            }
        )]
    );
    assert!(h.finish_markers().is_empty());
    assert_eq!(h.state(), TxnState::CompleteCommit);
}

#[test]
fn the_next_transaction_does_not_wait_for_the_completion_record() {
    let mut h = Harness::new();
    let (_, pid, epoch) = h.init(None);
    h.add(pid, epoch, &[("a", 0)]);
    assert_eq!(h.end(pid, epoch, true), codes::NONE);
    h.auto_complete = false;
    assert!(h.finish_markers().is_empty());
    // Every marker is durable: the transaction is complete at once.
    assert_eq!(h.state(), TxnState::CompleteCommit);
    let completion = h.held.pop().expect("the completion record is written");
    // The next transaction's add waits only for its own record, appended after the
    // completion record (whose durability it therefore implies).
    h.next_reply += 1;
    let add = ReplyId(h.next_reply);
    let out = h.c.handle(
        h.now,
        add,
        TxnRequest::AddPartitions(AddPartitions {
            transactional_id: TX.into(),
            producer_id: pid,
            producer_epoch: epoch,
            partitions: vec![("b".into(), 0)],
            verify_only: false,
            transaction_version_2: false,
        }),
    );
    assert!(h.apply(out).is_empty(), "answered only once durable");
    let ongoing = h.held.pop().expect("the add's record");
    let out = h.c.append_completed(h.now, ongoing, codes::NONE);
    assert_eq!(
        h.apply(out),
        vec![(
            add,
            TxnResponse::AddPartitions {
                errors: vec![(("b".into(), 0), codes::NONE)]
            }
        )]
    );
    let states: Vec<TxnState> = h.log[h.log.len() - 2..]
        .iter()
        .map(|(_, v)| {
            TransactionLogValue::decode(v.as_ref().expect("value"))
                .expect("value")
                .state
        })
        .collect();
    assert_eq!(states, vec![TxnState::CompleteCommit, TxnState::Ongoing]);
    // The completion's late report changes nothing.
    let out = h.c.append_completed(h.now, completion, codes::NONE);
    assert!(h.apply(out).is_empty());
    assert_eq!(h.state(), TxnState::Ongoing);
}
