//! Resource requests: get, list, watch, create, update, patch, delete, deletecollection.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use serde_json::Value;

use super::path::ResourceTarget;
use super::{Shared, error_response, json_response, scale, watch};
use crate::error::{ApiError, FieldError, success_status};
use crate::rbac::{self, Attributes, UserInfo};
use crate::registry::ResourceDef;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::meta;
use crate::store::{
    DeleteOptions, DeleteOutcome, ObjKey, Page, PatchKind, Propagation, Subresource, WriteOptions,
};

pub(super) struct Request<'a> {
    pub target: &'a ResourceTarget,
    pub method: &'a Method,
    pub query: &'a HashMap<String, String>,
    pub headers: &'a HeaderMap,
    pub body: &'a Bytes,
    /// The authenticated user in RBAC mode.
    pub user: Option<&'a UserInfo>,
    pub attributes: &'a Attributes,
}

pub(super) fn serve(shared: &Shared, request: Request<'_>) -> Response {
    match dispatch(shared, &request) {
        Ok(response) => response,
        Err(error) => error_response(&error),
    }
}

fn dispatch(shared: &Shared, request: &Request<'_>) -> Result<Response, ApiError> {
    let t = request.target;
    let def = shared.store.resource(&t.gvr)?;
    if def.namespaced != t.namespace.is_some()
        && (t.name.is_some() || request.method != Method::GET)
    {
        return Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    let sub = match t.subresource.as_deref() {
        None => Subresource::Main,
        Some("status") if def.status_subresource => Subresource::Status,
        Some("scale") if def.scale.is_some() => return scale::serve(shared, &def, request),
        Some(other) => {
            return Err(ApiError::new(
                404,
                "NotFound",
                format!("the server could not find the requested resource ({other})"),
            ));
        }
    };
    let q = |k: &str| request.query.get(k).map(String::as_str);
    let explicit_manager = q("fieldManager")
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    let is_apply = request.method == Method::PATCH
        && matches!(
            patch_kind(request.headers, None, &def),
            Ok(PatchKind::Apply { .. })
        );
    let opts = WriteOptions {
        dry_run: q("dryRun").is_some_and(|d| d == "All"),
        // Apply requires an explicit manager; other writes default to the user agent's product.
        field_manager: if is_apply {
            explicit_manager
        } else {
            explicit_manager.or_else(|| Some(default_manager(request.headers)))
        },
    };
    // Patch type and options are checked before anything else, as the patch handler does.
    let patch = if request.method == Method::PATCH {
        let kind = patch_kind(request.headers, q("force"), &def)?;
        check_patch_options(kind, q("force"), q("fieldManager"))?;
        Some(kind)
    } else {
        None
    };
    check_dry_run(request.method, q("dryRun"))?;
    super::escalation::check(shared, request)?;
    let ns = t.namespace.as_deref();
    let labels = LabelSelector::parse(q("labelSelector").unwrap_or(""))?;
    let fields = FieldSelector::parse(q("fieldSelector").unwrap_or(""))?;
    let store = &shared.store;
    match (request.method.as_str(), &t.name) {
        ("GET", Some(name)) => Ok(json_response(200, &store.get(&t.gvr, ns, name)?)),
        ("GET", None) if super::wants_watch(request.query) => {
            watch::serve(shared, &def, ns, labels, fields, request.query)
        }
        ("GET", None) => {
            let page = Page {
                limit: q("limit").and_then(|l| l.parse().ok()),
                continue_token: q("continue").filter(|c| !c.is_empty()).map(str::to_owned),
            };
            Ok(json_response(
                200,
                &store.list_page(&t.gvr, ns, &labels, &fields, &page)?,
            ))
        }
        ("POST", None) => {
            let body = parse_json(request.body)?;
            Ok(json_response(201, &store.create(&t.gvr, ns, body, &opts)?))
        }
        ("PUT", Some(name)) => {
            let body = parse_json(request.body)?;
            let key = ObjKey::new(t.gvr.clone(), ns, name);
            let creates = def.create_on_update
                && sub == Subresource::Main
                && store.get(&t.gvr, ns, name).is_err();
            if creates {
                authorize_create(shared, request)?;
            }
            let code = if creates { 201 } else { 200 };
            Ok(json_response(code, &store.replace(&key, body, sub, &opts)?))
        }
        ("PATCH", Some(name)) => {
            // Always `Some` here: set above for every PATCH.
            let kind = patch.unwrap_or(PatchKind::Merge);
            let key = ObjKey::new(t.gvr.clone(), ns, name);
            let existed = store.get(&t.gvr, ns, name).is_ok();
            if !existed && matches!(kind, PatchKind::Apply { .. }) && sub == Subresource::Main {
                authorize_create(shared, request)?;
            }
            let result = store.patch(&key, kind, request.body, sub, &opts)?;
            Ok(json_response(if existed { 200 } else { 201 }, &result))
        }
        ("DELETE", Some(name)) => {
            let options = delete_options(request)?;
            let key = ObjKey::new(t.gvr.clone(), ns, name);
            match store.delete(&key, &options)? {
                DeleteOutcome::Pending(object) => Ok(json_response(200, &object)),
                DeleteOutcome::Deleted(object) => Ok(json_response(
                    200,
                    &success_status(name, &t.gvr.group, &t.gvr.plural, meta::uid(&object)),
                )),
            }
        }
        ("DELETE", None) => {
            let options = delete_options(request)?;
            Ok(json_response(
                200,
                &store.delete_collection(&t.gvr, ns, &labels, &fields, &options)?,
            ))
        }
        (method, _) => Err(ApiError::method_not_allowed(format!(
            "{method} is not supported on {}",
            request.target.gvr.qualified()
        ))),
    }
}

pub(super) fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding request body: {e}")))
}

/// The patch type of the `Content-Type`. Custom resources take no strategic merge patch (the
/// apiextensions server offers JSON, merge and apply patches only), and apply is
/// `application/apply-patch+yaml` (JSON is YAML; there is no `+json` apply type).
pub(super) fn patch_kind(
    headers: &HeaderMap,
    force: Option<&str>,
    def: &ResourceDef,
) -> Result<PatchKind, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    let custom = def.custom;
    match media {
        "application/merge-patch+json" => Ok(PatchKind::Merge),
        "application/json-patch+json" => Ok(PatchKind::Json),
        "application/strategic-merge-patch+json" if !custom => Ok(PatchKind::Strategic),
        "application/apply-patch+yaml" => Ok(PatchKind::Apply {
            force: force.is_some_and(|f| f == "true"),
        }),
        other => Err(ApiError::unsupported_media_type(other, custom)),
    }
}

/// `PatchOptions` as the API server validates them before anything else
/// (apimachinery `ValidatePatchOptions`): apply needs a `fieldManager`, `force` is for apply only,
/// a manager name is at most 128 bytes.
fn check_patch_options(
    kind: PatchKind,
    force: Option<&str>,
    manager: Option<&str>,
) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    let apply = matches!(kind, PatchKind::Apply { .. });
    if apply && manager.is_none_or(str::is_empty) {
        errors.push(FieldError {
            field: "fieldManager".into(),
            reason: "FieldValueRequired",
            detail: "Required value: is required for apply patch".into(),
        });
    }
    if !apply && force.is_some() {
        errors.push(FieldError {
            field: "force".into(),
            reason: "FieldValueForbidden",
            detail: "Forbidden: may not be specified for non-apply patch".into(),
        });
    }
    if let Some(manager) = manager.filter(|m| m.len() > 128) {
        errors.push(FieldError {
            field: "fieldManager".into(),
            reason: "FieldValueTooLong",
            detail: format!(
                "Too long: may not be more than 128 bytes (got {})",
                manager.len()
            ),
        });
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid("PatchOptions.meta.k8s.io", "", &errors))
}

/// `dryRun` takes only `All` (apimachinery `ValidateDryRun`); anything else is refused rather
/// than written for real.
fn check_dry_run(method: &Method, dry_run: Option<&str>) -> Result<(), ApiError> {
    let Some(value) = dry_run.filter(|d| *d != "All") else {
        return Ok(());
    };
    let options = match method.as_str() {
        "POST" => "CreateOptions",
        "PUT" => "UpdateOptions",
        "PATCH" => "PatchOptions",
        "DELETE" => "DeleteOptions",
        _ => return Ok(()),
    };
    Err(ApiError::invalid(
        &format!("{options}.meta.k8s.io"),
        "",
        &[FieldError {
            field: "dryRun".into(),
            reason: "FieldValueNotSupported",
            detail: format!("Unsupported value: []string{{{value:?}}}: supported values: \"All\""),
        }],
    ))
}

/// In RBAC mode, an apply (or a PUT of a Lease) that creates its object is authorized as
/// `create` too (the `createValidation` of k8s.io/apiserver endpoints/handlers/patch.go and
/// update.go).
fn authorize_create(shared: &Shared, request: &Request<'_>) -> Result<(), ApiError> {
    let (Some(rbac), Some(user)) = (&shared.rbac, request.user) else {
        return Ok(());
    };
    let mut create = request.attributes.clone();
    create.verb = "create".into();
    let decision = rbac.authorize(&shared.store, user, &create);
    if decision.allowed {
        Ok(())
    } else {
        Err(rbac::create_on_update_forbidden(&create, &decision.reason))
    }
}

fn delete_options(request: &Request<'_>) -> Result<DeleteOptions, ApiError> {
    let body: Value = if request.body.is_empty() {
        Value::Null
    } else {
        parse_json(request.body)?
    };
    let policy = body
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .or_else(|| request.query.get("propagationPolicy").map(String::as_str));
    let propagation = match policy {
        None | Some("Background") => Propagation::Background,
        Some("Foreground") => Propagation::Foreground,
        Some("Orphan") => Propagation::Orphan,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown propagationPolicy {other:?}"
            )));
        }
    };
    let dry_run = body
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|d| d.iter().any(|v| v == "All"))
        || request.query.get("dryRun").is_some_and(|d| d == "All");
    let pre = |k: &str| {
        body.pointer(&format!("/preconditions/{k}"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Ok(DeleteOptions {
        propagation,
        precondition_uid: pre("uid"),
        precondition_rv: pre("resourceVersion"),
        dry_run,
    })
}

/// The manager of a write without `fieldManager`: the user agent's product name, or `unknown`.
fn default_manager(headers: &HeaderMap) -> String {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .unwrap_or("unknown")
        .to_owned()
}
