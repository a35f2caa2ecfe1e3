//! Deletion: finalizers and `deletionTimestamp`, owner-reference garbage collection with
//! `propagationPolicy`, and namespaces that take their contents with them.

use serde_json::{Value, json};

use super::meta::{self, meta_mut};
use super::{EventType, ObjKey, State};
use crate::error::ApiError;
use crate::registry::Gvr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// Owner goes now, dependents right after (the API server default for most types).
    #[default]
    Background,
    /// Dependents go first, then the owner.
    Foreground,
    /// Dependents stay, with the owner reference removed.
    Orphan,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Propagation,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

/// What a DELETE did.
#[derive(Debug, Clone, PartialEq)]
pub enum DeleteOutcome {
    /// Gone now; the last state.
    Deleted(Value),
    /// Finalizers remain: only `deletionTimestamp` was set.
    Pending(Value),
}

fn namespaces() -> Gvr {
    Gvr::new("", "v1", "namespaces")
}

impl State {
    pub fn delete(
        &mut self,
        key: &ObjKey,
        opts: &DeleteOptions,
    ) -> Result<DeleteOutcome, ApiError> {
        let def = self.resource(&key.gvr)?;
        let existing = self.existing(&def, key)?;
        if let Some(uid) = &opts.precondition_uid
            && uid != meta::uid(&existing)
        {
            return Err(ApiError::conflict(
                &key.gvr.qualified(),
                &key.name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta::uid(&existing)
                ),
            ));
        }
        if let Some(rv) = &opts.precondition_rv
            && rv != meta::resource_version(&existing)
        {
            return Err(ApiError::conflict(
                &key.gvr.qualified(),
                &key.name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    meta::resource_version(&existing)
                ),
            ));
        }
        if opts.dry_run {
            return Ok(DeleteOutcome::Deleted(existing));
        }
        let uid = meta::uid(&existing).to_owned();
        match opts.propagation {
            Propagation::Orphan => self.orphan_dependents(&uid),
            Propagation::Foreground => self.delete_dependents(&uid),
            Propagation::Background => {}
        }
        if key.gvr == namespaces() {
            return Ok(self.delete_namespace(key, existing));
        }
        Ok(self.delete_object(key, existing))
    }

    /// Marks an object with finalizers as deleting, or removes it (and its dependents).
    fn delete_object(&mut self, key: &ObjKey, existing: Value) -> DeleteOutcome {
        if meta::finalizers(&existing).is_empty() {
            let last = self.remove_object(key, existing.clone(), Some(existing));
            return DeleteOutcome::Deleted(last);
        }
        if meta::is_deleting(&existing) {
            return DeleteOutcome::Pending(existing);
        }
        let mut marked = existing.clone();
        let rv = self.next_rv();
        if let Some(m) = meta_mut(&mut marked) {
            m.insert("deletionTimestamp".into(), json!(meta::now()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            m.insert("resourceVersion".into(), json!(rv.to_string()));
        }
        self.objects.insert(key.clone(), marked.clone());
        self.emit(key, EventType::Modified, &marked, Some(existing));
        DeleteOutcome::Pending(marked)
    }

    /// Removes an object for good: DELETED event, dependents collected, a terminating namespace
    /// finished once empty.
    pub(super) fn remove_object(
        &mut self,
        key: &ObjKey,
        mut last: Value,
        old: Option<Value>,
    ) -> Value {
        let rv = self.next_rv();
        if let Some(m) = meta_mut(&mut last) {
            m.insert("resourceVersion".into(), json!(rv.to_string()));
        }
        self.objects.remove(key);
        self.emit(key, EventType::Deleted, &last, old);
        let uid = meta::uid(&last).to_owned();
        self.delete_dependents(&uid);
        if !key.namespace.is_empty() {
            self.finish_namespace_if_empty(&key.namespace);
        }
        last
    }

    fn dependents(&self, owner_uid: &str) -> Vec<ObjKey> {
        if owner_uid.is_empty() {
            return Vec::new();
        }
        self.objects
            .iter()
            .filter(|(_, v)| meta::owner_uids(v).iter().any(|u| u == owner_uid))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn delete_dependents(&mut self, owner_uid: &str) {
        for key in self.dependents(owner_uid) {
            if let Some(obj) = self.objects.get(&key).cloned() {
                self.delete_object(&key, obj);
            }
        }
    }

    fn orphan_dependents(&mut self, owner_uid: &str) {
        for key in self.dependents(owner_uid) {
            let Some(old) = self.objects.get(&key).cloned() else {
                continue;
            };
            let mut new = old.clone();
            let rv = self.next_rv();
            if let Some(m) = meta_mut(&mut new) {
                if let Some(refs) = m.get_mut("ownerReferences").and_then(Value::as_array_mut) {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid));
                }
                m.insert("resourceVersion".into(), json!(rv.to_string()));
            }
            self.objects.insert(key.clone(), new.clone());
            self.emit(&key, EventType::Modified, &new, Some(old));
        }
    }

    /// The namespace turns `Terminating`, its contents are deleted, and it goes when empty.
    fn delete_namespace(&mut self, key: &ObjKey, existing: Value) -> DeleteOutcome {
        let ns = key.name.clone();
        if !meta::is_deleting(&existing) {
            let mut marked = existing.clone();
            let rv = self.next_rv();
            if let Some(m) = meta_mut(&mut marked) {
                m.insert("deletionTimestamp".into(), json!(meta::now()));
                m.insert("resourceVersion".into(), json!(rv.to_string()));
            }
            marked["status"] = json!({ "phase": "Terminating" });
            self.objects.insert(key.clone(), marked.clone());
            self.emit(key, EventType::Modified, &marked, Some(existing.clone()));
        }
        let contents: Vec<ObjKey> = self
            .objects
            .keys()
            .filter(|k| k.namespace == ns)
            .cloned()
            .collect();
        for content in contents {
            if let Some(obj) = self.objects.get(&content).cloned() {
                self.delete_object(&content, obj);
            }
        }
        self.finish_namespace_if_empty(&ns);
        match self.objects.get(key) {
            Some(still) => DeleteOutcome::Pending(still.clone()),
            None => DeleteOutcome::Deleted(existing),
        }
    }

    fn finish_namespace_if_empty(&mut self, ns: &str) {
        let ns_key = ObjKey::new(namespaces(), None, ns);
        let Some(namespace) = self.objects.get(&ns_key).cloned() else {
            return;
        };
        if !meta::is_deleting(&namespace) || self.objects.keys().any(|k| k.namespace == ns) {
            return;
        }
        self.remove_object(&ns_key, namespace.clone(), Some(namespace));
    }
}
