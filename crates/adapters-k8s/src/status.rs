//! What a CNPG Cluster's status says about readiness, in CNPG's own words.

use serde_json::Value;

/// Phase text CNPG writes when the cluster is fine (`PhaseHealthy`).
pub const PHASE_HEALTHY: &str = "Cluster in healthy state";

/// Phases after which CNPG does not proceed without a person (CNPG_FACTS §4).
const FAILED_PHASES: [&str; 7] = [
    "Cluster is unrecoverable and needs manual intervention",
    "Invalid cluster definition",
    "Unable to create required cluster objects",
    "Cluster has incomplete or invalid image catalog",
    "Cluster cannot proceed to reconciliation due to an unknown plugin being required",
    "Cluster cannot proceed to reconciliation due to an error while interacting with plugins",
    "Cluster cannot execute instance online upgrade due to missing architecture binary",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Still getting there; the text is CNPG's phase (and reason) for a person.
    Progressing(String),
    /// CNPG gave up; the text is its phase and reason.
    Failed(String),
}

/// Reads a Cluster object (`status` and `metadata.generation`); `major` is the PostgreSQL major
/// version the cluster should be running, when known.
pub fn cluster_readiness(cluster: &Value, major: Option<u32>) -> Readiness {
    let status = cluster.get("status");
    let text = |key: &str| {
        status
            .and_then(|s| s.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let phase = text("phase");
    let reason = text("phaseReason");
    let described = match (phase.is_empty(), reason.is_empty()) {
        (true, _) => "waiting for CloudNativePG to pick up the cluster".to_string(),
        (false, true) => phase.clone(),
        (false, false) => format!("{phase}: {reason}"),
    };
    if FAILED_PHASES.contains(&phase.as_str()) {
        return Readiness::Failed(format!("CloudNativePG: {described}"));
    }
    if phase != PHASE_HEALTHY {
        return Readiness::Progressing(format!("CloudNativePG: {described}"));
    }
    let generation = cluster
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let ready = status
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        });
    let Some(ready) = ready else {
        return Readiness::Progressing(format!("CloudNativePG: {phase}, not yet Ready"));
    };
    if ready.get("status").and_then(Value::as_str) != Some("True") {
        let message = ready.get("message").and_then(Value::as_str).unwrap_or("");
        return Readiness::Progressing(format!("CloudNativePG: {phase}, not Ready: {message}"));
    }
    // A Ready condition from before the last spec change says nothing about the change.
    let observed = ready.get("observedGeneration").and_then(Value::as_i64);
    if let (Some(observed), Some(generation)) = (observed, generation)
        && observed < generation
    {
        return Readiness::Progressing("CloudNativePG: applying the latest change".to_string());
    }
    // A spec change CNPG has not started on yet still shows the old healthy status; what can
    // be seen of the work itself is a major upgrade in flight and volumes being resized.
    if status
        .and_then(|s| s.get("targetPgDataImageInfo"))
        .is_some()
    {
        return Readiness::Progressing("CloudNativePG: major version upgrade in flight".into());
    }
    let data_major = status
        .and_then(|s| s.pointer("/pgDataImageInfo/majorVersion"))
        .and_then(Value::as_u64);
    if let (Some(want), Some(have)) = (major, data_major)
        && have < u64::from(want)
    {
        return Readiness::Progressing(format!(
            "CloudNativePG: data directory is at PostgreSQL {have}, waiting for {want}"
        ));
    }
    let resizing = status
        .and_then(|s| s.get("resizingPVC"))
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if resizing > 0 {
        return Readiness::Progressing(format!("CloudNativePG: resizing {resizing} volume(s)"));
    }
    let want = cluster.pointer("/spec/instances").and_then(Value::as_i64);
    let ready_instances = status
        .and_then(|s| s.get("readyInstances"))
        .and_then(Value::as_i64);
    if let (Some(want), Some(have)) = (want, ready_instances)
        && have < want
    {
        return Readiness::Progressing(format!(
            "CloudNativePG: {phase}, {have} of {want} instances ready"
        ));
    }
    Readiness::Ready
}

/// Whether the cluster ever finished its bootstrap (and so may hold data worth keeping).
pub fn initialized(cluster: &Value) -> bool {
    cluster
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Initialized")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
        || cluster
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .is_some_and(|p| p == PHASE_HEALTHY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster(status: Value) -> Value {
        json!({"metadata": {"generation": 2}, "spec": {"instances": 2}, "status": status})
    }

    #[test]
    fn healthy_and_ready_is_ready() {
        let c = cluster(json!({"phase": PHASE_HEALTHY, "readyInstances": 2,
            "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 2}]}));
        assert_eq!(cluster_readiness(&c, None), Readiness::Ready);
        assert!(initialized(&c));
    }

    #[test]
    fn progress_carries_cnpg_phase_text() {
        let c = cluster(
            json!({"phase": "Setting up primary", "phaseReason": "Creating primary instance"}),
        );
        assert_eq!(
            cluster_readiness(&c, None),
            Readiness::Progressing(
                "CloudNativePG: Setting up primary: Creating primary instance".into()
            )
        );
        assert!(!initialized(&c));
        assert!(matches!(
            cluster_readiness(&cluster(json!({})), None),
            Readiness::Progressing(_)
        ));
    }

    #[test]
    fn stale_ready_condition_or_missing_instances_is_not_ready() {
        let stale = cluster(json!({"phase": PHASE_HEALTHY, "readyInstances": 2,
            "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 1}]}));
        assert!(matches!(
            cluster_readiness(&stale, None),
            Readiness::Progressing(_)
        ));
        let short = cluster(json!({"phase": PHASE_HEALTHY, "readyInstances": 1,
            "conditions": [{"type": "Ready", "status": "True"}]}));
        assert_eq!(
            cluster_readiness(&short, None),
            Readiness::Progressing(format!(
                "CloudNativePG: {PHASE_HEALTHY}, 1 of 2 instances ready"
            ))
        );
    }

    #[test]
    fn upgrades_and_resizes_in_flight_are_not_ready() {
        let base = json!({"phase": PHASE_HEALTHY, "readyInstances": 2,
            "conditions": [{"type": "Ready", "status": "True"}],
            "pgDataImageInfo": {"image": "x", "majorVersion": 17}});
        let c = cluster(base.clone());
        assert_eq!(cluster_readiness(&c, Some(17)), Readiness::Ready);
        assert_eq!(
            cluster_readiness(&c, Some(18)),
            Readiness::Progressing(
                "CloudNativePG: data directory is at PostgreSQL 17, waiting for 18".into()
            )
        );
        let mut upgrading = base.clone();
        upgrading["targetPgDataImageInfo"] = json!({"image": "y", "majorVersion": 18});
        assert!(matches!(
            cluster_readiness(&cluster(upgrading), Some(18)),
            Readiness::Progressing(_)
        ));
        let mut resizing = base;
        resizing["resizingPVC"] = json!(["pg-1"]);
        assert_eq!(
            cluster_readiness(&cluster(resizing), None),
            Readiness::Progressing("CloudNativePG: resizing 1 volume(s)".into())
        );
    }

    #[test]
    fn failure_phases_fail_with_the_reason() {
        let c = cluster(json!({"phase": "Invalid cluster definition", "phaseReason": "bad image"}));
        assert_eq!(
            cluster_readiness(&c, None),
            Readiness::Failed("CloudNativePG: Invalid cluster definition: bad image".into())
        );
    }
}
