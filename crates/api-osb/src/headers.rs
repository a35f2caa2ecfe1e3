//! The OSB headers: `X-Broker-API-Version` (required, at least 2.13), `X-Broker-API-Request-Identity`
//! (echoed, and in every log line of the request) and `X-Broker-API-Originating-Identity`
//! (parsed and recorded with the operation for audit).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::ApiError;

pub const API_VERSION: HeaderName = HeaderName::from_static("x-broker-api-version");
pub const REQUEST_IDENTITY: HeaderName = HeaderName::from_static("x-broker-api-request-identity");
pub const ORIGINATING_IDENTITY: HeaderName =
    HeaderName::from_static("x-broker-api-originating-identity");

/// Oldest API version served: 2.13 introduced what the broker relies on (maintenance_info,
/// context everywhere).
pub const MIN_VERSION: (u32, u32) = (2, 13);
/// The version this broker implements.
pub const VERSION: &str = "2.17";

/// `major.minor` of an `X-Broker-API-Version` value: decimal numbers of at most nine digits
/// without sign or leading zeros, so that what is served is exactly what the OpenAPI document's
/// pattern ([`crate::openapi::API_VERSION_PATTERN`]) says.
pub fn parse_version(raw: &str) -> Option<(u32, u32)> {
    let number = |part: &str| {
        let digits =
            !part.is_empty() && part.len() <= 9 && part.bytes().all(|b| b.is_ascii_digit());
        let leading_zero = part.len() > 1 && part.starts_with('0');
        if digits && !leading_zero {
            part.parse().ok()
        } else {
            None
        }
    };
    let (major, minor) = raw.trim().split_once('.')?;
    Some((number(major)?, number(minor)?))
}

/// Why a request's `X-Broker-API-Version` is not served (412), or `None` when it is.
pub fn version_problem(headers: &axum::http::HeaderMap) -> Option<String> {
    let raw = headers.get(API_VERSION).map(|v| v.to_str());
    match raw {
        None => Some(format!(
            "the X-Broker-API-Version header is required (this broker implements {VERSION})"
        )),
        Some(Err(_)) => Some("X-Broker-API-Version is not valid text".to_string()),
        Some(Ok(value)) => match parse_version(value) {
            None => Some(format!(
                "X-Broker-API-Version {value:?} is not a version (expected major.minor, e.g. {VERSION})"
            )),
            Some((major, minor)) if major != MIN_VERSION.0 || minor < MIN_VERSION.1 => {
                Some(format!(
                    "X-Broker-API-Version {value} is not supported: this broker serves 2.{}..={VERSION}",
                    MIN_VERSION.1
                ))
            }
            Some(_) => None,
        },
    }
}

static NEXT_IDENTITY: AtomicU64 = AtomicU64::new(1);

/// The request identity of a request: the platform's `X-Broker-API-Request-Identity`, or a
/// number made up for the logs. Written out only when a log line is.
pub enum RequestIdentity {
    Platform(HeaderValue),
    Local(u64),
}

impl RequestIdentity {
    pub fn of(req: &Request) -> Self {
        match req.headers().get(REQUEST_IDENTITY) {
            Some(value) if !value.is_empty() && value.to_str().is_ok() => {
                Self::Platform(value.clone())
            }
            // A counter, not a random UUID: this runs on every request and only has to tell
            // this process's requests apart in its logs.
            _ => Self::Local(NEXT_IDENTITY.fetch_add(1, Ordering::Relaxed)),
        }
    }
}

impl fmt::Display for RequestIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // At most 128 characters of it in a log line.
            Self::Platform(value) => {
                let text = value.to_str().unwrap_or_default();
                let end = text
                    .char_indices()
                    .nth(128)
                    .map_or(text.len(), |(at, _)| at);
                f.write_str(&text[..end])
            }
            Self::Local(n) => write!(f, "pgbroker-{n}"),
        }
    }
}

/// `X-Broker-API-Originating-Identity`, as recorded for audit: `{"platform": .., "value": {..}}`.
pub struct OriginatingIdentity(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for OriginatingIdentity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(raw) = parts.headers.get(ORIGINATING_IDENTITY) else {
            return Ok(Self(None));
        };
        let bad = |why: &str| {
            ApiError::bad_request(format!(
                "X-Broker-API-Originating-Identity: {why} (expected \"<platform> <base64 of a JSON object>\")"
            ))
        };
        let raw = raw.to_str().map_err(|_| bad("not valid text"))?;
        let (platform, encoded) = raw
            .trim()
            .split_once(' ')
            .ok_or_else(|| bad("no space between platform and value"))?;
        if platform.is_empty() {
            return Err(bad("the platform is empty"));
        }
        let decoded = STANDARD
            .decode(encoded.trim())
            .map_err(|_| bad("the value is not base64"))?;
        let value: serde_json::Value =
            serde_json::from_slice(&decoded).map_err(|_| bad("the value is not JSON"))?;
        if !value.is_object() {
            return Err(bad("the value is not a JSON object"));
        }
        if crate::extract::nul_character_at(&value, "").is_some() {
            return Err(bad(
                "it contains the character U+0000, which the broker cannot store",
            ));
        }
        let record = serde_json::json!({"platform": platform, "value": value});
        Ok(Self(Some(record.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("2.17"), Some((2, 17)));
        assert_eq!(parse_version(" 2.13 "), Some((2, 13)));
        assert_eq!(parse_version("2"), None);
        assert_eq!(parse_version("two.x"), None);
        for refused in [
            "+2.17",
            "2.+17",
            "2.017",
            "02.17",
            "2.17.1",
            "2.",
            ".17",
            "2.1234567890",
        ] {
            assert_eq!(parse_version(refused), None, "{refused}");
        }
    }
}
