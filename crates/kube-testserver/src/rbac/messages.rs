//! The API server's 401 and 403 answers, worded as k8s.io/apiserver words them:
//! `responsewriters.Forbidden`/`forbiddenMessage` for a request the authorization filter refuses,
//! `withAuthorization` (endpoints/handlers/update.go) for the `create` check of a PATCH or PUT
//! that would create, both through apimachinery's `errors.NewForbidden`.

use serde_json::{Map, Value, json};

use super::{Attributes, UserInfo};
use crate::error::ApiError;

/// `401 Unauthorized` (apimachinery `NewUnauthorized("Unauthorized")`, no details).
pub fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized")
}

/// The 403 of the authorization filter:
/// `<resource>.<group> "<name>" is forbidden: User "<user>" cannot <verb> resource "<resource[/sub]>"
/// in API group "<group>" in the namespace "<ns>"` (or `at the cluster scope`), then
/// `: <reason>` when the authorizer gave one.
pub fn forbidden(user: &UserInfo, attributes: &Attributes, reason: &str) -> ApiError {
    let message = sanitize(&forbidden_message(user, attributes));
    let message = if reason.is_empty() {
        message
    } else {
        format!("{message}: {reason}")
    };
    new_forbidden(attributes, &message)
}

/// The 403 of an upsert whose `create` is refused: the authorizer's reason only (empty for a
/// plain RBAC refusal, so the message ends in `is forbidden: `).
pub fn create_on_update_forbidden(attributes: &Attributes, reason: &str) -> ApiError {
    new_forbidden(attributes, reason)
}

fn forbidden_message(user: &UserInfo, attributes: &Attributes) -> String {
    let Some(r) = &attributes.resource else {
        return format!(
            "User \"{}\" cannot {} path \"{}\"",
            user.name, attributes.verb, attributes.path
        );
    };
    let scope = if r.namespace.is_empty() {
        "at the cluster scope".to_owned()
    } else {
        format!("in the namespace \"{}\"", r.namespace)
    };
    format!(
        "User \"{}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
        user.name,
        attributes.verb,
        r.combined(),
        r.group
    )
}

/// apimachinery `errors.NewForbidden(groupResource, name, err)`.
fn new_forbidden(attributes: &Attributes, err: &str) -> ApiError {
    let (group, resource, name) = match &attributes.resource {
        Some(r) => (r.group.as_str(), r.resource.as_str(), r.name.as_str()),
        None => ("", "", ""),
    };
    let qualified = if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    };
    let message = if qualified.is_empty() {
        format!("forbidden: {err}")
    } else if name.is_empty() {
        format!("{qualified} is forbidden: {err}")
    } else {
        format!("{qualified} \"{name}\" is forbidden: {err}")
    };
    // StatusDetails fields are `omitempty`; the details object itself is always there.
    let mut details = Map::new();
    for (key, value) in [("name", name), ("group", group), ("kind", resource)] {
        if !value.is_empty() {
            details.insert(key.into(), json!(value));
        }
    }
    ApiError::forbidden(message).with_details(Value::Object(details))
}

/// What `responsewriters` escapes so an error never reads as HTML.
fn sanitize(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
