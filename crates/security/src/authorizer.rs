//! Kafka's StandardAuthorizer as a pure function of the ACLs: super users may do
//! anything; otherwise a DENY ACL that matches wins over any ALLOW, an ALLOW must
//! match, and a resource with no ACL at all is open only with
//! `allow.everyone.if.no.acl.found`. The broker asks it before every action, with
//! the metadata image's ACL index as the [`AclLookup`], so a change to the ACLs
//! applies to the next request of every connection.

use crate::acl_resource::AclResource;
use crate::principal::KafkaPrincipal;
use moldau_protocol::acl::{
    AclLookup, AclOperation, AclPatternType, AclPermission, AclRecord, AclResourceType,
    ACL_WILDCARD,
};
use std::collections::BTreeSet;

/// The principal an ACL gives to every principal (`User:*`).
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// What the authorizer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Denied,
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        self == Decision::Allowed
    }
}

/// The authorizer's settings (`super.users`, `allow.everyone.if.no.acl.found`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorizer {
    /// Principals (`User:admin`) for whom every decision is ALLOW.
    super_users: BTreeSet<String>,
    /// A resource that no ACL covers is open to everyone.
    allow_if_no_acl: bool,
}

impl Authorizer {
    pub fn new(super_users: impl IntoIterator<Item = String>, allow_if_no_acl: bool) -> Self {
        Authorizer {
            super_users: super_users.into_iter().collect(),
            allow_if_no_acl,
        }
    }

    /// Parses `super.users` as Kafka does: principals separated by `;`, each
    /// `Type:name`. Blank entries are skipped.
    pub fn parse_super_users(text: &str) -> Result<Vec<String>, String> {
        text.split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s.split_once(':') {
                Some((t, n)) if !t.is_empty() && !n.is_empty() => Ok(s.to_string()),
                _ => Err(format!(
                    "'{s}' is not a principal of the form Type:name (User:admin)"
                )),
            })
            .collect()
    }

    pub fn is_super_user(&self, principal: &KafkaPrincipal) -> bool {
        self.super_users.contains(&principal.to_string())
    }

    /// May `principal`, connected from `host`, do `operation` on `resource`?
    pub fn authorize(
        &self,
        acls: &dyn AclLookup,
        principal: &KafkaPrincipal,
        host: &str,
        operation: AclOperation,
        resource: &AclResource<'_>,
    ) -> Decision {
        if self.is_super_user(principal) {
            return Decision::Allowed;
        }
        let found = acls.matching(resource.resource_type, resource.name);
        if found.is_empty() {
            return self.no_acl_decision();
        }
        let principal = principal.to_string();
        let applies = |a: &&&AclRecord| principal_matches(a, &principal) && host_matches(a, host);
        let mut allowed = false;
        for acl in found.iter().filter(applies) {
            match acl.permission {
                AclPermission::Deny if denies(acl.operation, operation) => return Decision::Denied,
                AclPermission::Allow if allows(acl.operation, operation) => allowed = true,
                _ => {}
            }
        }
        if allowed {
            Decision::Allowed
        } else {
            Decision::Denied
        }
    }

    /// May `principal` do `operation` on at least one resource of `resource_type`
    /// (Kafka's authorizeByResourceType, used where any topic will do: idempotent
    /// producers without IDEMPOTENT_WRITE on the cluster)? An ALLOW counts unless a
    /// DENY covers all it allows: a LITERAL `*` DENY, the same LITERAL name, or a
    /// PREFIXED DENY that is a prefix of the allowed name or prefix.
    pub fn authorize_any(
        &self,
        acls: &dyn AclLookup,
        principal: &KafkaPrincipal,
        host: &str,
        operation: AclOperation,
        resource_type: AclResourceType,
    ) -> Decision {
        if self.is_super_user(principal) {
            return Decision::Allowed;
        }
        let all = acls.of_type(resource_type);
        if all.is_empty() {
            return self.no_acl_decision();
        }
        let principal = principal.to_string();
        let applying: Vec<&&AclRecord> = all
            .iter()
            .filter(|a| principal_matches(a, &principal) && host_matches(a, host))
            .collect();
        let denials: Vec<&&AclRecord> = applying
            .iter()
            .copied()
            .filter(|a| a.permission == AclPermission::Deny && denies(a.operation, operation))
            .collect();
        let denied = |allow: &AclRecord| {
            denials.iter().any(|d| match d.pattern_type {
                AclPatternType::Literal => {
                    d.resource_name == ACL_WILDCARD
                        || (allow.pattern_type == AclPatternType::Literal
                            && d.resource_name == allow.resource_name)
                }
                AclPatternType::Prefixed => allow.resource_name.starts_with(&d.resource_name),
            })
        };
        let allowed = applying.iter().any(|a| {
            a.permission == AclPermission::Allow && allows(a.operation, operation) && !denied(a)
        });
        if allowed {
            Decision::Allowed
        } else {
            Decision::Denied
        }
    }

    /// The operations of `candidates` that `principal` may do on `resource`, as the
    /// bit field Metadata, DescribeGroups and DescribeCluster return (bit `code`).
    pub fn authorized_operations(
        &self,
        acls: &dyn AclLookup,
        principal: &KafkaPrincipal,
        host: &str,
        resource: &AclResource<'_>,
        candidates: &[AclOperation],
    ) -> i32 {
        candidates
            .iter()
            .filter(|op| {
                self.authorize(acls, principal, host, **op, resource)
                    .is_allowed()
            })
            .fold(0, |bits, op| bits | (1 << op.code()))
    }

    fn no_acl_decision(&self) -> Decision {
        if self.allow_if_no_acl {
            Decision::Allowed
        } else {
            Decision::Denied
        }
    }
}

fn principal_matches(acl: &AclRecord, principal: &str) -> bool {
    acl.principal == principal || acl.principal == WILDCARD_PRINCIPAL
}

fn host_matches(acl: &AclRecord, host: &str) -> bool {
    acl.host == ACL_WILDCARD || acl.host == host
}

/// A DENY of `granted` refuses `wanted`: the same operation or ALL.
fn denies(granted: AclOperation, wanted: AclOperation) -> bool {
    granted == AclOperation::All || granted == wanted
}

/// An ALLOW of `granted` permits `wanted`: the same operation, ALL, or an operation
/// that implies it (READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS
/// implies DESCRIBE_CONFIGS).
fn allows(granted: AclOperation, wanted: AclOperation) -> bool {
    use AclOperation as Op;
    granted == Op::All
        || granted == wanted
        || (wanted == Op::Describe
            && matches!(granted, Op::Read | Op::Write | Op::Delete | Op::Alter))
        || (wanted == Op::DescribeConfigs && granted == Op::AlterConfigs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// ACLs kept in a plain list: the test's lookup scans them all.
    #[derive(Default)]
    struct AclList(Vec<AclRecord>);

    impl AclLookup for AclList {
        fn matching(&self, resource_type: AclResourceType, name: &str) -> Vec<&AclRecord> {
            self.0
                .iter()
                .filter(|a| {
                    a.resource_type == resource_type
                        && match a.pattern_type {
                            AclPatternType::Literal => {
                                a.resource_name == name || a.resource_name == ACL_WILDCARD
                            }
                            AclPatternType::Prefixed => name.starts_with(&a.resource_name),
                        }
                })
                .collect()
        }
        fn of_type(&self, resource_type: AclResourceType) -> Vec<&AclRecord> {
            self.0
                .iter()
                .filter(|a| a.resource_type == resource_type)
                .collect()
        }
    }

    impl AclList {
        #[allow(clippy::too_many_arguments)]
        fn add(
            &mut self,
            resource_type: AclResourceType,
            name: &str,
            pattern_type: AclPatternType,
            principal: &str,
            host: &str,
            operation: AclOperation,
            permission: AclPermission,
        ) -> &mut Self {
            let n = self.0.len() as u8;
            self.0.push(AclRecord {
                id: [n; 16],
                resource_type,
                resource_name: name.into(),
                pattern_type,
                principal: principal.into(),
                host: host.into(),
                operation,
                permission,
            });
            self
        }
        fn allow_topic(
            &mut self,
            name: &str,
            p: AclPatternType,
            who: &str,
            op: AclOperation,
        ) -> &mut Self {
            self.add(
                AclResourceType::Topic,
                name,
                p,
                who,
                "*",
                op,
                AclPermission::Allow,
            )
        }
        fn deny_topic(
            &mut self,
            name: &str,
            p: AclPatternType,
            who: &str,
            op: AclOperation,
        ) -> &mut Self {
            self.add(
                AclResourceType::Topic,
                name,
                p,
                who,
                "*",
                op,
                AclPermission::Deny,
            )
        }
    }

    use AclOperation as Op;
    use AclPatternType::{Literal, Prefixed};

    fn alice() -> KafkaPrincipal {
        KafkaPrincipal::user("alice")
    }

    fn can(
        authorizer: &Authorizer,
        acls: &AclList,
        who: &KafkaPrincipal,
        op: Op,
        topic: &str,
    ) -> bool {
        authorizer
            .authorize(acls, who, "10.0.0.1", op, &AclResource::topic(topic))
            .is_allowed()
    }

    #[test]
    fn read_allows_read_and_describe_only() {
        let mut acls = AclList::default();
        acls.allow_topic("t", Literal, "User:alice", Op::Read);
        let a = Authorizer::default();
        assert!(can(&a, &acls, &alice(), Op::Read, "t"));
        assert!(
            can(&a, &acls, &alice(), Op::Describe, "t"),
            "READ implies DESCRIBE"
        );
        assert!(!can(&a, &acls, &alice(), Op::Write, "t"));
        assert!(!can(&a, &acls, &alice(), Op::Read, "u"));
        assert!(!can(&a, &acls, &KafkaPrincipal::user("bob"), Op::Read, "t"));
    }

    #[test]
    fn implications_follow_kafka() {
        let a = Authorizer::default();
        let implied: BTreeMap<Op, Vec<Op>> = [
            (Op::Read, vec![Op::Read, Op::Describe]),
            (Op::Write, vec![Op::Write, Op::Describe]),
            (Op::Delete, vec![Op::Delete, Op::Describe]),
            (Op::Alter, vec![Op::Alter, Op::Describe]),
            (
                Op::AlterConfigs,
                vec![Op::AlterConfigs, Op::DescribeConfigs],
            ),
            (Op::DescribeConfigs, vec![Op::DescribeConfigs]),
            (Op::Describe, vec![Op::Describe]),
            (Op::Create, vec![Op::Create]),
            (Op::All, Op::ALL_VALUES.to_vec()),
        ]
        .into_iter()
        .collect();
        for (granted, expected) in implied {
            let mut acls = AclList::default();
            acls.allow_topic("t", Literal, "User:alice", granted);
            for wanted in Op::ALL_VALUES {
                assert_eq!(
                    can(&a, &acls, &alice(), *wanted, "t"),
                    expected.contains(wanted),
                    "ALLOW {granted} for {wanted}"
                );
            }
        }
    }

    #[test]
    fn deny_wins_but_only_for_its_operation() {
        let a = Authorizer::default();
        let mut acls = AclList::default();
        acls.allow_topic("*", Literal, "User:*", Op::All)
            .deny_topic("secret", Literal, "User:alice", Op::Read);
        assert!(!can(&a, &acls, &alice(), Op::Read, "secret"));
        assert!(can(&a, &acls, &alice(), Op::Write, "secret"));
        assert!(
            can(&a, &acls, &alice(), Op::Describe, "secret"),
            "DENY READ keeps DESCRIBE"
        );
        assert!(can(
            &a,
            &acls,
            &KafkaPrincipal::user("bob"),
            Op::Read,
            "secret"
        ));
        assert!(can(&a, &acls, &alice(), Op::Read, "public"));
        acls.deny_topic("sec", Prefixed, "User:*", Op::All);
        assert!(!can(
            &a,
            &acls,
            &KafkaPrincipal::user("bob"),
            Op::Describe,
            "secret"
        ));
        assert!(can(
            &a,
            &acls,
            &KafkaPrincipal::user("bob"),
            Op::Describe,
            "public"
        ));
    }

    #[test]
    fn prefixed_and_wildcard_patterns() {
        let a = Authorizer::default();
        let mut acls = AclList::default();
        acls.allow_topic("payments-", Prefixed, "User:alice", Op::Write);
        assert!(can(&a, &acls, &alice(), Op::Write, "payments-eu"));
        assert!(can(&a, &acls, &alice(), Op::Write, "payments-"));
        assert!(!can(&a, &acls, &alice(), Op::Write, "payments"));
        assert!(!can(&a, &acls, &alice(), Op::Write, "pay"));
        acls.allow_topic("*", Literal, "User:alice", Op::Read);
        assert!(can(&a, &acls, &alice(), Op::Read, "anything"));
        // A PREFIXED "*" is the character, not a wildcard.
        let mut star = AclList::default();
        star.allow_topic("*", Prefixed, "User:alice", Op::Read);
        assert!(!can(&a, &star, &alice(), Op::Read, "anything"));
        assert!(can(&a, &star, &alice(), Op::Read, "*x"));
    }

    #[test]
    fn host_must_match_unless_wildcard() {
        let a = Authorizer::default();
        let mut acls = AclList::default();
        acls.add(
            AclResourceType::Topic,
            "t",
            Literal,
            "User:alice",
            "10.0.0.1",
            Op::Read,
            AclPermission::Allow,
        );
        let on = |acls: &AclList, host: &str| {
            a.authorize(acls, &alice(), host, Op::Read, &AclResource::topic("t"))
                .is_allowed()
        };
        assert!(on(&acls, "10.0.0.1"));
        assert!(!on(&acls, "10.0.0.2"));
        acls.add(
            AclResourceType::Topic,
            "t",
            Literal,
            "User:alice",
            "10.0.0.1",
            Op::Read,
            AclPermission::Deny,
        );
        assert!(!on(&acls, "10.0.0.1"), "a DENY from the same host wins");
    }

    #[test]
    fn super_users_and_no_acl_found() {
        let mut acls = AclList::default();
        acls.allow_topic("t", Literal, "User:bob", Op::Read)
            .deny_topic("t", Literal, "User:*", Op::All);
        let strict = Authorizer::new(["User:admin".to_string()], false);
        let admin = KafkaPrincipal::user("admin");
        assert!(can(&strict, &acls, &admin, Op::Delete, "t"), "super user");
        assert!(can(&strict, &acls, &admin, Op::Read, "no-acl"));
        assert!(!can(&strict, &acls, &alice(), Op::Read, "no-acl"));
        let open = Authorizer::new(Vec::new(), true);
        assert!(can(&open, &acls, &alice(), Op::Read, "no-acl"));
        assert!(
            !can(&open, &acls, &alice(), Op::Read, "t"),
            "a resource with ACLs is not open, even to principals none names"
        );
        assert!(!can(
            &open,
            &acls,
            &KafkaPrincipal::user("bob"),
            Op::Read,
            "t"
        ));
        assert_eq!(
            Authorizer::parse_super_users(" User:a ; User:b;").unwrap(),
            vec!["User:a", "User:b"]
        );
        assert!(Authorizer::parse_super_users("admin").is_err());
    }

    #[test]
    fn resource_types_do_not_mix() {
        let a = Authorizer::default();
        let mut acls = AclList::default();
        acls.add(
            AclResourceType::Group,
            "g",
            Literal,
            "User:alice",
            "*",
            Op::Read,
            AclPermission::Allow,
        );
        assert!(a
            .authorize(&acls, &alice(), "h", Op::Read, &AclResource::group("g"))
            .is_allowed());
        assert!(!can(&a, &acls, &alice(), Op::Read, "g"));
        assert!(!a
            .authorize(
                &acls,
                &alice(),
                "h",
                Op::Read,
                &AclResource::transactional_id("g")
            )
            .is_allowed());
    }

    #[test]
    fn any_resource_of_a_type() {
        let a = Authorizer::default();
        let mut acls = AclList::default();
        let any = |acls: &AclList| {
            a.authorize_any(acls, &alice(), "h", Op::Write, AclResourceType::Topic)
                .is_allowed()
        };
        assert!(!any(&acls));
        acls.allow_topic("t-", Prefixed, "User:alice", Op::Write);
        assert!(any(&acls));
        acls.deny_topic("t", Prefixed, "User:alice", Op::Write);
        assert!(!any(&acls), "the DENY prefix covers the ALLOW prefix");
        let mut literal = AclList::default();
        literal
            .allow_topic("x", Literal, "User:alice", Op::Write)
            .deny_topic("*", Literal, "User:*", Op::Write);
        assert!(!any(&literal));
    }

    #[test]
    fn authorized_operations_bits() {
        let a = Authorizer::default();
        let mut acls = AclList::default();
        acls.allow_topic("t", Literal, "User:alice", Op::Read);
        let bits = a.authorized_operations(
            &acls,
            &alice(),
            "h",
            &AclResource::topic("t"),
            &[Op::Read, Op::Write, Op::Describe],
        );
        assert_eq!(bits, (1 << 3) | (1 << 8));
    }
}
