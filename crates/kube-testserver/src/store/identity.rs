//! What a PUT or PATCH may not do to an object's identity, as the API server refuses it: move it
//! to another namespace or name (`EnsureObjectNamespaceMatchesRequestNamespace` and `checkName`
//! in k8s.io/apiserver endpoints/handlers, 400), replace it with another object's uid (the
//! storage precondition a PUT's `metadata.uid` makes, 409), change its uid by a patch
//! (`ValidateObjectMetaUpdate`: immutable, 422), or replace a custom resource without a
//! `resourceVersion` (custom resources do not allow unconditional updates, 422).

use serde_json::Value;

use super::ObjKey;
use super::meta;
use super::validation::field_error;
use crate::error::ApiError;
use crate::registry::ResourceDef;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Write {
    Replace,
    Patch,
}

pub(super) fn check(
    def: &ResourceDef,
    key: &ObjKey,
    new: &Value,
    existing: &Value,
    write: Write,
) -> Result<(), ApiError> {
    let is_namespace = def.gvr.group.is_empty() && def.gvr.plural == "namespaces";
    if def.namespaced && !is_namespace {
        let sent = meta::meta_str(new, "namespace").unwrap_or("");
        if !sent.is_empty() && sent != key.namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    let name = meta::name(new);
    if name != key.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            key.name
        )));
    }
    let uid = meta::uid(new);
    let stored_uid = meta::uid(existing);
    if !uid.is_empty() && uid != stored_uid {
        return Err(match write {
            Write::Replace => ApiError::conflict(
                &def.gvr.qualified(),
                &key.name,
                &format!(
                    "StorageError: invalid object, Code: 4, Key: {}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: {uid}, UID in object meta: {stored_uid}",
                    storage_key(def, key)
                ),
            ),
            Write::Patch => ApiError::invalid(
                &def.kind_group(),
                &key.name,
                &[field_error(
                    "metadata.uid",
                    &format!("Invalid value: \"{uid}\": field is immutable"),
                )],
            ),
        });
    }
    if write == Write::Replace && def.custom && meta::resource_version(new).is_empty() {
        return Err(ApiError::invalid(
            &def.gvr.qualified(),
            &key.name,
            &[field_error(
                "metadata.resourceVersion",
                "Invalid value: 0x0: must be specified for an update",
            )],
        ));
    }
    Ok(())
}

/// Where etcd keeps the object under the default `/registry` prefix.
fn storage_key(def: &ResourceDef, key: &ObjKey) -> String {
    let resource = if def.gvr.group.is_empty() {
        def.gvr.plural.clone()
    } else {
        format!("{}/{}", def.gvr.group, def.gvr.plural)
    };
    if key.namespace.is_empty() {
        format!("/registry/{resource}/{}", key.name)
    } else {
        format!("/registry/{resource}/{}/{}", key.namespace, key.name)
    }
}
