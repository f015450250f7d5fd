//! The console's login. Required when the console is bound beyond loopback or
//! `console.auth.enabled=true`: users log in with a name and password from the
//! broker's own stores (SCRAM credentials, PLAIN JAAS users) or with the configured
//! `console.auth.token`. A session lives in an `HttpOnly`, `SameSite=Strict` cookie
//! that expires after `console.session.timeout.ms`; each session has a CSRF token the
//! page sends in `X-CSRF-Token` on every change. Scripts may send the token as
//! `Authorization: Bearer …` instead of logging in. Repeated wrong logins for one
//! name lock it briefly (login_throttle.rs).

use crate::console::Console;
use crate::login_throttle::LoginThrottle;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use parking_lot::Mutex;
use rand::Rng;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "moldau_session";
/// The header a logged-in page sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Open sessions at most; the oldest goes when a login would exceed it.
pub const SESSIONS_MAX: usize = 10_000;
/// Random bytes in a session id and in a CSRF token (hex-encoded).
const SECRET_BYTES: usize = 32;
/// The longest user name or password a login form may send.
pub const LOGIN_FIELD_BYTES_MAX: usize = 1024;
/// The principal a token login acts as: the operator's key, a super user to the
/// ACLs (caller.rs).
pub const TOKEN_PRINCIPAL: &str = "User:console-token";

/// Who a request acts for, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsolePrincipal {
    /// `User:<name>`, as Kafka prints principals.
    pub principal: String,
    /// The session's CSRF token; None for a bearer-token request (no cookie, so no
    /// cross-site request can carry it).
    pub csrf_token: Option<String>,
}

#[derive(Debug, Clone)]
struct Session {
    principal: String,
    csrf_token: String,
    created: Instant,
    expires: Instant,
}

/// The login settings and the open sessions.
pub struct ConsoleAuth {
    /// False: the console is open to whoever reaches it (loopback only, by default).
    pub required: bool,
    token: Option<String>,
    session_timeout: Duration,
    sessions: Mutex<HashMap<String, Session>>,
    /// SESSIONS_MAX; smaller in tests.
    sessions_max: usize,
    throttle: LoginThrottle,
}

impl ConsoleAuth {
    pub fn new(required: bool, token: Option<String>, session_timeout: Duration) -> Self {
        ConsoleAuth {
            required,
            token: token.filter(|t| !t.is_empty()),
            session_timeout,
            sessions: Mutex::new(HashMap::new()),
            sessions_max: SESSIONS_MAX,
            throttle: LoginThrottle::default(),
        }
    }

    /// A new session for `principal`: its cookie value and CSRF token.
    fn open_session(&self, principal: String, now: Instant) -> (String, String) {
        let id = random_hex();
        let csrf_token = random_hex();
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= self.sessions_max {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            id.clone(),
            Session {
                principal,
                csrf_token: csrf_token.clone(),
                created: now,
                expires: now + self.session_timeout,
            },
        );
        (id, csrf_token)
    }

    fn close_session(&self, id: &str) {
        self.sessions.lock().remove(id);
    }

    /// The principal of a request: its live session cookie, or the bearer token.
    pub fn principal_of(&self, headers: &HeaderMap, now: Instant) -> Option<ConsolePrincipal> {
        if let (Some(token), Some(sent)) = (&self.token, bearer_token(headers)) {
            if constant_time_eq(token.as_bytes(), sent.as_bytes()) {
                return Some(ConsolePrincipal {
                    principal: TOKEN_PRINCIPAL.into(),
                    csrf_token: None,
                });
            }
        }
        let id = session_cookie(headers)?;
        let mut sessions = self.sessions.lock();
        let session = sessions.get(id)?;
        if session.expires <= now {
            sessions.remove(id);
            return None;
        }
        Some(ConsolePrincipal {
            principal: session.principal.clone(),
            csrf_token: Some(session.csrf_token.clone()),
        })
    }

    /// Checks a login; the principal it acts as.
    fn check_login(&self, console: &Console, login: &LoginRequest) -> Option<String> {
        if let (Some(token), Some(sent)) = (&self.token, &login.token) {
            return constant_time_eq(token.as_bytes(), sent.as_bytes())
                .then(|| TOKEN_PRINCIPAL.to_string());
        }
        let (user, password) = (login.user.as_deref()?, login.password.as_deref()?);
        console
            .backend
            .check_password(user, password)
            .then(|| format!("User:{user}"))
    }
}

/// True when the request's CSRF header equals the session's token.
pub fn csrf_matches(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|sent| constant_time_eq(sent.as_bytes(), expected.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_hex() -> String {
    let bytes: [u8; SECRET_BYTES] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

fn cookie(value: &str, max_age_s: u64) -> HeaderValue {
    // The console serves plain HTTP, so the cookie cannot be `Secure`.
    let text =
        format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": code, "message": message });
    (status, Json(body)).into_response()
}

#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
}

/// `POST /api/v1/login`: opens a session; answers with the principal and the CSRF
/// token, and sets the session cookie.
pub async fn login(
    State(console): State<Arc<Console>>,
    Json(request): Json<LoginRequest>,
) -> Response {
    let too_long = [&request.user, &request.password, &request.token]
        .iter()
        .any(|f| f.as_ref().is_some_and(|f| f.len() > LOGIN_FIELD_BYTES_MAX));
    if too_long {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_login",
            &format!("A login field is longer than {LOGIN_FIELD_BYTES_MAX} bytes."),
        );
    }
    let auth = &console.auth;
    // Wrong logins are counted per user name, token logins under one name.
    let name = match (&request.token, &request.user) {
        (Some(_), _) => "(token)".to_string(),
        (None, user) => user.clone().unwrap_or_default(),
    };
    if let Some(wait) = auth.throttle.locked_for(&name, Instant::now()) {
        tracing::warn!(user = %name, "console login locked after repeated failures");
        return locked(wait);
    }
    let checked = {
        let console = Arc::clone(&console);
        // PBKDF2 takes milliseconds: off the async workers.
        tokio::task::spawn_blocking(move || console.auth.check_login(&console, &request)).await
    };
    let Ok(Some(principal)) = checked else {
        tracing::warn!(user = %name, "console login refused");
        if let Some(wait) = auth.throttle.failed(&name, Instant::now()) {
            return locked(wait);
        }
        return error(
            StatusCode::UNAUTHORIZED,
            "login_failed",
            "Wrong user name, password or token.",
        );
    };
    auth.throttle.succeeded(&name);
    tracing::info!(%principal, "console login");
    let (id, csrf_token) = auth.open_session(principal.clone(), Instant::now());
    let body = serde_json::json!({ "principal": principal, "csrf_token": csrf_token });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&id, auth.session_timeout.as_secs()),
    );
    response
}

/// 429 with `Retry-After` (whole seconds, rounded up) for a locked login name.
fn locked(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        "login_locked",
        &format!("Too many wrong logins: try again in {seconds} s."),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// `POST /api/v1/logout`: ends the session and clears the cookie.
pub async fn logout(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        console.auth.close_session(id);
    }
    let mut response = Json(serde_json::json!({ "logged_out": true })).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie("", 0));
    response
}

/// `GET /api/v1/session`: whether a login is needed, and who is logged in with which
/// CSRF token (only the console's own pages can read this answer).
pub async fn session(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let who = console.auth.principal_of(&headers, Instant::now());
    Json(serde_json::json!({
        "auth_required": console.auth.required,
        "principal": who.as_ref().map(|w| w.principal.clone()),
        "csrf_token": who.and_then(|w| w.csrf_token),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).expect("header value"));
        }
        h
    }

    #[test]
    fn a_session_cookie_names_its_principal_until_it_expires() {
        let auth = ConsoleAuth::new(true, None, Duration::from_secs(60));
        let now = Instant::now();
        let (id, csrf) = auth.open_session("User:alice".into(), now);
        let h = with(&[(
            header::COOKIE,
            &format!("theme=dark; {SESSION_COOKIE}={id}"),
        )]);
        let who = auth.principal_of(&h, now).expect("logged in");
        assert_eq!(who.principal, "User:alice");
        assert_eq!(who.csrf_token.as_deref(), Some(csrf.as_str()));
        assert!(auth
            .principal_of(&h, now + Duration::from_secs(61))
            .is_none());
        assert!(
            auth.principal_of(&h, now).is_none(),
            "an expired session is gone"
        );
        let forged = with(&[(header::COOKIE, &format!("{SESSION_COOKIE}=00{id}"))]);
        assert!(auth.principal_of(&forged, now).is_none());
    }

    #[test]
    fn logout_ends_the_session() {
        let auth = ConsoleAuth::new(true, None, Duration::from_secs(60));
        let now = Instant::now();
        let (id, _) = auth.open_session("User:bob".into(), now);
        auth.close_session(&id);
        let h = with(&[(header::COOKIE, &format!("{SESSION_COOKIE}={id}"))]);
        assert!(auth.principal_of(&h, now).is_none());
    }

    #[test]
    fn the_bearer_token_acts_without_csrf_and_only_when_configured() {
        let auth = ConsoleAuth::new(true, Some("s3cret".into()), Duration::from_secs(60));
        let now = Instant::now();
        let ok = with(&[(header::AUTHORIZATION, "Bearer s3cret")]);
        let who = auth.principal_of(&ok, now).expect("token accepted");
        assert_eq!(who.principal, TOKEN_PRINCIPAL);
        assert_eq!(who.csrf_token, None);
        let wrong = with(&[(header::AUTHORIZATION, "Bearer s3cre")]);
        assert!(auth.principal_of(&wrong, now).is_none());
        let none = ConsoleAuth::new(true, Some(String::new()), Duration::from_secs(60));
        let empty = with(&[(header::AUTHORIZATION, "Bearer ")]);
        assert!(
            none.principal_of(&empty, now).is_none(),
            "an empty token is no token"
        );
    }

    #[test]
    fn csrf_header_must_equal_the_session_token() {
        assert!(csrf_matches(
            &with(&[(HeaderName::from_static(CSRF_HEADER), "abc")]),
            "abc"
        ));
        assert!(!csrf_matches(
            &with(&[(HeaderName::from_static(CSRF_HEADER), "abd")]),
            "abc"
        ));
        assert!(!csrf_matches(&HeaderMap::new(), "abc"));
    }

    #[test]
    fn sessions_are_bounded() {
        let mut auth = ConsoleAuth::new(true, None, Duration::from_secs(60));
        auth.sessions_max = 8;
        let now = Instant::now();
        let (first, _) = auth.open_session("User:u0".into(), now);
        for i in 1..20 {
            auth.open_session(format!("User:u{i}"), now + Duration::from_millis(i));
        }
        assert_eq!(auth.sessions.lock().len(), 8);
        assert!(
            !auth.sessions.lock().contains_key(&first),
            "the oldest went first"
        );
    }

    use axum::http::HeaderName;
}
