//! moldau-console: the web console built into the broker (see DESIGN.md).
//!
//! One HTTP listener in the broker process serves
//! - the UI: `/` plus two embedded assets, hand-written HTML, CSS and JS;
//! - the JSON API under `/api/v1/` that the UI uses and scripts may use too
//!   (documented in `docs/console-api.md`);
//! - `/metrics` in Prometheus text format.
//!
//! It talks to the in-process [`Broker`] directly: metadata image, hosted partition
//! logs, the controller methods for changes, and the group coordinator through the
//! same requests a Kafka admin client sends. Every change needs an explicit
//! confirmation in the request, and the guard in [`guard`] keeps other web pages from
//! driving the console through the operator's browser.

pub mod acls_api;
pub mod assets;
pub mod broker_configs_api;
pub mod browse;
pub mod caller;
pub mod cluster_api;
pub mod config_changes;
pub mod console;
pub mod consumer_group_view;
pub mod error;
pub mod extract;
pub mod group_admin;
pub mod groups_api;
pub mod guard;
pub mod hanging_transactions;
pub mod history;
pub mod json_layout;
pub mod json_path;
pub mod lag;
pub mod login;
pub mod login_throttle;
pub mod metrics_filter;
pub mod offsets_log;
pub mod prometheus;
pub mod reader;
pub mod reassignments_api;
pub mod records_api;
pub mod render;
pub mod replication_metrics;
pub mod topics_api;
pub mod transactions_api;
pub mod users_api;

pub use console::Console;
pub use error::ApiError;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use moldau_broker::Broker;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Largest request body, in bytes: a produced record of Kafka's default
/// `max.message.bytes` (1 MiB) still fits after JSON escaping.
pub const REQUEST_BODY_BYTES_MAX: usize = 4 << 20;
/// After shutdown is signalled, how long open HTTP requests may take to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The console's routes over `console`.
pub fn router(console: Arc<Console>) -> Router {
    let api = Router::new()
        .route("/cluster", get(cluster_api::overview))
        .route("/cluster/throughput", get(cluster_api::throughput))
        .route("/brokers", get(cluster_api::list))
        .route("/reassignments", get(reassignments_api::list))
        .route(
            "/broker-configs",
            get(broker_configs_api::list).patch(broker_configs_api::alter),
        )
        .route("/topics", get(topics_api::list).post(topics_api::create))
        .route(
            "/topics/{name}",
            get(topics_api::detail).delete(topics_api::delete),
        )
        .route(
            "/topics/{name}/configs",
            axum::routing::patch(topics_api::alter_configs),
        )
        .route(
            "/topics/{name}/partitions",
            post(topics_api::add_partitions),
        )
        .route(
            "/topics/{name}/records",
            get(records_api::list).post(records_api::produce),
        )
        .route(
            "/topics/{name}/partitions/{partition}/delete-records",
            post(records_api::delete_records),
        )
        .route(
            "/topics/{name}/partitions/{partition}/records/{offset}/{part}",
            get(records_api::download),
        )
        .route("/login", post(login::login))
        .route("/logout", post(login::logout))
        .route("/session", get(login::session))
        .route("/groups", get(groups_api::list))
        .route("/transactions", get(transactions_api::list))
        .route("/transactions/hanging", get(hanging_transactions::list))
        .route("/transactions/abort", post(hanging_transactions::abort))
        .route("/users", get(users_api::list))
        .route("/acls", get(acls_api::list))
        .route(
            "/groups/{id}",
            get(groups_api::detail).delete(groups_api::delete),
        )
        .route("/groups/{id}/offsets-log", get(offsets_log::offsets_log))
        .route(
            "/groups/{id}/offsets/reset",
            post(groups_api::reset_offsets),
        );
    Router::new()
        .route("/", get(assets::index))
        .route("/login", get(assets::login_page))
        .route("/assets/{file}", get(assets::file))
        .route("/metrics", get(prometheus::metrics))
        .nest("/api/v1", api)
        .fallback(assets::not_found)
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&console),
            guard::guard,
        ))
        .with_state(console)
}

/// Serves the console on `listener` until `shutdown` turns true. The caller binds
/// the listener (and prints its address); this also runs the sampler that keeps the
/// throughput and lag charts.
pub async fn serve(broker: Arc<Broker>, listener: TcpListener, shutdown: watch::Receiver<bool>) {
    let loopback_only = listener
        .local_addr()
        .map(|a| a.ip().is_loopback())
        .unwrap_or(true);
    let backend = moldau_broker::console_backend::ConsoleBackend::new(broker);
    let console = Arc::new(Console::new(backend, loopback_only));
    let sampler = tokio::spawn(Arc::clone(&console).run_sampler(shutdown.clone()));
    let app = router(console);
    let mut stop = shutdown.clone();
    let stopped = async move {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                return;
            }
        }
    };
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(stopped);
    let mut after = shutdown;
    let grace = async move {
        while !*after.borrow() {
            if after.changed().await.is_err() {
                break;
            }
        }
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        result = server => {
            if let Err(e) = result {
                tracing::error!("web console stopped: {e}");
            }
        }
        _ = grace => tracing::debug!("web console: open requests cut off at shutdown"),
    }
    sampler.abort();
}
