//! The in-memory object store: every resource type, one global `resourceVersion` counter, an event
//! history for resumable watches, and the API server's write rules.

mod apply;
mod cnpg_webhooks;
mod delete;
mod event_rules;
mod identity;
mod managed_fields;
pub mod meta;
pub mod quantity;
mod rules;
mod validation;
mod write;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::error::ApiError;
use crate::registry::{Gvr, Registry, ResourceDef};
use crate::selector::{FieldSelector, LabelSelector};

pub use cnpg_webhooks::CNPG_DEFAULT_IMAGE;
pub use delete::{DeleteOptions, DeleteOutcome, Propagation};
pub use write::{PatchKind, Subresource, WriteOptions};

/// Where an object lives: its type, namespace (`""` when cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    pub gvr: Gvr,
    pub namespace: String,
    pub name: String,
}

impl ObjKey {
    pub fn new(gvr: Gvr, namespace: Option<&str>, name: &str) -> Self {
        Self {
            gvr,
            namespace: namespace.unwrap_or("").to_owned(),
            name: name.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change, kept for watches that resume from an older `resourceVersion`.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub rv: u64,
    pub key: ObjKey,
    pub kind: EventType,
    pub object: Value,
    /// The previous state, so a selector-filtered watch can tell "left the selection" apart.
    pub old: Option<Value>,
}

pub(crate) struct State {
    pub registry: Registry,
    pub objects: BTreeMap<ObjKey, Value>,
    pub rv: u64,
    pub history: Vec<Arc<StoredEvent>>,
    /// Events older than this were compacted away: resuming before it answers 410 Gone.
    pub compacted_before: u64,
    pub require_namespaces: bool,
    pub events: broadcast::Sender<Arc<StoredEvent>>,
}

/// Chunked-list parameters (`limit`, `continue`).
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

fn encode_continue(namespace: &str, name: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{namespace}/{name}"))
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    use base64::Engine;
    let invalid = || ApiError::bad_request(format!("invalid continue token {token:?}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (namespace, name) = text.split_once('/').ok_or_else(invalid)?;
    Ok((namespace.to_owned(), name.to_owned()))
}

/// What a new watch starts from; `live` carries only events after `replay` and `rv`.
pub struct WatchStart {
    pub replay: Vec<Arc<StoredEvent>>,
    pub live: broadcast::Receiver<Arc<StoredEvent>>,
    pub rv: u64,
}

/// Shared, lock-protected store. Methods never hold the lock across an `.await`.
pub struct Store {
    state: Mutex<State>,
    events: broadcast::Sender<Arc<StoredEvent>>,
}

impl Store {
    pub fn new(registry: Registry, require_namespaces: bool) -> Self {
        let (events, _) = broadcast::channel(4096);
        let state = State {
            registry,
            objects: BTreeMap::new(),
            rv: 1,
            history: Vec::new(),
            compacted_before: 0,
            require_namespaces,
            events: events.clone(),
        };
        Self {
            state: Mutex::new(state),
            events,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Live events (after the current state); pair with [`Store::watch_from`] for history.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.events.subscribe()
    }

    pub fn registry(&self) -> Registry {
        self.lock().registry.clone()
    }

    pub fn resource(&self, gvr: &Gvr) -> Result<ResourceDef, ApiError> {
        self.lock().resource(gvr)
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, gvr: &Gvr, namespace: Option<&str>, name: &str) -> Result<Value, ApiError> {
        let state = self.lock();
        let def = state.resource(gvr)?;
        state
            .objects
            .get(&ObjKey::new(gvr.clone(), namespace, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&def.gvr.qualified(), name))
    }

    /// Matching objects (all namespaces when `namespace` is `None`) as a `<Kind>List`.
    pub fn list(
        &self,
        gvr: &Gvr,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> Result<Value, ApiError> {
        self.list_page(gvr, namespace, labels, fields, &Page::default())
    }

    /// One page of a list: at most `limit` items after the `continue` token, with a token for
    /// the rest (`metadata.continue`, `remainingItemCount`), like a chunked list.
    pub fn list_page(
        &self,
        gvr: &Gvr,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        page: &Page,
    ) -> Result<Value, ApiError> {
        let state = self.lock();
        let def = state.resource(gvr)?;
        let after = page
            .continue_token
            .as_deref()
            .map(decode_continue)
            .transpose()?;
        let matching: Vec<(&ObjKey, &Value)> = state
            .objects
            .iter()
            .filter(|(k, _)| &k.gvr == gvr && namespace.is_none_or(|ns| k.namespace == ns))
            .filter(|(k, _)| {
                after
                    .as_ref()
                    .is_none_or(|a| (&k.namespace, &k.name) > (&a.0, &a.1))
            })
            .filter(|(_, v)| labels.matches(v) && fields.matches(v))
            .collect();
        let limit = page.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut metadata = json!({ "resourceVersion": state.rv.to_string() });
        if matching.len() > limit
            && let Some((last, _)) = matching.get(limit - 1)
        {
            metadata["continue"] = json!(encode_continue(&last.namespace, &last.name));
            metadata["remainingItemCount"] = json!(matching.len() - limit);
        }
        let items: Vec<Value> = matching
            .into_iter()
            .take(limit)
            .map(|(_, v)| v.clone())
            .collect();
        Ok(json!({
            "kind": format!("{}List", def.kind),
            "apiVersion": gvr.api_version(),
            "metadata": metadata,
            "items": items,
        }))
    }

    pub fn create(
        &self,
        gvr: &Gvr,
        namespace: Option<&str>,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        self.lock().create(gvr, namespace, body, opts)
    }

    pub fn replace(
        &self,
        key: &ObjKey,
        body: Value,
        sub: Subresource,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        self.lock().replace(key, body, sub, opts)
    }

    pub fn patch(
        &self,
        key: &ObjKey,
        kind: PatchKind,
        body: &[u8],
        sub: Subresource,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        self.lock().patch(key, kind, body, sub, opts)
    }

    pub fn delete(&self, key: &ObjKey, opts: &DeleteOptions) -> Result<DeleteOutcome, ApiError> {
        self.lock().delete(key, opts)
    }

    /// Deletes every matching object of a collection; answers the `<Kind>List` of what was deleted.
    pub fn delete_collection(
        &self,
        gvr: &Gvr,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        opts: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let mut list = self.list(gvr, namespace, labels, fields)?;
        let mut state = self.lock();
        let mut deleted = Vec::new();
        if let Some(items) = list.get("items").and_then(Value::as_array) {
            for item in items {
                let ns = meta::meta_str(item, "namespace");
                let key = ObjKey::new(gvr.clone(), ns, meta::name(item));
                match state.delete(&key, opts) {
                    Ok(DeleteOutcome::Deleted(v) | DeleteOutcome::Pending(v)) => deleted.push(v),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
        }
        list["items"] = Value::Array(deleted);
        Ok(list)
    }

    /// For a watch: events after `rv` (or synthetic ADDED events for the current state when `rv`
    /// is `None`) and a receiver for what follows, taken atomically so nothing falls in between.
    pub fn watch_from(
        &self,
        gvr: &Gvr,
        namespace: Option<&str>,
        rv: Option<u64>,
    ) -> Result<WatchStart, ApiError> {
        let state = self.lock();
        state.resource(gvr)?;
        let in_scope = |k: &ObjKey| &k.gvr == gvr && namespace.is_none_or(|ns| k.namespace == ns);
        let replay = match rv {
            None => state
                .objects
                .iter()
                .filter(|(k, _)| in_scope(k))
                .map(|(k, v)| {
                    Arc::new(StoredEvent {
                        rv: meta::resource_version(v).parse().unwrap_or(0),
                        key: k.clone(),
                        kind: EventType::Added,
                        object: v.clone(),
                        old: None,
                    })
                })
                .collect(),
            Some(since) => {
                if since < state.compacted_before {
                    return Err(ApiError::gone(format!(
                        "too old resource version: {since} ({})",
                        state.compacted_before
                    )));
                }
                state
                    .history
                    .iter()
                    .filter(|e| e.rv > since && in_scope(&e.key))
                    .cloned()
                    .collect()
            }
        };
        Ok(WatchStart {
            replay,
            live: self.events.subscribe(),
            rv: state.rv,
        })
    }

    /// Forgets the event history: resuming a watch from any version handed out so far answers
    /// 410 Gone (the version moves on so a fresh list gets a resumable one).
    pub fn compact(&self) {
        let mut state = self.lock();
        state.history.clear();
        state.compacted_before = state.next_rv();
    }

    /// Every object of a type (all namespaces), for assertions.
    pub fn objects_of(&self, gvr: &Gvr) -> Vec<Value> {
        let state = self.lock();
        state
            .objects
            .iter()
            .filter(|(k, _)| &k.gvr == gvr)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

impl State {
    pub fn resource(&self, gvr: &Gvr) -> Result<ResourceDef, ApiError> {
        self.registry.get(gvr).cloned().ok_or_else(|| {
            ApiError::new(
                404,
                "NotFound",
                format!(
                    "the server could not find the requested resource ({})",
                    gvr.qualified()
                ),
            )
        })
    }

    /// Records a change: bumps nothing itself (callers stamp `resourceVersion`), keeps history,
    /// notifies watches.
    pub fn emit(&mut self, key: &ObjKey, kind: EventType, object: &Value, old: Option<Value>) {
        let event = Arc::new(StoredEvent {
            rv: self.rv,
            key: key.clone(),
            kind,
            object: object.clone(),
            old,
        });
        self.history.push(event.clone());
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(event);
    }

    pub fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }
}
