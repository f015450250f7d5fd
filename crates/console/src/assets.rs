//! The web UI: one HTML page, a stylesheet and a few scripts, all embedded in the
//! binary (no build step, nothing fetched from elsewhere). The scripts route on the
//! URL fragment (`#/topics/orders`), so the server only ever serves these files.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The page shell.
pub const INDEX_HTML: &str = include_str!("assets/index.html");
/// The login page (login.rs), when the console requires one.
pub const LOGIN_HTML: &str = include_str!("assets/login.html");

/// Every file under `/assets/`: name, content type, content. The scripts load in the
/// order `index.html` lists them; `core.js` first.
pub const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    ("core.js", JS, include_str!("assets/core.js")),
    ("session.js", JS, include_str!("assets/session.js")),
    ("login.js", JS, include_str!("assets/login.js")),
    ("overview.js", JS, include_str!("assets/overview.js")),
    ("topics.js", JS, include_str!("assets/topics.js")),
    ("messages.js", JS, include_str!("assets/messages.js")),
    ("groups.js", JS, include_str!("assets/groups.js")),
    ("admin.js", JS, include_str!("assets/admin.js")),
];
const JS: &str = "text/javascript; charset=utf-8";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // Embedded assets change with the binary: always revalidate.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// `GET /`
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /login`
pub async fn login_page() -> Response {
    asset("text/html; charset=utf-8", LOGIN_HTML)
}

/// `GET /assets/{file}`
pub async fn file(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => asset(content_type, body),
        None => not_found(axum::http::Uri::from_static("/assets/")).await,
    }
}

/// Any other path: a plain page (or JSON under `/api/`), never a stack trace.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        let body = serde_json::json!({
            "error": "not_found",
            "message": format!("No API endpoint at {}; see docs/console-api.md.", uri.path()),
        });
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    (
        StatusCode::NOT_FOUND,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        "<!doctype html><meta charset=utf-8><title>Not found · Moldau</title>\
         <p>There is no page here. <a href=\"/\">Open the Moldau console</a>.</p>",
    )
        .into_response()
}
