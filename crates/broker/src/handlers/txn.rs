//! Shared path of the transaction APIs: hand the request to the transaction
//! coordinator task and wait for its answer, which comes once the transition is
//! durable.

use crate::request::{CloseConnection, RequestContext};
use moldau_coordinator::txn::{TxnRequest, TxnResponse};
use moldau_metadata::MetadataImage;
use std::future::Future;

/// Submits `request` (in request order) and returns the answer's future.
pub async fn submit(
    ctx: &RequestContext,
    request: TxnRequest,
) -> Result<impl Future<Output = Result<TxnResponse, CloseConnection>>, CloseConnection> {
    let Some(service) = ctx.transactions().service() else {
        return Err(CloseConnection(
            "transaction coordinator not running".into(),
        ));
    };
    let pending = service.submit(request).await?;
    Ok(async move {
        pending
            .await
            .map_err(|_| CloseConnection("transaction coordinator stopped".into()))
    })
}

/// True when `image` holds partition `partition` of `topic`.
pub fn partition_exists(image: &MetadataImage, topic: &str, partition: i32) -> bool {
    image
        .topic(topic)
        .is_some_and(|t| t.partitions.contains_key(&partition))
}
