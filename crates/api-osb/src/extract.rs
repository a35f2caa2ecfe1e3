//! Request parsing that answers with OSB error bodies naming the offending field, in place of
//! axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body. Unknown fields are ignored (serde's default); a wrong content type is
/// 415, a body over the limit 413, anything unparseable 400 with the path of the bad field.
pub struct OsbJson<T>(pub T);

impl<T, S> FromRequest<S> for OsbJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
            let json = content_type
                .to_str()
                .ok()
                .and_then(|v| v.split(';').next())
                .map(|v| {
                    let v = v.trim().to_ascii_lowercase();
                    v == "application/json"
                        || (v.starts_with("application/") && v.ends_with("+json"))
                })
                .unwrap_or(false);
            if !json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "request body: Content-Type must be application/json",
                ));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(status, "request body is larger than the broker accepts")
            } else {
                ApiError::new(status, format!("request body: {}", rejection.body_text()))
            }
        })?;
        parse_json(&bytes).map(OsbJson)
    }
}

/// Parses a JSON document, naming the field that is wrong or missing.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body: a JSON object is required",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("request body is not valid JSON: {inner}"))
        } else if path == "." {
            ApiError::bad_request(format!("request body: {inner}"))
        } else {
            ApiError::bad_request(format!("request body field {path}: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
    Ok(value)
}

/// Query parameters, with errors naming the parameter.
pub struct OsbQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for OsbQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(OsbQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path == "." {
                    ApiError::bad_request(format!("query: {inner}"))
                } else {
                    ApiError::bad_request(format!("query parameter {path}: {inner}"))
                }
            })
    }
}

/// Path parameters, with rejections as OSB error bodies.
pub struct OsbPath<T>(pub T);

impl<T, S> FromRequestParts<S> for OsbPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| OsbPath(value))
            .map_err(|rejection| {
                ApiError::new(
                    rejection.status(),
                    format!("path: {}", rejection.body_text()),
                )
            })
    }
}

/// Parses a path segment into an id type, naming the segment on error.
pub fn path_id<T, E>(what: &str, raw: String) -> Result<T, ApiError>
where
    T: std::str::FromStr<Err = E>,
    E: std::fmt::Display,
{
    raw.parse()
        .map_err(|e| ApiError::bad_request(format!("{what} in the path: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[allow(dead_code)]
        service_id: String,
        #[allow(dead_code)]
        nested: Option<Nested>,
    }

    #[derive(Debug, Deserialize)]
    struct Nested {
        #[allow(dead_code)]
        version: String,
    }

    fn error(body: &str) -> String {
        parse_json::<Body>(body.as_bytes())
            .err()
            .map(|e| e.description)
            .unwrap_or_default()
    }

    #[test]
    fn errors_name_the_field() {
        assert!(
            error("{}").contains("missing field `service_id`"),
            "{}",
            error("{}")
        );
        let e = error(r#"{"service_id": 5}"#);
        assert!(e.contains("field service_id"), "{e}");
        let e = error(r#"{"service_id": "a", "nested": {"version": 1}}"#);
        assert!(e.contains("field nested.version"), "{e}");
        assert!(error("{").contains("not valid JSON"));
        assert!(error("").contains("JSON object is required"));
        assert!(error(r#"{"service_id": "a"} x"#).contains("not valid JSON"));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        assert!(parse_json::<Body>(br#"{"service_id": "a", "extra": [1]}"#).is_ok());
    }
}
