//! ApiVersions: the table of supported APIs and the cluster's features (KIP-584:
//! what this broker supports and what the cluster has finalized, which is also how
//! Kafka answers DescribeFeatures). A version the broker lacks is answered in the v0
//! layout with UNSUPPORTED_VERSION, so old clients can fall back.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::features::{finalized_levels, SUPPORTED_FEATURES};
use moldau_metadata::MetadataImage;
use moldau_protocol::kafka::messages::api_versions_response::{
    ApiVersion, ApiVersionsResponse, FinalizedFeatureKey, SupportedFeatureKey,
};
use moldau_protocol::kafka::messages::ApiVersionsRequest;
use moldau_protocol::versions::{advertised, BROKER_APIS};
use moldau_protocol::ResponseError;

/// First ApiVersions version with the feature fields.
const FEATURES_VERSION: i16 = 3;
/// Before this version a supported feature whose minimum level is 0 is left out:
/// older clients fail to parse it (KAFKA-17011).
const FEATURE_MIN_ZERO_VERSION: i16 = 4;

fn table() -> Vec<ApiVersion> {
    BROKER_APIS
        .iter()
        .map(|a| {
            let (min, max) = advertised(*a);
            ApiVersion::default()
                .with_api_key(a.key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}

/// The features part of the response, as of `image`.
fn with_features(
    response: ApiVersionsResponse,
    image: &MetadataImage,
    version: i16,
) -> ApiVersionsResponse {
    let supported = SUPPORTED_FEATURES
        .iter()
        .filter(|f| version >= FEATURE_MIN_ZERO_VERSION || f.min_level > 0)
        .map(|f| {
            SupportedFeatureKey::default()
                .with_name(super::str_bytes(f.name))
                .with_min_version(f.min_level)
                .with_max_version(f.max_level)
        })
        .collect();
    let finalized = finalized_levels(image)
        .into_iter()
        .map(|(name, level)| {
            FinalizedFeatureKey::default()
                .with_name(super::str_bytes(&name))
                .with_min_version_level(level)
                .with_max_version_level(level)
        })
        .collect();
    response
        .with_supported_features(supported)
        .with_finalized_features(finalized)
        // Kafka's epoch is the metadata offset the finalized levels are read at.
        .with_finalized_features_epoch(image.last_offset())
}

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let _request: ApiVersionsRequest = super::decode(&ctx, body)?;
    let mut response = ApiVersionsResponse::default()
        .with_error_code(0)
        .with_api_keys(table());
    if ctx.version >= FEATURES_VERSION {
        response = with_features(response, &ctx.metadata().image(), ctx.version);
    }
    // Kafka counts ApiVersions against the request quota like any request; its
    // throttle field follows the table, so it is set here rather than patched in.
    let throttle_ms = ctx.request_quota_throttle();
    let response = response.with_throttle_time_ms(i32::try_from(throttle_ms).unwrap_or(i32::MAX));
    ctx.ready_throttled(&response, throttle_ms)
}

pub fn unsupported_version(ctx: &RequestContext) -> Result<Deferred, CloseConnection> {
    let response = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(table());
    let frame = crate::request::encode_frame(ctx.correlation_id(), 0, &response, 0)?;
    Ok(crate::request::ready_frame(Some(frame)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_with_level_zero_minimum_only_from_v4() {
        let image = MetadataImage::new();
        let v3 = with_features(ApiVersionsResponse::default(), &image, 3);
        let names: Vec<String> = v3
            .supported_features
            .iter()
            .map(|f| f.name.to_string())
            .collect();
        assert_eq!(names, vec!["metadata.version"]);
        let v4 = with_features(ApiVersionsResponse::default(), &image, 4);
        assert_eq!(v4.supported_features.len(), SUPPORTED_FEATURES.len());
        assert_eq!(v4.finalized_features.len(), 1);
        assert_eq!(v4.finalized_features[0].max_version_level, 7);
    }
}
