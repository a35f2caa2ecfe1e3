//! OSB error responses: every failure, ours or axum's, becomes `{"error"?, "description"}` with the
//! status the OSB v2.17 spec assigns to it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pgbroker_domain::{BrokerError, Reason};
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
    /// Why, in the domain's vocabulary, for the `failures` metric; not sent to the platform.
    pub reason: Option<Reason>,
}

/// The reason of a failed request, left in the response's extensions for the observing layer
/// (which counts it); never part of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureReason(pub Reason);

impl ApiError {
    pub fn new(status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            status,
            error: None,
            description: description.into(),
            reason: None,
        }
    }

    pub fn coded(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error: Some(code),
            description: description.into(),
            reason: None,
        }
    }

    /// Malformed input: [`Reason::InvalidSpec`].
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self {
            reason: Some(Reason::InvalidSpec),
            ..Self::new(StatusCode::BAD_REQUEST, description)
        }
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
        if e.reason() == Reason::ForeignObject {
            let reason = e.reason();
            let mut error = Self::new(StatusCode::NOT_FOUND, e.into_detail().message);
            error.reason = Some(reason);
            return error;
        }
        e.into()
    }
}

impl From<BrokerError> for ApiError {
    fn from(e: BrokerError) -> Self {
        use StatusCode as S;
        // The reason is not part of the OSB wire format; the variant picks status and code, and
        // for a synchronous operation that failed, the reason says whether the request itself
        // was at fault (400, 422: the platform must not retry it as it is) or the broker (500).
        let status_and_code = match &e {
            BrokerError::BadRequest(_) => (S::BAD_REQUEST, None),
            BrokerError::NotFound(_) => (S::NOT_FOUND, None),
            BrokerError::Gone(_) => (S::GONE, None),
            BrokerError::Conflict(_) => (S::CONFLICT, None),
            BrokerError::Concurrency(_) => (S::UNPROCESSABLE_ENTITY, Some("ConcurrencyError")),
            BrokerError::AsyncRequired(_) => (S::UNPROCESSABLE_ENTITY, Some("AsyncRequired")),
            BrokerError::MaintenanceInfoConflict(_) => {
                (S::UNPROCESSABLE_ENTITY, Some("MaintenanceInfoConflict"))
            }
            BrokerError::Unprocessable(_) => (S::UNPROCESSABLE_ENTITY, None),
            // The operation goes on; the platform should repeat the request to see its result.
            BrokerError::Timeout(_) => (S::GATEWAY_TIMEOUT, Some("Timeout")),
            BrokerError::OperationFailed(d) => match d.reason {
                Reason::InvalidSpec => (S::BAD_REQUEST, Some("OperationFailed")),
                Reason::Unsupported => (S::UNPROCESSABLE_ENTITY, Some("OperationFailed")),
                _ => (S::INTERNAL_SERVER_ERROR, Some("OperationFailed")),
            },
            BrokerError::Unavailable(_) => (S::SERVICE_UNAVAILABLE, Some("Unavailable")),
        };
        let (status, error) = status_and_code;
        let detail = e.into_detail();
        Self {
            status,
            error,
            description: detail.message,
            reason: Some(detail.reason),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body())
            .unwrap_or_else(|_| br#"{"description":"the error could not be rendered"}"#.to_vec());
        let mut response = (self.status, body).into_response();
        if let Some(reason) = self.reason {
            response.extensions_mut().insert(FailureReason(reason));
        }
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
            (
                BrokerError::bad_request(Reason::InvalidSpec, "x"),
                400,
                None,
            ),
            (
                BrokerError::bad_request(Reason::Unsupported, "x"),
                400,
                None,
            ),
            (BrokerError::not_found("x"), 404, None),
            (BrokerError::gone("x"), 410, None),
            (BrokerError::conflict("x"), 409, None),
            (BrokerError::concurrency("x"), 422, Some("ConcurrencyError")),
            (BrokerError::async_required("x"), 422, Some("AsyncRequired")),
            (
                BrokerError::maintenance_info_conflict("x"),
                422,
                Some("MaintenanceInfoConflict"),
            ),
            (
                BrokerError::unprocessable(Reason::InvalidState, "x"),
                422,
                None,
            ),
            (BrokerError::timeout("x"), 504, Some("Timeout")),
            (
                BrokerError::operation_failed(Reason::QuotaExceeded, "x"),
                500,
                Some("OperationFailed"),
            ),
            (
                BrokerError::operation_failed(Reason::InvalidSpec, "x"),
                400,
                Some("OperationFailed"),
            ),
            (
                BrokerError::operation_failed(Reason::Unsupported, "x"),
                422,
                Some("OperationFailed"),
            ),
            (
                BrokerError::unavailable(Reason::StateStoreUnavailable, "x"),
                503,
                Some("Unavailable"),
            ),
        ];
        for (broker, status, code) in cases {
            let api = ApiError::from(broker.clone());
            assert_eq!(api.status.as_u16(), status, "{broker:?}");
            assert_eq!(api.error, code, "{broker:?}");
            assert_eq!(api.description, "x");
            assert_eq!(api.reason, Some(broker.reason()));
            // The wire format is the OSB one: no reason in the body.
            assert_eq!(
                serde_json::to_value(api.body()).unwrap(),
                match code {
                    Some(code) => serde_json::json!({"error": code, "description": "x"}),
                    None => serde_json::json!({"description": "x"}),
                }
            );
            let response = api.into_response();
            assert_eq!(
                response.extensions().get::<FailureReason>(),
                Some(&FailureReason(broker.reason()))
            );
        }
    }
}
