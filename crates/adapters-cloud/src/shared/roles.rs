//! Bind and unbind: a LOGIN role per binding, in the instance's owner group.
//!
//! A binding's sessions start as the owner group (`ALTER ROLE ... SET role`), so whatever one
//! binding creates belongs to the group and every other binding of the instance can use it. If
//! an application resets its role, default privileges still grant the group everything the
//! binding creates, and unbinding hands such objects to the group.

use pgbroker_domain::ports::{BindRequest, UnbindRequest};
use pgbroker_domain::{BindingId, Credentials, InstanceId, Reason, Sensitive};

use super::database::{configure_inside, ensure_database};
use super::error::StepError;
use super::inspect;
use super::names;
use super::request::{BindParameters, parse};
use super::run::{Run, Sessions};
use super::sql::{Ident, Literal};
use super::{InstanceNames, SharedServerBackend};

fn literal(value: &str) -> Result<Literal, StepError> {
    Literal::new(value).map_err(|e| StepError::invalid(e.to_string()))
}

/// The password's SCRAM-SHA-256 verifier, as PostgreSQL itself would store it (postgres-protocol,
/// maintained with tokio-postgres), so that the password never appears in SQL text, where a
/// server with `log_statement = ddl` would write it to its log: PostgreSQL stores a password
/// given in verifier form as it is, whatever `password_encryption` says. The 4096 PBKDF2 rounds
/// run on a blocking thread, not on the async workers.
fn verifier(password: Sensitive<String>) -> tokio::task::JoinHandle<String> {
    tokio::task::spawn_blocking(move || {
        postgres_protocol::password::scram_sha_256(password.expose().as_bytes())
    })
}

impl SharedServerBackend {
    fn binding_role(&self, instance: &InstanceId, binding: &BindingId) -> Ident {
        self.settings
            .names
            .binding_role
            .render(instance, Some(binding))
    }

    pub(crate) async fn bind_step(&self, req: &BindRequest) -> Result<Credentials, StepError> {
        let (id, binding) = (&req.instance_id, &req.binding_id);
        let params: BindParameters = parse("bind parameters", &req.binding.parameters)
            .map_err(|e| StepError::invalid(format!("binding {binding}: {e}")))?;
        params
            .check()
            .map_err(|e| StepError::invalid(format!("binding {binding}: {e}")))?;
        let plan = self.plan_settings(&req.plan)?;
        let names = self.instance_names(id);
        let role = self.binding_role(id, binding);
        // The verifier's PBKDF2 rounds run while the server is asked what exists.
        let password = verifier(req.password.clone());
        let (mut run, look) = self
            .locate(id, &names, &[role.as_str()], None)
            .await?
            .ok_or_else(|| {
                StepError::Permanent(Reason::NotFound, format!(
                    "binding {binding}: instance {id} has no database on any server of backend {}",
                    self.name
                ))
            })?;
        let server = run.server;
        let database = match &params.database {
            Some(requested) => {
                let database = names::extra_database(&names.database, requested);
                let owned = look.owns(database.as_str());
                ensure_database(&mut run, id, &database, &names, &plan, owned).await?;
                configure_inside(&mut run, id, &database, &names.owner, &[]).await?;
                database
            }
            None => names.database.clone(),
        };
        let marker = inspect::binding_marker(id.as_str(), binding.as_str());
        let existing = look.roles.into_iter().next().flatten();
        let password = literal(&password.await.map_err(|e| {
            StepError::Retryable(
                Reason::BackendFailed,
                format!("binding {binding}: computing the password verifier: {e}"),
            )
        })?)?;
        let owner = &names.owner;
        let session_role = literal(owner.as_str())?;
        let sql = match existing {
            None => format!(
                "CREATE ROLE {role} LOGIN PASSWORD {password} IN ROLE {owner};\n\
                 COMMENT ON ROLE {role} IS {marker};\n\
                 ALTER ROLE {role} SET role = {session_role}",
                marker = literal(&marker)?,
            ),
            // A retried bind: make sure the role is exactly as a first run leaves it.
            Some(comment) if comment == marker => format!(
                "ALTER ROLE {role} WITH LOGIN PASSWORD {password};\n\
                 GRANT {owner} TO {role};\n\
                 ALTER ROLE {role} SET role = {session_role}"
            ),
            Some(_) => {
                return Err(StepError::Permanent(
                    Reason::ForeignObject,
                    format!(
                        "binding {binding}: role {role} on server {} exists but is not marked as this binding's role; refusing to touch it",
                        server.name()
                    ),
                ));
            }
        };
        run.exec(
            format!("binding {binding}: creating login role {role}"),
            None,
            &sql,
        )
        .await?;
        let sql = ["TABLES", "SEQUENCES", "FUNCTIONS", "TYPES", "SCHEMAS"]
            .iter()
            .map(|kind| {
                format!("ALTER DEFAULT PRIVILEGES FOR ROLE {role} GRANT ALL ON {kind} TO {owner};")
            })
            .collect::<Vec<_>>()
            .join("\n");
        run.exec(
            format!("binding {binding}: default privileges in database {database}"),
            Some(&database),
            &sql,
        )
        .await?;
        Ok(super::credentials::credentials(
            server,
            &database,
            &role,
            &req.password,
        ))
    }

    pub(crate) async fn unbind_step(&self, req: &UnbindRequest) -> Result<(), StepError> {
        let (id, binding) = (&req.instance_id, &req.binding_id);
        let names = self.instance_names(id);
        let role = self.binding_role(id, binding);
        let Some((mut run, look)) = self.locate(id, &names, &[role.as_str()], None).await? else {
            return Ok(());
        };
        let server = run.server;
        let marker = inspect::binding_marker(id.as_str(), binding.as_str());
        match look.roles.first().cloned().flatten() {
            None => Ok(()),
            Some(comment) if comment == marker => {
                drop_binding_role(&mut run, id, &names, &role, &look.databases).await
            }
            Some(_) => Err(StepError::Permanent(
                Reason::ForeignObject,
                format!(
                    "binding {binding}: role {role} on server {} is not marked as this binding's role; refusing to drop it",
                    server.name()
                ),
            )),
        }
    }
}

/// Cuts the role off (no new logins, open sessions ended), hands what it owns in `databases`
/// (the instance's databases that still exist) to the owner group and drops it. The caller has
/// seen the role exist in this step; every statement is safe to repeat.
pub(crate) async fn drop_binding_role(
    run: &mut Run<'_>,
    id: &InstanceId,
    names: &InstanceNames,
    role: &Ident,
    databases: &[(String, String)],
) -> Result<(), StepError> {
    run.exec(
        format!("instance {id}: disabling login of role {role}"),
        None,
        &format!("ALTER ROLE {role} NOLOGIN"),
    )
    .await?;
    run.terminate(
        format!("instance {id}: ending sessions of role {role}"),
        Sessions::OfRole,
        role,
    )
    .await?;
    for (database, _) in databases {
        let database =
            Ident::new(database.as_str()).map_err(|e| StepError::invalid(e.to_string()))?;
        run.exec(
            format!(
                "instance {id}: handing objects of role {role} in database {database} to {}",
                names.owner
            ),
            Some(&database),
            &format!(
                "REASSIGN OWNED BY {role} TO {owner};\nDROP OWNED BY {role}",
                owner = names.owner
            ),
        )
        .await?;
    }
    run.exec(
        format!("instance {id}: dropping role {role}"),
        None,
        &format!("DROP ROLE IF EXISTS {role}"),
    )
    .await
}
