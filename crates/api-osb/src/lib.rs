//! The Open Service Broker API v2.17 front door: thin axum handlers that parse requests, call the
//! domain's [`Broker`] and map its results to the statuses and bodies the spec prescribes.
//!
//! [`router`] builds the whole HTTP surface: the `/v2` routes behind authentication and the
//! API-version check, `/healthz`, `/readyz`, `/metrics`, `/openapi.json` and the `/docs` page.

pub mod auth;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod headers;
pub mod health;
pub mod observe;
pub mod openapi;
pub mod schemas;
pub mod wire;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pgbroker_domain::Broker;
use prometheus::Registry;
use utoipa_scalar::{Scalar, Servable};

pub use auth::{Auth, AuthError, BasicUser};
pub use error::{ApiError, ErrorBody, FailureReason};
pub use observe::{HttpMetrics, OnFailure, OnRequestSpan};
pub use openapi::{ApiDoc, openapi_document, openapi_json};
pub use schemas::JsonSchemaParameters;

use handlers::{OsbState, bindings, catalog, instances, last_operation};

/// Default largest request body: OSB bodies are small; parameters of a few KiB at most.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

/// How the HTTP surface behaves.
pub struct ApiConfig {
    pub auth: Auth,
    /// Largest request body in bytes; larger ones get 413.
    pub body_limit: usize,
    /// Registry that `/metrics` serves; request metrics are registered in it.
    pub metrics: Registry,
    /// Serve the OSB routes (`/v2/...`); without them only probes, metrics and the API document
    /// are served (a process that runs only the Kubernetes operator).
    pub osb: bool,
    /// What else `/readyz` reports besides the state store and the backends.
    pub readiness: Vec<std::sync::Arc<dyn health::ReadinessCheck>>,
    /// Told the reason of each request that fails with one (see [`OnFailure`]).
    pub on_failure: Option<OnFailure>,
    /// Called with each request's span (see [`OnRequestSpan`]).
    pub on_request_span: Option<OnRequestSpan>,
}

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error("rendering the catalog response")]
    Catalog(#[source] serde_json::Error),
    #[error("registering the HTTP metrics")]
    Metrics(#[source] prometheus::Error),
}

/// The broker's whole HTTP surface.
pub fn router(broker: Arc<Broker>, config: ApiConfig) -> Result<Router, RouterError> {
    let state = OsbState {
        catalog_json: catalog::render(broker.catalog()).map_err(RouterError::Catalog)?,
        broker: broker.clone(),
    };
    let http_metrics = Arc::new(
        HttpMetrics::new(&config.metrics)
            .map_err(RouterError::Metrics)?
            .with_on_failure(config.on_failure),
    );
    let v2 = Router::new()
        .route("/v2/catalog", get(catalog::get_catalog))
        .route(
            "/v2/service_instances/{instance_id}",
            get(instances::get_instance)
                .put(instances::provision)
                .patch(instances::update)
                .delete(instances::deprovision),
        )
        .route(
            "/v2/service_instances/{instance_id}/last_operation",
            get(last_operation::instance_last_operation),
        )
        .route(
            "/v2/service_instances/{instance_id}/service_bindings/{binding_id}",
            get(bindings::get_binding)
                .put(bindings::bind)
                .delete(bindings::unbind),
        )
        .route(
            "/v2/service_instances/{instance_id}/service_bindings/{binding_id}/last_operation",
            get(last_operation::binding_last_operation),
        )
        .with_state(state)
        .route_layer(auth::GateLayer::new(config.auth))
        .layer(DefaultBodyLimit::max(config.body_limit));
    let v2 = if config.osb { v2 } else { Router::new() };
    let probes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(health::ReadyState {
            broker,
            extra: config.readiness.into(),
        })
        .route("/metrics", get(health::metrics).with_state(config.metrics))
        .route("/openapi.json", get(serve_openapi_document));
    Ok(v2
        .merge(probes)
        .merge(Scalar::with_url("/docs", openapi_document()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(observe::ObserveLayer::new(Some(http_metrics)).with_on_span(config.on_request_span)))
}

async fn serve_openapi_document() -> Response {
    let mut response = openapi_json().into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    response
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no route {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} is not allowed on {}", method, uri.path()),
    )
}
