//! Deprovision: drop the instance's databases (bindings' own ones too) and roles, or, in retain
//! mode, drop the binding roles and keep the databases and owner role under new names nobody
//! can log in with. Retain
//! mode is the backend's configuration or the request's deletion policy: either one keeps.

use pgbroker_domain::InstanceId;
use pgbroker_domain::ports::InstanceRequest;

use super::database::drop_database;
use super::error::StepError;
use super::inspect;
use super::names;
use super::own_database::release_own_databases;
use super::roles::drop_binding_role;
use super::run::{Run, Sessions};
use super::settings::DeprovisionMode;
use super::sql::{Ident, Literal};
use super::{InstanceNames, SharedServerBackend};

fn ident(name: String) -> Result<Ident, StepError> {
    Ident::new(name).map_err(|e| StepError::invalid(e.to_string()))
}

fn literal(value: &str) -> Result<Literal, StepError> {
    Literal::new(value).map_err(|e| StepError::invalid(e.to_string()))
}

impl SharedServerBackend {
    pub(crate) async fn deprovision_step(&self, req: &InstanceRequest) -> Result<(), StepError> {
        let id = &req.instance_id;
        let names = self.instance_names(id);
        let prefix = inspect::binding_marker_prefix(id.as_str());
        let Some((mut run, look)) = self.locate(id, &names, &[], Some(&prefix)).await? else {
            // Never provisioned, already deprovisioned, or retained under another name.
            return Ok(());
        };
        let (bindings, mut databases) = (look.members, look.databases);
        let mode = if req.deletion_policy.retains() {
            DeprovisionMode::Retain
        } else {
            self.settings.deprovision
        };
        // Bindings' own databases first: their roles cannot be dropped while they own them.
        let retain = mode == DeprovisionMode::Retain;
        databases.extend(
            release_own_databases(&mut run, id, &names, &look.own_databases, retain).await?,
        );
        match mode {
            DeprovisionMode::Drop => {
                for (database, _) in databases {
                    drop_database(&mut run, id, &ident(database)?).await?;
                }
                // The databases are gone: nothing is left in them to hand over.
                for role in bindings {
                    drop_binding_role(&mut run, id, &names, &ident(role)?, &[]).await?;
                }
                run.exec(
                    format!("instance {id}: dropping owner role {}", names.owner),
                    None,
                    &format!("DROP ROLE IF EXISTS {}", names.owner),
                )
                .await
            }
            DeprovisionMode::Retain => {
                for role in bindings {
                    drop_binding_role(&mut run, id, &names, &ident(role)?, &databases).await?;
                }
                let marker = inspect::retained_marker(id.as_str(), &req.operation_id.to_string());
                for (database, comment) in databases {
                    // A retried deprovision finds the databases it already renamed by their mark.
                    if comment.starts_with("pgbroker retained instance ") {
                        continue;
                    }
                    retain_database(&mut run, id, &ident(database)?, &marker, req).await?;
                }
                let kept = names::retained(&names.owner, req.operation_id);
                retain_owner(&mut run, id, &names, &kept, &marker).await
            }
        }
    }
}

async fn retain_database(
    run: &mut Run<'_>,
    id: &InstanceId,
    database: &Ident,
    marker: &str,
    req: &InstanceRequest,
) -> Result<(), StepError> {
    let kept = names::retained(database, req.operation_id);
    run.forget(database).await;
    // Renaming needs the database to be free of sessions; the binding roles are gone by now,
    // so only administrators could reconnect.
    run.terminate(
        format!("instance {id}: ending sessions on database {database}"),
        Sessions::OnDatabase,
        database,
    )
    .await?;
    run.exec(
        format!("instance {id}: renaming database {database} to {kept}"),
        None,
        &format!(
            "ALTER DATABASE {database} RENAME TO {kept};\nCOMMENT ON DATABASE {kept} IS {}",
            literal(marker)?
        ),
    )
    .await
}

async fn retain_owner(
    run: &mut Run<'_>,
    id: &InstanceId,
    names: &InstanceNames,
    kept: &Ident,
    marker: &str,
) -> Result<(), StepError> {
    // Renaming the owner frees the instance id and takes it out of the server's instance count.
    run.exec(
        format!(
            "instance {id}: renaming owner role {} to {kept}",
            names.owner
        ),
        None,
        &format!(
            "ALTER ROLE {owner} RENAME TO {kept};\nCOMMENT ON ROLE {kept} IS {}",
            literal(marker)?,
            owner = names.owner
        ),
    )
    .await
}
