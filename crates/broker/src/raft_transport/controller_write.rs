//! The client side of a forwarded controller write: one request on a fresh
//! connection to the active controller's listener.

use std::time::Duration;

use crate::raft_transport::channel::ControllerChannel;
use crate::raft_transport::cluster_id_check::ClusterIdCheck;
use crate::raft_transport::error::RaftTransportError;
use crate::raft_transport::frame::{read_frame, write_frame};
use crate::raft_transport::message::{
    decode, encode, ControllerWriteError, RaftEnvelope, RaftReply, RaftRequest,
};
use moldau_metadata::raft::MetadataApplied;

/// Sends `records` (an encoded record list) to the controller listener at `addr`
/// and waits at most `timeout` for its answer.
pub async fn forward_controller_write(
    channel: &ControllerChannel,
    addr: &str,
    cluster: &ClusterIdCheck,
    records: Vec<u8>,
    timeout: Duration,
) -> Result<Result<MetadataApplied, ControllerWriteError>, RaftTransportError> {
    match call_controller(
        channel,
        addr,
        cluster,
        &RaftRequest::ControllerWrite(records),
        timeout,
    )
    .await?
    {
        RaftReply::ControllerWrite(result) => Ok(result),
        other => Err(RaftTransportError::WrongReply {
            sent: "ControllerWrite",
            got: other.name(),
        }),
    }
}

/// One request to the controller listener at `addr` on a fresh connection, and its
/// reply, within `timeout`; a controller of another cluster is an error.
pub(crate) async fn call_controller(
    channel: &ControllerChannel,
    addr: &str,
    cluster: &ClusterIdCheck,
    request: &RaftRequest,
    timeout: Duration,
) -> Result<RaftReply, RaftTransportError> {
    let envelope = RaftEnvelope {
        cluster_id: cluster.cluster_id().to_string(),
        from: cluster.local_id(),
        request,
    };
    let exchange = async {
        let mut stream = channel.connect(addr).await?;
        write_frame(&mut stream, &encode(&envelope)?).await?;
        match read_frame(&mut stream).await? {
            Some(body) => decode::<RaftReply>(&body),
            None => Err(RaftTransportError::Io(
                std::io::ErrorKind::UnexpectedEof.into(),
            )),
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(RaftReply::InconsistentClusterId { cluster_id })) => {
            Err(RaftTransportError::InconsistentClusterId {
                ours: cluster.cluster_id().to_string(),
                theirs: cluster_id,
            })
        }
        Ok(result) => result,
        Err(_) => Err(RaftTransportError::Io(std::io::ErrorKind::TimedOut.into())),
    }
}
