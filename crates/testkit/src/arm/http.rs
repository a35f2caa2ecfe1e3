//! The one axum handler: ARM's front-door checks in ARM's order (token, faults, api-version,
//! subscription and resource group), routing, the common response headers, the record.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::Value;

use super::children::{self, Kind};
use super::reply::{Refusal, Reply};
use super::route::{Route, parse};
use super::state::State;
use super::{
    FLEXIBLE_API_VERSION, LOCKS_API_VERSION, RESOURCE_GROUP, Recorded, SUBSCRIPTION, locks,
    operations, servers, token,
};

pub(crate) type Shared = Arc<Mutex<State>>;

pub(crate) async fn handle(
    AxumState(shared): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = uri.path().to_owned();
    let query = token::form_decode(uri.query().unwrap_or_default());
    let api_version = query.get("api-version").cloned();
    let route = parse(&path);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();

    let is_token = matches!(route, Route::Token { .. });
    let (parsed, recorded_body) = parse_body(is_token, &content_type, &body);
    let outcome = match parsed {
        Err(refusal) => Err(refusal),
        Ok(json) => {
            let ctx = Ctx {
                method: &method,
                path: &path,
                api_version: api_version.as_deref(),
                body: json.as_ref(),
            };
            serve(
                &mut st,
                &route,
                &ctx,
                header("authorization").as_deref(),
                &content_type,
                &body,
            )
        }
    };
    let (reply, why) = match outcome {
        Ok(reply) => (reply, None),
        Err(refusal) => {
            let why = refusal
                .violation
                .then(|| format!("{method} {path}: {}", refusal.why));
            (refusal.into_reply(), why)
        }
    };
    if let Some(why) = why {
        st.violations.push(why);
    }

    let mut response = Response::new(match &reply.body {
        Some(json) => Body::from(json.to_string()),
        None => Body::empty(),
    });
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let out = response.headers_mut();
    let mut put = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::try_from(name),
            HeaderValue::from_str(value),
        ) {
            out.insert(n, v);
        }
    };
    if reply.body.is_some() {
        put("content-type", "application/json; charset=utf-8");
    }
    for (name, value) in &reply.headers {
        put(name, value);
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    put("x-ms-request-id", &request_id);
    let correlation =
        header("x-ms-correlation-request-id").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    put("x-ms-correlation-request-id", &correlation);
    if !is_token {
        // ARM's per-subscription budgets, counted down per request kind.
        if method == Method::GET || method == Method::HEAD {
            st.reads_left = st.reads_left.saturating_sub(1);
            put(
                "x-ms-ratelimit-remaining-subscription-reads",
                &st.reads_left.to_string(),
            );
        } else {
            st.writes_left = st.writes_left.saturating_sub(1);
            put(
                "x-ms-ratelimit-remaining-subscription-writes",
                &st.writes_left.to_string(),
            );
        }
    }

    let recorded_headers: BTreeMap<String, String> = headers
        .iter()
        .map(|(name, value)| {
            let value = if name.as_str() == "authorization" {
                "Bearer [redacted]".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), value)
        })
        .collect();
    st.requests.push(Recorded {
        method: method.to_string(),
        path,
        api_version,
        status: reply.status,
        body: recorded_body,
        headers: recorded_headers,
    });
    response
}

pub(crate) struct Ctx<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub api_version: Option<&'a str>,
    pub body: Option<&'a Value>,
}

/// The JSON body (or the token request's form, as a JSON object) and the redacted copy to record.
fn parse_body(
    is_token: bool,
    content_type: &str,
    body: &Bytes,
) -> (Result<Option<Value>, Refusal>, Option<Value>) {
    if body.is_empty() {
        return (Ok(None), None);
    }
    let text = String::from_utf8_lossy(body);
    if is_token {
        let mut form: serde_json::Map<String, Value> = token::form_decode(&text)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        if form.contains_key("client_secret") {
            form.insert(
                "client_secret".to_owned(),
                Value::String("[redacted]".to_owned()),
            );
        }
        return (Ok(None), Some(Value::Object(form)));
    }
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let recorded = json.clone().map(redact);
    if !content_type.starts_with("application/json") {
        let refusal = Refusal::rule(
            415,
            "UnsupportedMediaType",
            format!(
                "The content media type '{content_type}' is not supported. Only 'application/json' is supported."
            ),
        );
        return (Err(refusal), recorded);
    }
    match json {
        Some(json) => (Ok(Some(json)), recorded),
        None => (
            Err(Refusal::invalid_content(
                "The request content was invalid and could not be deserialized: not JSON.",
            )),
            Some(Value::String(text.into_owned())),
        ),
    }
}

fn redact(mut value: Value) -> Value {
    match &mut value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "administratorLoginPassword" {
                    *v = Value::String("[redacted]".to_owned());
                } else {
                    *v = redact(v.take());
                }
            }
        }
        Value::Array(items) => {
            for v in items.iter_mut() {
                *v = redact(v.take());
            }
        }
        _ => {}
    }
    value
}

fn serve(
    st: &mut State,
    route: &Route,
    ctx: &Ctx<'_>,
    authorization: Option<&str>,
    content_type: &str,
    raw: &Bytes,
) -> Result<Reply, Refusal> {
    if let Route::Token { tenant } = route {
        inject(st, ctx)?;
        if ctx.method != Method::POST {
            return Err(Refusal::rule(
                405,
                "MethodNotAllowed",
                "The token endpoint takes POST only.",
            ));
        }
        let form = token::form_decode(&String::from_utf8_lossy(raw));
        return token::issue(
            st,
            tenant,
            content_type.starts_with("application/x-www-form-urlencoded"),
            &form,
        );
    }
    token::authenticate(st, authorization)?;
    inject(st, ctx)?;
    let wanted = if route.is_lock() {
        LOCKS_API_VERSION
    } else {
        FLEXIBLE_API_VERSION
    };
    match ctx.api_version {
        None => {
            return Err(Refusal::rule(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            ));
        }
        Some(v) if v != wanted => {
            return Err(Refusal::rule(
                400,
                "InvalidApiVersionParameter",
                format!("The api-version '{v}' is invalid. The supported versions are '{wanted}'."),
            ));
        }
        Some(_) => {}
    }
    if let Some((sub, rg)) = route.scope() {
        if sub != SUBSCRIPTION {
            return Err(Refusal::outcome(
                404,
                "SubscriptionNotFound",
                format!("The subscription '{sub}' could not be found."),
            ));
        }
        if let Some(rg) = rg
            && !rg.eq_ignore_ascii_case(RESOURCE_GROUP)
        {
            return Err(Refusal::outcome(
                404,
                "ResourceGroupNotFound",
                format!("Resource group '{rg}' could not be found."),
            ));
        }
    }
    dispatch(st, route, ctx)
}

/// A fault injected by the test answers the first matching requests in place of the double.
fn inject(st: &mut State, ctx: &Ctx<'_>) -> Result<(), Refusal> {
    let hit = st.faults.iter_mut().find(|f| {
        f.times > 0
            && f.method.eq_ignore_ascii_case(ctx.method.as_str())
            && ctx.path.contains(&f.path_contains)
    });
    let Some(injected) = hit else { return Ok(()) };
    injected.times -= 1;
    let fault = injected.fault.clone();
    let mut refusal = Refusal::outcome(fault.status, &fault.code, fault.message.clone());
    if let Some(secs) = fault.retry_after {
        refusal = refusal.header("Retry-After", secs.to_string());
    }
    Err(refusal)
}

fn dispatch(st: &mut State, route: &Route, ctx: &Ctx<'_>) -> Result<Reply, Refusal> {
    let m = ctx.method;
    let body = ctx.body;
    match route {
        Route::AsyncOperation { location, id, .. } if m == Method::GET => {
            operations::status(st, location, id)
        }
        Route::OperationResult { location, id, .. } if m == Method::GET => {
            operations::result(st, location, id)
        }
        Route::ServerList { .. } if m == Method::GET => Ok(servers::list(st)),
        Route::Server { name, .. } => match *m {
            Method::GET => servers::get(st, &name.to_ascii_lowercase()),
            Method::PUT => servers::put(st, name, body),
            Method::PATCH => servers::patch(st, &name.to_ascii_lowercase(), body),
            Method::DELETE => servers::delete(st, &name.to_ascii_lowercase()),
            _ => not_allowed(m),
        },
        Route::Child {
            server,
            kind,
            name: None,
            ..
        } if m == Method::GET => children::list(st, server, *kind),
        Route::Child {
            server,
            kind,
            name: Some(name),
            ..
        } => match (m.clone(), kind) {
            (Method::GET, _) => children::get(st, server, *kind, name),
            (Method::PUT, _) | (Method::PATCH, Kind::Configurations) => {
                children::put(st, server, *kind, name, body)
            }
            (Method::DELETE, _) => children::delete(st, server, *kind, name),
            _ => not_allowed(m),
        },
        Route::Locks {
            server, name: None, ..
        } if m == Method::GET => locks::list(st, server.as_deref()),
        Route::Locks {
            server,
            name: Some(name),
            ..
        } => match *m {
            Method::GET => locks::get(st, server.as_deref(), name),
            Method::PUT => locks::put(st, server.as_deref(), name, body),
            Method::DELETE => locks::delete(st, server.as_deref(), name),
            _ => not_allowed(m),
        },
        Route::Unknown => Err(Refusal::rule(
            404,
            "NotServedByTestDouble",
            format!(
                "The ARM test double does not serve {} {}.",
                ctx.method, ctx.path
            ),
        )),
        _ => not_allowed(m),
    }
}

fn not_allowed(method: &Method) -> Result<Reply, Refusal> {
    Err(Refusal::rule(
        405,
        "MethodNotAllowed",
        format!("The HTTP method '{method}' is not supported for this resource."),
    ))
}
