//! OSB error responses: every failure, ours or axum's, becomes `{"error"?, "description"}` with the
//! status the OSB v2.17 spec assigns to it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pgbroker_domain::BrokerError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A machine-readable code the spec defines (`AsyncRequired`, `ConcurrencyError`,
    /// `MaintenanceInfoConflict`, ...), absent when the status code says it all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What went wrong, for a person; names the offending field for bad input.
    pub description: String,
}

/// An error on its way to the platform.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: Option<&'static str>,
    pub description: String,
}

impl ApiError {
    pub fn new(status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            status,
            error: None,
            description: description.into(),
        }
    }

    pub fn coded(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error: Some(code),
            description: description.into(),
        }
    }

    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, description)
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.error.map(str::to_string),
            description: self.description.clone(),
        }
    }
}

impl ApiError {
    /// The error of a read (fetch, `last_operation`): an instance of the other front door is
    /// not the platform's, so it reads as unknown (404), the description saying whose it is.
    pub fn of_read(e: BrokerError) -> Self {
        match e {
            BrokerError::ForeignObject(d) => Self::new(StatusCode::NOT_FOUND, d),
            other => other.into(),
        }
    }
}

impl From<BrokerError> for ApiError {
    fn from(e: BrokerError) -> Self {
        use StatusCode as S;
        match e {
            BrokerError::BadRequest(d) => Self::new(S::BAD_REQUEST, d),
            BrokerError::NotFound(d) => Self::new(S::NOT_FOUND, d),
            BrokerError::Gone(d) => Self::new(S::GONE, d),
            BrokerError::Conflict(d) => Self::new(S::CONFLICT, d),
            BrokerError::Concurrency(d) => {
                Self::coded(S::UNPROCESSABLE_ENTITY, "ConcurrencyError", d)
            }
            BrokerError::AsyncRequired(d) => {
                Self::coded(S::UNPROCESSABLE_ENTITY, "AsyncRequired", d)
            }
            BrokerError::MaintenanceInfoConflict(d) => {
                Self::coded(S::UNPROCESSABLE_ENTITY, "MaintenanceInfoConflict", d)
            }
            BrokerError::Unprocessable(d) => Self::new(S::UNPROCESSABLE_ENTITY, d),
            // A change to the operator's instance: well formed, but not this door's to make.
            BrokerError::ForeignObject(d) => Self::new(S::UNPROCESSABLE_ENTITY, d),
            // The operation goes on; the platform should repeat the request to see its result.
            BrokerError::Timeout(d) => Self::coded(S::GATEWAY_TIMEOUT, "Timeout", d),
            BrokerError::OperationFailed(d) => {
                Self::coded(S::INTERNAL_SERVER_ERROR, "OperationFailed", d)
            }
            BrokerError::Unavailable(d) => Self::coded(S::SERVICE_UNAVAILABLE, "Unavailable", d),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body())
            .unwrap_or_else(|_| br#"{"description":"the error could not be rendered"}"#.to_vec());
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="pgbroker""#),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_errors_map_to_the_spec_table() {
        let cases = [
            (BrokerError::BadRequest("x".into()), 400, None),
            (BrokerError::NotFound("x".into()), 404, None),
            (BrokerError::Gone("x".into()), 410, None),
            (BrokerError::Conflict("x".into()), 409, None),
            (
                BrokerError::Concurrency("x".into()),
                422,
                Some("ConcurrencyError"),
            ),
            (
                BrokerError::AsyncRequired("x".into()),
                422,
                Some("AsyncRequired"),
            ),
            (
                BrokerError::MaintenanceInfoConflict("x".into()),
                422,
                Some("MaintenanceInfoConflict"),
            ),
            (BrokerError::Unprocessable("x".into()), 422, None),
            (BrokerError::ForeignObject("x".into()), 422, None),
            (BrokerError::Timeout("x".into()), 504, Some("Timeout")),
            (
                BrokerError::OperationFailed("x".into()),
                500,
                Some("OperationFailed"),
            ),
            (
                BrokerError::Unavailable("x".into()),
                503,
                Some("Unavailable"),
            ),
        ];
        for (broker, status, code) in cases {
            let api = ApiError::from(broker.clone());
            assert_eq!(api.status.as_u16(), status, "{broker:?}");
            assert_eq!(api.error, code, "{broker:?}");
            assert_eq!(api.description, "x");
        }
    }
}
