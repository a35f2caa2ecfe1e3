//! A watch-fed cache of the backend's Clusters. Readiness is read from here, so an operation
//! that waits for a cluster costs no API request per step: one watch serves every instance.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::kinds::Kind;

pub struct ClusterCache {
    store: Store<DynamicObject>,
    task: JoinHandle<()>,
}

impl ClusterCache {
    /// Starts watching Clusters matching `selector`, in `namespace` or everywhere.
    pub fn start(client: Client, namespace: Option<&str>, selector: &str) -> Self {
        let ar = Kind::Cluster.api_resource();
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(client, ns, &ar),
            None => Api::all_with(client, &ar),
        };
        let writer = reflector::store::Writer::new(ar);
        let store = writer.as_reader();
        let config = watcher::Config::default().labels(selector).any_semantic();
        let stream = reflector::reflector(writer, watcher(api, config).default_backoff());
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                if let Err(e) = event {
                    // The watcher backs off and resumes; the cache keeps its last view meanwhile.
                    warn!(error = %e, "watch of CloudNativePG clusters interrupted");
                }
            }
        });
        Self { store, task }
    }

    /// Waits for the first complete listing, up to `timeout`.
    pub async fn synced(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.store.wait_until_ready())
            .await
            .is_ok_and(|r| r.is_ok())
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Value> {
        let key = ObjectRef::new_with(name, Kind::Cluster.api_resource()).within(namespace);
        let obj: Arc<DynamicObject> = self.store.get(&key)?;
        serde_json::to_value(obj.as_ref()).ok()
    }
}

impl Drop for ClusterCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}
