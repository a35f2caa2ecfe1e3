//! The Kubernetes API as the backend uses it: a client made on first use, server-side apply with
//! the field manager `pgbroker`, get and delete that treat "not found" as an answer, and errors
//! that say which object failed and whether trying again can help.

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, Config};
use pgbroker_domain::Reason;
use serde_json::Value;
use std::sync::Arc;

use pgbroker_domain::ports::TraceContext;
use tokio::sync::OnceCell;

use crate::kinds::Kind;
use crate::request_spans::RequestSpans;
use crate::settings::Connection;

pub const FIELD_MANAGER: &str = "pgbroker";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("kubernetes client configuration: {0}")]
    Config(String),
    /// An object the backend would write already exists and belongs to someone else.
    #[error("{0}")]
    NotOurs(String),
    #[error("{verb} {kind} {target}: {status} {reason}: {message}")]
    Refused {
        verb: &'static str,
        kind: &'static str,
        target: String,
        status: u16,
        reason: String,
        message: String,
    },
    #[error("{verb} {kind} {target}: {source}")]
    Transport {
        verb: &'static str,
        kind: &'static str,
        target: String,
        #[source]
        source: kube::Error,
    },
}

impl ApiError {
    /// Conflicts, throttling, server errors and lost connections pass; a refused object does not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Config(_) | Self::Transport { .. } => true,
            Self::NotOurs(_) => false,
            Self::Refused { status, .. } => !matches!(status, 400 | 403 | 404 | 405 | 422),
        }
    }

    /// What the failure means, in the reasons every backend shares.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Config(_) | Self::Transport { .. } => Reason::BackendUnavailable,
            Self::NotOurs(_) => Reason::ForeignObject,
            Self::Refused {
                status, message, ..
            } => match status {
                400 | 422 => Reason::InvalidSpec,
                // The ResourceQuota admission plugin refuses with 403 Forbidden and
                // "exceeded quota: <name>, requested: ..., used: ..., limited: ...".
                403 if message.contains("exceeded quota") => Reason::QuotaExceeded,
                404 => Reason::NotFound,
                409 => Reason::Conflict,
                429 | 500..=599 => Reason::BackendUnavailable,
                _ => Reason::BackendFailed,
            },
        }
    }
}

/// Makes the client once, when first needed, so the backend can be built without a cluster.
pub struct Connector {
    connection: Connection,
    client: OnceCell<Client>,
    traces: Option<Arc<dyn TraceContext>>,
}

impl Connector {
    pub fn new(connection: Connection) -> Self {
        Self {
            connection,
            client: OnceCell::new(),
            traces: None,
        }
    }

    pub fn with_client(client: Client) -> Self {
        Self {
            connection: Connection::Infer,
            client: OnceCell::new_with(Some(client)),
            traces: None,
        }
    }

    /// The client it makes gives each request inside a span a span of its own and a
    /// `traceparent` header ([`RequestSpans`]).
    pub fn traced(mut self, traces: Arc<dyn TraceContext>) -> Self {
        self.traces = Some(traces);
        self
    }

    pub async fn client(&self) -> Result<Client, ApiError> {
        self.client
            .get_or_try_init(|| async {
                // rustls needs a process-wide crypto provider once a binary holds two (ring for
                // kube, aws-lc-rs for an AWS SDK); an already installed one is kept.
                let _ = rustls::crypto::ring::default_provider().install_default();
                // Says plainly that there is nothing to read, rather than kube's inference error.
                crate::config_source::locate(&self.connection)
                    .map_err(|e| ApiError::Config(e.to_string()))?;
                let config = match &self.connection {
                    Connection::Infer => Config::infer()
                        .await
                        .map_err(|e| ApiError::Config(e.to_string()))?,
                    Connection::InCluster => {
                        Config::incluster().map_err(|e| ApiError::Config(e.to_string()))?
                    }
                    Connection::Kubeconfig { path, context } => {
                        let kubeconfig =
                            kube::config::Kubeconfig::read_from(path).map_err(|e| {
                                ApiError::Config(format!("kubeconfig {}: {e}", path.display()))
                            })?;
                        let options = kube::config::KubeConfigOptions {
                            context: context.clone(),
                            ..Default::default()
                        };
                        Config::from_custom_kubeconfig(kubeconfig, &options)
                            .await
                            .map_err(|e| ApiError::Config(e.to_string()))?
                    }
                };
                let builder = kube::client::ClientBuilder::try_from(config)
                    .map_err(|e| ApiError::Config(e.to_string()))?;
                Ok(match &self.traces {
                    Some(traces) => builder
                        .with_layer(&RequestSpans::new(traces.clone()))
                        .build(),
                    None => builder.build(),
                })
            })
            .await
            .cloned()
    }
}

/// Calls on one kind of object.
pub struct Objects {
    kind: Kind,
    namespace: Option<String>,
    api: Api<DynamicObject>,
}

impl Objects {
    pub fn new(client: Client, kind: Kind, namespace: Option<&str>) -> Self {
        let ar = kind.api_resource();
        let api = match namespace {
            Some(ns) if kind.is_namespaced() => Api::namespaced_with(client, ns, &ar),
            _ => Api::all_with(client, &ar),
        };
        Self {
            kind,
            namespace: namespace.map(str::to_string),
            api,
        }
    }

    fn target(&self, name: &str) -> String {
        match &self.namespace {
            Some(ns) if self.kind.is_namespaced() => format!("{ns}/{name}"),
            _ => name.to_string(),
        }
    }

    fn error(&self, verb: &'static str, name: &str, e: kube::Error) -> ApiError {
        match e {
            kube::Error::Api(status) => ApiError::Refused {
                verb,
                kind: self.kind.kind(),
                target: self.target(name),
                status: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            other => ApiError::Transport {
                verb,
                kind: self.kind.kind(),
                target: self.target(name),
                source: other,
            },
        }
    }

    /// Server-side apply of the fields in `manifest`; fields this manager set before and left
    /// out now are removed, fields of other managers (CNPG's defaults) are kept.
    pub async fn apply(&self, manifest: &Value) -> Result<(), ApiError> {
        let name = manifest
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.api
            .patch(&name, &params, &Patch::Apply(manifest))
            .await
            .map(drop)
            .map_err(|e| self.error("apply", &name, e))
    }

    /// JSON merge patch, for the few fields the backend sets outside its applied manifests.
    pub async fn merge(&self, name: &str, patch: &Value) -> Result<(), ApiError> {
        self.api
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map(drop)
            .map_err(|e| self.error("patch", name, e))
    }

    pub async fn get(&self, name: &str) -> Result<Option<Value>, ApiError> {
        match self.api.get_opt(name).await {
            Ok(Some(obj)) => serde_json::to_value(obj)
                .map(Some)
                .map_err(|e| ApiError::Transport {
                    verb: "get",
                    kind: self.kind.kind(),
                    target: self.target(name),
                    source: kube::Error::SerdeError(e),
                }),
            Ok(None) => Ok(None),
            Err(e) => Err(self.error("get", name, e)),
        }
    }

    /// Names of the objects matching a label selector.
    pub async fn names(&self, selector: &str) -> Result<Vec<String>, ApiError> {
        let list = self
            .api
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(|e| self.error("list", selector, e))?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .collect())
    }

    /// The objects matching a label selector (every object of the namespace with `None`).
    pub async fn list(&self, selector: Option<&str>) -> Result<Vec<Value>, ApiError> {
        let params = match selector {
            Some(s) => ListParams::default().labels(s),
            None => ListParams::default(),
        };
        let target = selector.unwrap_or("*");
        let list = self
            .api
            .list(&params)
            .await
            .map_err(|e| self.error("list", target, e))?;
        list.items
            .into_iter()
            .map(|o| {
                serde_json::to_value(o).map_err(|e| ApiError::Transport {
                    verb: "list",
                    kind: self.kind.kind(),
                    target: self.target(target),
                    source: kube::Error::SerdeError(e),
                })
            })
            .collect()
    }

    /// Asks for deletion (dependents in the background); `true` when the object is gone already.
    pub async fn delete(&self, name: &str) -> Result<bool, ApiError> {
        match self.api.delete(name, &DeleteParams::background()).await {
            Ok(_) => Ok(false),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(true),
            Err(e) => Err(self.error("delete", name, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, reason: &str, message: &str) -> ApiError {
        ApiError::Refused {
            verb: "apply",
            kind: "Cluster",
            target: "ns/pg-1".into(),
            status,
            reason: reason.into(),
            message: message.into(),
        }
    }

    #[test]
    fn api_failures_map_onto_the_shared_reasons() {
        let cases = [
            (
                refused(422, "Invalid", "spec.instances: Invalid value"),
                Reason::InvalidSpec,
                false,
            ),
            (
                refused(400, "BadRequest", "bad patch"),
                Reason::InvalidSpec,
                false,
            ),
            (
                refused(
                    403,
                    "Forbidden",
                    "clusters.postgresql.cnpg.io \"pg-1\" is forbidden: exceeded quota: \
                     compute, requested: requests.cpu=2, used: requests.cpu=3, limited: requests.cpu=4",
                ),
                Reason::QuotaExceeded,
                false,
            ),
            (
                refused(403, "Forbidden", "user cannot patch resource \"clusters\""),
                Reason::BackendFailed,
                false,
            ),
            (
                refused(404, "NotFound", "the server could not find"),
                Reason::NotFound,
                false,
            ),
            (
                refused(409, "Conflict", "the object has been modified"),
                Reason::Conflict,
                true,
            ),
            (
                refused(429, "TooManyRequests", "slow down"),
                Reason::BackendUnavailable,
                true,
            ),
            (
                refused(500, "InternalError", "etcd"),
                Reason::BackendUnavailable,
                true,
            ),
            (
                refused(503, "ServiceUnavailable", "down"),
                Reason::BackendUnavailable,
                true,
            ),
            (
                ApiError::Config("no kubeconfig".into()),
                Reason::BackendUnavailable,
                true,
            ),
            (
                ApiError::NotOurs("namespace taken".into()),
                Reason::ForeignObject,
                false,
            ),
        ];
        for (error, reason, retryable) in cases {
            assert_eq!(error.reason(), reason, "{error}");
            assert_eq!(error.is_retryable(), retryable, "{error}");
        }
    }
}
