//! The SASL exchange at the start of a connection on a SASL_PLAINTEXT or SASL_SSL
//! listener, as Kafka's broker runs it: ApiVersions may come first, then
//! SaslHandshake names a mechanism and SaslAuthenticate carries its messages until the
//! client is authenticated. Any other request before that closes the connection; a
//! failed authentication is answered with SASL_AUTHENTICATION_FAILED and then closed.
//!
//! KIP-368 re-authentication: with `connections.max.reauth.ms` set, the final
//! SaslAuthenticate answer carries the session's lifetime; the client re-authenticates
//! on the same connection (SaslHandshake then SaslAuthenticate, same mechanism and
//! principal) before it ends, and the first other request after the session expired
//! closes the connection, as Kafka's broker does.

use crate::listener_auth::ListenerAuth;
use crate::request::{encode_frame, Frame};
use bytes::Bytes;
use moldau_protocol::frame::decode_body;
use moldau_protocol::kafka::messages::{
    ApiKey, RequestHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use moldau_protocol::kafka::protocol::{Encodable, StrBytes};
use moldau_protocol::versions::is_supported;
use moldau_protocol::ResponseError;
use moldau_security::scram_server::{ScramServer, ScramStep};
use moldau_security::{KafkaPrincipal, SaslMechanism, ScramCredential, ScramMechanism};
use rand::distributions::Alphanumeric;
use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Characters of the server's part of a SCRAM nonce.
const SCRAM_SERVER_NONCE_CHARS: usize = 32;

/// Looks a user's SCRAM credential up (in the metadata image).
pub type ScramCredentials =
    Arc<dyn Fn(&str, ScramMechanism) -> Option<ScramCredential> + Send + Sync>;

enum State {
    /// Waiting for SaslHandshake (ApiVersions allowed).
    Handshake,
    /// Mechanism chosen; waiting for its first SaslAuthenticate.
    Authenticate(SaslMechanism),
    /// A SCRAM exchange under way.
    Scram(SaslMechanism, Box<ScramServer>),
    Authenticated,
}

/// The session a connection authenticated, kept while it re-authenticates.
#[derive(Clone)]
struct Session {
    principal: KafkaPrincipal,
    mechanism: SaslMechanism,
    /// None when `connections.max.reauth.ms` is 0: the session never expires.
    expires_at: Option<Instant>,
}

/// What the connection does with a request.
pub enum SaslGate {
    /// Authenticated (or ApiVersions): hand it to the handlers.
    Dispatch,
    /// Answered here; keep reading.
    Answer(Frame),
    /// Answered here; then close the connection.
    AnswerAndClose(Frame),
    /// Close without answering.
    Close(String),
}

pub struct SaslSession {
    listener: Arc<ListenerAuth>,
    credentials: ScramCredentials,
    /// `connections.max.reauth.ms`; None when 0 (sessions do not expire).
    reauth_max: Option<Duration>,
    state: State,
    /// The current session; during a re-authentication, the one being renewed.
    session: Option<Session>,
}

impl SaslSession {
    pub fn new(
        listener: Arc<ListenerAuth>,
        credentials: ScramCredentials,
        reauth_max: Option<Duration>,
    ) -> Self {
        SaslSession {
            listener,
            credentials,
            reauth_max,
            state: State::Handshake,
            session: None,
        }
    }

    /// The authenticated principal, once there is one.
    pub fn principal(&self) -> Option<&KafkaPrincipal> {
        self.session.as_ref().map(|s| &s.principal)
    }

    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Authenticated)
    }

    /// Decides what happens to a request read at `now`; `peer` is for the log.
    pub fn gate(
        &mut self,
        api_key: ApiKey,
        header: &RequestHeader,
        body: Bytes,
        peer: &str,
        now: Instant,
    ) -> SaslGate {
        let version = header.request_api_version;
        if self.is_authenticated() {
            // A SaslHandshake (v1+, the version that has SaslAuthenticate) on an
            // authenticated connection starts a re-authentication, even after expiry.
            if api_key == ApiKey::SaslHandshake && version >= 1 && is_supported(api_key, version) {
                self.state = State::Handshake;
                return self.handshake(header, body);
            }
            let expired = self
                .session
                .as_ref()
                .and_then(|s| s.expires_at)
                .is_some_and(|at| now >= at);
            if expired {
                return SaslGate::Close(
                    "the SASL session expired (connections.max.reauth.ms) without re-authentication"
                        .into(),
                );
            }
            return SaslGate::Dispatch;
        }
        match (api_key, &self.state) {
            // ApiVersions may open a connection, not interrupt a re-authentication.
            (ApiKey::ApiVersions, State::Handshake) if self.session.is_none() => SaslGate::Dispatch,
            (ApiKey::SaslHandshake, State::Handshake) if is_supported(api_key, version) => {
                self.handshake(header, body)
            }
            (ApiKey::SaslAuthenticate, State::Authenticate(_) | State::Scram(..))
                if is_supported(api_key, version) =>
            {
                self.authenticate(header, body, peer, now)
            }
            (other, _) => SaslGate::Close(format!(
                "unexpected {other:?} v{version} request during SASL authentication"
            )),
        }
    }

    fn handshake(&mut self, header: &RequestHeader, body: Bytes) -> SaslGate {
        let request: SaslHandshakeRequest =
            match decode_body(ApiKey::SaslHandshake, header.request_api_version, body) {
                Ok(r) => r,
                Err(e) => return SaslGate::Close(e.to_string()),
            };
        let enabled = &self.listener.security.sasl_mechanisms;
        let names: Vec<StrBytes> = enabled
            .iter()
            .map(|m| StrBytes::from_static_str(m.name()))
            .collect();
        let chosen =
            SaslMechanism::from_name(request.mechanism.as_str()).filter(|m| enabled.contains(m));
        let response = SaslHandshakeResponse::default().with_mechanisms(names);
        // A re-authentication keeps the mechanism the session was made with.
        let previous = self.session.as_ref().map(|s| s.mechanism);
        if let (Some(previous), Some(mechanism)) = (previous, chosen) {
            if previous != mechanism {
                tracing::info!(
                    "closing connection: re-authentication with {mechanism} on a session authenticated with {previous}"
                );
                return answer(
                    header,
                    ApiKey::SaslHandshake,
                    &response.with_error_code(ResponseError::UnsupportedSaslMechanism.code()),
                    true,
                );
            }
        }
        match chosen {
            Some(mechanism) => {
                self.state = State::Authenticate(mechanism);
                answer(
                    header,
                    ApiKey::SaslHandshake,
                    &response.with_error_code(0),
                    false,
                )
            }
            None => {
                tracing::info!(
                    mechanism = %request.mechanism.as_str(),
                    "closing connection: SASL mechanism not enabled on listener {}",
                    self.listener.security.name
                );
                answer(
                    header,
                    ApiKey::SaslHandshake,
                    &response.with_error_code(ResponseError::UnsupportedSaslMechanism.code()),
                    true,
                )
            }
        }
    }

    fn authenticate(
        &mut self,
        header: &RequestHeader,
        body: Bytes,
        peer: &str,
        now: Instant,
    ) -> SaslGate {
        let request: SaslAuthenticateRequest =
            match decode_body(ApiKey::SaslAuthenticate, header.request_api_version, body) {
                Ok(r) => r,
                Err(e) => return SaslGate::Close(e.to_string()),
            };
        let state = std::mem::replace(&mut self.state, State::Handshake);
        let (mechanism, step) = match state {
            State::Authenticate(SaslMechanism::Plain) => (
                SaslMechanism::Plain,
                self.listener
                    .security
                    .plain_users
                    .authenticate(&request.auth_bytes)
                    .map(|user| ScramStep::Complete {
                        response: Vec::new(),
                        username: user,
                    }),
            ),
            State::Authenticate(m @ (SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512)) => {
                let scram = match m {
                    SaslMechanism::ScramSha512 => ScramMechanism::Sha512,
                    _ => ScramMechanism::Sha256,
                };
                let nonce: String = rand::thread_rng()
                    .sample_iter(&Alphanumeric)
                    .take(SCRAM_SERVER_NONCE_CHARS)
                    .map(char::from)
                    .collect();
                let mut server = Box::new(ScramServer::new(scram, nonce));
                let credentials = Arc::clone(&self.credentials);
                let step = server.step(&request.auth_bytes, |user| credentials(user, scram));
                self.state = State::Scram(m, server);
                (m, step)
            }
            State::Scram(m, mut server) => {
                let step = server.step(&request.auth_bytes, |_| None);
                self.state = State::Scram(m, server);
                (m, step)
            }
            State::Handshake | State::Authenticated => {
                return SaslGate::Close("SaslAuthenticate out of order".into())
            }
        };
        let response = SaslAuthenticateResponse::default().with_session_lifetime_ms(0);
        match step {
            Ok(ScramStep::Continue(bytes)) => answer(
                header,
                ApiKey::SaslAuthenticate,
                &response.with_auth_bytes(Bytes::from(bytes)),
                false,
            ),
            Ok(ScramStep::Complete {
                response: bytes,
                username,
            }) => {
                let principal = KafkaPrincipal::user(username);
                if let Some(previous) = self.session.as_ref().filter(|s| s.principal != principal) {
                    let message = format!(
                        "Cannot change principals during re-authentication from {} to {principal}",
                        previous.principal
                    );
                    tracing::warn!(%peer, listener = %self.listener.security.name, "failed re-authentication: {message}");
                    return answer(
                        header,
                        ApiKey::SaslAuthenticate,
                        &response
                            .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                            .with_error_message(Some(StrBytes::from_string(message))),
                        true,
                    );
                }
                tracing::debug!(%peer, %principal, %mechanism, reauthentication = self.session.is_some(), "authenticated");
                let lifetime_ms = self
                    .reauth_max
                    .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                self.session = Some(Session {
                    principal,
                    mechanism,
                    expires_at: self.reauth_max.map(|d| now + d),
                });
                self.state = State::Authenticated;
                answer(
                    header,
                    ApiKey::SaslAuthenticate,
                    &response
                        .with_auth_bytes(Bytes::from(bytes))
                        .with_session_lifetime_ms(lifetime_ms),
                    false,
                )
            }
            Err(e) => {
                // The error names the mechanism and what failed, never the password.
                tracing::warn!(%peer, listener = %self.listener.security.name, "failed authentication: {e}");
                self.state = State::Handshake;
                answer(
                    header,
                    ApiKey::SaslAuthenticate,
                    &response
                        .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                        .with_error_message(Some(StrBytes::from_string(e.to_string()))),
                    true,
                )
            }
        }
    }
}

/// Encodes `response` for `header`'s request; closes when it cannot be encoded.
fn answer<R: Encodable>(
    header: &RequestHeader,
    key: ApiKey,
    response: &R,
    close: bool,
) -> SaslGate {
    let version = header.request_api_version;
    match encode_frame(
        header.correlation_id,
        key.response_header_version(version),
        response,
        version,
    ) {
        Ok(frame) if close => SaslGate::AnswerAndClose(frame),
        Ok(frame) => SaslGate::Answer(frame),
        Err(e) => SaslGate::Close(e.0),
    }
}
