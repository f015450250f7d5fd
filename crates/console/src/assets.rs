//! The web UI: one HTML page, one stylesheet, one script, all embedded in the binary
//! (no build step, nothing fetched from elsewhere). The script routes on the URL
//! fragment (`#/topics/orders`), so the server only ever serves these three files.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The page shell.
pub const INDEX_HTML: &str = include_str!("assets/index.html");
/// Styles.
pub const APP_CSS: &str = include_str!("assets/app.css");
/// The application.
pub const APP_JS: &str = include_str!("assets/app.js");

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

/// `GET /assets/app.css`
pub async fn css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

/// `GET /assets/app.js`
pub async fn js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
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
