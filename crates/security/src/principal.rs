//! The identity a connection acts as, in Kafka's `Type:name` form (`User:alice`).

use std::fmt;

/// Kafka's principal type for every authenticated (and the anonymous) user.
pub const USER_TYPE: &str = "User";
/// The name of the principal of a PLAINTEXT connection and of a TLS one without a
/// client certificate.
pub const ANONYMOUS_NAME: &str = "ANONYMOUS";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KafkaPrincipal {
    pub principal_type: String,
    pub name: String,
}

impl KafkaPrincipal {
    pub fn user(name: impl Into<String>) -> Self {
        KafkaPrincipal {
            principal_type: USER_TYPE.to_string(),
            name: name.into(),
        }
    }

    /// `User:ANONYMOUS`.
    pub fn anonymous() -> Self {
        KafkaPrincipal::user(ANONYMOUS_NAME)
    }

    pub fn is_anonymous(&self) -> bool {
        self.principal_type == USER_TYPE && self.name == ANONYMOUS_NAME
    }
}

impl fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_kafka_does() {
        assert_eq!(KafkaPrincipal::user("alice").to_string(), "User:alice");
        assert!(KafkaPrincipal::anonymous().is_anonymous());
        assert_eq!(KafkaPrincipal::anonymous().to_string(), "User:ANONYMOUS");
    }
}
