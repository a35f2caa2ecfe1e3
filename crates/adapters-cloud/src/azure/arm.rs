//! ARM's REST API for the calls the backend makes, by hand over `reqwest` (no maintained crate
//! covers the flexible-server management plane): the api-versions in one place, the bearer
//! token on every call, ARM's error body read into an [`AzureError`], and the headers that
//! follow a long-running operation (`Azure-AsyncOperation`, `Location`, `Retry-After`).

use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;

use super::error::AzureError;
use super::token::Tokens;
use pgbroker_domain::Reason;

/// `Microsoft.DBforPostgreSQL/flexibleServers` and its sub-resources (the current stable one).
pub const FLEXIBLE_API_VERSION: &str = "2024-08-01";
/// `Microsoft.Authorization/locks`.
pub const LOCKS_API_VERSION: &str = "2020-05-01";

/// One answer of ARM's.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// Where to follow a long-running operation, if ARM started one.
    pub operation: Option<Tracked>,
    pub retry_after: Option<Duration>,
}

/// A long-running operation's status URL: `Azure-AsyncOperation` (a status body) is preferred;
/// `Location` (202 until done) otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracked {
    AsyncOperation(String),
    Location(String),
}

pub struct Arm {
    pub(crate) http: reqwest::Client,
    base: String,
    tokens: Tokens,
}

/// The HTTP client for ARM and Entra ID: rustls on ring (the tree's provider) with the webpki
/// roots, set on the client itself so nothing depends on a process-wide default.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// `Retry-After` in seconds (the form ARM sends), capped at `max`.
fn retry_after(headers: &HeaderMap, max: Duration) -> Option<Duration> {
    let secs = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(Duration::from_secs(secs).min(max))
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

impl Arm {
    pub fn new(base: &str, http: reqwest::Client, tokens: Tokens) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            tokens,
        }
    }

    /// Sends `method` to `path` (a resource id, or an absolute URL ARM handed out) with
    /// `api_version` (none for an absolute URL, which carries its own). A 4xx or 5xx is an
    /// error with ARM's code and message, except 404 on a GET or DELETE, which is an answer.
    pub async fn call(
        &self,
        doing: &str,
        method: Method,
        path: &str,
        api_version: Option<&str>,
        body: Option<&Value>,
        max_wait: Duration,
    ) -> Result<Answer, AzureError> {
        let token = self.tokens.token().await?;
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(token.expose())
            .header("x-ms-client-request-id", uuid::Uuid::new_v4().to_string());
        if let Some(v) = api_version {
            request = request.query(&[("api-version", v)]);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            AzureError::retryable(
                Reason::BackendUnavailable,
                format!("{doing}: {}", e.without_url()),
            )
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(|e| {
            AzureError::retryable(
                Reason::BackendUnavailable,
                format!("{doing}: reading the answer: {}", e.without_url()),
            )
        })?;
        let body: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        let wait = retry_after(&headers, max_wait);
        if status >= 400 && !(status == 404 && matches!(method, Method::GET | Method::DELETE)) {
            let error = body.get("error").unwrap_or(&body);
            let field = |k| error.get(k).and_then(Value::as_str).unwrap_or("");
            let code = match field("code") {
                "" => "(no code)",
                code => code,
            };
            let message = match field("message") {
                "" => "(no message)",
                message => message,
            };
            return Err(AzureError::from_response(
                doing, status, code, message, wait,
            ));
        }
        let operation = header(&headers, "azure-asyncoperation")
            .map(Tracked::AsyncOperation)
            .or_else(|| {
                matches!(status, 201 | 202)
                    .then(|| header(&headers, "location"))
                    .flatten()
                    .map(Tracked::Location)
            });
        Ok(Answer {
            status,
            body,
            operation,
            retry_after: wait,
        })
    }
}
