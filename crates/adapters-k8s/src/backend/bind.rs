//! Bind: a password Secret and a DatabaseRole per binding, and for a binding with a database
//! of its own a Database (`own_database.rs`); done once CNPG applied them.
//! Unbind: the Database first (dropped, or kept with `Retain`), then the role (its finalizer
//! drops the PostgreSQL role), then the secret.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pgbroker_domain::ports::{BindRequest, Step, StepFailure, UnbindRequest};
use pgbroker_domain::{Credentials, Reason};
use serde_json::Value;
use tracing::info;

use super::CnpgBackend;
use super::credentials::{Endpoints, credentials};
use super::readiness::not_applied;
use crate::client::ApiError;
use crate::kinds::Kind;
use crate::labels::Owner;
use crate::manifests::{APP_DATABASE, database_role, password_secret, refused_database_name};
use crate::names::{BindingNames, InstanceNames};
use crate::plan::desired;
use crate::status::{Readiness, cluster_readiness};

impl CnpgBackend {
    pub(super) async fn bind_step(&self, req: &BindRequest) -> Result<Step<Credentials>, ApiError> {
        let desired = match desired(&self.settings, &req.plan, &req.instance.parameters) {
            Ok(d) => d,
            Err(e) => {
                return Ok(Step::Failed(StepFailure::permanent(
                    e.reason(),
                    e.to_string(),
                )));
            }
        };
        let names =
            match InstanceNames::new(&self.settings, &req.instance_id, &req.instance.context) {
                Ok(names) => names,
                Err(why) => {
                    return Ok(Step::Failed(StepFailure::permanent(
                        Reason::InvalidSpec,
                        why,
                    )));
                }
            };
        let own = match req.binding.own_database() {
            Ok(own) => own,
            Err(e) => {
                return Ok(Step::Failed(StepFailure::permanent(
                    Reason::InvalidSpec,
                    e.to_string(),
                )));
            }
        };
        if let Some(why) = own.as_ref().and_then(|db| refused_database_name(&db.name)) {
            return Ok(Step::Failed(StepFailure::permanent(
                Reason::InvalidSpec,
                why,
            )));
        }
        let binding = BindingNames::new(&names, &req.binding_id);
        let ns = names.namespace.as_str();
        let cache = self.cache().await?;
        match cache
            .get(ns, &names.cluster)
            .map(|c| cluster_readiness(&c, None))
        {
            None => {
                return Ok(Step::Failed(StepFailure::permanent(
                    Reason::NotFound,
                    format!(
                        "the instance's Cluster {ns}/{} does not exist",
                        names.cluster
                    ),
                )));
            }
            Some(Readiness::Progressing(text)) => return Ok(Step::in_progress(text, self.poll())),
            Some(Readiness::Failed(text)) => {
                return Ok(Step::Failed(StepFailure::permanent(
                    Reason::BackendFailed,
                    text,
                )));
            }
            Some(Readiness::Ready) => {}
        }
        let owner = Owner {
            backend: &self.name,
            instance_id: &req.instance_id,
            spec: &req.instance,
            binding_id: Some(&req.binding_id),
        };
        let secrets = self.objects(Kind::Secret, ns).await?;
        let roles = self.objects(Kind::DatabaseRole, ns).await?;
        secrets
            .apply(&password_secret(&names, &binding, owner, &req.password))
            .await?;
        roles
            .apply(&database_role(&names, &binding, owner, own.is_none()))
            .await?;
        let role = roles.get(&binding.object).await?;
        if let Some(waiting) = role.as_ref().and_then(not_applied) {
            return Ok(Step::in_progress(
                format!("CloudNativePG: role {} {waiting}", binding.role),
                self.poll(),
            ));
        }
        let database = match &own {
            Some(db) => {
                if let Some(step) = self
                    .ensure_own_database(&names, &binding, owner, db)
                    .await?
                {
                    return Ok(step);
                }
                db.name.clone()
            }
            None => APP_DATABASE.to_string(),
        };
        let Some(ca_cert) = secrets
            .get(&names.ca_secret())
            .await?
            .as_ref()
            .and_then(|s| s.pointer("/data/ca.crt"))
            .and_then(Value::as_str)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .and_then(|pem| String::from_utf8(pem).ok())
        else {
            return Ok(Step::in_progress(
                format!(
                    "waiting for CloudNativePG's CA secret {}",
                    names.ca_secret()
                ),
                self.poll(),
            ));
        };
        let load_balancer = if desired.plan.load_balancer {
            self.objects(Kind::Service, ns)
                .await?
                .get(&names.load_balancer())
                .await?
                .as_ref()
                .and_then(|s| s.pointer("/status/loadBalancer/ingress/0"))
                .and_then(|i| i.get("hostname").or_else(|| i.get("ip")))
                .and_then(Value::as_str)
                .map(str::to_string)
        } else {
            None
        };
        info!(instance_id = %req.instance_id, binding_id = %req.binding_id, role = %binding.role, "binding role applied");
        Ok(Step::Done(credentials(
            &names,
            &binding,
            &req.password,
            &self.settings.sslmode,
            &Endpoints {
                database,
                pooler: desired.pooler().is_some(),
                load_balancer,
                ca_cert,
            },
        )))
    }

    pub(super) async fn unbind_step(&self, req: &UnbindRequest) -> Result<Step<()>, ApiError> {
        // Without a namespace to look in, no bind can have made anything.
        let Ok(names) = InstanceNames::new(&self.settings, &req.instance_id, &req.instance.context)
        else {
            return Ok(Step::Done(()));
        };
        let binding = BindingNames::new(&names, &req.binding_id);
        let ns = names.namespace.as_str();
        let retain = req.deletion_policy.retains();
        if let Some(waiting) = self.release_own_database(&names, &binding, retain).await? {
            return Ok(waiting);
        }
        let roles = self.objects(Kind::DatabaseRole, ns).await?;
        if !roles.delete(&binding.object).await? {
            return Ok(Step::in_progress(
                format!("CloudNativePG: dropping role {}", binding.role),
                self.poll(),
            ));
        }
        let secrets = self.objects(Kind::Secret, ns).await?;
        if !secrets.delete(&binding.object).await? {
            return Ok(Step::in_progress(
                format!("deleting password secret {}", binding.object),
                self.poll(),
            ));
        }
        info!(instance_id = %req.instance_id, binding_id = %req.binding_id, "binding removed");
        Ok(Step::Done(()))
    }
}
