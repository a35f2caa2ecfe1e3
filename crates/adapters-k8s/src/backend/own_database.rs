//! A binding's database of its own, as a CNPG `Database` owned by the binding's role (which is
//! outside the application owner's group). Bind makes it once the role is applied (CNPG's
//! `CREATE DATABASE ... OWNER` needs the role); unbind drops it (`databaseReclaimPolicy:
//! delete`), or with `Retain` hands it to the application owner and keeps it.
//!
//! Retain, in CNPG's terms: the Database's `owner` changes to the application owner (CNPG runs
//! `ALTER DATABASE ... OWNER TO`) and its reclaim policy to `retain` before the object is
//! deleted, so the database stays under a role that survives. The binding's role is kept too,
//! as a role that cannot log in (`login: false`, password removed, `databaseRoleReclaimPolicy:
//! retain`): CNPG's `DROP ROLE` has no `REASSIGN OWNED`, so it would fail on every object the
//! binding made inside, and those objects stay its.

use pgbroker_domain::ports::{Step, StepFailure};
use pgbroker_domain::{OwnDatabase, Reason};
use serde_json::{Value, json};
use tracing::info;

use super::CnpgBackend;
use super::readiness::not_applied;
use crate::client::{ApiError, Objects};
use crate::kinds::Kind;
use crate::labels::Owner;
use crate::manifests::{APP_OWNER, own_database};
use crate::names::{BindingNames, InstanceNames};

fn spec_text<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object
        .pointer(&format!("/spec/{field}"))
        .and_then(Value::as_str)
}

/// An extension CNPG reports it could not create (not in the image, or refused): the first
/// such `status.extensions` entry, with CNPG's message.
fn failed_extension(db: &Value) -> Option<(String, String)> {
    db.pointer("/status/extensions")
        .and_then(Value::as_array)?
        .iter()
        .find(|e| e.get("applied") == Some(&json!(false)))
        .map(|e| {
            let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (text("name"), text("message"))
        })
}

impl CnpgBackend {
    /// The binding's Database exists and CNPG applied it; `Some` with the step to report
    /// while it does not (never `Done`).
    pub(super) async fn ensure_own_database<T>(
        &self,
        names: &InstanceNames,
        binding: &BindingNames,
        owner: Owner<'_>,
        db: &OwnDatabase,
    ) -> Result<Option<Step<T>>, ApiError> {
        let ns = names.namespace.as_str();
        let databases = self.objects(Kind::Database, ns).await?;
        if databases.get(&binding.object).await?.is_none() {
            // CNPG blocks a second Database object for one PostgreSQL database; say so now
            // rather than wait on it.
            let taken = databases.list(None).await?.into_iter().find(|o| {
                spec_text(o, "cluster/name") == Some(names.cluster.as_str())
                    && spec_text(o, "name") == Some(db.name.as_str())
            });
            if let Some(other) = taken {
                let other = other
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                return Ok(Some(Step::Failed(StepFailure::permanent(
                    Reason::Conflict,
                    format!(
                        "database {:?} of the instance is already declared by Database {ns}/{other}",
                        db.name
                    ),
                ))));
            }
        }
        databases
            .apply(&own_database(names, binding, owner, db))
            .await?;
        let Some(current) = databases.get(&binding.object).await? else {
            return Ok(Some(Step::in_progress(
                "waiting for the Database object to appear",
                self.poll(),
            )));
        };
        let Some(waiting) = not_applied(&current) else {
            return Ok(None);
        };
        if let Some((extension, message)) = failed_extension(&current) {
            return Ok(Some(Step::Failed(StepFailure::permanent(
                Reason::Unsupported,
                format!(
                    "CloudNativePG cannot create extension {extension:?} in database {:?}: {message}",
                    db.name
                ),
            ))));
        }
        Ok(Some(Step::in_progress(
            format!("CloudNativePG: database {:?} {waiting}", db.name),
            self.poll(),
        )))
    }

    /// Gives up the binding's Database, if it has one: dropped, or with `retain` handed to the
    /// application owner (and the binding's role kept without login, see the module's text).
    /// `Some` with the step to report until the Database object is gone.
    pub(super) async fn release_own_database(
        &self,
        names: &InstanceNames,
        binding: &BindingNames,
        retain: bool,
    ) -> Result<Option<Step<()>>, ApiError> {
        let ns = names.namespace.as_str();
        let databases = self.objects(Kind::Database, ns).await?;
        let Some(db) = databases.get(&binding.object).await? else {
            return Ok(None);
        };
        let pg_name = spec_text(&db, "name").unwrap_or("").to_string();
        let deleting = db.pointer("/metadata/deletionTimestamp").is_some();
        let never_applied = db
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0;
        if !deleting && never_applied && failed_extension(&db).is_some() {
            // The database was made but an extension failed, so CNPG never counted the object
            // as reconciled, and it drops (or hands over) only what it reconciled; without the
            // extensions it reconciles.
            if db.pointer("/spec/extensions").is_some() {
                let patch = json!({"spec": {"extensions": null}});
                databases.merge(&binding.object, &patch).await?;
            }
            return Ok(Some(Step::in_progress(
                format!(
                    "CloudNativePG: database {pg_name:?} without the extensions it could not create"
                ),
                self.poll(),
            )));
        }
        if retain && !deleting {
            let roles = self.objects(Kind::DatabaseRole, ns).await?;
            if let Some(waiting) = self.keep_role(&roles, binding).await? {
                return Ok(Some(waiting));
            }
            let handed_over = spec_text(&db, "owner") == Some(APP_OWNER)
                && spec_text(&db, "databaseReclaimPolicy") == Some("retain");
            if !handed_over {
                let patch =
                    json!({"spec": {"owner": APP_OWNER, "databaseReclaimPolicy": "retain"}});
                databases.merge(&binding.object, &patch).await?;
                return Ok(Some(Step::in_progress(
                    format!("CloudNativePG: handing database {pg_name:?} to {APP_OWNER}"),
                    self.poll(),
                )));
            }
            if let Some(waiting) = not_applied(&db) {
                return Ok(Some(Step::in_progress(
                    format!(
                        "CloudNativePG: handing database {pg_name:?} to {APP_OWNER}: {waiting}"
                    ),
                    self.poll(),
                )));
            }
        } else if !retain && !deleting && spec_text(&db, "databaseReclaimPolicy") != Some("delete")
        {
            // An earlier unbind that retained got this far; this one drops.
            let patch = json!({"spec": {"databaseReclaimPolicy": "delete"}});
            databases.merge(&binding.object, &patch).await?;
        }
        if databases.delete(&binding.object).await? {
            return Ok(None);
        }
        let doing = if retain { "releasing" } else { "dropping" };
        info!(namespace = %ns, database = %pg_name, retain, "deletion of the binding's Database requested");
        Ok(Some(Step::in_progress(
            format!("CloudNativePG: {doing} database {pg_name:?}"),
            self.poll(),
        )))
    }

    /// The binding's role stays in PostgreSQL without login or password; `Some` with the step
    /// to report until CNPG applied that.
    async fn keep_role(
        &self,
        roles: &Objects,
        binding: &BindingNames,
    ) -> Result<Option<Step<()>>, ApiError> {
        let Some(role) = roles.get(&binding.object).await? else {
            return Ok(None);
        };
        let kept = role.pointer("/spec/login") == Some(&json!(false))
            && spec_text(&role, "databaseRoleReclaimPolicy") == Some("retain");
        if !kept {
            let patch = json!({"spec": {
                "login": false,
                "passwordSecret": null,
                "disablePassword": true,
                "databaseRoleReclaimPolicy": "retain",
            }});
            roles.merge(&binding.object, &patch).await?;
        } else if not_applied(&role).is_none() {
            return Ok(None);
        }
        Ok(Some(Step::in_progress(
            format!(
                "CloudNativePG: closing role {} (it keeps what it made in its database)",
                binding.role
            ),
            self.poll(),
        )))
    }
}
