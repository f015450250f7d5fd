//! `authorizer.class.name`, `super.users` and `allow.everyone.if.no.acl.found`:
//! whether requests are checked against the ACLs, and by which rules. Kafka's
//! StandardAuthorizer class name (or Moldau's alias) turns enforcement on, as in a
//! Kafka config file; any other class is refused at start-up, since Moldau cannot
//! load Java classes and silently serving without ACLs would be unsafe.

use crate::config::{invalid, BrokerConfig, ConfigError};
use moldau_security::Authorizer;

/// Kafka's KRaft authorizer, the one whose semantics Moldau implements.
pub const STANDARD_AUTHORIZER_CLASS: &str =
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
/// Moldau's short name for the same authorizer.
pub const STANDARD_AUTHORIZER_ALIAS: &str = "moldau.acl";

/// The authorizer the configuration asks for, or None when `authorizer.class.name` is
/// empty (no authorization, as in Kafka).
pub fn resolve(config: &BrokerConfig) -> Result<Option<Authorizer>, ConfigError> {
    let class = config.string("authorizer.class.name");
    let class = class.trim();
    let super_users = config.string("super.users");
    let super_users = Authorizer::parse_super_users(&super_users)
        .map_err(|why| invalid("super.users", &super_users, why))?;
    if class.is_empty() {
        return Ok(None);
    }
    if class != STANDARD_AUTHORIZER_CLASS && class != STANDARD_AUTHORIZER_ALIAS {
        return Err(invalid(
            "authorizer.class.name",
            class,
            format!(
                "Moldau implements only Kafka's StandardAuthorizer; set {STANDARD_AUTHORIZER_CLASS} (or {STANDARD_AUTHORIZER_ALIAS}), or leave it empty for no authorization"
            ),
        ));
    }
    Ok(Some(Authorizer::new(
        super_users,
        config.bool("allow.everyone.if.no.acl.found"),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config(pairs: &[(&str, &str)]) -> Result<BrokerConfig, ConfigError> {
        BrokerConfig::from_properties(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    #[test]
    fn standard_authorizer_turns_enforcement_on() {
        assert!(config(&[]).unwrap().authorizer.is_none());
        for class in [STANDARD_AUTHORIZER_CLASS, STANDARD_AUTHORIZER_ALIAS] {
            let c = config(&[
                ("authorizer.class.name", class),
                ("super.users", "User:admin;User:broker"),
            ])
            .unwrap();
            let a = c.authorizer.expect("an authorizer");
            assert!(a.is_super_user(&moldau_security::KafkaPrincipal::user("broker")));
        }
    }

    #[test]
    fn other_classes_and_bad_super_users_are_refused() {
        let e = config(&[(
            "authorizer.class.name",
            "kafka.security.authorizer.AclAuthorizer",
        )])
        .unwrap_err()
        .to_string();
        assert!(e.contains("StandardAuthorizer"), "{e}");
        assert!(config(&[
            ("authorizer.class.name", STANDARD_AUTHORIZER_CLASS),
            ("super.users", "admin")
        ])
        .is_err());
    }
}
