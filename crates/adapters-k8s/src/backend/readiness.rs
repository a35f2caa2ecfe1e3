//! When an instance is ready: the cached Cluster first (no request), then one read each for the
//! pooler and the application database once the cluster is healthy.

use pgbroker_domain::Reason;
use pgbroker_domain::ports::{InstanceRequest, Step, StepFailure};
use serde_json::Value;

use super::CnpgBackend;
use super::provision::applied_by;
use crate::cache::ClusterCache;
use crate::client::ApiError;
use crate::kinds::Kind;
use crate::names::InstanceNames;
use crate::plan::Desired;
use crate::status::{Readiness, cluster_readiness};

/// CloudNativePG reports the cluster or pooler failed: [`Reason::BackendFailed`].
fn permanent<T>(why: impl Into<String>) -> Step<T> {
    Step::Failed(StepFailure::permanent(Reason::BackendFailed, why))
}

impl CnpgBackend {
    pub(super) async fn readiness(
        &self,
        cache: &ClusterCache,
        req: &InstanceRequest,
        names: &InstanceNames,
        desired: &Desired,
    ) -> Result<Step<()>, ApiError> {
        let cached = cache.get(&names.namespace, &names.cluster);
        let cluster = match cached {
            Some(c) if applied_by(Some(&c), req) => c,
            _ => {
                return Ok(Step::in_progress(
                    format!(
                        "Cluster {}/{} submitted; waiting for CloudNativePG",
                        names.namespace, names.cluster
                    ),
                    self.poll(),
                ));
            }
        };
        match cluster_readiness(&cluster, Some(desired.major)) {
            Readiness::Ready => {}
            Readiness::Progressing(text) => return Ok(Step::in_progress(text, self.poll())),
            Readiness::Failed(text) => return Ok(permanent(text)),
        }
        if desired.pooler().is_some() {
            let pooler = self
                .objects(Kind::Pooler, &names.namespace)
                .await?
                .get(&names.pooler())
                .await?;
            match pooler.as_ref().map(pooler_phase) {
                Some(PoolerPhase::Active) => {}
                Some(PoolerPhase::Failed(why)) => {
                    return Ok(permanent(format!("CloudNativePG: pooler failed: {why}")));
                }
                Some(PoolerPhase::Waiting(why)) => {
                    return Ok(Step::in_progress(
                        format!("CloudNativePG: pooler {why}"),
                        self.poll(),
                    ));
                }
                None => {
                    return Ok(Step::in_progress(
                        "waiting for the Pooler object to appear",
                        self.poll(),
                    ));
                }
            }
        }
        if !desired.extensions.is_empty() {
            let database = format!("{}-{}", names.cluster, crate::manifests::APP_DATABASE);
            let db = self
                .objects(Kind::Database, &names.namespace)
                .await?
                .get(&database)
                .await?;
            if let Some(waiting) = db.as_ref().and_then(not_applied).or_else(|| {
                db.is_none()
                    .then(|| "waiting for the Database object to appear".to_string())
            }) {
                return Ok(Step::in_progress(
                    format!("CloudNativePG: creating extensions: {waiting}"),
                    self.poll(),
                ));
            }
        }
        Ok(Step::Done(()))
    }
}

enum PoolerPhase {
    Active,
    Failed(String),
    Waiting(String),
}

/// A Pooler's `status.phase` (`active`, `paused`, `inactive`, `failed`) with its reason.
fn pooler_phase(pooler: &Value) -> PoolerPhase {
    let text = |key: &str| {
        pooler
            .pointer(&format!("/status/{key}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (phase, reason) = (text("phase"), text("phaseReason"));
    let described = if reason.is_empty() {
        phase.clone()
    } else {
        format!("{phase}: {reason}")
    };
    match phase.as_str() {
        "active" => PoolerPhase::Active,
        "failed" => PoolerPhase::Failed(described),
        "" => PoolerPhase::Waiting("not reconciled yet".into()),
        _ => PoolerPhase::Waiting(described),
    }
}

/// What keeps a Database or DatabaseRole from being applied, or `None` once it is.
pub(super) fn not_applied(obj: &Value) -> Option<String> {
    let applied = obj.pointer("/status/applied").and_then(Value::as_bool);
    let observed = obj
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
    let current = match (observed, generation) {
        (Some(o), Some(g)) => o >= g,
        _ => true,
    };
    if applied == Some(true) && current {
        return None;
    }
    Some(
        obj.pointer("/status/message")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .unwrap_or("not applied yet")
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pooler_phases_map_to_ready_waiting_and_failed() {
        let p = |status: Value| json!({"status": status});
        assert!(matches!(
            pooler_phase(&p(json!({"phase": "active"}))),
            PoolerPhase::Active
        ));
        assert!(matches!(
            pooler_phase(&p(json!({"phase": "failed", "phaseReason": "bad image"}))),
            PoolerPhase::Failed(why) if why == "failed: bad image"
        ));
        assert!(matches!(
            pooler_phase(&p(json!({"phase": "inactive", "phaseReason": "cluster not ready"}))),
            PoolerPhase::Waiting(why) if why == "inactive: cluster not ready"
        ));
        assert!(matches!(pooler_phase(&json!({})), PoolerPhase::Waiting(_)));
    }

    #[test]
    fn applied_means_applied_for_the_current_generation() {
        let obj = |generation: i64, status: Value| json!({"metadata": {"generation": generation}, "status": status});
        assert_eq!(
            not_applied(&obj(2, json!({"applied": true, "observedGeneration": 2}))),
            None
        );
        assert_eq!(
            not_applied(&obj(3, json!({"applied": true, "observedGeneration": 2}))),
            Some("not applied yet".into())
        );
        assert_eq!(
            not_applied(&obj(
                1,
                json!({"applied": false, "message": "role \"app\" does not exist"})
            )),
            Some("role \"app\" does not exist".into())
        );
        assert_eq!(
            not_applied(&obj(1, json!({}))),
            Some("not applied yet".into())
        );
    }
}
