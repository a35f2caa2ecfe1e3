//! API errors answered as Kubernetes `Status` objects, so `kube::Error::Api` carries the same
//! code/reason/message a real API server would send.

use serde_json::{Value, json};

/// One failed API call: HTTP code, the `Status.reason` word and a human message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// `clusters.postgresql.cnpg.io "x" not found`.
    pub fn not_found(resource: &str, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{resource} \"{name}\" not found"))
            .with_details(json!({ "name": name, "kind": short_kind(resource) }))
    }

    pub fn already_exists(resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{resource} \"{name}\" already exists"),
        )
        .with_details(json!({ "name": name, "kind": short_kind(resource) }))
    }

    /// The optimistic-concurrency failure of a stale `resourceVersion`.
    pub fn conflict(resource: &str, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {resource} \"{name}\": {why}"),
        )
        .with_details(json!({ "name": name, "kind": short_kind(resource) }))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// 415 for a patch type the resource does not take; custom resources take no strategic
    /// merge patch.
    pub fn unsupported_media_type(_content_type: &str, custom: bool) -> Self {
        let accepted = if custom {
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        } else {
            "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
        };
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted}"
            ),
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 422 with one cause per field, formatted like the API server's aggregate field errors.
    pub fn invalid(kind_group: &str, name: &str, causes: &[FieldError]) -> Self {
        let listed: Vec<String> = causes.iter().map(FieldError::to_string).collect();
        let joined = if listed.len() == 1 {
            listed.concat()
        } else {
            format!("[{}]", listed.join(", "))
        };
        let (kind, group) = kind_group.split_once('.').unwrap_or((kind_group, ""));
        let causes_json: Vec<Value> = causes
            .iter()
            .map(|c| json!({ "reason": c.reason, "message": c.to_string(), "field": c.field }))
            .collect();
        Self::new(
            422,
            "Invalid",
            format!("{kind_group} \"{name}\" is invalid: {joined}"),
        )
        .with_details(json!({ "name": name, "group": group, "kind": kind, "causes": causes_json }))
    }

    /// The `Status` object the API server answers with.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

/// One schema or field violation (`spec.instances: Invalid value: ...`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Dotted path as the API server prints it, e.g. `spec.managed.roles[0].name`.
    pub field: String,
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, ...
    pub reason: &'static str,
    pub detail: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.detail)
    }
}

fn short_kind(resource: &str) -> &str {
    resource.split('.').next().unwrap_or(resource)
}

/// Success `Status` for an immediate deletion.
pub fn success_status(name: &str, group: &str, kind: &str, uid: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": { "name": name, "group": group, "kind": kind, "uid": uid },
    })
}
