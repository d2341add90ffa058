//! HTTP routes: health (`/healthz`: the process serves), readiness (`/readyz`: the store
//! answers and the node is not draining), the WebSocket endpoint (`/v1/ws`), and the web client
//! (`/` and its embedded files, see [`crate::web`]) as the fallback for every other path.
//! Metrics (`/metrics`) are served only on their own listener (`metrics.listen`, off by
//! default): they tell anyone who can read them how busy the node is and how it is limited.

use crate::state::App;
use crate::{gateway, web};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use std::sync::Arc;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/v1/ws", get(gateway::upgrade))
        .merge(crate::botapi::routes())
        .merge(crate::service::routes())
        .route("/", get(web::index))
        .fallback(web::asset)
        .with_state(app)
}

/// The router of the metrics listener: `/metrics` and nothing else.
pub fn metrics_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(app)
}

async fn metrics(State(app): State<Arc<App>>) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::metrics::render(&app),
    )
}

async fn ready(State(app): State<Arc<App>>) -> (StatusCode, &'static str) {
    if app.registry.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n");
    }
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n"),
    }
}
