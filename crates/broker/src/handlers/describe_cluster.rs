//! DescribeCluster: cluster id, controller and brokers; fenced brokers only when a
//! v2+ client asks for them (marked `is_fenced`), as Kafka answers. Needs DESCRIBE on
//! the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise).

use crate::request::{CloseConnection, Deferred, RequestContext};
use crate::request_access::CLUSTER_OPERATIONS;
use bytes::Bytes;
use moldau_metadata::{BrokerImage, MetadataImage};
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::describe_cluster_response::DescribeClusterBroker;
use moldau_protocol::kafka::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use moldau_protocol::ResponseError;
use moldau_security::AclResource;

/// First version that can list fenced brokers.
const FENCED_BROKERS_VERSION_MIN: i16 = 2;

/// The brokers to list: the unfenced ones, and the fenced ones too when asked.
fn listed_brokers(image: &MetadataImage, include_fenced: bool) -> Vec<&BrokerImage> {
    image
        .brokers()
        .filter(|b| include_fenced || !b.fenced)
        .collect()
}

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: DescribeClusterRequest = super::decode(&ctx, body)?;
    let access = ctx.access();
    if !access.cluster(AclOperation::Describe) {
        let error = ResponseError::ClusterAuthorizationFailed;
        let mut response = DescribeClusterResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(super::str_bytes(&error.to_string())));
        if ctx.version >= 1 {
            response = response.with_endpoint_type(1);
        }
        return ctx.ready(&response);
    }
    let image = ctx.metadata().image();
    let include_fenced =
        ctx.version >= FENCED_BROKERS_VERSION_MIN && request.include_fenced_brokers;
    let brokers = listed_brokers(&image, include_fenced)
        .into_iter()
        .map(|b| {
            let (host, port) = ctx.metadata().address_on(b, &ctx.listener);
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.id))
                .with_host(super::str_bytes(&host))
                .with_port(port)
                .with_rack(b.rack.as_deref().map(super::str_bytes))
                .with_is_fenced(b.fenced && ctx.version >= FENCED_BROKERS_VERSION_MIN)
        })
        .collect();
    let mut response = DescribeClusterResponse::default()
        .with_error_code(0)
        .with_cluster_id(super::str_bytes(ctx.metadata().cluster_id()))
        .with_controller_id(BrokerId(ctx.metadata().controller_for_clients(&image)))
        .with_brokers(brokers);
    if request.include_cluster_authorized_operations {
        response = response.with_cluster_authorized_operations(
            access.operations(&AclResource::cluster(), CLUSTER_OPERATIONS),
        );
    }
    if ctx.version >= 1 {
        response = response.with_endpoint_type(1);
    }
    ctx.ready(&response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_images::{broker, image_of};

    #[test]
    fn fenced_brokers_are_listed_only_when_asked() {
        let image = image_of(&[
            broker(1, 9092, Some("a"), false),
            broker(2, 9093, None, true),
            broker(3, 9094, Some("c"), false),
        ]);
        let ids = |v: Vec<&BrokerImage>| v.iter().map(|b| (b.id, b.fenced)).collect::<Vec<_>>();
        assert_eq!(
            ids(listed_brokers(&image, false)),
            vec![(1, false), (3, false)]
        );
        assert_eq!(
            ids(listed_brokers(&image, true)),
            vec![(1, false), (2, true), (3, false)]
        );
    }
}
