//! Which stored ACLs a DescribeAcls or DeleteAcls filter selects, and whether a
//! CreateAcls binding may be stored, with Kafka's rules: ANY (code 1) matches every
//! value, a null name, principal or host matches every one, and the MATCH pattern
//! type selects every ACL that would apply to the named resource (its LITERAL name,
//! LITERAL `*`, and PREFIXED patterns that are prefixes of it).

use moldau_protocol::acl::{
    AclOperation, AclPatternType, AclPermission, AclRecord, AclResourceType, ACL_WILDCARD,
    CLUSTER_RESOURCE_NAME,
};

/// Kafka's code for ANY in every ACL enum.
pub const ACL_ANY_CODE: i8 = 1;
/// Kafka's PatternType MATCH.
pub const PATTERN_MATCH_CODE: i8 = 2;

/// How a filter matches pattern types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternFilter {
    Any,
    Match,
    Exactly(AclPatternType),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    /// None: ANY.
    pub resource_type: Option<AclResourceType>,
    /// None: every name.
    pub resource_name: Option<String>,
    pub pattern: PatternFilter,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<AclOperation>,
    pub permission: Option<AclPermission>,
}

/// Decodes a code that may be ANY (None); UNKNOWN and anything else is refused.
fn any_or<T>(code: i8, what: &str, from: fn(i8) -> Option<T>) -> Result<Option<T>, String> {
    if code == ACL_ANY_CODE {
        return Ok(None);
    }
    from(code)
        .map(Some)
        .ok_or_else(|| format!("Invalid {what} {code}"))
}

impl AclFilter {
    /// A filter from the codes and strings of a DescribeAcls request or a DeleteAcls
    /// filter; the message says which field is invalid.
    #[allow(clippy::too_many_arguments)]
    pub fn from_request(
        resource_type: i8,
        resource_name: Option<&str>,
        pattern_type: i8,
        principal: Option<&str>,
        host: Option<&str>,
        operation: i8,
        permission: i8,
    ) -> Result<Self, String> {
        let pattern = match pattern_type {
            ACL_ANY_CODE => PatternFilter::Any,
            PATTERN_MATCH_CODE => PatternFilter::Match,
            code => PatternFilter::Exactly(
                AclPatternType::from_code(code)
                    .ok_or_else(|| format!("Invalid patternType {code}"))?,
            ),
        };
        Ok(AclFilter {
            resource_type: any_or(resource_type, "resourceType", AclResourceType::from_code)?,
            resource_name: resource_name.map(str::to_string),
            pattern,
            principal: principal.map(str::to_string),
            host: host.map(str::to_string),
            operation: any_or(operation, "operation", AclOperation::from_code)?,
            permission: any_or(permission, "permissionType", AclPermission::from_code)?,
        })
    }

    /// Does this filter select `acl`?
    pub fn matches(&self, acl: &AclRecord) -> bool {
        let same = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        self.resource_type.is_none_or(|t| t == acl.resource_type)
            && self.operation.is_none_or(|o| o == acl.operation)
            && self.permission.is_none_or(|p| p == acl.permission)
            && same(&self.principal, &acl.principal)
            && same(&self.host, &acl.host)
            && self.name_matches(acl)
    }

    fn name_matches(&self, acl: &AclRecord) -> bool {
        let name = self.resource_name.as_deref();
        match self.pattern {
            PatternFilter::Any => name.is_none_or(|n| n == acl.resource_name),
            PatternFilter::Exactly(p) => {
                p == acl.pattern_type && name.is_none_or(|n| n == acl.resource_name)
            }
            PatternFilter::Match => match name {
                None => true,
                Some(n) => match acl.pattern_type {
                    AclPatternType::Literal => {
                        acl.resource_name == n || acl.resource_name == ACL_WILDCARD
                    }
                    AclPatternType::Prefixed => n.starts_with(&acl.resource_name),
                },
            },
        }
    }
}

/// The binding of a CreateAcls creation, checked as Kafka checks a new ACL: concrete
/// codes (not ANY or UNKNOWN), LITERAL or PREFIXED, a non-empty resource name
/// (`kafka-cluster` for the cluster), a `Type:name` principal and a host.
#[allow(clippy::too_many_arguments)]
pub fn new_acl_binding(
    id: [u8; 16],
    resource_type: i8,
    resource_name: &str,
    pattern_type: i8,
    principal: &str,
    host: &str,
    operation: i8,
    permission: i8,
) -> Result<AclRecord, String> {
    let resource_type = AclResourceType::from_code(resource_type)
        .ok_or_else(|| format!("Invalid resourceType {resource_type}"))?;
    let pattern_type = AclPatternType::from_code(pattern_type)
        .ok_or_else(|| format!("Invalid patternType {pattern_type}"))?;
    let operation = AclOperation::from_code(operation)
        .ok_or_else(|| format!("Invalid operation {operation}"))?;
    let permission = AclPermission::from_code(permission)
        .ok_or_else(|| format!("Invalid permissionType {permission}"))?;
    if resource_name.is_empty() {
        return Err("Resource name should not be empty".into());
    }
    if resource_type == AclResourceType::Cluster
        && (resource_name != CLUSTER_RESOURCE_NAME || pattern_type != AclPatternType::Literal)
    {
        return Err(format!(
            "The only valid name for the CLUSTER resource is {CLUSTER_RESOURCE_NAME} (LITERAL)"
        ));
    }
    match principal.split_once(':') {
        Some((t, n)) if !t.is_empty() && !n.is_empty() => {}
        _ => return Err(format!("Could not parse principal '{principal}'")),
    }
    if host.is_empty() {
        return Err("Host should not be empty (use * for every host)".into());
    }
    Ok(AclRecord {
        id,
        resource_type,
        resource_name: resource_name.to_string(),
        pattern_type,
        principal: principal.to_string(),
        host: host.to_string(),
        operation,
        permission,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(pattern: AclPatternType, name: &str, principal: &str) -> AclRecord {
        new_acl_binding([0; 16], 2, name, pattern.code(), principal, "*", 3, 3).unwrap()
    }

    fn filter(pattern: i8, name: Option<&str>) -> AclFilter {
        AclFilter::from_request(2, name, pattern, None, None, 1, 1).unwrap()
    }

    #[test]
    fn pattern_filters() {
        let literal = acl(AclPatternType::Literal, "payments", "User:a");
        let wildcard = acl(AclPatternType::Literal, "*", "User:a");
        let prefixed = acl(AclPatternType::Prefixed, "pay", "User:a");
        let other = acl(AclPatternType::Prefixed, "x", "User:a");
        let all = [&literal, &wildcard, &prefixed, &other];
        let selected = |f: &AclFilter| all.iter().filter(|a| f.matches(a)).count();
        assert_eq!(selected(&filter(1, None)), 4, "ANY without a name");
        assert_eq!(
            selected(&filter(1, Some("payments"))),
            1,
            "ANY: exact names"
        );
        assert_eq!(selected(&filter(2, Some("payments"))), 3, "MATCH");
        assert_eq!(selected(&filter(3, None)), 2, "LITERAL");
        assert_eq!(selected(&filter(4, Some("pay"))), 1, "PREFIXED pay");
        assert_eq!(
            selected(&filter(3, Some("*"))),
            1,
            "LITERAL *: the wildcard ACL only"
        );
        let by_principal = AclFilter::from_request(1, None, 1, Some("User:b"), None, 1, 1).unwrap();
        assert_eq!(selected(&by_principal), 0);
        let group_filter = AclFilter::from_request(3, None, 1, None, None, 1, 1).unwrap();
        assert_eq!(selected(&group_filter), 0);
    }

    #[test]
    fn invalid_filters_and_bindings_are_refused() {
        assert!(AclFilter::from_request(0, None, 1, None, None, 1, 1).is_err());
        assert!(AclFilter::from_request(1, None, 0, None, None, 1, 1).is_err());
        assert!(AclFilter::from_request(1, None, 1, None, None, 0, 1).is_err());
        assert!(AclFilter::from_request(1, None, 1, None, None, 1, 9).is_err());
        let ok = |rt: i8, name: &str, pt: i8, p: &str, h: &str, op: i8, perm: i8| {
            new_acl_binding([0; 16], rt, name, pt, p, h, op, perm).is_ok()
        };
        assert!(ok(2, "t", 3, "User:a", "*", 3, 3));
        assert!(!ok(1, "t", 3, "User:a", "*", 3, 3), "ANY resource type");
        assert!(!ok(2, "t", 2, "User:a", "*", 3, 3), "MATCH pattern");
        assert!(!ok(2, "t", 3, "User:a", "*", 1, 3), "ANY operation");
        assert!(!ok(2, "t", 3, "User:a", "*", 3, 1), "ANY permission");
        assert!(!ok(2, "", 3, "User:a", "*", 3, 3), "empty name");
        assert!(!ok(2, "t", 3, "alice", "*", 3, 3), "principal without type");
        assert!(!ok(2, "t", 3, "User:a", "", 3, 3), "empty host");
        assert!(ok(4, "kafka-cluster", 3, "User:a", "*", 7, 3));
        assert!(!ok(4, "other", 3, "User:a", "*", 7, 3), "cluster name");
    }
}
