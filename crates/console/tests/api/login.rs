//! The console's login throttle: repeated wrong logins for one name lock it briefly.

use crate::harness::start;
use moldau_console::login_throttle::LOGIN_FAILURES_FREE;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_logins_lock_the_name() {
    let c = start(&[
        ("console.auth.enabled", "true"),
        ("console.auth.token", "right-token"),
    ])
    .await;
    for _ in 1..LOGIN_FAILURES_FREE {
        let r = c
            .json("POST", "/api/v1/login", json!({ "token": "wrong" }))
            .await;
        assert_eq!(r.status, 401, "{}", r.text());
    }
    let r = c
        .json("POST", "/api/v1/login", json!({ "token": "wrong" }))
        .await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.error(), "login_locked");
    let retry_after: u64 = r
        .header("retry-after")
        .and_then(|s| s.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1, "{retry_after}");
}
