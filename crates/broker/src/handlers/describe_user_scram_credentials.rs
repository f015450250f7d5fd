//! DescribeUserScramCredentials (KIP-554): each user's SCRAM mechanisms and iteration
//! counts from the metadata image; never the salt or keys.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::kafka::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use moldau_protocol::kafka::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use moldau_protocol::ResponseError;
use std::collections::{BTreeMap, BTreeSet};

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: DescribeUserScramCredentialsRequest = super::decode(&ctx, body)?;
    if !ctx
        .access()
        .cluster(moldau_protocol::acl::AclOperation::Describe)
    {
        let e = ResponseError::ClusterAuthorizationFailed;
        return ctx.ready(
            &DescribeUserScramCredentialsResponse::default()
                .with_error_code(e.code())
                .with_error_message(Some(super::str_bytes(&e.to_string()))),
        );
    }
    let image = ctx.metadata().image();
    let mut by_user: BTreeMap<&str, Vec<CredentialInfo>> = BTreeMap::new();
    for c in image.scram_credentials() {
        by_user.entry(c.name.as_str()).or_default().push(
            CredentialInfo::default()
                .with_mechanism(c.mechanism)
                .with_iterations(c.iterations),
        );
    }
    let result = |user: &str| {
        DescribeUserScramCredentialsResult::default().with_user(super::str_bytes(user))
    };
    let results = match request.users.filter(|u| !u.is_empty()) {
        // None or empty: every user with a credential.
        None => by_user
            .iter()
            .map(|(user, infos)| result(user).with_credential_infos(infos.clone()))
            .collect(),
        Some(users) => {
            let mut seen = BTreeSet::new();
            let duplicated: BTreeSet<String> = users
                .iter()
                .map(|u| u.name.to_string())
                .filter(|n| !seen.insert(n.clone()))
                .collect();
            let mut out = Vec::new();
            let mut answered = BTreeSet::new();
            for u in users {
                let name = u.name.to_string();
                if !answered.insert(name.clone()) {
                    continue;
                }
                let r = if duplicated.contains(&name) {
                    result(&name)
                        .with_error_code(ResponseError::DuplicateResource.code())
                        .with_error_message(Some(super::str_bytes(
                            "Cannot describe SCRAM credentials for the same user twice in a single request",
                        )))
                } else {
                    match by_user.get(name.as_str()) {
                        Some(infos) => result(&name).with_credential_infos(infos.clone()),
                        None => result(&name)
                            .with_error_code(ResponseError::ResourceNotFound.code())
                            .with_error_message(Some(super::str_bytes(
                                "Attempt to describe a user credential that does not exist",
                            ))),
                    }
                };
                out.push(r);
            }
            out
        }
    };
    ctx.ready(&DescribeUserScramCredentialsResponse::default().with_results(results))
}
