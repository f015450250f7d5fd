//! UpdateFeatures (KIP-584): finalizes feature levels by committing
//! FeatureLevelRecords, all of a request or none of it. A level this build does not
//! support is refused with INVALID_UPDATE_VERSION.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::features::{decide_feature_update, UpgradeType};
use moldau_metadata::MetadataRecord;
use moldau_protocol::kafka::messages::update_features_response::UpdatableFeatureResult;
use moldau_protocol::kafka::messages::{UpdateFeaturesRequest, UpdateFeaturesResponse};
use moldau_protocol::ResponseError;
use std::collections::BTreeSet;

/// First version with `upgrade_type` (v0 has `allow_downgrade`).
const UPGRADE_TYPE_VERSION: i16 = 1;
/// From this version the response carries no per-feature results.
const NO_RESULTS_VERSION: i16 = 2;

/// The records the request asks for, or the error and message refusing all of it.
fn decide(
    ctx: &RequestContext,
    request: &UpdateFeaturesRequest,
) -> Result<Vec<MetadataRecord>, (ResponseError, String)> {
    let image = ctx.metadata().image();
    let mut seen = BTreeSet::new();
    let mut records = Vec::new();
    for update in &request.feature_updates {
        let name = update.feature.as_str();
        if !seen.insert(name) {
            return Err((
                ResponseError::InvalidRequest,
                format!("Feature {name} appears more than once in the request."),
            ));
        }
        let upgrade_type = if ctx.version >= UPGRADE_TYPE_VERSION {
            UpgradeType::from_wire(update.upgrade_type).ok_or_else(|| {
                (
                    ResponseError::InvalidUpdateVersion,
                    format!(
                        "Invalid update version {} for feature {name}. The controller does not support the given upgrade type.",
                        update.max_version_level
                    ),
                )
            })?
        } else if update.allow_downgrade {
            UpgradeType::SafeDowngrade
        } else {
            UpgradeType::Upgrade
        };
        let record = decide_feature_update(&image, name, update.max_version_level, upgrade_type)
            .map_err(|e| {
                (
                    ResponseError::InvalidUpdateVersion,
                    format!(
                        "Invalid update version {} for feature {name}. {e}",
                        update.max_version_level
                    ),
                )
            })?;
        records.push(record);
    }
    Ok(records)
}

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: UpdateFeaturesRequest = super::decode(&ctx, body)?;
    let denied = moldau_protocol::ResponseError::ClusterAuthorizationFailed;
    let decided = if ctx
        .access()
        .cluster(moldau_protocol::acl::AclOperation::Alter)
    {
        decide(&ctx, &request)
    } else {
        Err((denied, denied.to_string()))
    };
    let outcome = match decided {
        Ok(records) if !request.validate_only && !records.is_empty() => ctx
            .controller()
            .commit(&records)
            .await
            .map(|_| ())
            .map_err(|e| (e.response_error(), e.to_string())),
        other => other.map(|_| ()),
    };
    let response = match outcome {
        Ok(()) => {
            let results = if ctx.version < NO_RESULTS_VERSION {
                request
                    .feature_updates
                    .iter()
                    .map(|u| {
                        UpdatableFeatureResult::default()
                            .with_feature(u.feature.clone())
                            .with_error_code(0)
                            .with_error_message(None)
                    })
                    .collect()
            } else {
                Vec::new()
            };
            UpdateFeaturesResponse::default()
                .with_error_code(0)
                .with_error_message(None)
                .with_results(results)
        }
        Err((error, message)) => UpdateFeaturesResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(super::str_bytes(&message))),
    };
    ctx.ready(&response)
}
