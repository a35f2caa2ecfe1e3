//! Thin handlers: parse the request, call a use case of the [`Broker`], map the result.

pub mod bindings;
pub mod catalog;
pub mod instances;
pub mod last_operation;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pgbroker_domain::{Broker, OperationId, Outcome};
use serde::Serialize;

use crate::error::ApiError;

/// What the handlers share.
#[derive(Clone)]
pub struct OsbState {
    pub broker: Arc<Broker>,
    /// `GET /v2/catalog`, rendered once: the catalog does not change while the broker runs.
    pub catalog_json: Bytes,
}

/// A JSON response with a status.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut response = (status, bytes).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rendering the response failed: {e}"),
        )
        .into_response(),
    }
}

/// How a mutation ended, in OSB statuses: 201 when the request made something new, 200 when it
/// was already done (or, with `never_creates`, for updates and removals), 202 with the operation
/// id when it is under way.
pub(crate) fn outcome_response<T, B: Serialize>(
    outcome: Outcome<T>,
    never_creates: bool,
    done: impl FnOnce(T) -> B,
    accepted: impl FnOnce(String) -> B,
) -> Response {
    match outcome {
        Outcome::Done { value, created } => {
            let status = if created && !never_creates {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            json(status, &done(value))
        }
        Outcome::Accepted { operation } => {
            json(StatusCode::ACCEPTED, &accepted(operation.to_string()))
        }
    }
}

/// The `operation` query value: this broker only hands out UUIDs in their hyphenated form (36
/// characters), and accepts only those, as the OpenAPI document says.
pub(crate) fn operation_id(raw: Option<&str>) -> Result<Option<OperationId>, ApiError> {
    raw.map(|raw| {
        if raw.len() != 36 {
            return Err(ApiError::bad_request(format!(
                "query parameter operation: {:?} is not an operation of this broker (a UUID \
                 such as 67e55044-10b1-426f-9247-bb680e5fe0c8)",
                raw.chars().take(40).collect::<String>()
            )));
        }
        raw.parse()
            .map_err(|e| ApiError::bad_request(format!("query parameter operation: {e}")))
    })
    .transpose()
}

/// `Retry-After` in whole seconds, at least one.
pub(crate) fn retry_after(response: &mut Response, after: Option<Duration>) {
    if let Some(after) = after {
        let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
}
