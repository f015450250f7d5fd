//! ACL bindings with Kafka's codes and names: what kind of resource, how its name is
//! matched, which operation, allow or deny (the codes CreateAcls, DescribeAcls and the
//! metadata records carry). Only concrete values (no ANY / MATCH / UNKNOWN): those
//! belong to filters, not to stored ACLs. Also the lookup an authorizer needs from
//! wherever the ACLs are kept.

macro_rules! coded_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:expr, $text:expr;)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant,)+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL_VALUES: &'static [$name] = &[$($name::$variant,)+];

            /// Kafka's wire and record code.
            pub fn code(self) -> i8 {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            pub fn from_code(code: i8) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Kafka's name (`TOPIC`, `PREFIXED`, `DESCRIBE_CONFIGS`, `ALLOW`).
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Parses a name in any case, with `-` or `_` between words or none
            /// (`DescribeConfigs`, `describe-configs`, `DESCRIBE_CONFIGS`).
            pub fn parse(text: &str) -> Option<Self> {
                let wanted: String = text
                    .chars()
                    .filter(|c| *c != '_' && *c != '-')
                    .collect::<String>()
                    .to_ascii_uppercase();
                Self::ALL_VALUES
                    .iter()
                    .copied()
                    .find(|v| v.name().replace('_', "") == wanted)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

coded_enum!(
    /// Kafka's ResourceType (codes 0 UNKNOWN and 1 ANY are filters only).
    AclResourceType {
        Topic = 2, "TOPIC";
        Group = 3, "GROUP";
        Cluster = 4, "CLUSTER";
        TransactionalId = 5, "TRANSACTIONAL_ID";
        DelegationToken = 6, "DELEGATION_TOKEN";
        User = 7, "USER";
    }
);

coded_enum!(
    /// Kafka's PatternType for a stored ACL (0 UNKNOWN, 1 ANY, 2 MATCH are filters only).
    AclPatternType {
        Literal = 3, "LITERAL";
        Prefixed = 4, "PREFIXED";
    }
);

coded_enum!(
    /// Kafka's AclOperation (0 UNKNOWN and 1 ANY are filters only).
    AclOperation {
        All = 2, "ALL";
        Read = 3, "READ";
        Write = 4, "WRITE";
        Create = 5, "CREATE";
        Delete = 6, "DELETE";
        Alter = 7, "ALTER";
        Describe = 8, "DESCRIBE";
        ClusterAction = 9, "CLUSTER_ACTION";
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        AlterConfigs = 11, "ALTER_CONFIGS";
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        CreateTokens = 13, "CREATE_TOKENS";
        DescribeTokens = 14, "DESCRIBE_TOKENS";
        TwoPhaseCommit = 15, "TWO_PHASE_COMMIT";
    }
);

coded_enum!(
    /// Kafka's AclPermissionType (0 UNKNOWN and 1 ANY are filters only).
    AclPermission {
        Deny = 2, "DENY";
        Allow = 3, "ALLOW";
    }
);

/// The name of the one CLUSTER resource, as Kafka spells it.
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";
/// A LITERAL resource name, principal or host that matches every one.
pub const ACL_WILDCARD: &str = "*";

/// One stored ACL (KRaft's AccessControlEntryRecord): who (principal `Type:name` or
/// `User:*`) from where (host or `*`) may or may not do what to which resources.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclRecord {
    /// Random; RemoveAccessControlEntryRecord names an ACL by it.
    pub id: [u8; 16],
    pub resource_type: AclResourceType,
    pub resource_name: String,
    pub pattern_type: AclPatternType,
    pub principal: String,
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl AclRecord {
    /// The same binding (everything but the id).
    pub fn same_binding(&self, other: &AclRecord) -> bool {
        (
            self.resource_type,
            &self.resource_name,
            self.pattern_type,
            &self.principal,
            &self.host,
            self.operation,
            self.permission,
        ) == (
            other.resource_type,
            &other.resource_name,
            other.pattern_type,
            &other.principal,
            &other.host,
            other.operation,
            other.permission,
        )
    }
}

/// Where an authorizer finds the ACLs that can apply to a resource (the metadata
/// image's index implements it).
pub trait AclLookup {
    /// The ACLs whose pattern covers resource `name` of `resource_type`: LITERAL with
    /// that name or `*`, PREFIXED with a prefix of the name.
    fn matching(&self, resource_type: AclResourceType, name: &str) -> Vec<&AclRecord>;
    /// Every ACL of `resource_type`.
    fn of_type(&self, resource_type: AclResourceType) -> Vec<&AclRecord>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for op in AclOperation::ALL_VALUES {
            assert_eq!(AclOperation::from_code(op.code()), Some(*op));
            assert_eq!(AclOperation::parse(op.name()), Some(*op));
        }
        assert_eq!(
            AclOperation::parse("DescribeConfigs"),
            Some(AclOperation::DescribeConfigs)
        );
        assert_eq!(
            AclResourceType::parse("transactional-id"),
            Some(AclResourceType::TransactionalId)
        );
        assert_eq!(
            AclPatternType::parse("prefixed"),
            Some(AclPatternType::Prefixed)
        );
        assert_eq!(AclPermission::from_code(1), None);
        assert_eq!(AclOperation::from_code(0), None);
        assert_eq!(AclOperation::parse("Any"), None);
    }
}
