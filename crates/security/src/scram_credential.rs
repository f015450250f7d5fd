//! What the broker keeps of a SCRAM password (RFC 5802): salt, iteration count,
//! StoredKey and ServerKey, never the password itself.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// Kafka's bounds on the PBKDF2 iteration count (AlterUserScramCredentials refuses
/// counts outside them).
pub const SCRAM_ITERATIONS_MIN: i32 = 4096;
pub const SCRAM_ITERATIONS_MAX: i32 = 16384;

/// The SCRAM hash functions, with Kafka's type codes (UserScramCredentialRecord,
/// AlterUserScramCredentials): 1 and 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    pub fn code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn from_code(code: i8) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.code() == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC takes a key of any length, so new_from_slice cannot fail.
        match self {
            ScramMechanism::Sha256 => match Hmac::<Sha256>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(data);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
            ScramMechanism::Sha512 => match Hmac::<Sha512>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(data);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
        }
    }

    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// Hi(password, salt, i) of RFC 5802: PBKDF2 with this HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec()
            }
            ScramMechanism::Sha512 => {
                pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec()
            }
        }
    }
}

/// One user's SCRAM credential for one mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl ScramCredential {
    /// The credential for a salted password, as AlterUserScramCredentials carries it.
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salted_password: &[u8],
        salt: Vec<u8>,
        iterations: i32,
    ) -> Self {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        ScramCredential {
            salt,
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
            iterations,
        }
    }

    /// The credential for a password (iterations must be within Kafka's bounds).
    pub fn from_password(
        mechanism: ScramMechanism,
        password: &str,
        salt: Vec<u8>,
        iterations: i32,
    ) -> Self {
        assert!(
            (SCRAM_ITERATIONS_MIN..=SCRAM_ITERATIONS_MAX).contains(&iterations),
            "iterations are checked before a credential is made"
        );
        let salted =
            mechanism.salted_password(password.as_bytes(), &salt, iterations.unsigned_abs());
        Self::from_salted_password(mechanism, &salted, salt, iterations)
    }

    /// True when `password` is the one this credential was made from, for logins that
    /// are not SCRAM exchanges (the web console). The comparison takes the same time
    /// whatever the stored key; an iteration count outside Kafka's bounds never
    /// matches (it would make the check as slow as the record asks).
    pub fn matches_password(&self, mechanism: ScramMechanism, password: &str) -> bool {
        use subtle::ConstantTimeEq;
        if !(SCRAM_ITERATIONS_MIN..=SCRAM_ITERATIONS_MAX).contains(&self.iterations) {
            return false;
        }
        let salted = mechanism.salted_password(
            password.as_bytes(),
            &self.salt,
            self.iterations.unsigned_abs(),
        );
        let stored_key = mechanism.hash(&mechanism.hmac(&salted, b"Client Key"));
        stored_key.ct_eq(&self.stored_key).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn rfc7677_example_keys() {
        // RFC 7677 section 3: user "user", password "pencil".
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let c = ScramCredential::from_password(ScramMechanism::Sha256, "pencil", salt, 4096);
        let salted = ScramMechanism::Sha256.salted_password(b"pencil", &c.salt, 4096);
        let server_key = ScramMechanism::Sha256.hmac(&salted, b"Server Key");
        assert_eq!(c.server_key, server_key);
        assert_eq!(c.stored_key.len(), 32);
        assert_eq!(ScramMechanism::from_code(2), Some(ScramMechanism::Sha512));
        assert_eq!(ScramMechanism::from_code(0), None);
    }

    #[test]
    fn a_password_matches_only_its_own_credential() {
        let c = ScramCredential::from_password(
            ScramMechanism::Sha512,
            "pencil",
            b"salt".to_vec(),
            4096,
        );
        assert!(c.matches_password(ScramMechanism::Sha512, "pencil"));
        assert!(!c.matches_password(ScramMechanism::Sha512, "pencil2"));
        assert!(!c.matches_password(ScramMechanism::Sha256, "pencil"));
        let absurd = ScramCredential {
            iterations: i32::MAX,
            ..c
        };
        assert!(!absurd.matches_password(ScramMechanism::Sha512, "pencil"));
    }
}
