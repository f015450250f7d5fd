//! The SASL mechanisms a listener can enable (`sasl.enabled.mechanisms`).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    pub const ALL: [SaslMechanism; 3] = [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
    ];

    /// The name clients send in SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    /// A mechanism by its SASL name (exact, as Kafka compares them).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// A mechanism named in a configuration; an unsupported one (Kerberos, OAuth) is
    /// an error that says which ones exist.
    pub fn parse_configured(name: &str) -> Result<Self, String> {
        let name = name.trim();
        Self::from_name(name).ok_or_else(|| match name {
            "GSSAPI" => {
                "GSSAPI (Kerberos) is not supported; enable PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                    .to_string()
            }
            "OAUTHBEARER" => {
                "OAUTHBEARER is not supported; enable PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                    .to_string()
            }
            other => {
                format!("unknown SASL mechanism '{other}' (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
            }
        })
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unsupported_ones_are_explained() {
        for m in SaslMechanism::ALL {
            assert_eq!(SaslMechanism::from_name(m.name()), Some(m));
        }
        assert_eq!(SaslMechanism::from_name("plain"), None);
        assert!(SaslMechanism::parse_configured("GSSAPI")
            .unwrap_err()
            .contains("Kerberos"));
        assert!(SaslMechanism::parse_configured("MD5")
            .unwrap_err()
            .contains("unknown SASL mechanism 'MD5'"));
        assert_eq!(
            SaslMechanism::parse_configured(" SCRAM-SHA-512 "),
            Ok(SaslMechanism::ScramSha512)
        );
    }
}
