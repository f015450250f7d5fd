//! CreatePartitions: grow a topic's partition count; needs ALTER on the topic and is
//! limited by the controller mutation quota (strict from v3, KIP-599).

use super::mutation_quota;
use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::kafka::messages::create_partitions_response::CreatePartitionsTopicResult;
use moldau_protocol::kafka::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use moldau_protocol::ResponseError;

/// The first CreatePartitions version refused THROTTLING_QUOTA_EXCEEDED (KIP-599).
const STRICT_QUOTA_VERSION_MIN: i16 = 3;

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
        if !mutation_quota::admits(&ctx, STRICT_QUOTA_VERSION_MIN, request.validate_only) {
            results.push(
                r.with_error_code(ResponseError::ThrottlingQuotaExceeded.code())
                    .with_error_message(Some(super::str_bytes(mutation_quota::THROTTLED_MESSAGE))),
            );
            continue;
        }
        let before = ctx
            .metadata()
            .image()
            .topic(&name)
            .map_or(0, |topic| topic.partitions.len() as i64);
        results.push(
            match ctx
                .controller()
                .create_partitions(&name, t.count, request.validate_only)
                .await
            {
                Ok(()) => {
                    let added = i64::from(t.count) - before;
                    mutation_quota::record(&ctx, added, request.validate_only);
                    r.with_error_code(0)
                }
                Err(e) => r
                    .with_error_code(e.code())
                    .with_error_message(Some(super::str_bytes(&e.to_string()))),
            },
        );
    }
    let throttle_ms = mutation_quota::throttle_ms(&ctx);
    let response = CreatePartitionsResponse::default()
        .with_results(results)
        .with_throttle_time_ms(mutation_quota::field(throttle_ms));
    ctx.ready_throttled(&response, throttle_ms)
}
