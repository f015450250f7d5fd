//! At start, each voter says hello to every other one, so a node of another cluster
//! learns so even from voters that would never send it a Raft request (followers,
//! or a quorum not yet formed: an uninitialized node does not campaign).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use moldau_metadata::raft::NodeId;
use tokio::sync::watch;

use crate::raft_transport::channel::ControllerChannel;
use crate::raft_transport::cluster_id_check::ClusterIdCheck;
use crate::raft_transport::controller_write::call_controller;
use crate::raft_transport::error::RaftTransportError;
use crate::raft_transport::message::{RaftReply, RaftRequest};

/// Pause between rounds while some voter has not answered (it may not run yet).
const PROBE_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// The longest one hello waits for its answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Says hello to each voter in `peers` (id -> controller listener) until every one
/// has answered once, or `stopped` turns true; the answers go to `check`.
pub async fn probe_cluster_ids(
    channel: ControllerChannel,
    mut peers: BTreeMap<NodeId, String>,
    check: Arc<ClusterIdCheck>,
    mut stopped: watch::Receiver<bool>,
) {
    peers.remove(&check.local_id());
    while !peers.is_empty() {
        let mut answered = Vec::new();
        for (peer, addr) in &peers {
            match call_controller(&channel, addr, &check, &RaftRequest::Hello, PROBE_TIMEOUT).await
            {
                Ok(RaftReply::Hello) => {
                    check.observe(*peer, check.cluster_id());
                    answered.push(*peer);
                }
                Err(RaftTransportError::InconsistentClusterId { theirs, .. }) => {
                    check.observe(*peer, &theirs);
                    answered.push(*peer);
                }
                Ok(other) => {
                    tracing::debug!(peer, reply = other.name(), "unexpected answer to hello");
                    answered.push(*peer);
                }
                Err(e) => tracing::debug!(peer, error = %e, "controller not reached yet"),
            }
        }
        for peer in answered {
            peers.remove(&peer);
        }
        if peers.is_empty() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(PROBE_RETRY_INTERVAL) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
    }
}
