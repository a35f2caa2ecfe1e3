//! Which plans the backends at hand can provision: `serve` and `catalog` name the plans of a
//! backend that has nothing to connect with; `pgbroker dev` leaves out the services of every
//! backend that does not work there, so it never offers a plan it cannot provision.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use pgbroker_domain::ports::BackendRegistry;
use pgbroker_domain::{Catalog, CatalogDocument};

/// The plans of `catalog` on `backend`, grouped by service:
/// `dev-small, dev-medium of postgresql-dev-db; small of postgresql-ha-cluster`.
pub fn plans_on(catalog: &Catalog, backend: &str) -> String {
    let mut text = String::new();
    for service in catalog.services() {
        let plans: Vec<&str> = service
            .plans
            .iter()
            .filter(|p| p.backend == backend)
            .map(|p| p.name.as_str())
            .collect();
        if plans.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push_str("; ");
        }
        let _ = write!(text, "{} of {}", plans.join(", "), service.name);
    }
    text
}

/// Logs, at warn level, each backend that cannot be configured, why, and the plans it leaves
/// unprovisionable (a backend no plan uses is only named).
pub fn warn_unconfigurable(catalog: &Catalog, unconfigurable: &BTreeMap<String, String>) {
    for (backend, reason) in unconfigurable {
        let plans = plans_on(catalog, backend);
        if plans.is_empty() {
            tracing::warn!(%backend, %reason, "backend cannot be configured; no plan uses it");
        } else {
            tracing::warn!(
                %backend,
                %reason,
                %plans,
                "backend cannot be configured: these plans cannot be provisioned until it can"
            );
        }
    }
}

/// The backends of `registry` (all but `always`) that do not work here, with why: the reason in
/// `unconfigurable`, else a check that fails or does not answer within `timeout`.
pub async fn unusable(
    registry: &BackendRegistry,
    unconfigurable: &BTreeMap<String, String>,
    always: &str,
    timeout: Duration,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, backend) in registry.iter() {
        if name == always {
            continue;
        }
        if let Some(reason) = unconfigurable.get(name) {
            out.insert(name.clone(), reason.clone());
            continue;
        }
        let reason = match tokio::time::timeout(timeout, backend.check()).await {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => format!("not usable: {e}"),
            Err(_) => format!("no answer within {timeout:?}"),
        };
        out.insert(name.clone(), reason);
    }
    out
}

/// What taking a backend's plans out of a catalog removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    pub backend: String,
    pub reason: String,
    /// Services gone whole, and `plan P of S` for plans taken from services that stay.
    pub what: Vec<String>,
}

/// `document` without the plans on the backends in `left_out` (name → reason); a service left
/// with no plan goes too.
pub fn without_backends(
    mut document: CatalogDocument,
    left_out: &BTreeMap<String, String>,
) -> (CatalogDocument, Vec<LeftOut>) {
    let mut removed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    document.services.retain_mut(|service| {
        let before = service.plans.len();
        let mut taken = Vec::new();
        service.plans.retain(|plan| {
            let keep = !left_out.contains_key(&plan.backend);
            if !keep {
                taken.push((plan.backend.clone(), plan.name.clone()));
            }
            keep
        });
        let whole = taken.len() == before;
        for (backend, plan) in taken {
            let Some((name, _)) = left_out.get_key_value(&backend) else {
                continue;
            };
            let entry = removed.entry(name.as_str()).or_default();
            let what = if whole {
                service.name.clone()
            } else {
                format!("plan {plan} of {}", service.name)
            };
            if !entry.contains(&what) {
                entry.push(what);
            }
        }
        !service.plans.is_empty()
    });
    let report = left_out
        .iter()
        .map(|(backend, reason)| LeftOut {
            backend: backend.clone(),
            reason: reason.clone(),
            what: removed.remove(backend.as_str()).unwrap_or_default(),
        })
        .collect();
    (document, report)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use pgbroker_domain::ports::{
        BindRequest, InstanceRequest, ProvisionOutput, Step, UnbindRequest,
    };
    use pgbroker_testkit::backend::TestBackend;

    use super::*;
    use crate::catalog_file::{self, CatalogOrigin};

    fn default_document() -> CatalogDocument {
        catalog_file::read(None)
            .map(|(origin, doc)| {
                assert_eq!(origin, CatalogOrigin::Embedded);
                doc
            })
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A backend whose check never answers.
    struct Silent;

    #[async_trait::async_trait]
    impl pgbroker_domain::ports::Backend for Silent {
        fn completes_synchronously(&self, _: pgbroker_domain::operation::OperationKind) -> bool {
            false
        }
        async fn provision(&self, _: &InstanceRequest) -> Step<ProvisionOutput> {
            std::future::pending().await
        }
        async fn update(&self, _: &InstanceRequest) -> Step<()> {
            std::future::pending().await
        }
        async fn deprovision(&self, _: &InstanceRequest) -> Step<()> {
            std::future::pending().await
        }
        async fn bind(&self, _: &BindRequest) -> Step<pgbroker_domain::Credentials> {
            std::future::pending().await
        }
        async fn unbind(&self, _: &UnbindRequest) -> Step<()> {
            std::future::pending().await
        }
        async fn check(&self) -> Result<(), pgbroker_domain::ports::CheckError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn backends_unconfigured_failing_or_silent_are_unusable_except_the_kept_one() {
        let failing = TestBackend::asynchronous();
        failing.set_check_error(Some("connection refused"));
        let kept = TestBackend::asynchronous();
        kept.set_check_error(Some("down, but kept anyway"));
        let registry = BackendRegistry::new()
            .with("fine", Arc::new(TestBackend::asynchronous()))
            .with("failing", Arc::new(failing))
            .with("silent", Arc::new(Silent))
            .with("unconfigured", Arc::new(TestBackend::asynchronous()))
            .with("kept", Arc::new(kept));
        let unconfigurable =
            BTreeMap::from([("unconfigured".to_string(), "no configuration".to_string())]);
        let out = unusable(
            &registry,
            &unconfigurable,
            "kept",
            Duration::from_millis(50),
        )
        .await;
        assert_eq!(
            out,
            BTreeMap::from([
                (
                    "failing".to_string(),
                    "not usable: connection refused".to_string()
                ),
                ("silent".to_string(), "no answer within 50ms".to_string()),
                ("unconfigured".to_string(), "no configuration".to_string()),
            ])
        );
    }

    #[test]
    fn the_plans_of_a_backend_are_named_by_service() {
        let names = BTreeSet::from(["cnpg".to_string(), "shared".to_string()]);
        let catalog = Catalog::load(default_document(), &names).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plans_on(&catalog, "cnpg"),
            "dev-small, dev-medium, dev-large of postgresql-dev-db; small, medium, large of postgresql-ha-cluster"
        );
        assert_eq!(plans_on(&catalog, "nothing"), "");
    }

    #[test]
    fn leaving_a_backend_out_removes_its_services_and_only_its_plans() {
        let left_out = BTreeMap::from([("cnpg".to_string(), "no cluster".to_string())]);
        let mut document = default_document();
        // One shared plan moved into a CNPG service: that service stays with it alone.
        let shared_plan = document.services[2].plans[0].clone();
        let mut moved = shared_plan.clone();
        moved.id = "moved-plan".into();
        moved.name = "moved".into();
        document.services[0].plans.push(moved);
        let (kept, report) = without_backends(document, &left_out);
        let names: Vec<_> = kept.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["postgresql-dev-db", "postgresql-shared"]);
        assert_eq!(kept.services[0].plans.len(), 1);
        assert_eq!(
            report,
            [LeftOut {
                backend: "cnpg".into(),
                reason: "no cluster".into(),
                what: vec![
                    "plan dev-small of postgresql-dev-db".into(),
                    "plan dev-medium of postgresql-dev-db".into(),
                    "plan dev-large of postgresql-dev-db".into(),
                    "postgresql-ha-cluster".into(),
                ],
            }]
        );
        let shared = BTreeSet::from(["shared".to_string()]);
        assert!(Catalog::load(kept, &shared).is_ok());
    }
}
