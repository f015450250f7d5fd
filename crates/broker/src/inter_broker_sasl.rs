//! The SASL login a broker performs on a connection it opens to another broker's
//! SASL_PLAINTEXT or SASL_SSL inter-broker listener, as Kafka's clients do:
//! SaslHandshake names the mechanism (`sasl.mechanism.inter.broker.protocol`), then
//! SaslAuthenticate carries the mechanism's messages until it is done. The replica
//! fetcher (blocking) and the inter-broker client (async) drive it with their own I/O.

use moldau_protocol::kafka::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use moldau_protocol::kafka::protocol::StrBytes;
use moldau_security::sasl_client::{SaslClient, SaslClientCredentials, SaslClientStep};
use rand::distributions::Alphanumeric;
use rand::Rng;

/// SaslHandshake v1: SaslAuthenticate requests carry the mechanism's messages.
pub const SASL_HANDSHAKE_VERSION: i16 = 1;
/// SaslAuthenticate v1 (error message and session lifetime in the answer).
pub const SASL_AUTHENTICATE_VERSION: i16 = 1;
/// Most SaslAuthenticate round trips one login takes (SCRAM needs two).
pub const SASL_ROUND_TRIPS_MAX: usize = 4;
const CLIENT_NONCE_CHARS: usize = 32;

/// A login under way.
pub struct InterBrokerLogin {
    client: SaslClient,
}

impl InterBrokerLogin {
    pub fn new(credentials: &SaslClientCredentials) -> Self {
        let nonce: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(CLIENT_NONCE_CHARS)
            .map(char::from)
            .collect();
        InterBrokerLogin {
            client: SaslClient::new(credentials.clone(), nonce),
        }
    }

    pub fn handshake(&self) -> SaslHandshakeRequest {
        SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_static_str(self.client.mechanism().name()))
    }

    /// Err when the peer does not take the mechanism.
    pub fn check_handshake(&self, response: &SaslHandshakeResponse) -> Result<(), String> {
        if response.error_code == 0 {
            return Ok(());
        }
        let enabled: Vec<&str> = response.mechanisms.iter().map(|m| m.as_str()).collect();
        Err(format!(
            "the peer refused SASL mechanism {} (error {}; it enables {enabled:?}): check sasl.mechanism.inter.broker.protocol",
            self.client.mechanism().name(),
            response.error_code
        ))
    }

    /// The first SaslAuthenticate.
    pub fn first(&mut self) -> SaslAuthenticateRequest {
        let message = self.client.start();
        SaslAuthenticateRequest::default().with_auth_bytes(message.into())
    }

    /// Takes an answer: the next request to send, or None when logged in.
    pub fn next(
        &mut self,
        response: &SaslAuthenticateResponse,
    ) -> Result<Option<SaslAuthenticateRequest>, String> {
        if response.error_code != 0 {
            let message = response
                .error_message
                .as_ref()
                .map_or("", |m| m.as_str())
                .to_string();
            return Err(format!(
                "the peer refused this broker's {} login (error {}): {message}",
                self.client.mechanism().name(),
                response.error_code
            ));
        }
        match self.client.step(&response.auth_bytes) {
            Ok(SaslClientStep::Done) => Ok(None),
            Ok(SaslClientStep::Send(message)) => Ok(Some(
                SaslAuthenticateRequest::default().with_auth_bytes(message.into()),
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}
