//! The client side of a SASL exchange, for the connections a broker opens to other
//! brokers and controllers (`sasl.mechanism.inter.broker.protocol`,
//! `sasl.mechanism.controller.protocol`): PLAIN sends one message; SCRAM (RFC 5802)
//! sends client-first, answers server-first with the proof and checks the server's
//! signature, so a broker also knows it talks to one holding the credential. The
//! caller supplies the client nonce and does the I/O.

use crate::error::AuthenticationError;
use crate::sasl_mechanism::SaslMechanism;
use crate::scram_credential::{ScramMechanism, SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN};
use crate::scram_server::SCRAM_MESSAGE_BYTES_MAX;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use subtle::ConstantTimeEq;

/// A user name and password for one mechanism (the `username`/`password` options of
/// the listener's JAAS line).
#[derive(Clone, PartialEq, Eq)]
pub struct SaslClientCredentials {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for SaslClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("SaslClientCredentials")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

enum State {
    Start,
    /// PLAIN's one message sent.
    PlainSent,
    /// SCRAM client-first sent.
    ScramFirstSent {
        client_first_bare: String,
    },
    /// SCRAM client-final sent; the server's final message must carry this signature.
    ScramFinalSent {
        server_signature: Vec<u8>,
    },
    Done,
}

/// What the client does next.
#[derive(Debug, PartialEq, Eq)]
pub enum SaslClientStep {
    /// Send these bytes in a SaslAuthenticate and give the answer to [`SaslClient::step`].
    Send(Vec<u8>),
    /// Authenticated; nothing more to send.
    Done,
}

pub struct SaslClient {
    credentials: SaslClientCredentials,
    client_nonce: String,
    state: State,
}

impl SaslClient {
    /// `client_nonce` must be printable ASCII without ',' (used by SCRAM only).
    pub fn new(credentials: SaslClientCredentials, client_nonce: String) -> Self {
        assert!(
            client_nonce
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b','),
            "the client nonce is printable ASCII without commas"
        );
        SaslClient {
            credentials,
            client_nonce,
            state: State::Start,
        }
    }

    pub fn mechanism(&self) -> SaslMechanism {
        self.credentials.mechanism
    }

    fn malformed(&self, reason: &str) -> AuthenticationError {
        AuthenticationError::Malformed {
            mechanism: self.credentials.mechanism.name(),
            reason: reason.to_string(),
        }
    }

    /// The first message to send.
    pub fn start(&mut self) -> Vec<u8> {
        assert!(matches!(self.state, State::Start), "start is called once");
        let c = &self.credentials;
        match scram_mechanism(c.mechanism) {
            None => {
                self.state = State::PlainSent;
                format!("\0{}\0{}", c.username, c.password).into_bytes()
            }
            Some(_) => {
                let bare = format!(
                    "n={},r={}",
                    encode_sasl_name(&c.username),
                    self.client_nonce
                );
                let message = format!("n,,{bare}").into_bytes();
                self.state = State::ScramFirstSent {
                    client_first_bare: bare,
                };
                message
            }
        }
    }

    /// Takes the server's answer to the last message sent.
    pub fn step(&mut self, server: &[u8]) -> Result<SaslClientStep, AuthenticationError> {
        if server.len() > SCRAM_MESSAGE_BYTES_MAX {
            self.state = State::Done;
            return Err(self.malformed("server message too long"));
        }
        let text = std::str::from_utf8(server).map_err(|_| self.malformed("not UTF-8"))?;
        match std::mem::replace(&mut self.state, State::Done) {
            // PLAIN's one message was answered (with nothing): done.
            State::PlainSent => Ok(SaslClientStep::Done),
            State::ScramFirstSent { client_first_bare } => {
                self.server_first(text, &client_first_bare)
            }
            State::ScramFinalSent { server_signature } => {
                if let Some(error) = text.strip_prefix("e=") {
                    return Err(self.malformed(&format!("server refused: {error}")));
                }
                let signature = text
                    .strip_prefix("v=")
                    .and_then(|v| BASE64.decode(v).ok())
                    .ok_or_else(|| self.malformed("server-final has no v=signature"))?;
                if !bool::from(signature.ct_eq(&server_signature)) {
                    return Err(self.malformed("the server's signature is wrong"));
                }
                Ok(SaslClientStep::Done)
            }
            State::Start | State::Done => Err(AuthenticationError::UnexpectedMessage {
                mechanism: self.credentials.mechanism.name(),
            }),
        }
    }

    fn server_first(
        &mut self,
        text: &str,
        client_first_bare: &str,
    ) -> Result<SaslClientStep, AuthenticationError> {
        let Some(mechanism) = scram_mechanism(self.credentials.mechanism) else {
            return Err(self.malformed("not a SCRAM exchange"));
        };
        let mut fields = text.split(',');
        let nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .filter(|n| {
                n.starts_with(self.client_nonce.as_str()) && n.len() > self.client_nonce.len()
            })
            .ok_or_else(|| self.malformed("server-first nonce does not extend the client's"))?;
        let salt = fields
            .next()
            .and_then(|f| f.strip_prefix("s="))
            .and_then(|s| BASE64.decode(s).ok())
            .ok_or_else(|| self.malformed("server-first has no s=salt"))?;
        let iterations = fields
            .next()
            .and_then(|f| f.strip_prefix("i="))
            .and_then(|i| i.parse::<i32>().ok())
            .filter(|i| (SCRAM_ITERATIONS_MIN..=SCRAM_ITERATIONS_MAX).contains(i))
            .ok_or_else(|| {
                self.malformed("server-first iteration count missing or out of bounds")
            })?;
        let salted = mechanism.salted_password(
            self.credentials.password.as_bytes(),
            &salt,
            iterations.unsigned_abs(),
        );
        let client_key = mechanism.hmac(&salted, b"Client Key");
        let stored_key = mechanism.hash(&client_key);
        // c=biws is base64("n,,"): no channel binding, no authorization id.
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{client_first_bare},{text},{without_proof}");
        let client_signature = mechanism.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = mechanism.hmac(&salted, b"Server Key");
        self.state = State::ScramFinalSent {
            server_signature: mechanism.hmac(&server_key, auth_message.as_bytes()),
        };
        Ok(SaslClientStep::Send(
            format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes(),
        ))
    }
}

fn scram_mechanism(mechanism: SaslMechanism) -> Option<ScramMechanism> {
    match mechanism {
        SaslMechanism::Plain => None,
        SaslMechanism::ScramSha256 => Some(ScramMechanism::Sha256),
        SaslMechanism::ScramSha512 => Some(ScramMechanism::Sha512),
    }
}

/// RFC 5802's saslname: ',' and '=' escaped.
fn encode_sasl_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scram_credential::ScramCredential;
    use crate::scram_server::{ScramServer, ScramStep};

    fn credentials(mechanism: SaslMechanism, password: &str) -> SaslClientCredentials {
        SaslClientCredentials {
            mechanism,
            username: "bro,ker".into(),
            password: password.into(),
        }
    }

    #[test]
    fn rfc7677_client_messages() {
        let mut client = SaslClient::new(
            SaslClientCredentials {
                mechanism: SaslMechanism::ScramSha256,
                username: "user".into(),
                password: "pencil".into(),
            },
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        assert_eq!(client.start(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let last = client
            .step(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        assert_eq!(
            last,
            SaslClientStep::Send(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=".to_vec())
        );
        assert_eq!(
            client
                .step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .unwrap(),
            SaslClientStep::Done
        );
    }

    #[test]
    fn scram_client_and_server_agree_and_a_wrong_password_is_refused() {
        for mechanism in [SaslMechanism::ScramSha256, SaslMechanism::ScramSha512] {
            let scram = scram_mechanism(mechanism).unwrap();
            let stored = ScramCredential::from_password(scram, "right", b"salt".to_vec(), 4096);
            for (password, accepted) in [("right", true), ("wrong", false)] {
                let mut client =
                    SaslClient::new(credentials(mechanism, password), "clientnonce".into());
                let mut server = ScramServer::new(scram, "servernonce".into());
                let first = client.start();
                let ScramStep::Continue(server_first) = server
                    .step(&first, |u| (u == "bro,ker").then(|| stored.clone()))
                    .unwrap()
                else {
                    panic!("server-first expected")
                };
                let SaslClientStep::Send(last) = client.step(&server_first).unwrap() else {
                    panic!("client-final expected")
                };
                match server.step(&last, |_| None) {
                    Ok(ScramStep::Complete { response, username }) => {
                        assert!(accepted);
                        assert_eq!(username, "bro,ker");
                        assert_eq!(client.step(&response).unwrap(), SaslClientStep::Done);
                    }
                    Ok(other) => panic!("{other:?}"),
                    Err(e) => {
                        assert!(!accepted);
                        assert!(matches!(e, AuthenticationError::InvalidCredentials { .. }));
                    }
                }
            }
        }
    }

    #[test]
    fn a_server_without_the_credential_is_caught() {
        let mut client = SaslClient::new(
            credentials(SaslMechanism::ScramSha256, "right"),
            "abc".into(),
        );
        client.start();
        // A nonce that does not extend ours, then a forged final signature.
        assert!(client.step(b"r=xyz,s=c2FsdA==,i=4096").is_err());
        let mut client = SaslClient::new(
            credentials(SaslMechanism::ScramSha256, "right"),
            "abc".into(),
        );
        client.start();
        assert!(
            client.step(b"r=abcdef,s=c2FsdA==,i=1").is_err(),
            "iterations"
        );
        let mut client = SaslClient::new(
            credentials(SaslMechanism::ScramSha256, "right"),
            "abc".into(),
        );
        client.start();
        assert!(matches!(
            client.step(b"r=abcdef,s=c2FsdA==,i=4096").unwrap(),
            SaslClientStep::Send(_)
        ));
        assert!(client.step(b"v=AAAA").is_err());
    }

    #[test]
    fn plain_is_one_message() {
        let mut client = SaslClient::new(credentials(SaslMechanism::Plain, "pw"), "n".into());
        assert_eq!(client.start(), b"\0bro,ker\0pw");
        assert_eq!(client.step(b"").unwrap(), SaslClientStep::Done);
        assert!(client.step(b"").is_err());
        assert!(!format!("{:?}", credentials(SaslMechanism::Plain, "hunter2")).contains("hunter2"));
    }
}
