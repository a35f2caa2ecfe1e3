//! A CloudNativePG operator simulator: a task that watches the store and, after a configurable
//! delay, does what the operator would (Cluster status and owned secrets/services, Database and
//! DatabaseRole `status.applied`, Pooler services, LoadBalancer addresses). Clusters can be told
//! to fail (with a failure phase) or to stall (never become ready).

mod backups;
pub mod cluster;
mod databases;
mod dependents;
mod instances;
pub mod objects;
pub mod postgres;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::error::ApiError;
use crate::registry::Gvr;
use crate::store::{EventType, ObjKey, Store, StoredEvent, Subresource, WriteOptions, meta};

pub use postgres::{DEFAULT_EXTENSIONS, PostgresState};

pub use cluster::{
    PHASE_APPLYING_CONFIGURATION, PHASE_CANNOT_CREATE_OBJECTS, PHASE_DEFINITION_INVALID,
    PHASE_HEALTHY, PHASE_IMAGE_CATALOG_ERROR, PHASE_SETTING_UP_PRIMARY, PHASE_UNRECOVERABLE,
};

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimulatorOptions {
    /// Off: nothing reacts to CNPG objects (a cluster without an operator).
    pub enabled: bool,
    /// How long CNPG "takes" for each step (cluster ready, database applied, ...).
    pub ready_delay: Duration,
    /// Used in `fqdn-uri` keys.
    pub cluster_domain: String,
}

impl Default for SimulatorOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            ready_delay: Duration::from_millis(50),
            cluster_domain: "cluster.local".into(),
        }
    }
}

type ClusterId = (String, String);

#[derive(Default)]
struct Controls {
    ready_delay: Duration,
    stall_all: bool,
    stalled: HashSet<ClusterId>,
    failed: HashMap<ClusterId, (String, String)>,
    /// Clusters whose backups fail, with the error text.
    failed_backups: HashMap<ClusterId, String>,
    /// The generation each cluster was last made healthy at (a new one means a spec change).
    healthy_generation: HashMap<ClusterId, i64>,
    pending: HashSet<ObjKey>,
    /// Each cluster's PostgreSQL, made on first use from its bootstrap.
    postgres: HashMap<ClusterId, PostgresState>,
    /// Extensions the image has (`CREATE EXTENSION` of any other fails).
    extensions: BTreeSet<String>,
}

pub(crate) struct Inner {
    store: Arc<Store>,
    controls: Mutex<Controls>,
    cluster_domain: String,
    next_address: AtomicU32,
}

/// Handle on the running simulator (stopped when dropped with the server).
pub struct Simulator {
    inner: Arc<Inner>,
    task: Option<JoinHandle<()>>,
}

pub(crate) fn gvr(plural: &str) -> Gvr {
    Gvr::new("postgresql.cnpg.io", "v1", plural)
}

impl Simulator {
    pub(crate) fn start(store: Arc<Store>, options: SimulatorOptions) -> Self {
        let controls = Controls {
            ready_delay: options.ready_delay,
            extensions: DEFAULT_EXTENSIONS.iter().map(|e| (*e).to_owned()).collect(),
            ..Controls::default()
        };
        let inner = Arc::new(Inner {
            store: store.clone(),
            controls: Mutex::new(controls),
            cluster_domain: options.cluster_domain,
            next_address: AtomicU32::new(10),
        });
        let task = options.enabled.then(|| {
            let events = store.subscribe();
            let runner = inner.clone();
            tokio::spawn(async move { runner.run(events).await })
        });
        Self { inner, task }
    }

    pub fn is_enabled(&self) -> bool {
        self.task.is_some()
    }

    pub fn set_ready_delay(&self, delay: Duration) {
        self.inner.controls().ready_delay = delay;
    }

    /// The cluster stays in `Setting up primary` (e.g. waiting for storage) until healed.
    pub fn stall_cluster(&self, namespace: &str, name: &str) {
        self.inner
            .controls()
            .stalled
            .insert((namespace.to_owned(), name.to_owned()));
        self.inner
            .schedule(ObjKey::new(gvr("clusters"), Some(namespace), name));
    }

    /// Every cluster (existing and future) stalls until `stall_all_clusters(false)`.
    pub fn stall_all_clusters(&self, stall: bool) {
        self.inner.controls().stall_all = stall;
        self.inner.schedule_all();
    }

    /// The cluster goes to a failure `phase` (e.g. [`PHASE_UNRECOVERABLE`]) with `reason` as
    /// `phaseReason`.
    pub fn fail_cluster(&self, namespace: &str, name: &str, phase: &str, reason: &str) {
        let id = (namespace.to_owned(), name.to_owned());
        self.inner
            .controls()
            .failed
            .insert(id, (phase.to_owned(), reason.to_owned()));
        self.inner
            .schedule(ObjKey::new(gvr("clusters"), Some(namespace), name));
    }

    /// Backups of this cluster (existing pending ones and future ones) fail with `error`.
    pub fn fail_backups(&self, namespace: &str, cluster: &str, error: &str) {
        let id = (namespace.to_owned(), cluster.to_owned());
        self.inner
            .controls()
            .failed_backups
            .insert(id, error.to_owned());
        self.inner.schedule_all();
    }

    /// What the cluster's PostgreSQL holds (roles, databases and owners), once a Database or
    /// DatabaseRole of it was reconciled.
    pub fn postgres(&self, namespace: &str, cluster: &str) -> Option<PostgresState> {
        self.inner
            .controls()
            .postgres
            .get(&(namespace.to_owned(), cluster.to_owned()))
            .cloned()
    }

    /// The extensions the image has, instead of [`DEFAULT_EXTENSIONS`].
    pub fn set_available_extensions(&self, names: &[&str]) {
        self.inner.controls().extensions = names.iter().map(|n| (*n).to_owned()).collect();
        self.inner.schedule_all();
    }

    /// Clears a stall or failure of one cluster (and of its backups); it becomes healthy after
    /// the delay.
    pub fn heal_cluster(&self, namespace: &str, name: &str) {
        let id = (namespace.to_owned(), name.to_owned());
        {
            let mut controls = self.inner.controls();
            controls.stalled.remove(&id);
            controls.failed.remove(&id);
            controls.failed_backups.remove(&id);
        }
        self.inner
            .schedule(ObjKey::new(gvr("clusters"), Some(namespace), name));
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Inner {
    fn controls(&self) -> MutexGuard<'_, Controls> {
        self.controls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn run(self: Arc<Self>, mut events: broadcast::Receiver<Arc<StoredEvent>>) {
        self.schedule_all();
        loop {
            match events.recv().await {
                Ok(event) => self.on_event(&event),
                Err(broadcast::error::RecvError::Lagged(_)) => self.schedule_all(),
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    fn schedule_all(self: &Arc<Self>) {
        for plural in [
            "clusters",
            "databases",
            "databaseroles",
            "poolers",
            "scheduledbackups",
            "backups",
        ] {
            for object in self.store.objects_of(&gvr(plural)) {
                self.schedule(key_of(&gvr(plural), &object));
            }
        }
    }

    fn on_event(self: &Arc<Self>, event: &StoredEvent) {
        let key = &event.key;
        if event.kind == EventType::Deleted {
            if key.gvr == gvr("clusters") {
                let id = (key.namespace.clone(), key.name.clone());
                let mut controls = self.controls();
                controls.healthy_generation.remove(&id);
                controls.postgres.remove(&id);
            } else if key.gvr == gvr("databases") {
                // A dropped database may have been what kept a role from being dropped.
                self.schedule_namespace(&key.namespace, &["databaseroles"]);
            }
            return;
        }
        let is_cnpg = key.gvr.group == "postgresql.cnpg.io";
        match key.gvr.plural.as_str() {
            "clusters" if is_cnpg => {
                if event.object.pointer("/status/phase").is_none()
                    && !meta::is_deleting(&event.object)
                {
                    self.first_sight(&event.object);
                }
                self.schedule(key.clone());
                self.schedule_namespace(
                    &key.namespace,
                    &["databases", "databaseroles", "poolers", "backups"],
                );
            }
            // CNPG retries a failed Database or DatabaseRole every 30 s; here what can change
            // the outcome (a role made or dropped, a database dropped or handed over) reschedules.
            "databases" if is_cnpg => {
                self.schedule(key.clone());
                self.schedule_namespace(&key.namespace, &["databaseroles"]);
            }
            "databaseroles" if is_cnpg => {
                self.schedule(key.clone());
                self.schedule_namespace(&key.namespace, &["databases"]);
            }
            "poolers" | "scheduledbackups" | "backups" if is_cnpg => {
                self.schedule(key.clone());
            }
            "secrets" if key.gvr.group.is_empty() => {
                self.schedule_namespace(&key.namespace, &["databaseroles"])
            }
            "services"
                if key.gvr.group.is_empty() && dependents::wants_load_balancer(&event.object) =>
            {
                self.schedule(key.clone());
            }
            _ => {}
        }
    }

    fn schedule_namespace(self: &Arc<Self>, namespace: &str, plurals: &[&str]) {
        for plural in plurals {
            for object in self.store.objects_of(&gvr(plural)) {
                if meta::meta_str(&object, "namespace") == Some(namespace) {
                    self.schedule(key_of(&gvr(plural), &object));
                }
            }
        }
    }

    /// Runs `reconcile(key)` after the delay, once however many events arrive meanwhile.
    fn schedule(self: &Arc<Self>, key: ObjKey) {
        let delay = {
            let mut controls = self.controls();
            if !controls.pending.insert(key.clone()) {
                return;
            }
            controls.ready_delay
        };
        let inner = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            inner.controls().pending.remove(&key);
            if let Err(error) = inner.reconcile(&key) {
                // A conflicting write raced us: the event it caused reschedules this object.
                tracing::debug!(object = ?key, %error, "simulator reconcile failed");
            }
        });
    }

    fn reconcile(self: &Arc<Self>, key: &ObjKey) -> Result<(), ApiError> {
        let ns = Some(key.namespace.as_str()).filter(|n| !n.is_empty());
        let Ok(object) = self.store.get(&key.gvr, ns, &key.name) else {
            return Ok(());
        };
        match (key.gvr.group.as_str(), key.gvr.plural.as_str()) {
            ("postgresql.cnpg.io", "clusters") => self.reconcile_cluster(key, &object),
            ("postgresql.cnpg.io", "databases") => self.reconcile_database(key, &object),
            ("postgresql.cnpg.io", "databaseroles") => self.reconcile_role(key, &object),
            ("postgresql.cnpg.io", "poolers") => self.reconcile_pooler(key, &object),
            ("postgresql.cnpg.io", "scheduledbackups") => {
                self.reconcile_scheduled_backup(key, &object)
            }
            ("postgresql.cnpg.io", "backups") => self.reconcile_backup(key, &object),
            ("", "services") => self.assign_load_balancer(key, &object),
            _ => Ok(()),
        }
    }

    /// Replaces the status (no-op when unchanged, so reconciles converge).
    pub(crate) fn write_status(
        &self,
        key: &ObjKey,
        object: &Value,
        status: Value,
    ) -> Result<(), ApiError> {
        if object.get("status") == Some(&status) {
            return Ok(());
        }
        let mut updated = object.clone();
        updated["status"] = status;
        self.store
            .replace(key, updated, Subresource::Status, &WriteOptions::default())
            .map(|_| ())
    }

    /// Creates an object unless one of that name exists (then its status, for types with a
    /// status subresource).
    pub(crate) fn ensure(&self, object: &Value) -> Result<(), ApiError> {
        let gvr = match object.get("kind").and_then(Value::as_str) {
            Some("Secret") => Gvr::new("", "v1", "secrets"),
            Some("Service") => Gvr::new("", "v1", "services"),
            Some("Pod") => Gvr::new("", "v1", "pods"),
            Some("PersistentVolumeClaim") => Gvr::new("", "v1", "persistentvolumeclaims"),
            other => {
                return Err(ApiError::bad_request(format!(
                    "simulator cannot create {other:?}"
                )));
            }
        };
        let ns = meta::meta_str(object, "namespace");
        if self.store.get(&gvr, ns, meta::name(object)).is_ok() {
            return Ok(());
        }
        let created = match self
            .store
            .create(&gvr, ns, object.clone(), &WriteOptions::default())
        {
            Err(e) if e.code == 409 => return Ok(()),
            other => other?,
        };
        match object.get("status") {
            Some(status) if created.get("status") != Some(status) => {
                self.write_status(&key_of(&gvr, &created), &created, status.clone())
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn next_address(&self) -> u32 {
        self.next_address.fetch_add(1, Ordering::Relaxed)
    }
}

pub(crate) fn key_of(gvr: &Gvr, object: &Value) -> ObjKey {
    ObjKey::new(
        gvr.clone(),
        meta::meta_str(object, "namespace"),
        meta::name(object),
    )
}
