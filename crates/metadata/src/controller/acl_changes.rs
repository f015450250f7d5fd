//! CreateAcls and DeleteAcls as the active controller decides them: against its
//! own image, so an ACL another broker created a moment ago is found and deleted
//! though the receiving broker's image lags, and a binding created twice at once is
//! added once.

use super::ControllerError;
use crate::{AclRecord, MetadataImage, MetadataRecord};
use std::collections::BTreeSet;

/// Decides `creations` (each already checked and given an id, or refused) against
/// `image`: a binding that exists, or came earlier in the request, is not added
/// again but still answered as created, as Kafka does.
pub fn create_acls(
    image: &MetadataImage,
    creations: &[Result<AclRecord, ControllerError>],
) -> (Vec<MetadataRecord>, Vec<Result<(), ControllerError>>) {
    let mut added: Vec<&AclRecord> = Vec::new();
    let mut outcomes = Vec::with_capacity(creations.len());
    for creation in creations {
        outcomes.push(match creation {
            Ok(acl) => {
                let known = image.acls().iter().any(|a| a.same_binding(acl))
                    || added.iter().any(|a| a.same_binding(acl));
                if !known {
                    added.push(acl);
                }
                Ok(())
            }
            Err(refused) => Err(refused.clone()),
        });
    }
    let records = added
        .into_iter()
        .map(|acl| MetadataRecord::AccessControlEntry(acl.clone()))
        .collect();
    (records, outcomes)
}

/// Decides `filters` (each parsed, or refused) against `image`: every ACL a filter
/// selects is removed once and reported under the first filter that selected it.
/// `matches` is the filter semantics (moldau-security's), kept out of this crate.
pub fn delete_acls<F>(
    image: &MetadataImage,
    filters: &[Result<F, ControllerError>],
    matches: &dyn Fn(&F, &AclRecord) -> bool,
) -> (
    Vec<MetadataRecord>,
    Vec<Result<Vec<AclRecord>, ControllerError>>,
) {
    let mut taken: BTreeSet<[u8; 16]> = BTreeSet::new();
    let outcomes: Vec<Result<Vec<AclRecord>, ControllerError>> = filters
        .iter()
        .map(|filter| match filter {
            Ok(filter) => Ok(image
                .acls()
                .iter()
                .filter(|a| matches(filter, a) && taken.insert(a.id))
                .cloned()
                .collect()),
            Err(refused) => Err(refused.clone()),
        })
        .collect();
    let records = taken
        .into_iter()
        .map(|id| MetadataRecord::RemoveAccessControlEntry { id })
        .collect();
    (records, outcomes)
}
