//! A binding's objects: a password Secret the broker writes and a DatabaseRole that uses it
//! (and, for a binding with a database of its own, a Database: `own_database.rs`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pgbroker_domain::Sensitive;
use serde_json::{Value, json};

use super::APP_OWNER;
use crate::kinds::Kind;
use crate::labels::Owner;
use crate::names::{BindingNames, InstanceNames};

/// CNPG wants `kubernetes.io/basic-auth` with `username` and `password`; the `cnpg.io/reload`
/// label makes the operator watch it, so a rewritten password is applied.
pub fn password_secret(
    instance: &InstanceNames,
    binding: &BindingNames,
    owner: Owner<'_>,
    password: &Sensitive<String>,
) -> Value {
    let mut metadata = owner.metadata(&binding.object, Some(&instance.namespace));
    if let Some(labels) = metadata.get_mut("labels").and_then(Value::as_object_mut) {
        labels.insert("cnpg.io/reload".into(), json!("true"));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "kubernetes.io/basic-auth",
        // `data`, not `stringData`: the latter is write-only and not owned under server-side apply.
        "data": {"username": STANDARD.encode(&binding.role), "password": STANDARD.encode(password.expose())},
    })
}

/// A login role, dropped when the object is deleted. In the owner group (a member of the
/// application database's owner, so it can use that database like the owner), or, for a
/// binding with a database of its own, outside it: then it owns that database and none of the
/// instance's objects are its.
pub fn database_role(
    instance: &InstanceNames,
    binding: &BindingNames,
    owner: Owner<'_>,
    in_owner_group: bool,
) -> Value {
    let in_roles: &[&str] = if in_owner_group { &[APP_OWNER] } else { &[] };
    json!({
        "apiVersion": Kind::DatabaseRole.api_version(),
        "kind": Kind::DatabaseRole.kind(),
        "metadata": owner.metadata(&binding.object, Some(&instance.namespace)),
        "spec": {
            "cluster": {"name": instance.cluster},
            "name": binding.role,
            "login": true,
            "inherit": true,
            "inRoles": in_roles,
            "passwordSecret": {"name": binding.object},
            "connectionLimit": -1,
            "databaseRoleReclaimPolicy": "delete",
            "comment": format!("pgbroker binding {}", owner.binding_id.map(|b| b.as_str()).unwrap_or("")),
        },
    })
}
