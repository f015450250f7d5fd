//! The controller mutation quota (KIP-599) as CreateTopics, CreatePartitions and
//! DeleteTopics apply it: a strict version is refused while the client's credit is
//! below zero, an older one is carried out; both report and serve the throttle.

use crate::request::RequestContext;

/// Kafka's message for THROTTLING_QUOTA_EXCEEDED.
pub const THROTTLED_MESSAGE: &str = "The throttling quota has been exceeded.";

/// False when the request is of a strict version (`strict_from` on) and its client
/// is over its quota: the mutation is refused with THROTTLING_QUOTA_EXCEEDED.
/// Validation-only requests change nothing and are never limited.
pub fn admits(ctx: &RequestContext, strict_from: i16, validate_only: bool) -> bool {
    if validate_only || ctx.version < strict_from {
        return true;
    }
    let image = ctx.metadata().image();
    ctx.quotas()
        .controller_mutations()
        .check(&image, &ctx.principal.name, &ctx.client_id(), ctx.now_ms())
        .is_ok()
}

/// Counts `partitions` created or deleted by the request's client.
pub fn record(ctx: &RequestContext, partitions: i64, validate_only: bool) {
    if validate_only || partitions <= 0 {
        return;
    }
    let image = ctx.metadata().image();
    ctx.quotas().controller_mutations().record(
        &image,
        &ctx.principal.name,
        &ctx.client_id(),
        partitions as u64,
        ctx.now_ms(),
    );
}

/// The throttle the response reports, in ms.
pub fn throttle_ms(ctx: &RequestContext) -> u64 {
    let image = ctx.metadata().image();
    ctx.quotas().controller_mutations().throttle_ms(
        &image,
        &ctx.principal.name,
        &ctx.client_id(),
        ctx.now_ms(),
    )
}

/// `throttle_ms` as the response field.
pub fn field(throttle_ms: u64) -> i32 {
    i32::try_from(throttle_ms).unwrap_or(i32::MAX)
}
