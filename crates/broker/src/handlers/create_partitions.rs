//! CreatePartitions: grow a topic's partition count; needs ALTER on the topic.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::kafka::messages::create_partitions_response::CreatePartitionsTopicResult;
use moldau_protocol::kafka::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: CreatePartitionsRequest = super::decode(&ctx, body)?;
    let access = ctx.access();
    let mut results = Vec::new();
    for t in request.topics {
        let name = t.name.0.to_string();
        let r = CreatePartitionsTopicResult::default().with_name(t.name);
        if !access.topic(moldau_protocol::acl::AclOperation::Alter, &name) {
            let e = moldau_protocol::ResponseError::TopicAuthorizationFailed;
            results.push(
                r.with_error_code(e.code())
                    .with_error_message(Some(super::str_bytes(&e.to_string()))),
            );
            continue;
        }
        results.push(
            match ctx
                .broker
                .create_partitions(&name, t.count, request.validate_only)
                .await
            {
                Ok(()) => r.with_error_code(0),
                Err(e) => r
                    .with_error_code(e.code())
                    .with_error_message(Some(super::str_bytes(&e.to_string()))),
            },
        );
    }
    ctx.ready(&CreatePartitionsResponse::default().with_results(results))
}
