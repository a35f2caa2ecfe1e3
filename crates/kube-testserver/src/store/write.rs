//! Create, replace and patch: the API server's rules for what a write may change.

use serde_json::{Value, json};

use super::meta::{self, meta_mut};
use super::rules::{check_type_meta, fold_string_data, merge_for_subresource, secret_data_problem};
use super::{
    EventType, ObjKey, State, cnpg_webhooks, event_rules, identity, managed_fields, validation,
};
use crate::error::ApiError;
use crate::registry::{CRD_GROUP, Gvr, ResourceDef};
use crate::schema;

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    Main,
    Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    /// Strategic merge; applied as a JSON merge patch (what CRDs support).
    Strategic,
    /// Server-side apply.
    Apply {
        force: bool,
    },
}

#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: Option<String>,
}

impl State {
    pub fn create(
        &mut self,
        gvr: &Gvr,
        namespace: Option<&str>,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        self.create_with_managed_fields(gvr, namespace, body, opts, None)
    }

    pub(super) fn create_with_managed_fields(
        &mut self,
        gvr: &Gvr,
        namespace: Option<&str>,
        mut body: Value,
        opts: &WriteOptions,
        apply_entry: Option<Value>,
    ) -> Result<Value, ApiError> {
        let def = self.resource(gvr)?;
        check_type_meta(&def, &mut body)?;
        check_secret_data(&def, &body, 400)?;
        let namespace = self.check_namespace(&def, namespace, &body)?;
        let metadata = meta_mut(&mut body)
            .ok_or_else(|| ApiError::bad_request("object is not a JSON object"))?;
        if metadata
            .get("resourceVersion")
            .is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let name = match metadata.get("name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => match metadata.get("generateName").and_then(Value::as_str) {
                Some(prefix) => format!("{prefix}{}", meta::random_suffix()),
                None => {
                    return Err(ApiError::invalid(
                        &def.kind_group(),
                        "",
                        &[crate::error::FieldError {
                            field: "metadata.name".into(),
                            reason: "FieldValueRequired",
                            detail: "Required value: name or generateName is required".into(),
                        }],
                    ));
                }
            },
        };
        metadata.insert("name".into(), json!(name));
        match &namespace {
            Some(ns) => metadata.insert("namespace".into(), json!(ns)),
            // Cluster-scoped objects have no namespace, whatever the body says.
            None => metadata.remove("namespace"),
        };
        metadata.insert("uid".into(), json!(meta::new_uid()));
        metadata.insert("creationTimestamp".into(), json!(meta::now()));
        metadata.remove("deletionTimestamp");
        let by_apply = apply_entry.is_some();
        match apply_entry {
            Some(fields) => metadata.insert("managedFields".into(), fields),
            None => metadata.remove("managedFields"),
        };
        if def.tracks_generation {
            metadata.insert("generation".into(), json!(1));
        }
        let key = ObjKey::new(gvr.clone(), namespace.as_deref(), &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(&gvr.qualified(), &name));
        }
        if def.status_subresource
            && let Some(map) = body.as_object_mut()
        {
            map.remove("status");
        }
        if let (true, Some(manager)) = (!by_apply, &opts.field_manager) {
            managed_fields::record_update(&def, None, &mut body, Subresource::Main, manager);
        }
        if gvr.group.is_empty() && gvr.plural == "namespaces" {
            body["status"] = json!({ "phase": "Active" });
        }
        self.commit(&def, &key, None, body, opts)
    }

    pub fn replace(
        &mut self,
        key: &ObjKey,
        mut body: Value,
        sub: Subresource,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let def = self.resource(&key.gvr)?;
        if def.create_on_update && sub == Subresource::Main && !self.objects.contains_key(key) {
            check_type_meta(&def, &mut body)?;
            let name = meta::name(&body);
            if name != key.name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({name}) does not match the name on the URL ({})",
                    key.name
                )));
            }
            let ns = (!key.namespace.is_empty()).then_some(key.namespace.as_str());
            return self.create(&key.gvr, ns, body, opts);
        }
        let existing = self.existing(&def, key)?;
        check_type_meta(&def, &mut body)?;
        identity::check(&def, key, &body, &existing, identity::Write::Replace)?;
        check_secret_data(&def, &body, 400)?;
        let sent_rv = meta::resource_version(&body);
        if !sent_rv.is_empty() && sent_rv != meta::resource_version(&existing) {
            return Err(ApiError::conflict(
                &key.gvr.qualified(),
                &key.name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        let mut new = merge_for_subresource(&def, &existing, body, sub);
        if let Some(manager) = &opts.field_manager {
            managed_fields::record_update(&def, Some(&existing), &mut new, sub, manager);
        }
        self.commit(&def, key, Some(existing), new, opts)
    }

    pub fn patch(
        &mut self,
        key: &ObjKey,
        kind: PatchKind,
        body: &[u8],
        sub: Subresource,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let def = self.resource(&key.gvr)?;
        if let PatchKind::Apply { force } = kind {
            return self.apply(&def, key, body, sub, force, opts);
        }
        let existing = self.existing(&def, key)?;
        let mut patched = existing.clone();
        match kind {
            PatchKind::Merge | PatchKind::Strategic => {
                let patch: Value = serde_json::from_slice(body)
                    .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
                json_patch::merge(&mut patched, &patch);
            }
            PatchKind::Json => {
                let patch: json_patch::Patch = serde_json::from_slice(body).map_err(|e| {
                    ApiError::bad_request(format!("error decoding JSON patch: {e}"))
                })?;
                // The API server's JSON patch (evanphx/json-patch) lets a `test` of a missing
                // path against `null` pass; kube-runtime's finalizer helper relies on it.
                for op in patch.0 {
                    if let json_patch::PatchOperation::Test(test) = &op
                        && test.value.is_null()
                        && patched.pointer(test.path.as_str()).is_none()
                    {
                        continue;
                    }
                    json_patch::patch(&mut patched, std::slice::from_ref(&op)).map_err(|e| {
                        ApiError::new(
                            422,
                            "Invalid",
                            format!(
                                "the server rejected our request due to an error in our request: {e}"
                            ),
                        )
                    })?;
                }
            }
            PatchKind::Apply { .. } => {}
        }
        if !patched.is_object() {
            return Err(ApiError::bad_request(
                "the patched object is not a JSON object",
            ));
        }
        identity::check(&def, key, &patched, &existing, identity::Write::Patch)?;
        check_secret_data(&def, &patched, 422)?;
        let patched_rv = meta::resource_version(&patched);
        // A patch that names a resourceVersion makes it a precondition (dropping it does not).
        if !patched_rv.is_empty() && patched_rv != meta::resource_version(&existing) {
            return Err(ApiError::conflict(
                &key.gvr.qualified(),
                &key.name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        let mut new = merge_for_subresource(&def, &existing, patched, sub);
        if let Some(manager) = &opts.field_manager {
            managed_fields::record_update(&def, Some(&existing), &mut new, sub, manager);
        }
        self.commit(&def, key, Some(existing), new, opts)
    }

    pub(super) fn existing(&self, def: &ResourceDef, key: &ObjKey) -> Result<Value, ApiError> {
        self.objects
            .get(key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&def.gvr.qualified(), &key.name))
    }

    fn check_namespace(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
        body: &Value,
    ) -> Result<Option<String>, ApiError> {
        if !def.namespaced {
            return Ok(None);
        }
        let ns = namespace.ok_or_else(|| {
            ApiError::bad_request(format!(
                "{} is namespaced: a namespace is required",
                def.gvr.qualified()
            ))
        })?;
        if let Some(body_ns) = meta::meta_str(body, "namespace")
            && !body_ns.is_empty()
            && body_ns != ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        if self.require_namespaces {
            let ns_key = ObjKey::new(Gvr::new("", "v1", "namespaces"), None, ns);
            match self.objects.get(&ns_key) {
                None => return Err(ApiError::not_found("namespaces", ns)),
                Some(n) if meta::is_deleting(n) => {
                    return Err(ApiError::forbidden(format!(
                        "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        def.gvr.qualified(),
                        meta::name(body)
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(Some(ns.to_owned()))
    }

    /// Validates, stamps and stores a write; a write that changes nothing is a no-op (no new
    /// `resourceVersion`, no event); clearing the last finalizer of a deleting object removes it.
    pub(super) fn commit(
        &mut self,
        def: &ResourceDef,
        key: &ObjKey,
        old: Option<Value>,
        mut new: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        if def.gvr.group.is_empty() && def.gvr.plural == "secrets" {
            fold_string_data(&mut new);
        }
        cnpg_webhooks::cnpg_cluster_defaults(def, &mut new);
        validation::check_metadata(def, &new)?;
        match &old {
            None => {
                cnpg_webhooks::cnpg_cluster_webhook(def, &new)?;
                event_rules::check_create(def, &new)?;
            }
            Some(old) => {
                event_rules::check_update(def, old, &new)?;
                validation::check_no_new_finalizers_while_deleting(def, old, &new)?;
                validation::check_role_ref_unchanged(def, old, &new)?;
                cnpg_webhooks::cnpg_cluster_update_webhook(def, old, &new)?;
            }
        }
        if let Some(schema) = &def.schema {
            schema::prune_and_default(schema, &mut new);
            let errors = schema::validate_update(schema, &new, old.as_ref());
            if !errors.is_empty() {
                return Err(ApiError::invalid(&def.kind_group(), &key.name, &errors));
            }
        }
        if let Some(old) = &old {
            if meta::same_content(old, &new) {
                return Ok(old.clone());
            }
            let generation = meta::meta(old)
                .and_then(|m| m.get("generation"))
                .and_then(Value::as_i64);
            if let (true, Some(generation)) = (def.tracks_generation, generation) {
                let bumped = if meta::spec_part(old) == meta::spec_part(&new) {
                    generation
                } else {
                    generation + 1
                };
                if let Some(m) = meta_mut(&mut new) {
                    m.insert("generation".into(), json!(bumped));
                }
            }
        }
        if opts.dry_run {
            return Ok(new);
        }
        let rv = self.next_rv();
        if let Some(m) = meta_mut(&mut new) {
            m.insert("resourceVersion".into(), json!(rv.to_string()));
        }
        if def.gvr.group == CRD_GROUP && def.gvr.plural == "customresourcedefinitions" {
            self.registry
                .register_crd(&new)
                .map_err(ApiError::bad_request)?;
        }
        if meta::is_deleting(&new) && meta::finalizers(&new).is_empty() {
            self.remove_object(key, new.clone(), old);
            return Ok(new);
        }
        let event = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.objects.insert(key.clone(), new.clone());
        self.emit(key, event, &new, old);
        Ok(new)
    }
}

/// Secret `data` that is not base64 cannot be decoded: 400 for a create or replace (the body does
/// not decode), 422 for a patch (the patched object does not).
fn check_secret_data(def: &ResourceDef, body: &Value, code: u16) -> Result<(), ApiError> {
    if !(def.gvr.group.is_empty() && def.gvr.plural == "secrets") {
        return Ok(());
    }
    match secret_data_problem(body) {
        None => Ok(()),
        Some(problem) if code == 400 => Err(ApiError::bad_request(format!(
            "Secret in version \"v1\" cannot be handled as a Secret: {problem}"
        ))),
        // The patch handler's `field.Invalid(field.NewPath("patch"), patchedJSON, err)` with an
        // empty GroupKind and name.
        Some(problem) => Err(ApiError::new(
            422,
            "Invalid",
            format!(
                " \"\" is invalid: patch: Invalid value: {}: {problem}",
                Value::String(body.to_string())
            ),
        )),
    }
}
