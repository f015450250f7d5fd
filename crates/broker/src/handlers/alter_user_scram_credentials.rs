//! AlterUserScramCredentials (KIP-554): upsertions carry a salted password (the client
//! does PBKDF2), from which the credential record keeps StoredKey and ServerKey;
//! deletions remove a mechanism's credential. Each user's changes are checked, then
//! committed together as one metadata entry, or refused with Kafka's error codes.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::{MetadataRecord, ScramCredentialRecord};
use moldau_protocol::kafka::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use moldau_protocol::kafka::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use moldau_protocol::ResponseError;
use moldau_security::scram_credential::{SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN};
use moldau_security::{ScramCredential, ScramMechanism};
use std::collections::BTreeMap;

type Refusal = (ResponseError, String);

fn mechanism(code: i8) -> Result<ScramMechanism, Refusal> {
    ScramMechanism::from_code(code).ok_or((
        ResponseError::UnsupportedSaslMechanism,
        format!("Unknown SCRAM mechanism {code}"),
    ))
}

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: AlterUserScramCredentialsRequest = super::decode(&ctx, body)?;
    let image = ctx.metadata().image();
    // Each user's records, or why the user's changes are refused; in request order.
    let mut users: BTreeMap<String, Result<Vec<MetadataRecord>, Refusal>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut changed: BTreeMap<(String, i8), ()> = BTreeMap::new();
    let mut add = |name: String, record: Result<MetadataRecord, Refusal>, key: i8| {
        if !users.contains_key(&name) {
            order.push(name.clone());
        }
        let entry = users.entry(name.clone()).or_insert(Ok(Vec::new()));
        let duplicate = changed.insert((name.clone(), key), ()).is_some();
        match (entry.as_mut(), record) {
            (Err(_), _) => {}
            (Ok(_), _) if duplicate => {
                *entry = Err((
                    ResponseError::DuplicateResource,
                    "A user credential cannot be altered twice in the same request".into(),
                ))
            }
            (Ok(records), Ok(r)) => records.push(r),
            (Ok(_), Err(e)) => *entry = Err(e),
        }
    };
    for d in &request.deletions {
        let name = d.name.to_string();
        let record = (|| {
            if name.is_empty() {
                return Err((
                    ResponseError::UnacceptableCredential,
                    "Username must not be empty".to_string(),
                ));
            }
            let m = mechanism(d.mechanism)?;
            if image.scram_credential(&name, m.code()).is_none() {
                return Err((
                    ResponseError::ResourceNotFound,
                    "Attempt to delete a user credential that does not exist".to_string(),
                ));
            }
            Ok(MetadataRecord::RemoveUserScramCredential {
                name: name.clone(),
                mechanism: m.code(),
            })
        })();
        add(name, record, d.mechanism);
    }
    for u in &request.upsertions {
        let name = u.name.to_string();
        let record = (|| {
            if name.is_empty() {
                return Err((
                    ResponseError::UnacceptableCredential,
                    "Username must not be empty".to_string(),
                ));
            }
            let m = mechanism(u.mechanism)?;
            if u.iterations < SCRAM_ITERATIONS_MIN {
                return Err((
                    ResponseError::UnacceptableCredential,
                    "Too few iterations".to_string(),
                ));
            }
            if u.iterations > SCRAM_ITERATIONS_MAX {
                return Err((
                    ResponseError::UnacceptableCredential,
                    "Too many iterations".to_string(),
                ));
            }
            if u.salt.is_empty() || u.salted_password.is_empty() {
                return Err((
                    ResponseError::UnacceptableCredential,
                    "Salt and salted password must not be empty".to_string(),
                ));
            }
            if u.salt.len() > moldau_metadata::RECORD_STRING_BYTES_MAX
                || u.salted_password.len() > moldau_metadata::RECORD_STRING_BYTES_MAX
            {
                return Err((
                    ResponseError::UnacceptableCredential,
                    "Salt or salted password too long".to_string(),
                ));
            }
            let c = ScramCredential::from_salted_password(
                m,
                &u.salted_password,
                u.salt.to_vec(),
                u.iterations,
            );
            Ok(MetadataRecord::UserScramCredential(ScramCredentialRecord {
                name: name.clone(),
                mechanism: m.code(),
                salt: c.salt,
                stored_key: c.stored_key,
                server_key: c.server_key,
                iterations: c.iterations,
            }))
        })();
        add(name, record, u.mechanism);
    }
    let allowed = ctx
        .access()
        .cluster(moldau_protocol::acl::AclOperation::Alter);
    let mut results = Vec::with_capacity(order.len());
    for name in order {
        let denied = ResponseError::ClusterAuthorizationFailed;
        let outcome = match users.remove(&name) {
            _ if !allowed => Err((denied, denied.to_string())),
            Some(Ok(records)) if !records.is_empty() => ctx
                .controller()
                .commit(&records)
                .await
                .map(|_| ())
                .map_err(|e| (e.response_error(), e.to_string())),
            Some(Ok(_)) | None => Ok(()),
            Some(Err(e)) => Err(e),
        };
        let result = AlterUserScramCredentialsResult::default().with_user(super::str_bytes(&name));
        results.push(match outcome {
            Ok(()) => result,
            Err((error, message)) => result
                .with_error_code(error.code())
                .with_error_message(Some(super::str_bytes(&message))),
        });
    }
    ctx.ready(&AlterUserScramCredentialsResponse::default().with_results(results))
}
