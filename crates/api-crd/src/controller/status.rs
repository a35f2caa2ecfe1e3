//! The status a reconcile reports: one `Ready` condition (reason and message), the phase, and
//! what the object runs on. Written with server-side apply on the status subresource, and only
//! when it changes, so a status write does not start another round of reconciles.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use pgbroker_domain::Reason;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::crd::{Phase, PostgreSQLStatus};

use super::{Context, Error, FIELD_MANAGER};

/// What the object's status should say.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub phase: Phase,
    /// `Ready` condition: its reason (CamelCase) and message.
    pub reason: String,
    pub message: String,
    pub backend: Option<String>,
    pub plan: Option<String>,
    pub endpoint: Option<String>,
    pub operation: Option<String>,
    /// Something is wrong (its Event is a Warning): a failure in the shared vocabulary.
    pub warning: bool,
}

impl Report {
    pub fn new(phase: Phase, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            phase,
            reason: reason.into(),
            message: message.into(),
            backend: None,
            plan: None,
            endpoint: None,
            operation: None,
            warning: phase == Phase::Failed,
        }
    }

    /// A failure in the shared vocabulary; `phase` says where the object is left.
    pub fn failed(phase: Phase, reason: Reason, message: impl Into<String>) -> Self {
        Self {
            warning: true,
            ..Self::new(phase, reason.as_str(), message)
        }
    }

    pub fn on(mut self, backend: Option<String>, plan: Option<String>) -> Self {
        self.backend = backend;
        self.plan = plan;
        self
    }

    fn ready(&self) -> bool {
        self.phase == Phase::Ready
    }
}

/// The status `report` makes for an object of `generation` whose status is now `current`;
/// the condition keeps its transition time while its status stays the same.
pub fn status_for(
    current: Option<&PostgreSQLStatus>,
    generation: Option<i64>,
    report: &Report,
) -> PostgreSQLStatus {
    let status = if report.ready() { "True" } else { "False" };
    let previous = current.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    let last_transition_time = match previous {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Time(k8s_openapi::jiff::Timestamp::now()),
    };
    PostgreSQLStatus {
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: report.reason.clone(),
            message: report.message.chars().take(32 * 1024).collect(),
            observed_generation: generation,
            last_transition_time,
        }],
        observed_generation: generation,
        phase: Some(report.phase),
        backend: report.backend.clone(),
        plan: report.plan.clone(),
        endpoint: report.endpoint.clone(),
        operation: report.operation.clone(),
    }
}

/// Writes the status when it differs from `current`, and publishes an Event when that is a
/// transition.
pub async fn publish<K>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    current: Option<&PostgreSQLStatus>,
    report: &Report,
) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let status = status_for(current, obj.meta().generation, report);
    if current == Some(&status) {
        return Ok(());
    }
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await?;
    ctx.events.transition(obj, current, report).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transition_time_moves_only_when_readiness_changes() {
        let pending = Report::new(Phase::Provisioning, "Provisioning", "provisioning");
        let first = status_for(None, Some(1), &pending);
        assert_eq!(first.conditions[0].status, "False");
        let again = status_for(Some(&first), Some(1), &pending);
        assert_eq!(again, first);
        let failed = Report::failed(Phase::Failed, Reason::NoFittingPlan, "no plan");
        let second = status_for(Some(&first), Some(2), &failed);
        assert_eq!(
            second.conditions[0].last_transition_time,
            first.conditions[0].last_transition_time
        );
        assert_eq!(second.conditions[0].reason, "NoFittingPlan");
        assert_eq!(second.conditions[0].observed_generation, Some(2));
        let ready = status_for(
            Some(&second),
            Some(2),
            &Report::new(Phase::Ready, "Ready", "ok"),
        );
        assert_eq!(ready.conditions[0].status, "True");
    }
}
