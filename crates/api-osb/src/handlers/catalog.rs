//! `GET /v2/catalog`.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::OsbState;
use crate::error::ErrorBody;
use crate::wire::catalog::CatalogResponse;

/// The services and plans this broker offers.
#[utoipa::path(
    get,
    path = "/v2/catalog",
    operation_id = "get_catalog",
    tag = "catalog",
    responses(
        (status = 200, description = "The catalog", body = CatalogResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 412, description = "Unsupported X-Broker-API-Version", body = ErrorBody),
    )
)]
pub async fn get_catalog(State(state): State<OsbState>) -> Response {
    let mut response = state.catalog_json.clone().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Renders the catalog response once, when the router is built.
pub fn render(catalog: &pgbroker_domain::Catalog) -> Result<axum::body::Bytes, serde_json::Error> {
    serde_json::to_vec(&CatalogResponse::from(catalog)).map(Into::into)
}
