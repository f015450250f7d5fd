//! Who a console request acts as, and the authorizer's checks for it. A logged-in
//! user (`User:<name>`) gets exactly the decisions the broker makes for a Kafka
//! request of that principal, over the same ACLs and the same resource/operation
//! pairs, so the console is no way around them. Unchecked: when the broker has no
//! authorizer (`authorizer.class.name` empty), when no login is required (the
//! console is open on loopback only), and for the `console.auth.token` login, which
//! is the operator's key and acts as a super user.

use crate::console::Console;
use crate::error::ApiError;
use crate::login::{ConsolePrincipal, TOKEN_PRINCIPAL};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use moldau_broker::request_access::Access;
use moldau_broker::security::{AclResource, KafkaPrincipal};
use moldau_protocol::acl::AclOperation;
use std::net::SocketAddr;
use std::sync::Arc;

/// The authorizer's view for one console request; None when nothing is checked.
#[derive(Clone)]
pub struct Caller {
    access: Option<Access>,
}

impl Caller {
    /// A caller nothing is checked for (internal calls, tests).
    pub fn unchecked() -> Self {
        Caller { access: None }
    }

    fn of(console: &Console, who: Option<&ConsolePrincipal>, host: &str) -> Self {
        let access = who
            .filter(|w| w.principal != TOKEN_PRINCIPAL)
            .map(|w| console.backend.access(parse_principal(&w.principal), host))
            .filter(Access::enforced);
        Caller { access }
    }

    /// Whether anything is checked for this caller (otherwise it sees everything).
    pub fn checked(&self) -> bool {
        self.access.is_some()
    }

    /// May the caller DESCRIBE the cluster (cluster-wide figures)?
    pub fn may_describe_cluster(&self) -> bool {
        self.may(AclOperation::Describe, &AclResource::cluster())
    }

    /// May the caller DESCRIBE the topic (see it, its offsets and its lag)?
    pub fn may_describe_topic(&self, name: &str) -> bool {
        self.may_topic(AclOperation::Describe, name)
    }

    /// May the caller do `operation` on `resource`?
    pub fn may(&self, operation: AclOperation, resource: &AclResource<'_>) -> bool {
        self.access
            .as_ref()
            .is_none_or(|a| a.allows(operation, resource))
    }

    /// Ok when allowed, else 403 naming the missing permission.
    pub fn require(
        &self,
        operation: AclOperation,
        resource: &AclResource<'_>,
    ) -> Result<(), ApiError> {
        if self.may(operation, resource) {
            return Ok(());
        }
        let principal = self
            .access
            .as_ref()
            .map(|a| a.principal().to_string())
            .unwrap_or_default();
        Err(ApiError::Forbidden(format!(
            "{principal} is not authorized: {operation} on {} '{}' is required",
            resource.resource_type, resource.name
        )))
    }

    pub fn may_topic(&self, operation: AclOperation, name: &str) -> bool {
        self.may(operation, &AclResource::topic(name))
    }

    pub fn require_topic(&self, operation: AclOperation, name: &str) -> Result<(), ApiError> {
        self.require(operation, &AclResource::topic(name))
    }

    pub fn may_group(&self, operation: AclOperation, id: &str) -> bool {
        self.may(operation, &AclResource::group(id))
    }

    pub fn require_group(&self, operation: AclOperation, id: &str) -> Result<(), ApiError> {
        self.require(operation, &AclResource::group(id))
    }

    pub fn require_cluster(&self, operation: AclOperation) -> Result<(), ApiError> {
        self.require(operation, &AclResource::cluster())
    }
}

/// `Type:name` as the login stored it; a bare name is a `User`.
fn parse_principal(text: &str) -> KafkaPrincipal {
    match text.split_once(':') {
        Some((kind, name)) => KafkaPrincipal {
            principal_type: kind.to_string(),
            name: name.to_string(),
        },
        None => KafkaPrincipal::user(text),
    }
}

impl FromRequestParts<Arc<Console>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Self::Rejection> {
        let host = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default();
        Ok(Caller::of(
            console,
            parts.extensions.get::<ConsolePrincipal>(),
            &host,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_keep_their_type() {
        assert_eq!(parse_principal("User:alice"), KafkaPrincipal::user("alice"));
        assert_eq!(parse_principal("bob"), KafkaPrincipal::user("bob"));
        let mapped = parse_principal("Group:ops");
        assert_eq!(mapped.principal_type, "Group");
        assert_eq!(mapped.name, "ops");
    }

    #[test]
    fn an_unchecked_caller_may_do_anything() {
        let c = Caller::unchecked();
        assert!(c.may_topic(AclOperation::Delete, "t"));
        assert!(c.require_cluster(AclOperation::Alter).is_ok());
    }
}
