//! The server side of a SCRAM exchange (RFC 5802, RFC 7677) as a state machine:
//! client-first in, server-first out; client-final in, server-final out and the
//! user authenticated. The caller looks the user's credential up and supplies the
//! server nonce, so nothing here does I/O or draws randomness.

use crate::error::AuthenticationError;
use crate::scram_credential::{ScramCredential, ScramMechanism};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use subtle::ConstantTimeEq;

/// Longest SCRAM message accepted (Kafka's user names and nonces are far shorter).
pub const SCRAM_MESSAGE_BYTES_MAX: usize = 4096;

enum State {
    /// Waiting for client-first.
    Start,
    /// Server-first sent; waiting for client-final.
    ServerFirstSent {
        username: String,
        gs2_header: String,
        nonce: String,
        /// client-first-bare "," server-first: the start of the AuthMessage.
        auth_message_start: String,
        credential: ScramCredential,
    },
    Done,
}

/// What one step produced.
#[derive(Debug, PartialEq, Eq)]
pub enum ScramStep {
    /// Send these bytes and wait for the client's next message.
    Continue(Vec<u8>),
    /// Send these bytes; the client authenticated as this user.
    Complete { response: Vec<u8>, username: String },
}

pub struct ScramServer {
    mechanism: ScramMechanism,
    server_nonce: String,
    state: State,
}

impl ScramServer {
    /// `server_nonce` must be printable ASCII without ',' (RFC 5802's nonce grammar).
    pub fn new(mechanism: ScramMechanism, server_nonce: String) -> Self {
        assert!(
            server_nonce
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b','),
            "the server nonce is printable ASCII without commas"
        );
        ScramServer {
            mechanism,
            server_nonce,
            state: State::Start,
        }
    }

    fn malformed(&self, reason: &str) -> AuthenticationError {
        AuthenticationError::Malformed {
            mechanism: self.mechanism.name(),
            reason: reason.to_string(),
        }
    }

    fn invalid(&self) -> AuthenticationError {
        AuthenticationError::InvalidCredentials {
            mechanism: self.mechanism.name(),
        }
    }

    /// Takes the client's next message; `lookup` gives a user's credential for this
    /// mechanism. Any error ends the exchange.
    pub fn step(
        &mut self,
        message: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<ScramStep, AuthenticationError> {
        if message.len() > SCRAM_MESSAGE_BYTES_MAX {
            self.state = State::Done;
            return Err(self.malformed("message too long"));
        }
        let text = match std::str::from_utf8(message) {
            Ok(t) => t,
            Err(_) => {
                self.state = State::Done;
                return Err(self.malformed("not UTF-8"));
            }
        };
        match std::mem::replace(&mut self.state, State::Done) {
            State::Start => self.client_first(text, lookup),
            State::ServerFirstSent {
                username,
                gs2_header,
                nonce,
                auth_message_start,
                credential,
            } => self.client_final(
                text,
                username,
                &gs2_header,
                &nonce,
                &auth_message_start,
                &credential,
            ),
            State::Done => Err(AuthenticationError::UnexpectedMessage {
                mechanism: self.mechanism.name(),
            }),
        }
    }

    fn client_first(
        &mut self,
        text: &str,
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<ScramStep, AuthenticationError> {
        // gs2-header: cbind-flag "," [ "a=" authzid ] ","
        let (flag, rest) = text
            .split_once(',')
            .ok_or_else(|| self.malformed("no GS2 header"))?;
        if flag != "n" && flag != "y" {
            return Err(self.malformed("channel binding is not supported"));
        }
        let (authzid, bare) = rest
            .split_once(',')
            .ok_or_else(|| self.malformed("no GS2 header"))?;
        let gs2_header = format!("{flag},{authzid},");
        let mut fields = bare.split(',');
        let username = fields
            .next()
            .and_then(|f| f.strip_prefix("n="))
            .ok_or_else(|| self.malformed("client-first has no n=username"))?;
        let username = decode_sasl_name(username).ok_or_else(|| self.malformed("bad username"))?;
        let client_nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .filter(|n| !n.is_empty())
            .ok_or_else(|| self.malformed("client-first has no r=nonce"))?;
        if fields.any(|ext| ext.starts_with("tokenauth=")) {
            return Err(self.malformed("delegation tokens are not supported"));
        }
        if let Some(authzid) = authzid.strip_prefix("a=") {
            if decode_sasl_name(authzid).as_deref() != Some(username.as_str()) {
                return Err(self.malformed("the authorization id differs from the username"));
            }
        } else if !authzid.is_empty() {
            return Err(self.malformed("bad GS2 header"));
        }
        let credential = lookup(&username).ok_or_else(|| self.invalid())?;
        let nonce = format!("{client_nonce}{}", self.server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        self.state = State::ServerFirstSent {
            username,
            gs2_header,
            nonce,
            auth_message_start: format!("{bare},{server_first}"),
            credential,
        };
        Ok(ScramStep::Continue(server_first.into_bytes()))
    }

    fn client_final(
        &mut self,
        text: &str,
        username: String,
        gs2_header: &str,
        nonce: &str,
        auth_message_start: &str,
        credential: &ScramCredential,
    ) -> Result<ScramStep, AuthenticationError> {
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or_else(|| self.malformed("client-final has no proof"))?;
        let mut fields = without_proof.split(',');
        let binding = fields
            .next()
            .and_then(|f| f.strip_prefix("c="))
            .and_then(|c| BASE64.decode(c).ok())
            .ok_or_else(|| self.malformed("client-final has no c=binding"))?;
        if binding != gs2_header.as_bytes() {
            return Err(self.malformed("channel binding differs from the GS2 header"));
        }
        let final_nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .ok_or_else(|| self.malformed("client-final has no r=nonce"))?;
        if final_nonce != nonce {
            // Nonces travel in the clear; showing them helps find a client's bug.
            return Err(self.malformed(&format!(
                "nonce {final_nonce:?} differs from the server's {nonce:?}"
            )));
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| self.malformed("proof is not base64"))?;
        let auth_message = format!("{auth_message_start},{without_proof}");
        let client_signature = self
            .mechanism
            .hmac(&credential.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(self.invalid());
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        let stored_key = self.mechanism.hash(&client_key);
        if !bool::from(stored_key.ct_eq(&credential.stored_key)) {
            return Err(self.invalid());
        }
        let server_signature = self
            .mechanism
            .hmac(&credential.server_key, auth_message.as_bytes());
        Ok(ScramStep::Complete {
            response: format!("v={}", BASE64.encode(server_signature)).into_bytes(),
            username,
        })
    }
}

/// A saslname with "=2C" and "=3D" decoded; None when another '=' escape appears.
fn decode_sasl_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let escape = rest.get(i..i + 3)?;
        out.push(match escape {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc7677_credential() -> ScramCredential {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        ScramCredential::from_password(ScramMechanism::Sha256, "pencil", salt, 4096)
    }

    #[test]
    fn rfc7677_exchange() {
        let mut server = ScramServer::new(
            ScramMechanism::Sha256,
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".to_string(),
        );
        let first = server
            .step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", |u| {
                (u == "user").then(rfc7677_credential)
            })
            .unwrap();
        assert_eq!(
            first,
            ScramStep::Continue(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".to_vec()
            )
        );
        let done = server
            .step(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                |_| None,
            )
            .unwrap();
        assert_eq!(
            done,
            ScramStep::Complete {
                response: b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec(),
                username: "user".into()
            }
        );
        assert!(matches!(
            server.step(b"again", |_| None),
            Err(AuthenticationError::UnexpectedMessage { .. })
        ));
    }

    #[test]
    fn wrong_proof_and_unknown_user_are_invalid_credentials() {
        let mut server = ScramServer::new(
            ScramMechanism::Sha256,
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".to_string(),
        );
        server
            .step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", |_| {
                Some(rfc7677_credential())
            })
            .unwrap();
        let err = server
            .step(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                |_| None,
            )
            .unwrap_err();
        assert!(matches!(
            err,
            AuthenticationError::InvalidCredentials { .. }
        ));
        let mut server = ScramServer::new(ScramMechanism::Sha512, "abc".into());
        let err = server.step(b"n,,n=nobody,r=x", |_| None).unwrap_err();
        assert!(matches!(
            err,
            AuthenticationError::InvalidCredentials { .. }
        ));
    }

    #[test]
    fn malformed_messages_are_refused() {
        for bad in [
            &b""[..],
            b"p=tls-unique,,n=user,r=x",
            b"n,,r=x",
            b"n,,n=user",
            b"n,a=other,n=user,r=x",
            b"n,,n=us=41er,r=x",
            b"n,,n=user,r=x,tokenauth=true",
        ] {
            let mut server = ScramServer::new(ScramMechanism::Sha256, "abc".into());
            let err = server
                .step(bad, |_| Some(rfc7677_credential()))
                .unwrap_err();
            assert!(
                matches!(err, AuthenticationError::Malformed { .. }),
                "{bad:?}: {err}"
            );
        }
        assert_eq!(decode_sasl_name("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
    }
}
