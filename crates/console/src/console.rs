//! The console's shared state: the in-process broker, a group admin client, the
//! remembered rates and lag, and the background sampler that feeds them.

use crate::error::ApiResult;
use crate::group_admin::{GroupAdmin, GroupDescription};
use crate::history::{History, LagSample, LAG_SAMPLE_INTERVAL, THROUGHPUT_SAMPLE_INTERVAL};
use crate::lag::{partition_lag, PartitionLag, ScanBudget};
use crate::login::ConsoleAuth;
use moldau_broker::console_backend::ConsoleBackend;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Everything a console request handler can reach.
pub struct Console {
    pub backend: ConsoleBackend,
    pub groups: GroupAdmin,
    pub history: History,
    /// Bound to a loopback address: requests must name a loopback host (this stops
    /// DNS-rebinding pages from reaching the console through the browser).
    pub loopback_only: bool,
    /// The login, and whether one is required.
    pub auth: ConsoleAuth,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A group's lag on every partition it committed to or is assigned.
#[derive(Debug, Clone, Serialize)]
pub struct GroupLag {
    pub partitions: Vec<PartitionLag>,
    /// Sum of the partitions' lag (those with a committed offset).
    pub total_lag: i64,
    /// Largest time lag of any partition, in milliseconds.
    pub max_time_lag_ms: i64,
}

impl GroupLag {
    /// Only the partitions of topics `keep` accepts, totals summed again over them;
    /// the flag says whether any partition was left out.
    pub fn retain_topics(mut self, keep: impl Fn(&str) -> bool) -> (GroupLag, bool) {
        let before = self.partitions.len();
        self.partitions.retain(|p| keep(&p.topic));
        let hidden = self.partitions.len() != before;
        if hidden {
            self.total_lag = self.partitions.iter().filter_map(|p| p.lag).sum();
            self.max_time_lag_ms = self
                .partitions
                .iter()
                .filter_map(|p| p.time_lag_ms)
                .max()
                .unwrap_or(0);
        }
        (self, hidden)
    }

    /// The group has committed an offset somewhere: before that its lag means nothing
    /// (uncommitted partitions are not summed), so its lag chart starts here.
    pub fn has_commits(&self) -> bool {
        self.partitions.iter().any(|p| p.committed.is_some())
    }
}

impl Console {
    pub fn new(backend: ConsoleBackend, loopback_only: bool) -> Self {
        let config = backend.config();
        // Beyond loopback anyone on the network could reach it: a login is a must.
        let required = !loopback_only || config.bool("console.auth.enabled");
        let auth = ConsoleAuth::new(
            required,
            Some(config.string("console.auth.token")),
            std::time::Duration::from_millis(
                u64::try_from(config.long("console.session.timeout.ms")).unwrap_or(1000),
            ),
        );
        Console {
            auth,
            groups: GroupAdmin::new(backend.clone()),
            backend,
            history: History::new(),
            loopback_only,
        }
    }

    /// Committed offsets and lag of a described group, reading at most what
    /// `budget` has left.
    pub async fn group_lag_within(
        &self,
        group: &GroupDescription,
        budget: Arc<ScanBudget>,
    ) -> ApiResult<GroupLag> {
        let committed = self.groups.committed(&group.group_id).await?;
        let mut wanted: BTreeMap<(String, i32), Option<i64>> = committed
            .into_iter()
            .map(|c| ((c.topic, c.partition), Some(c.offset)))
            .collect();
        for m in &group.members {
            for a in &m.assignment {
                for p in &a.partitions {
                    wanted.entry((a.topic.clone(), *p)).or_insert(None);
                }
            }
        }
        let hosted = self.backend.partitions();
        let now = now_ms();
        let partitions = tokio::task::spawn_blocking(move || {
            wanted
                .into_iter()
                .map(|((topic, partition), committed)| {
                    partition_lag(&hosted, &topic, partition, committed, now, &budget)
                })
                .collect::<Vec<_>>()
        })
        .await?;
        let total_lag = partitions.iter().filter_map(|p| p.lag).sum();
        let max_time_lag_ms = partitions
            .iter()
            .filter_map(|p| p.time_lag_ms)
            .max()
            .unwrap_or(0);
        Ok(GroupLag {
            partitions,
            total_lag,
            max_time_lag_ms,
        })
    }

    /// Committed offsets and lag of a described group, with a budget of its own.
    pub async fn group_lag(&self, group: &GroupDescription) -> ApiResult<GroupLag> {
        self.group_lag_within(group, ScanBudget::for_round()).await
    }

    /// Every group described, with its lag, in id order; one budget for them all.
    pub async fn all_group_lags(&self) -> ApiResult<Vec<(GroupDescription, GroupLag)>> {
        let ids: Vec<String> = self
            .groups
            .list()
            .await?
            .into_iter()
            .map(|g| g.group_id)
            .collect();
        let described = self.groups.describe_many(&ids).await?;
        let budget = ScanBudget::for_round();
        let mut out = Vec::with_capacity(described.len());
        for d in described {
            let lag = self.group_lag_within(&d, Arc::clone(&budget)).await?;
            out.push((d, lag));
        }
        Ok(out)
    }

    fn sample_traffic(&self) {
        let metrics = self.backend.metrics();
        self.history
            .record_traffic(now_ms(), metrics.traffic_totals(), metrics.topic_totals());
    }

    async fn sample_lag(&self) {
        match self.all_group_lags().await {
            Ok(groups) => {
                let now = now_ms();
                let mut live = HashSet::with_capacity(groups.len());
                for (d, lag) in groups {
                    if !lag.has_commits() {
                        live.insert(d.group_id);
                        continue;
                    }
                    self.history.record_lag(
                        &d.group_id,
                        LagSample {
                            t: now,
                            lag: lag.total_lag,
                            time_lag_ms: lag.max_time_lag_ms,
                        },
                    );
                    live.insert(d.group_id);
                }
                self.history.retain_groups(&live);
            }
            Err(e) => tracing::debug!("lag sample skipped: {e}"),
        }
    }

    /// Samples traffic and lag on their intervals until `shutdown` turns true.
    pub async fn run_sampler(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut traffic = tokio::time::interval(THROUGHPUT_SAMPLE_INTERVAL);
        let mut lag = tokio::time::interval(LAG_SAMPLE_INTERVAL);
        traffic.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        lag.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = traffic.tick() => self.sample_traffic(),
                _ = lag.tick() => self.sample_lag().await,
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(committed: Option<i64>) -> PartitionLag {
        PartitionLag {
            topic: "t".into(),
            partition: 0,
            committed,
            log_start_offset: 0,
            end_offset: 10,
            lag: committed.map(|c| 10 - c),
            lag_exact: true,
            time_lag_ms: None,
        }
    }

    #[test]
    fn a_hidden_topic_leaves_the_totals_too() {
        let part = |topic: &str, lag: i64, time_lag_ms: i64| PartitionLag {
            topic: topic.into(),
            lag: Some(lag),
            time_lag_ms: Some(time_lag_ms),
            ..partition(Some(0))
        };
        let lag = GroupLag {
            partitions: vec![part("seen", 3, 100), part("hidden", 40, 9000)],
            total_lag: 43,
            max_time_lag_ms: 9000,
        };
        let (all, hidden) = lag.clone().retain_topics(|_| true);
        assert!(!hidden);
        assert_eq!((all.total_lag, all.max_time_lag_ms), (43, 9000));
        let (seen, hidden) = lag.retain_topics(|t| t == "seen");
        assert!(hidden);
        assert_eq!(seen.partitions.len(), 1);
        assert_eq!((seen.total_lag, seen.max_time_lag_ms), (3, 100));
    }

    #[test]
    fn lag_is_charted_only_once_the_group_committed() {
        let lag = |parts: Vec<PartitionLag>| GroupLag {
            partitions: parts,
            total_lag: 0,
            max_time_lag_ms: 0,
        };
        assert!(!lag(vec![]).has_commits());
        assert!(!lag(vec![partition(None), partition(None)]).has_commits());
        assert!(lag(vec![partition(None), partition(Some(3))]).has_commits());
    }
}
