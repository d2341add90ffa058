//! HTTP routes: health (`/healthz`: the process serves), readiness (`/readyz`: the store
//! answers and the node is not draining), metrics (`/metrics`) and the WebSocket endpoint
//! (`/v1/ws`).

use crate::gateway;
use crate::state::App;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use std::sync::Arc;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/ws", get(gateway::upgrade))
        .route("/", get(index))
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

async fn index() -> &'static str {
    "chapar: connect a client to /v1/ws (see docs/protocol.md)\n"
}
