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
    let document: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
    if let Some(path) = nul_character_at(&document, "") {
        return Err(ApiError::bad_request(format!(
            "request body field {path}: contains the character U+0000, which the broker \
             cannot store"
        )));
    }
    serde_path_to_error::deserialize(document).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::bad_request(format!("request body: {inner}"))
        } else {
            ApiError::bad_request(format!("request body field {path}: {inner}"))
        }
    })
}

/// Where a JSON document holds U+0000 (in a string or a key), as `a.b[2]`: valid JSON, but no
/// PostgreSQL `text` or `jsonb` can hold it, so such a document is refused before it is stored.
pub fn nul_character_at(value: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value;
    let field = |key: &str| {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    };
    match value {
        Value::String(text) if text.contains('\0') => Some(if at.is_empty() {
            ".".to_string()
        } else {
            at.to_string()
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_character_at(item, &format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(field(&key.replace('\0', "\\u0000")))
            } else {
                nul_character_at(item, &field(key))
            }
        }),
        _ => None,
    }
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
    fn the_nul_character_is_refused_naming_where_it_is() {
        let e = error(r#"{"service_id": "a\u0000b"}"#);
        assert!(
            e.contains("field service_id: contains the character U+0000"),
            "{e}"
        );
        let e = error(r#"{"service_id": "a", "nested": {"version": "1", "x": ["ok", "\u0000"]}}"#);
        assert!(e.contains("field nested.x[1]"), "{e}");
        let e = error(r#"{"service_id": "a", "k\u0000": 1}"#);
        assert!(e.contains("U+0000"), "{e}");
        // An escaped backslash followed by "u0000" is text, not the character.
        assert!(parse_json::<Body>(br#"{"service_id": "\\u0000"}"#).is_ok());
    }

    #[test]
    fn unknown_fields_are_ignored() {
        assert!(parse_json::<Body>(br#"{"service_id": "a", "extra": [1]}"#).is_ok());
    }
}
