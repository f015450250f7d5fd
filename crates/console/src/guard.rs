//! Request checks every console request passes before its handler, and headers every
//! response carries. The console changes data, so a web page the operator happens to
//! have open must not be able to drive it:
//! - bound to loopback, the `Host` header must name a loopback host, which defeats
//!   DNS rebinding (a hostile name resolving to 127.0.0.1);
//! - a changing request (anything but GET/HEAD) must not come from another origin, and
//!   must carry a JSON body type, which browsers never send cross-site without a
//!   CORS preflight that the console does not grant;
//! - pages may not be framed (no clickjacking of the confirmation buttons);
//! - when a login is required (login.rs), a request needs a live session (pages
//!   redirect to `/login`, API calls get 401), and a change needs the session's
//!   CSRF token in `X-CSRF-Token`; the handler sees the principal in the request's
//!   extensions.

use crate::console::Console;
use crate::login::csrf_matches;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// Paths served without a session: the login page, its assets and the login API.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/login" | "/api/v1/login" | "/api/v1/logout" | "/api/v1/session"
    ) || path.starts_with("/assets/")
}

/// Content-Security-Policy of every response: only the console's own scripts/styles.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": code, "message": message });
    (status, Json(body)).into_response()
}

/// The host part of a `Host` header value (`h`, `h:port`, `[v6]:port`).
fn host_name(value: &str) -> &str {
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match value.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => value,
    }
}

/// `localhost` or a loopback IP literal.
pub fn is_loopback_host(value: &str) -> bool {
    let host = host_name(value);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `scheme://host[:port]` -> `host[:port]`.
fn origin_authority(origin: &str) -> Option<&str> {
    origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// Checks a request against the rules above; `None` lets it through.
pub fn check(loopback_only: bool, method: &Method, headers: &HeaderMap) -> Option<Response> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if loopback_only {
        if let Some(h) = host {
            if !is_loopback_host(h) {
                return Some(refuse(
                    StatusCode::MISDIRECTED_REQUEST,
                    "host_not_allowed",
                    "The console listens on a loopback address and answers only to localhost names.",
                ));
            }
        }
    }
    let changes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !changes {
        return None;
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let same = match (origin_authority(origin), host) {
            (Some(a), Some(h)) => a.eq_ignore_ascii_case(h),
            _ => false,
        };
        if !same {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                "cross_origin",
                "Changes are accepted only from the console's own pages.",
            ));
        }
    }
    let has_body = *method != Method::DELETE;
    if has_body && !is_json(headers) {
        return Some(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "json_required",
            "Send the request body as application/json.",
        ));
    }
    None
}

/// With a login required: no session, no console; a change needs the session's
/// CSRF token. On success the principal goes into the request's extensions.
fn login_gate(console: &Console, request: &mut Request) -> Option<Response> {
    let auth = &console.auth;
    let path = request.uri().path();
    if !auth.required || is_public(path) {
        return None;
    }
    let Some(who) = auth.principal_of(request.headers(), Instant::now()) else {
        if path.starts_with("/api/") || path == "/metrics" {
            return Some(refuse(
                StatusCode::UNAUTHORIZED,
                "login_required",
                "Log in first (POST /api/v1/login), or send Authorization: Bearer <console.auth.token>.",
            ));
        }
        return Some(Redirect::to("/login").into_response());
    };
    let changes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if let (true, Some(expected)) = (changes, &who.csrf_token) {
        if !csrf_matches(request.headers(), expected) {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                "csrf_token_required",
                "A change needs the session's CSRF token in the X-CSRF-Token header.",
            ));
        }
    }
    request.extensions_mut().insert(who);
    None
}

/// Middleware: the checks, then the handler, then the security headers.
pub async fn guard(
    State(console): State<Arc<Console>>,
    mut request: Request,
    next: Next,
) -> Response {
    let refused = check(console.loopback_only, request.method(), request.headers())
        .or_else(|| login_gate(&console, &mut request));
    let mut response = match refused {
        Some(refused) => refused,
        None => next.run(request).await,
    };
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).expect("header value"));
        }
        h
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("localhost:8080"));
        assert!(is_loopback_host("127.0.0.1:8080"));
        assert!(is_loopback_host("127.1.2.3"));
        assert!(is_loopback_host("[::1]:8080"));
        assert!(!is_loopback_host("evil.example:8080"));
        assert!(!is_loopback_host("10.0.0.1"));
    }

    #[test]
    fn rebinding_hosts_are_refused_only_when_bound_to_loopback() {
        let h = headers(&[(header::HOST, "evil.example:8080")]);
        let refused = check(true, &Method::GET, &h).expect("refused");
        assert_eq!(refused.status(), StatusCode::MISDIRECTED_REQUEST);
        assert!(check(false, &Method::GET, &h).is_none());
    }

    #[test]
    fn changes_need_same_origin_and_json() {
        let ok = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::ORIGIN, "http://127.0.0.1:8080"),
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
        ]);
        assert!(check(true, &Method::POST, &ok).is_none());
        let cross = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::ORIGIN, "http://evil.example"),
            (header::CONTENT_TYPE, "application/json"),
        ]);
        assert_eq!(
            check(true, &Method::POST, &cross).map(|r| r.status()),
            Some(StatusCode::FORBIDDEN)
        );
        let form = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
        ]);
        assert_eq!(
            check(true, &Method::POST, &form).map(|r| r.status()),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        let delete = headers(&[(header::HOST, "127.0.0.1:8080")]);
        assert!(check(true, &Method::DELETE, &delete).is_none());
        assert!(check(true, &Method::GET, &form).is_none());
    }
}
