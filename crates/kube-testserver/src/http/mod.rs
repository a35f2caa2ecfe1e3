//! The HTTP front: one fallback handler that parses Kubernetes API paths, records the request,
//! authenticates and authorizes it in RBAC mode, applies injected faults and dispatches to the
//! store.

mod discovery;
mod escalation;
pub(crate) mod path;
mod resources;
mod scale;
mod watch;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::ApiError;
use crate::faults::Faults;
use crate::rbac::{self, Attributes, Rbac, ResourceAttributes, UserInfo};
use crate::requests::{RequestLog, RequestRecord};
use crate::store::Store;
use path::Target;

/// Everything a request handler needs.
pub(crate) struct Shared {
    pub store: Arc<Store>,
    pub faults: Arc<Faults>,
    pub log: Arc<RequestLog>,
    pub addr: SocketAddr,
    pub bookmark_interval: Duration,
    /// RBAC mode: every request needs a token, and the store's RBAC objects decide.
    pub rbac: Option<Arc<Rbac>>,
}

/// Request bodies up to 3 MiB, the API server's own limit (CRDs such as CNPG's Pooler are big).
const BODY_LIMIT: usize = 3 * 1024 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| serde_urlencoded_pairs(q).into_iter().collect())
        .unwrap_or_default();
    let target = path::parse(uri.path(), &shared.store.registry());
    let mut record = describe(&method, &uri, &target, &query);
    record.traceparent = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let attributes = attributes(&method, &uri, &target, &record, &query);
    let user = match check_access(&shared, &headers, &attributes) {
        Ok(user) => user,
        Err(error) => {
            record.status = error.code;
            shared.log.push(record);
            return error_response(&error);
        }
    };
    if let Some(status) = shared.faults.take(&record) {
        record.status = status;
        shared.log.push(record);
        return error_response(&injected(status));
    }
    let response = match &target {
        Target::Resource(t) => {
            let request = resources::Request {
                target: t,
                method: &method,
                query: &query,
                headers: &headers,
                body: &body,
                user: user.as_ref(),
                attributes: &attributes,
            };
            resources::serve(&shared, request)
        }
        other => discovery::serve(&shared, other, &headers),
    };
    record.status = response.status().as_u16();
    shared.log.push(record);
    response
}

fn describe(
    method: &Method,
    uri: &Uri,
    target: &Target,
    query: &HashMap<String, String>,
) -> RequestRecord {
    let mut record = RequestRecord {
        method: method.as_str().to_owned(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        verb: "get".into(),
        group: String::new(),
        version: String::new(),
        resource: String::new(),
        subresource: String::new(),
        namespace: String::new(),
        name: String::new(),
        status: 0,
        traceparent: None,
    };
    if let Target::Resource(t) = target {
        let watching = wants_watch(query);
        record.verb = match (method.as_str(), t.name.is_some()) {
            ("GET", true) => "get",
            ("GET", false) if watching => "watch",
            ("GET", false) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", true) => "delete",
            ("DELETE", false) => "deletecollection",
            _ => "unknown",
        }
        .into();
        record.group = t.gvr.group.clone();
        record.version = t.gvr.version.clone();
        record.resource = t.gvr.plural.clone();
        record.subresource = t.subresource.clone().unwrap_or_default();
        record.namespace = t.namespace.clone().unwrap_or_default();
        record.name = t.name.clone().unwrap_or_default();
    }
    record
}

/// Whether a collection GET is a watch, as the API server decodes `watch` (apimachinery
/// `runtime.Convert_Slice_string_To_bool`): present with any value but `0` or `false` (in any
/// case), the empty value included. The authorizer's verb and what is served both follow it.
pub(super) fn wants_watch(query: &HashMap<String, String>) -> bool {
    query
        .get("watch")
        .is_some_and(|w| w != "0" && !w.eq_ignore_ascii_case("false"))
}

/// In RBAC mode: the user of the request's bearer token (401 without one), allowed by RBAC to
/// do what it asks (403 otherwise). `None` outside RBAC mode.
fn check_access(
    shared: &Shared,
    headers: &HeaderMap,
    attributes: &Attributes,
) -> Result<Option<UserInfo>, ApiError> {
    let Some(rbac) = &shared.rbac else {
        return Ok(None);
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = rbac
        .tokens
        .authenticate(&shared.store, authorization)
        .ok_or_else(rbac::unauthorized)?;
    let decision = rbac.authorize(&shared.store, &user, attributes);
    if !decision.allowed {
        tracing::debug!(user = %user.name, verb = %attributes.verb, path = %attributes.path, "kube test server: RBAC refused a request");
        return Err(rbac::forbidden(&user, attributes, &decision.reason));
    }
    Ok(Some(user))
}

/// The request as the authorizer sees it (k8s.io/apiserver `RequestInfoFactory`): a request on a
/// Namespace carries that namespace, a list or watch with a `metadata.name=` field selector
/// carries that name, and a non-resource request has the lower-cased method as its verb.
fn attributes(
    method: &Method,
    uri: &Uri,
    target: &Target,
    record: &RequestRecord,
    query: &HashMap<String, String>,
) -> Attributes {
    let path = uri.path().to_owned();
    let Target::Resource(_) = target else {
        return Attributes {
            verb: method.as_str().to_lowercase(),
            resource: None,
            path,
        };
    };
    let namespace = if record.group.is_empty() && record.resource == "namespaces" {
        record.name.clone()
    } else {
        record.namespace.clone()
    };
    let name = match record.verb.as_str() {
        "list" | "watch" => query
            .get("fieldSelector")
            .and_then(|s| exact_name(s))
            .unwrap_or_default(),
        _ => record.name.clone(),
    };
    Attributes {
        verb: record.verb.clone(),
        resource: Some(ResourceAttributes {
            group: record.group.clone(),
            version: record.version.clone(),
            resource: record.resource.clone(),
            subresource: record.subresource.clone(),
            namespace,
            name,
        }),
        path,
    }
}

/// The name a field selector requires exactly (`metadata.name=x` or `metadata.name==x`).
fn exact_name(selector: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let value = term
            .trim()
            .strip_prefix("metadata.name")?
            .trim_start()
            .strip_prefix('=')?;
        let value = value.strip_prefix('=').unwrap_or(value).trim();
        (!value.is_empty()).then(|| value.to_owned())
    })
}

fn injected(status: u16) -> ApiError {
    let reason = match status {
        409 => "Conflict",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    };
    ApiError::new(
        status,
        reason,
        format!("injected fault: {reason} ({status})"),
    )
}

pub(crate) fn json_response(status: u16, value: &Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (code, value.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub(crate) fn error_response(error: &ApiError) -> Response {
    let mut response = json_response(error.code, &error.to_status());
    if error.code == 429 {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("0"));
    }
    response
}

pub(crate) fn stream_response(body: Body) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `a=b&c=d%20e` decoded (later duplicates win).
fn serde_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let pairs = serde_urlencoded_pairs("labelSelector=a%3Db%2Cc+in+%28x%29&watch=true&x");
        assert_eq!(pairs[0], ("labelSelector".into(), "a=b,c in (x)".into()));
        assert_eq!(pairs[1], ("watch".into(), "true".into()));
        assert_eq!(pairs[2], ("x".into(), String::new()));
    }
}
