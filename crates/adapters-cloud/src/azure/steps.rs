//! The steps: provision and update (server, admin password, lock, firewall rules, server
//! parameters, then the SQL side), deprovision (fake deletion or the retain policy tag the
//! server; a lock stops a real delete), bind and unbind (SQL only; a reset rotates the admin
//! password first).

use std::sync::Arc;

use pgbroker_domain::ports::{BindRequest, InstanceRequest, Step, UnbindRequest};
use pgbroker_domain::{Credentials, DeletionPolicy, InstanceId, JsonObject, Reason, Sensitive};
use reqwest::Method;
use serde_json::{Value, json};

use super::AzureBackend;
use super::arm::LOCKS_API_VERSION;
use super::error::AzureError;
use super::lro::{Followed, Work};
use super::password::{CURRENT, NEXT};
use super::server::{Desired, firewall_body};
use super::{DELETED_TAG, LOCK_NAME};
use crate::cloud_sql::{self, Login, Reach};
use crate::shared::SharedServerBackend;

/// ARM's word for a server that takes requests.
const READY: &str = "Ready";

fn state(server: &Value) -> &str {
    server
        .pointer("/properties/state")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
}

impl AzureBackend {
    /// Follows the operation under way; `Some` step while Azure works.
    async fn busy<T>(
        &self,
        server: &str,
        id: &InstanceId,
        context: &JsonObject,
    ) -> Result<Option<Step<T>>, AzureError> {
        match self.follow(server).await? {
            Followed::Running(description, wait) => Ok(Some(Step::in_progress(
                description,
                wait.unwrap_or_else(|| self.poll()),
            ))),
            Followed::Finished(Work::Rotate) => {
                self.promote(id, context, server).await?;
                Ok(None)
            }
            Followed::Finished(_) | Followed::Nothing => Ok(None),
        }
    }

    /// The server if it is this instance's and ready; else the step that waits for it.
    async fn ready_server<T>(
        &self,
        server: &str,
        id: &InstanceId,
    ) -> Result<Result<Value, Step<T>>, AzureError> {
        let Some(body) = self.get_server(server).await? else {
            return Err(AzureError::permanent(
                Reason::NotFound,
                format!("instance {id}: flexible server {server} is gone"),
            ));
        };
        self.ensure_ours(server, id, &body)?;
        let s = state(&body);
        if s != READY {
            return Ok(Err(self.waiting(
                server,
                "waiting for it to be ready",
                s,
                None,
            )));
        }
        Ok(Ok(body))
    }

    /// Sends a change that ARM runs as a long-running operation, and waits for it.
    async fn start<T>(
        &self,
        server: &str,
        work: Work,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<Step<T>, AzureError> {
        let doing = format!("flexible server {server}: {work}");
        let answer = self.call(&doing, method, path, Some(body)).await?;
        tracing::info!(server = %server, work = %work, status = answer.status, "Azure operation requested");
        self.track(server, work.clone(), &answer);
        Ok(Step::in_progress(
            format!("{doing} (requested)"),
            answer.retry_after.unwrap_or_else(|| self.poll()),
        ))
    }

    /// The admin password the server has; or, while a stored next password must first be
    /// given to the server (a rotation, or a vault that lost it), the step doing that.
    async fn admin_password<T>(
        &self,
        server: &str,
        id: &InstanceId,
        context: &JsonObject,
    ) -> Result<Result<Sensitive<String>, Step<T>>, AzureError> {
        let next = match self.load(id, context, NEXT).await? {
            Some(next) => next,
            None => match self.load(id, context, CURRENT).await? {
                Some(current) => return Ok(Ok(current)),
                None => {
                    // The server exists and the vault lost (or never had) its password: a new one.
                    let p = self.new_password();
                    self.keep(id, context, NEXT, &p).await?;
                    p
                }
            },
        };
        let body = json!({"properties": {"administratorLoginPassword": next.expose()}});
        self.start(
            server,
            Work::Rotate,
            Method::PATCH,
            &self.server_path(server),
            &body,
        )
        .await
        .map(Err)
    }

    pub(super) async fn provision_step(
        &self,
        req: &InstanceRequest,
        update: bool,
    ) -> Result<Step<()>, AzureError> {
        let (id, context) = (&req.instance_id, &req.spec.context);
        let desired = Desired::of(&self.settings, req)?;
        let server = self.server_name(id, context);
        if let Some(step) = self.busy(&server, id, context).await? {
            return Ok(step);
        }
        let Some(body) = self.get_server(&server).await? else {
            if update {
                return Err(AzureError::permanent(
                    Reason::NotFound,
                    format!("instance {id}: flexible server {server} is gone"),
                ));
            }
            let password = self.create_password(id, context).await?;
            let create = desired.create_body(&self.settings, &self.tags(id, context), &password);
            return self
                .start(
                    &server,
                    Work::Create,
                    Method::PUT,
                    &self.server_path(&server),
                    &create,
                )
                .await;
        };
        self.ensure_ours(&server, id, &body)?;
        if state(&body) != READY {
            return Ok(self.waiting(&server, "waiting for it to be ready", state(&body), None));
        }
        let password = match self.admin_password(&server, id, context).await? {
            Ok(password) => password,
            Err(step) => return Ok(step),
        };
        match desired.update_body(&self.settings, &body) {
            Err(why) => {
                return Err(AzureError::permanent(
                    Reason::Unsupported,
                    format!("instance {id}: {why}"),
                ));
            }
            Ok(Some((patch, changes))) => {
                let work = Work::Update(changes.join(", "));
                return self
                    .start(
                        &server,
                        work,
                        Method::PATCH,
                        &self.server_path(&server),
                        &patch,
                    )
                    .await;
            }
            Ok(None) => {}
        }
        if self.settings.lock_from_deletion {
            self.ensure_lock(&server).await?;
        }
        if let Some(step) = self
            .ensure_firewall(&server, &desired.firewall_rules)
            .await?
        {
            return Ok(step);
        }
        for (name, value) in desired.configurations() {
            let path = format!("{}/configurations/{name}", self.server_path(&server));
            let current = self
                .call(
                    &format!("flexible server {server}: reading server parameter {name}"),
                    Method::GET,
                    &path,
                    None,
                )
                .await?;
            if current
                .body
                .pointer("/properties/value")
                .and_then(Value::as_str)
                != Some(value.as_str())
            {
                let body = json!({"properties": {"value": value, "source": "user-override"}});
                return self
                    .start(
                        &server,
                        Work::Configuration(name),
                        Method::PUT,
                        &path,
                        &body,
                    )
                    .await;
            }
        }
        let tenant = self.tenant(&server, password, &body)?;
        let sql = cloud_sql::instance_request(req, &desired.extensions);
        if update {
            tenant.update_step(&sql).await.map_err(AzureError::sql)?;
        } else {
            tenant.provision_step(&sql).await.map_err(AzureError::sql)?;
        }
        Ok(Step::Done(()))
    }

    /// The `CanNotDelete` lock on the server (made once; never removed by the backend).
    async fn ensure_lock(&self, server: &str) -> Result<(), AzureError> {
        let path = format!(
            "{}/providers/Microsoft.Authorization/locks/{LOCK_NAME}",
            self.server_path(server)
        );
        let arm = self.arm().await?;
        let doing = format!("flexible server {server}: reading lock {LOCK_NAME}");
        let found = arm
            .call(
                &doing,
                Method::GET,
                &path,
                Some(LOCKS_API_VERSION),
                None,
                self.max_wait(),
            )
            .await?;
        if found.status != 404 {
            return Ok(());
        }
        let body = json!({"properties": {"level": "CanNotDelete", "notes": "pgbroker lock_from_deletion: remove this lock to let the broker delete the server"}});
        let doing = format!("flexible server {server}: locking it against deletion");
        arm.call(
            &doing,
            Method::PUT,
            &path,
            Some(LOCKS_API_VERSION),
            Some(&body),
            self.max_wait(),
        )
        .await?;
        tracing::info!(server = %server, "management lock CanNotDelete set");
        Ok(())
    }

    /// The configured firewall rules, one change per step.
    async fn ensure_firewall(
        &self,
        server: &str,
        rules: &[super::settings::FirewallRule],
    ) -> Result<Option<Step<()>>, AzureError> {
        if rules.is_empty() {
            return Ok(None);
        }
        let base = format!("{}/firewallRules", self.server_path(server));
        let list = self
            .call(
                &format!("flexible server {server}: listing firewall rules"),
                Method::GET,
                &base,
                None,
            )
            .await?;
        let existing = list
            .body
            .get("value")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for rule in rules {
            let want = firewall_body(rule);
            let have = existing
                .iter()
                .find(|r| r.get("name").and_then(Value::as_str) == Some(rule.name.as_str()));
            let same = have.is_some_and(|r| {
                r.pointer("/properties/startIpAddress")
                    == want.pointer("/properties/startIpAddress")
                    && r.pointer("/properties/endIpAddress")
                        == want.pointer("/properties/endIpAddress")
            });
            if !same {
                let path = format!("{base}/{}", rule.name);
                return self
                    .start(
                        server,
                        Work::Firewall(rule.name.clone()),
                        Method::PUT,
                        &path,
                        &want,
                    )
                    .await
                    .map(Some);
            }
        }
        Ok(None)
    }

    /// The shared-server backend for the server, as its administrator.
    fn tenant(
        &self,
        server: &str,
        password: Sensitive<String>,
        body: &Value,
    ) -> Result<Arc<SharedServerBackend>, AzureError> {
        let host = body
            .pointer("/properties/fullyQualifiedDomainName")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                AzureError::retryable(
                    Reason::BackendUnavailable,
                    format!("flexible server {server} has no fullyQualifiedDomainName yet"),
                )
            })?;
        let login = Login {
            server: server.to_string(),
            host: host.to_string(),
            port: 5432,
            username: self.settings.admin_username.clone(),
        };
        let reach = Reach {
            endpoint_override: self.settings.sql_endpoint_override.as_ref(),
            ca_bundle_file: self.settings.ca_bundle_file.as_deref(),
        };
        self.tenants
            .tenant(reach, &login, password)
            .map_err(AzureError::from)
    }

    pub(super) async fn deprovision_step(
        &self,
        req: &InstanceRequest,
    ) -> Result<Step<()>, AzureError> {
        let (id, context) = (&req.instance_id, &req.spec.context);
        let server = self.server_name(id, context);
        if let Some(step) = self.busy(&server, id, context).await? {
            return Ok(step);
        }
        let Some(body) = self.get_server(&server).await? else {
            self.tenants.forget(&server);
            self.forget(id, context).await?;
            return Ok(Step::Done(()));
        };
        self.ensure_ours(&server, id, &body)?;
        let keep =
            self.settings.server_delete_fake || req.deletion_policy == DeletionPolicy::Retain;
        if keep {
            // Kept for a person to look at or delete: tagged, its admin password still in the vault.
            if body
                .pointer("/tags")
                .and_then(|t| t.get(DELETED_TAG))
                .is_some()
            {
                self.tenants.forget(&server);
                return Ok(Step::Done(()));
            }
            let mut tags = body.get("tags").cloned().unwrap_or_else(|| json!({}));
            tags[DELETED_TAG] = json!(req.operation_id.to_string());
            return self
                .start(
                    &server,
                    Work::Tag,
                    Method::PATCH,
                    &self.server_path(&server),
                    &json!({"tags": tags}),
                )
                .await;
        }
        let s = state(&body);
        if s == "Dropping" {
            return Ok(self.waiting(&server, "waiting for it to be gone", s, None));
        }
        self.refuse_if_locked(&server, id).await?;
        self.tenants.forget(&server);
        let doing = format!("flexible server {server}: deleting it");
        let answer = self
            .call(&doing, Method::DELETE, &self.server_path(&server), None)
            .await?;
        if answer.status == 404 || answer.status == 204 {
            self.forget(id, context).await?;
            return Ok(Step::Done(()));
        }
        self.track(&server, Work::Delete, &answer);
        Ok(Step::in_progress(
            format!("{doing} (requested)"),
            answer.retry_after.unwrap_or_else(|| self.poll()),
        ))
    }

    /// A deprovision fails, naming them, while management locks are on the server.
    async fn refuse_if_locked(&self, server: &str, id: &InstanceId) -> Result<(), AzureError> {
        let path = format!(
            "{}/providers/Microsoft.Authorization/locks",
            self.server_path(server)
        );
        let doing = format!("flexible server {server}: listing its management locks");
        let arm = self.arm().await?;
        let answer = arm
            .call(
                &doing,
                Method::GET,
                &path,
                Some(LOCKS_API_VERSION),
                None,
                self.max_wait(),
            )
            .await?;
        let locks: Vec<String> = answer
            .body
            .get("value")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|l| {
                let name = l.get("name").and_then(Value::as_str).unwrap_or("?");
                let level = l
                    .pointer("/properties/level")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                format!("{name} ({level})")
            })
            .collect();
        if locks.is_empty() {
            return Ok(());
        }
        Err(AzureError::permanent(
            Reason::InvalidState,
            format!(
                "instance {id}: flexible server {server} has management lock(s) {}; the broker does not remove locks: remove them (az lock delete) and deprovision again",
                locks.join(", ")
            ),
        ))
    }

    pub(super) async fn bind_step(
        &self,
        req: &BindRequest,
    ) -> Result<Step<Credentials>, AzureError> {
        let (id, context) = (&req.instance_id, &req.instance.context);
        let server = self.server_name(id, context);
        if let Some(step) = self.busy(&server, id, context).await? {
            return Ok(step);
        }
        let body = match self.ready_server(&server, id).await? {
            Ok(body) => body,
            Err(step) => return Ok(step),
        };
        if req.reset && self.begin_rotation(id, context, &req.operation_id).await? {
            tracing::info!(instance_id = %id, server = %server, "rotating the admin password with the binding's reset");
        }
        let password = match self.admin_password(&server, id, context).await? {
            Ok(password) => password,
            Err(step) => return Ok(step),
        };
        let tenant = self.tenant(&server, password, &body)?;
        tenant
            .bind_step(&cloud_sql::bind_request(req))
            .await
            .map(Step::Done)
            .map_err(AzureError::sql)
    }

    pub(super) async fn unbind_step(&self, req: &UnbindRequest) -> Result<Step<()>, AzureError> {
        let (id, context) = (&req.instance_id, &req.instance.context);
        let server = self.server_name(id, context);
        if let Some(step) = self.busy(&server, id, context).await? {
            return Ok(step);
        }
        // No server, no login on it.
        let Some(body) = self.get_server(&server).await? else {
            return Ok(Step::Done(()));
        };
        self.ensure_ours(&server, id, &body)?;
        let s = state(&body);
        if s != READY {
            return Ok(self.waiting(&server, "waiting for it to be ready", s, None));
        }
        let password = self.load(id, context, CURRENT).await?.ok_or_else(|| {
            AzureError::retryable(
                Reason::InvalidState,
                format!(
                    "instance {id}: flexible server {server}: the vault holds no admin password yet"
                ),
            )
        })?;
        let tenant = self.tenant(&server, password, &body)?;
        let mut sql = cloud_sql::unbind_request(req);
        if self.settings.database_delete_fake {
            sql.deletion_policy = DeletionPolicy::Retain;
        }
        tenant
            .unbind_step(&sql)
            .await
            .map(Step::Done)
            .map_err(AzureError::sql)
    }
}
