//! Watches: newline-delimited JSON events (ADDED/MODIFIED/DELETED, BOOKMARK when asked), resumable
//! from a resourceVersion, filtered by selectors, ended by `timeoutSeconds` or an injected drop.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::{Shared, stream_response};
use crate::error::ApiError;
use crate::registry::ResourceDef;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{EventType, StoredEvent};

struct Filter {
    def: ResourceDef,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }

    /// The event a watcher with selectors sees: entering the selection is ADDED, leaving it DELETED.
    fn translate(&self, event: &StoredEvent) -> Option<Value> {
        if event.key.gvr != self.def.gvr
            || self
                .namespace
                .as_ref()
                .is_some_and(|ns| *ns != event.key.namespace)
        {
            return None;
        }
        let now = self.matches(&event.object);
        let kind = match event.kind {
            EventType::Added | EventType::Deleted => now.then_some(event.kind),
            EventType::Modified => match (event.old.as_ref().is_some_and(|o| self.matches(o)), now)
            {
                (true, true) => Some(EventType::Modified),
                (false, true) => Some(EventType::Added),
                (true, false) => Some(EventType::Deleted),
                (false, false) => None,
            },
        }?;
        Some(json!({ "type": kind.as_str(), "object": event.object }))
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Value {
        let mut metadata = json!({ "resourceVersion": rv.to_string() });
        if initial_events_end {
            metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        json!({
            "type": "BOOKMARK",
            "object": { "kind": self.def.kind, "apiVersion": self.def.gvr.api_version(), "metadata": metadata },
        })
    }
}

pub(super) fn serve(
    shared: &Shared,
    def: &ResourceDef,
    namespace: Option<&str>,
    labels: LabelSelector,
    fields: FieldSelector,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let q = |k: &str| query.get(k).map(String::as_str);
    let since = match q("resourceVersion") {
        None | Some("" | "0") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
    };
    let send_initial = q("sendInitialEvents") == Some("true");
    let bookmarks = q("allowWatchBookmarks") == Some("true");
    let timeout = q("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let since = if send_initial { None } else { since };
    let start = match shared.store.watch_from(&def.gvr, namespace, since) {
        Ok(start) => start,
        // Like the API server: a 200 stream carrying one ERROR event (clients relist on 410).
        Err(error) if error.code == 410 => {
            let line = json!({ "type": "ERROR", "object": error.to_status() });
            return Ok(stream_response(Body::from(format!("{line}\n"))));
        }
        Err(error) => return Err(error),
    };
    let filter = Filter {
        def: def.clone(),
        namespace: namespace.map(str::to_owned),
        labels,
        fields,
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    let drops = shared.faults.watch_drops();
    let interval = shared.bookmark_interval;
    tokio::spawn(async move {
        let setup = Setup {
            replay: start.replay,
            live: start.live,
            drops,
            timeout,
            bookmarks,
            interval,
            initial_end: send_initial.then_some(start.rv),
            start_rv: start.rv,
        };
        run(filter, setup, tx).await;
    });
    Ok(stream_response(Body::from_stream(ReceiverStream::new(rx))))
}

struct Setup {
    replay: Vec<Arc<StoredEvent>>,
    live: broadcast::Receiver<Arc<StoredEvent>>,
    drops: tokio::sync::watch::Receiver<u64>,
    timeout: Option<Duration>,
    bookmarks: bool,
    interval: Duration,
    initial_end: Option<u64>,
    /// The store's version when the watch started: the first bookmark's version.
    start_rv: u64,
}

async fn run(filter: Filter, mut setup: Setup, tx: mpsc::Sender<Result<Bytes, Infallible>>) {
    let send = |value: Value| {
        let tx = tx.clone();
        async move { tx.send(Ok(Bytes::from(format!("{value}\n")))).await.is_ok() }
    };
    let mut last_rv = setup.start_rv;
    for event in &setup.replay {
        last_rv = last_rv.max(event.rv);
        if let Some(line) = filter.translate(event)
            && !send(line).await
        {
            return;
        }
    }
    if let Some(rv) = setup.initial_end {
        last_rv = last_rv.max(rv);
        if !send(filter.bookmark(rv, true)).await {
            return;
        }
    }
    let deadline = tokio::time::sleep(setup.timeout.unwrap_or(Duration::from_secs(3600)));
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval(setup.interval.max(Duration::from_millis(1)));
    ticker.tick().await;
    loop {
        tokio::select! {
            () = &mut deadline => return,
            () = tx.closed() => return,
            _ = setup.drops.changed() => return,
            _ = ticker.tick(), if setup.bookmarks => {
                if !send(filter.bookmark(last_rv, false)).await {
                    return;
                }
            }
            received = setup.live.recv() => match received {
                Ok(event) => {
                    last_rv = last_rv.max(event.rv);
                    if let Some(line) = filter.translate(&event)
                        && !send(line).await
                    {
                        return;
                    }
                }
                // Too slow: end the stream; the client resumes from its last resourceVersion.
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}
