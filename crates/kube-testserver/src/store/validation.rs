//! Object metadata rules the API server enforces on every write (422 Invalid): name formats per
//! resource, label keys and values, owner references, finalizer names.

use serde_json::Value;

use super::meta;
use crate::error::{ApiError, FieldError};
use crate::registry::ResourceDef;

const LABEL_VALUE_RULE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_NAME_RULE: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// All metadata violations of `object` as one 422, or `Ok`.
pub fn check_metadata(def: &ResourceDef, object: &Value) -> Result<(), ApiError> {
    let name = meta::name(object);
    let mut errors = Vec::new();
    if let Some(detail) = name_problem(def, name) {
        errors.push(field_error(
            "metadata.name",
            &format!("Invalid value: \"{name}\": {detail}"),
        ));
    }
    let metadata = meta::meta(object);
    if let Some(labels) = metadata
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
    {
        for (key, value) in labels {
            if let Some(detail) = qualified_name_problem(key) {
                errors.push(field_error(
                    "metadata.labels",
                    &format!("Invalid value: \"{key}\": {detail}"),
                ));
            }
            match value.as_str() {
                Some(v) if label_value_ok(v) => {}
                Some(v) if v.len() > 63 => errors.push(field_error(
                    "metadata.labels",
                    &format!("Invalid value: \"{v}\": must be no more than 63 characters"),
                )),
                _ => errors.push(field_error(
                    "metadata.labels",
                    &format!("Invalid value: {value}: {LABEL_VALUE_RULE}"),
                )),
            }
        }
    }
    if let Some(annotations) = metadata
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
    {
        for (key, value) in annotations {
            if let Some(detail) = qualified_name_problem(key) {
                errors.push(field_error(
                    "metadata.annotations",
                    &format!("Invalid value: \"{key}\": {detail}"),
                ));
            }
            if !value.is_string() {
                errors.push(field_error(
                    "metadata.annotations",
                    &format!("Invalid value: {value}: must be a string"),
                ));
            }
        }
    }
    let owners = metadata
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array);
    for (i, owner) in owners.into_iter().flatten().enumerate() {
        for field in ["apiVersion", "kind", "name", "uid"] {
            if owner
                .get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                errors.push(FieldError {
                    field: format!("metadata.ownerReferences[{i}].{field}"),
                    reason: "FieldValueRequired",
                    detail: "Required value".into(),
                });
            }
        }
    }
    let finalizers = metadata
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array);
    for (i, finalizer) in finalizers.into_iter().flatten().enumerate() {
        let problem = finalizer
            .as_str()
            .map_or(Some("must be a string".to_owned()), qualified_name_problem);
        if let Some(detail) = problem {
            errors.push(field_error(
                &format!("metadata.finalizers[{i}]"),
                &format!("Invalid value: {finalizer}: {detail}"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&def.kind_group(), name, &errors))
    }
}

/// An object being deleted may lose finalizers but not gain new ones.
pub fn check_no_new_finalizers_while_deleting(
    def: &ResourceDef,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    if !meta::is_deleting(old) {
        return Ok(());
    }
    let before = meta::finalizers(old);
    let added: Vec<String> = meta::finalizers(new)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(
        &def.kind_group(),
        meta::name(old),
        &[FieldError {
            field: "metadata.finalizers".into(),
            reason: "FieldValueForbidden",
            detail: format!(
                "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
            ),
        }],
    ))
}

/// A RoleBinding's or ClusterRoleBinding's `roleRef` is fixed once made (rbac validation
/// `ValidateRoleBindingUpdate`): a binding to another role is a new binding.
pub fn check_role_ref_unchanged(
    def: &ResourceDef,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    let binding = def.gvr.group == "rbac.authorization.k8s.io"
        && matches!(
            def.gvr.plural.as_str(),
            "rolebindings" | "clusterrolebindings"
        );
    if !binding || old.get("roleRef") == new.get("roleRef") {
        return Ok(());
    }
    let sent = new.get("roleRef").cloned().unwrap_or(Value::Null);
    Err(ApiError::invalid(
        &def.kind_group(),
        meta::name(old),
        &[field_error(
            "roleRef",
            &format!("Invalid value: {sent}: cannot change roleRef"),
        )],
    ))
}

pub(super) fn field_error(field: &str, detail: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        reason: "FieldValueInvalid",
        detail: detail.to_owned(),
    }
}

/// Namespaces are DNS-1123 labels, Services DNS-1035 labels, everything else DNS-1123 subdomains.
fn name_problem(def: &ResourceDef, name: &str) -> Option<String> {
    match (def.gvr.group.as_str(), def.gvr.plural.as_str()) {
        ("", "namespaces") => dns_label_problem(name, false),
        ("", "services") => dns_label_problem(name, true),
        _ => subdomain_problem(name),
    }
}

pub(super) fn dns_label_problem(name: &str, must_start_with_letter: bool) -> Option<String> {
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let start_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || (!must_start_with_letter && c.is_ascii_digit()));
    let end_ok = name
        .chars()
        .last()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    if chars_ok && start_ok && end_ok {
        return None;
    }
    Some(if must_start_with_letter {
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".into()
    } else {
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".into()
    })
}

pub(super) fn subdomain_problem(name: &str) -> Option<String> {
    if name.len() > 253 {
        return Some("must be no more than 253 characters".into());
    }
    let ok = name
        .split('.')
        .all(|label| dns_label_problem(label, false).is_none());
    (!ok).then(|| "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into())
}

/// `prefix/name` label and annotation keys (and finalizer names).
pub(super) fn qualified_name_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && let Some(problem) = subdomain_problem(prefix)
    {
        return Some(format!("prefix part {problem}"));
    }
    if name.is_empty() || name.len() > 63 {
        return Some("name part must be non-empty and no more than 63 characters".into());
    }
    (!label_value_ok(name)).then(|| QUALIFIED_NAME_RULE.to_owned())
}

fn label_value_ok(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use serde_json::json;

    fn def(plural: &str) -> ResourceDef {
        Registry::with_builtins()
            .find(plural)
            .cloned()
            .unwrap_or_else(|| panic!("{plural}"))
    }

    #[test]
    fn names_follow_the_rule_of_their_resource() {
        let named = |n: &str| json!({ "metadata": { "name": n } });
        assert!(check_metadata(&def("configmaps"), &named("a.b-c")).is_ok());
        assert!(check_metadata(&def("configmaps"), &named("A")).is_err());
        assert!(check_metadata(&def("namespaces"), &named("1-team")).is_ok());
        assert!(check_metadata(&def("namespaces"), &named("a.b")).is_err());
        let err = check_metadata(&def("services"), &named("1-svc")).map_err(|e| e.message);
        assert!(err.is_err_and(|m| m.contains("DNS-1035")));
    }

    #[test]
    fn labels_owner_references_and_finalizers_are_checked() {
        let ok = json!({ "metadata": { "name": "a",
            "labels": { "app.kubernetes.io/name": "x", "empty": "" },
            "ownerReferences": [{ "apiVersion": "v1", "kind": "Secret", "name": "s", "uid": "u" }],
            "finalizers": ["example.com/cleanup"] } });
        assert!(check_metadata(&def("configmaps"), &ok).is_ok());
        let bad = json!({ "metadata": { "name": "a",
            "labels": { "ok": "has space", "long": "x".repeat(64), "bad key!": "v" },
            "ownerReferences": [{ "apiVersion": "v1", "kind": "Secret", "name": "s" }],
            "finalizers": ["not valid/"] } });
        let message = check_metadata(&def("configmaps"), &bad)
            .map_err(|e| e.message)
            .unwrap_err();
        for fragment in [
            "\"has space\"",
            "no more than 63",
            "\"bad key!\"",
            "ownerReferences[0].uid: Required value",
            "finalizers[0]",
        ] {
            assert!(
                message.contains(fragment),
                "{fragment} missing in {message}"
            );
        }
    }
}
