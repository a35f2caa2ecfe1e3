//! `/healthz` (the process answers), `/readyz` (the state store and every backend can be
//! reached, each check reported) and `/metrics` (Prometheus text).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pgbroker_domain::Broker;
use prometheus::{Encoder, Registry, TextEncoder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::handlers::json;

/// How long one readiness check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not ready`.
    pub status: String,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Check {
    /// `state_store` or `backend:<name>`.
    pub name: String,
    pub ok: bool,
    /// Why the check failed (no secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Response {
    json(
        StatusCode::OK,
        &Health {
            status: "ok".into(),
        },
    )
}

async fn timed(check: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {}s", CHECK_TIMEOUT.as_secs())),
    }
}

/// A readiness check beyond the state store and the backends: the operator's watches, say.
/// Cheap and synchronous: it reports state something else keeps up to date.
pub trait ReadinessCheck: Send + Sync {
    /// The check's name in the `/readyz` body, e.g. `operator`.
    fn name(&self) -> String;
    /// Why it is not ready (no secrets).
    fn check(&self) -> Result<(), String>;
}

#[derive(Clone)]
pub struct ReadyState {
    pub broker: Arc<Broker>,
    pub extra: Arc<[Arc<dyn ReadinessCheck>]>,
}

/// The state store, every configured backend and every extra check answer.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready; the failed checks say why", body = Readiness),
    ))]
pub async fn readyz(State(ready): State<ReadyState>) -> Response {
    let core = ready.broker.core();
    let store = timed(async { core.store.ping().await.map_err(|e| e.to_string()) });
    let backends = futures::future::join_all(core.backends.iter().map(|(name, backend)| {
        let name = name.clone();
        let backend = backend.clone();
        async move {
            let check = async { backend.check().await.map_err(|e| e.message) };
            (format!("backend:{name}"), timed(check).await)
        }
    }));
    let (store, backends) = tokio::join!(store, backends);
    let checks: Vec<Check> = std::iter::once(("state_store".to_string(), store))
        .chain(backends)
        .chain(ready.extra.iter().map(|c| (c.name(), c.check())))
        .map(|(name, result)| Check {
            name,
            ok: result.is_ok(),
            error: result.err(),
        })
        .collect();
    let ready = checks.iter().all(|c| c.ok);
    json(
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &Readiness {
            status: if ready { "ready" } else { "not ready" }.into(),
            checks,
        },
    )
}

/// Prometheus metrics in the text format.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
pub async fn metrics(State(registry): State<Registry>) -> Response {
    let mut buffer = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&registry.gather(), &mut buffer) {
        return crate::error::ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics failed: {e}"),
        )
        .into_response();
    }
    let mut response = buffer.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}
