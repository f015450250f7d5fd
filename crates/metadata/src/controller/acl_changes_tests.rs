use super::test_support::apply;
use super::*;
use crate::{
    AclOperation, AclPatternType, AclPermission, AclRecord, AclResourceType, MetadataImage,
    MetadataRecord,
};
use moldau_protocol::ResponseError;

fn acl(id: u8, topic: &str, principal: &str) -> AclRecord {
    AclRecord {
        id: [id; 16],
        resource_type: AclResourceType::Topic,
        resource_name: topic.into(),
        pattern_type: AclPatternType::Literal,
        principal: principal.into(),
        host: "*".into(),
        operation: AclOperation::Read,
        permission: AclPermission::Allow,
    }
}

fn image_with(acls: &[AclRecord]) -> MetadataImage {
    let mut image = MetadataImage::new();
    let records: Vec<MetadataRecord> = acls
        .iter()
        .map(|a| MetadataRecord::AccessControlEntry(a.clone()))
        .collect();
    apply(&mut image, &records);
    image
}

fn refused() -> ControllerError {
    ControllerError::new(ResponseError::InvalidRequest, "bad binding")
}

/// A test filter: the principal an ACL must have.
fn by_principal(principal: &String, acl: &AclRecord) -> bool {
    &acl.principal == principal
}

#[test]
fn creation_adds_new_bindings_once_and_answers_refusals_in_place() {
    let image = image_with(&[acl(1, "known", "User:alice")]);
    let creations = [
        Ok(acl(2, "known", "User:alice")),
        Ok(acl(3, "fresh", "User:bob")),
        Err(refused()),
        Ok(acl(4, "fresh", "User:bob")),
    ];
    let (records, outcomes) = create_acls(&image, &creations);
    assert_eq!(
        records,
        vec![MetadataRecord::AccessControlEntry(acl(
            3, "fresh", "User:bob"
        ))],
        "the known binding and the repeated one are not added again"
    );
    let errors: Vec<Option<ResponseError>> = outcomes
        .iter()
        .map(|o| o.as_ref().err().map(|e| e.error))
        .collect();
    assert_eq!(
        errors,
        vec![None, None, Some(ResponseError::InvalidRequest), None]
    );
}

#[test]
fn deletion_removes_what_the_image_holds_once_under_the_first_filter() {
    let image = image_with(&[
        acl(1, "a", "User:alice"),
        acl(2, "b", "User:alice"),
        acl(3, "c", "User:bob"),
    ]);
    let filters = [
        Ok("User:alice".to_string()),
        Err(refused()),
        Ok("User:alice".to_string()),
        Ok("User:carol".to_string()),
    ];
    let (records, outcomes) = delete_acls(&image, &filters, &by_principal);
    assert_eq!(
        records,
        vec![
            MetadataRecord::RemoveAccessControlEntry { id: [1; 16] },
            MetadataRecord::RemoveAccessControlEntry { id: [2; 16] },
        ]
    );
    let ids = |o: &Result<Vec<AclRecord>, ControllerError>| {
        o.as_ref()
            .map(|acls| acls.iter().map(|a| a.id[0]).collect::<Vec<u8>>())
            .map_err(|e| e.error)
    };
    let seen: Vec<_> = outcomes.iter().map(ids).collect();
    assert_eq!(
        seen,
        vec![
            Ok(vec![1, 2]),
            Err(ResponseError::InvalidRequest),
            Ok(vec![]),
            Ok(vec![])
        ]
    );
    let mut after = image.clone();
    apply(&mut after, &records);
    assert_eq!(after.acls().len(), 1, "bob's ACL stays");
}

#[test]
fn deletion_of_an_acl_created_a_moment_ago_finds_it_on_the_image_it_is_given() {
    // The controller's image has the ACL a lagging broker's does not: decided on
    // the controller's, it is removed.
    let lagging = image_with(&[]);
    let controllers = image_with(&[acl(9, "new", "User:alice")]);
    let filters = [Ok("User:alice".to_string())];
    assert!(delete_acls(&lagging, &filters, &by_principal).0.is_empty());
    assert_eq!(
        delete_acls(&controllers, &filters, &by_principal).0,
        vec![MetadataRecord::RemoveAccessControlEntry { id: [9; 16] }]
    );
}
