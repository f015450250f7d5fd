//! Cost of one authorization decision with 10 000 ACLs in the metadata image's index
//! (literal and prefixed topic ACLs for 1 000 principals, plus group ACLs).
//! Run: `cargo bench -p moldau-security --bench authorize`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code: a failure should panic

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use moldau_metadata::{
    AclIndex, AclOperation, AclPatternType, AclPermission, AclRecord, AclResourceType,
};
use moldau_security::{AclResource, Authorizer, KafkaPrincipal};

const ACLS: usize = 10_000;
const PRINCIPALS: usize = 1_000;

fn index() -> AclIndex {
    let mut index = AclIndex::default();
    for i in 0..ACLS {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let (resource_type, name, pattern_type, operation) = match i % 4 {
            0 => (
                AclResourceType::Topic,
                format!("orders-{i}"),
                AclPatternType::Literal,
                AclOperation::Read,
            ),
            1 => (
                AclResourceType::Topic,
                format!("team-{}-", i % 500),
                AclPatternType::Prefixed,
                AclOperation::Write,
            ),
            2 => (
                AclResourceType::Group,
                format!("group-{i}"),
                AclPatternType::Literal,
                AclOperation::Read,
            ),
            _ => (
                AclResourceType::Topic,
                format!("t{i}"),
                AclPatternType::Literal,
                AclOperation::Describe,
            ),
        };
        index
            .insert(AclRecord {
                id,
                resource_type,
                resource_name: name,
                pattern_type,
                principal: format!("User:user-{}", i % PRINCIPALS),
                host: "*".into(),
                operation,
                permission: if i % 97 == 0 {
                    AclPermission::Deny
                } else {
                    AclPermission::Allow
                },
            })
            .unwrap();
    }
    index
}

fn bench(c: &mut Criterion) {
    let index = index();
    let authorizer = Authorizer::new(["User:admin".to_string()], false);
    let reader = KafkaPrincipal::user("user-4");
    let writer = KafkaPrincipal::user("user-1");
    let stranger = KafkaPrincipal::user("nobody");
    // Sanity: the decisions measured are the ones expected.
    let topic = AclResource::topic("orders-4");
    assert!(authorizer
        .authorize(&index, &reader, "10.0.0.1", AclOperation::Read, &topic)
        .is_allowed());
    let prefixed = AclResource::topic("team-1-payments-eu");
    assert!(authorizer
        .authorize(&index, &writer, "10.0.0.1", AclOperation::Write, &prefixed)
        .is_allowed());
    let mut group = c.benchmark_group("authorize_10000_acls");
    group.bench_function("literal_allow", |b| {
        b.iter(|| {
            authorizer.authorize(
                &index,
                black_box(&reader),
                "10.0.0.1",
                AclOperation::Read,
                black_box(&topic),
            )
        })
    });
    group.bench_function("prefixed_allow", |b| {
        b.iter(|| {
            authorizer.authorize(
                &index,
                black_box(&writer),
                "10.0.0.1",
                AclOperation::Write,
                black_box(&prefixed),
            )
        })
    });
    let unknown = AclResource::topic("no-acl-here-at-all");
    group.bench_function("no_acl_deny", |b| {
        b.iter(|| {
            authorizer.authorize(
                &index,
                black_box(&stranger),
                "10.0.0.1",
                AclOperation::Read,
                black_box(&unknown),
            )
        })
    });
    group.bench_function("any_topic_write", |b| {
        b.iter(|| {
            authorizer.authorize_any(
                &index,
                black_box(&stranger),
                "10.0.0.1",
                AclOperation::Write,
                AclResourceType::Topic,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
