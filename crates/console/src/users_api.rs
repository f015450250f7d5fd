//! `GET /api/v1/users`: users with SCRAM credentials, their mechanisms and
//! iterations, from the metadata image (as DescribeUserScramCredentials answers);
//! never a salt or a key.

use crate::caller::Caller;
use crate::console::Console;
use crate::error::ApiResult;
use axum::extract::State;
use axum::Json;
use moldau_protocol::acl::AclOperation;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One credential of a user.
#[derive(Debug, Serialize)]
pub struct CredentialView {
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    pub iterations: i32,
}

/// A user and its credentials.
#[derive(Debug, Serialize)]
pub struct UserView {
    pub user: String,
    pub credentials: Vec<CredentialView>,
}

fn mechanism_name(code: i8) -> String {
    match code {
        1 => "SCRAM-SHA-256".into(),
        2 => "SCRAM-SHA-512".into(),
        other => format!("UNKNOWN({other})"),
    }
}

/// `GET /api/v1/users`
pub async fn list(
    State(console): State<Arc<Console>>,
    caller: Caller,
) -> ApiResult<Json<Vec<UserView>>> {
    // DescribeUserScramCredentials: DESCRIBE on the cluster.
    caller.require_cluster(AclOperation::Describe)?;
    let image = console.backend.metadata().image();
    let mut by_user: BTreeMap<String, Vec<CredentialView>> = BTreeMap::new();
    for c in image.scram_credentials() {
        by_user
            .entry(c.name.clone())
            .or_default()
            .push(CredentialView {
                mechanism: mechanism_name(c.mechanism),
                iterations: c.iterations,
            });
    }
    Ok(Json(
        by_user
            .into_iter()
            .map(|(user, credentials)| UserView { user, credentials })
            .collect(),
    ))
}
