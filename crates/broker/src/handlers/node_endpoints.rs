//! KIP-951's `node_endpoints`: where the leaders named in a Produce or Fetch
//! response's `current_leader` fields are, on the listener the client came in on.

use crate::leadership::LeaderEndpoint;
use crate::request::RequestContext;
use moldau_metadata::MetadataImage;
use std::collections::BTreeSet;

/// The registered brokers among `ids`, in id order.
pub fn of(ctx: &RequestContext, image: &MetadataImage, ids: &BTreeSet<i32>) -> Vec<LeaderEndpoint> {
    ids.iter()
        .filter_map(|id| image.broker(*id))
        .map(|b| {
            let (host, port) = ctx.metadata().address_on(b, &ctx.listener);
            LeaderEndpoint {
                node_id: b.id,
                host,
                port,
                rack: b.rack.clone(),
            }
        })
        .collect()
}
