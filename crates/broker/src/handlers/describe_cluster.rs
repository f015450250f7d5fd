//! DescribeCluster: cluster id, controller and brokers (fenced ones only when asked
//! for, v2).

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::kafka::messages::describe_cluster_response::DescribeClusterBroker;
use moldau_protocol::kafka::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: DescribeClusterRequest = super::decode(&ctx, body)?;
    let broker = &ctx.broker;
    let image = broker.metadata.image();
    let brokers = image
        .brokers()
        .filter(|b| !b.fenced || request.include_fenced_brokers)
        .map(|b| {
            let (host, port) = broker.address_on(b, &ctx.listener);
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.id))
                .with_host(super::str_bytes(&host))
                .with_port(port)
                .with_rack(b.rack.as_deref().map(super::str_bytes))
                .with_is_fenced(b.fenced)
        })
        .collect();
    let mut response = DescribeClusterResponse::default()
        .with_error_code(0)
        .with_cluster_id(super::str_bytes(&broker.cluster_id))
        .with_controller_id(BrokerId(broker.node_id))
        .with_brokers(brokers);
    if request.include_cluster_authorized_operations {
        response =
            response.with_cluster_authorized_operations(super::metadata::CLUSTER_OPERATIONS_ALL);
    }
    if ctx.version >= 1 {
        response = response.with_endpoint_type(1);
    }
    ctx.ready(&response)
}
