//! SASL PLAIN (RFC 4616) as Kafka's broker checks it: one message
//! `[authzid] NUL authcid NUL password`, answered with nothing on success.

use crate::error::AuthenticationError;
use std::collections::BTreeMap;
use subtle::ConstantTimeEq;

const MECHANISM: &str = "PLAIN";

/// Users and passwords a listener accepts for PLAIN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlainUsers {
    passwords: BTreeMap<String, String>,
}

impl PlainUsers {
    pub fn new(passwords: BTreeMap<String, String>) -> Self {
        PlainUsers { passwords }
    }

    pub fn is_empty(&self) -> bool {
        self.passwords.is_empty()
    }

    /// Checks one PLAIN message; the authenticated user name on success.
    pub fn authenticate(&self, message: &[u8]) -> Result<String, AuthenticationError> {
        let malformed = |reason: &str| AuthenticationError::Malformed {
            mechanism: MECHANISM,
            reason: reason.to_string(),
        };
        let text = std::str::from_utf8(message).map_err(|_| malformed("not UTF-8"))?;
        let parts: Vec<&str> = text.split('\0').collect();
        let [authzid, user, password] = parts[..] else {
            return Err(malformed("expected [authzid] NUL user NUL password"));
        };
        if user.is_empty() {
            return Err(malformed("username not specified"));
        }
        if password.is_empty() {
            return Err(malformed("password not specified"));
        }
        if !authzid.is_empty() && authzid != user {
            return Err(malformed("the authorization id differs from the username"));
        }
        let known = self.passwords.get(user);
        // Compared in constant time so the time taken says nothing about the password.
        let matches = known.is_some_and(|p| bool::from(p.as_bytes().ct_eq(password.as_bytes())));
        if matches {
            Ok(user.to_string())
        } else {
            Err(AuthenticationError::InvalidCredentials {
                mechanism: MECHANISM,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> PlainUsers {
        PlainUsers::new(BTreeMap::from([(
            "alice".to_string(),
            "s3cret".to_string(),
        )]))
    }

    #[test]
    fn right_password_authenticates() {
        assert_eq!(users().authenticate(b"\0alice\0s3cret").unwrap(), "alice");
        assert_eq!(
            users().authenticate(b"alice\0alice\0s3cret").unwrap(),
            "alice"
        );
    }

    #[test]
    fn wrong_password_unknown_user_and_garbage_fail() {
        let invalid = AuthenticationError::InvalidCredentials { mechanism: "PLAIN" };
        assert_eq!(
            users().authenticate(b"\0alice\0wrong").unwrap_err(),
            invalid
        );
        assert_eq!(users().authenticate(b"\0bob\0s3cret").unwrap_err(), invalid);
        for bad in [
            &b"alice\0s3cret"[..],
            b"\0\0s3cret",
            b"\0alice\0",
            b"bob\0alice\0s3cret",
            b"\0alice\0s3cret\0x",
            b"\0\xff\0x",
        ] {
            assert!(matches!(
                users().authenticate(bad),
                Err(AuthenticationError::Malformed { .. })
            ));
        }
        let message = users()
            .authenticate(b"\0alice\0wrong")
            .unwrap_err()
            .to_string();
        assert!(!message.contains("wrong"), "{message}");
    }
}
