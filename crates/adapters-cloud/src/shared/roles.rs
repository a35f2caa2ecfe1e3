//! Bind and unbind: a LOGIN role per binding, in the instance's owner group, or, for a
//! binding with a database of its own, outside it and owning that database (see
//! `own_database.rs`).
//!
//! A binding's sessions start as the owner group (`ALTER ROLE ... SET role`), so whatever one
//! binding creates belongs to the group and every other binding of the instance can use it. If
//! an application resets its role, default privileges still grant the group everything the
//! binding creates, and unbinding hands such objects to the group.

use pgbroker_domain::ports::BindRequest;
use pgbroker_domain::{BindingId, Credentials, InstanceId, Reason, Sensitive};

use super::error::StepError;
use super::inspect;
use super::names;
use super::own_database::{OwnGoal, ensure_own_database};
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
    pub(crate) fn binding_role(&self, instance: &InstanceId, binding: &BindingId) -> Ident {
        self.settings
            .names
            .binding_role
            .render(instance, Some(binding))
    }

    pub(crate) async fn bind_step(&self, req: &BindRequest) -> Result<Credentials, StepError> {
        let (id, binding) = (&req.instance_id, &req.binding_id);
        let invalid = |e: String| StepError::invalid(format!("binding {binding}: {e}"));
        let _: BindParameters =
            parse("bind parameters", &req.binding.parameters).map_err(invalid)?;
        let own = req
            .binding
            .own_database()
            .map_err(|e| invalid(e.to_string()))?;
        let extensions = match &own {
            Some(db) => self.allowed_extensions(&format!("binding {binding}"), &db.extensions)?,
            None => Vec::new(),
        };
        let plan = self.plan_settings(&req.plan)?;
        let names = self.instance_names(id);
        let role = self.binding_role(id, binding);
        // A login with a database of its own is outside the owner group: its mark names the
        // owner role, so that it is found as this instance's and nobody else's.
        let marker = match &own {
            Some(_) => {
                inspect::own_binding_marker(id.as_str(), binding.as_str(), names.owner.as_str())
            }
            None => inspect::binding_marker(id.as_str(), binding.as_str()),
        };
        // The verifier's PBKDF2 rounds run while the server is asked what exists.
        let password = verifier(req.password.clone());
        let marked = own.as_ref().map(|_| marker.as_str());
        let (mut run, look) = self
            .locate(id, &names, &[role.as_str()], marked)
            .await?
            .ok_or_else(|| {
                StepError::Permanent(Reason::NotFound, format!(
                    "binding {binding}: instance {id} has no database on any server of backend {}",
                    self.name
                ))
            })?;
        let server = run.server;
        let existing = look.roles.first().cloned().flatten();
        let password = literal(&password.await.map_err(|e| {
            StepError::Retryable(
                Reason::BackendFailed,
                format!("binding {binding}: computing the password verifier: {e}"),
            )
        })?)?;
        let owner = &names.owner;
        let session_role = literal(owner.as_str())?;
        // A binding with a database of its own gets a role outside the owner group: it opens
        // its database and nothing else of the instance.
        // The admin is a member of each login it makes: one that is not a superuser
        // (CREATEROLE, as an RDS master user) needs that to set its default privileges, to
        // give it a database and, at unbind, to hand its objects over and drop them.
        let sql = match (existing, own.is_some()) {
            (None, false) => format!(
                "CREATE ROLE {role} LOGIN PASSWORD {password} IN ROLE {owner};\n\
                 COMMENT ON ROLE {role} IS {marker};\n\
                 GRANT {role} TO CURRENT_USER;\n\
                 ALTER ROLE {role} SET role = {session_role}",
                marker = literal(&marker)?,
            ),
            (None, true) => format!(
                "CREATE ROLE {role} LOGIN PASSWORD {password};\n\
                 COMMENT ON ROLE {role} IS {marker};\n\
                 GRANT {role} TO CURRENT_USER",
                marker = literal(&marker)?,
            ),
            // A retried bind: make sure the role is exactly as a first run leaves it.
            (Some(comment), false) if comment == marker => format!(
                "ALTER ROLE {role} WITH LOGIN PASSWORD {password};\n\
                 GRANT {owner} TO {role};\n\
                 GRANT {role} TO CURRENT_USER;\n\
                 ALTER ROLE {role} SET role = {session_role}"
            ),
            (Some(comment), true) if comment == marker => format!(
                "ALTER ROLE {role} WITH LOGIN PASSWORD {password};\n\
                 GRANT {role} TO CURRENT_USER"
            ),
            (Some(_), _) => {
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
        let database = match &own {
            Some(db) => {
                let database = names::extra_database(&names.database, &db.name);
                let goal = OwnGoal {
                    name: &database,
                    role: &role,
                    marker: &marker,
                    request: db,
                    extensions: &extensions,
                    exists: look
                        .own_databases
                        .iter()
                        .any(|(name, comment)| name == database.as_str() && *comment == marker),
                };
                ensure_own_database(&mut run, id, &goal, &plan).await?;
                database
            }
            None => {
                let sql = ["TABLES", "SEQUENCES", "FUNCTIONS", "TYPES", "SCHEMAS"]
                    .iter()
                    .map(|kind| {
                        format!(
                            "ALTER DEFAULT PRIVILEGES FOR ROLE {role} GRANT ALL ON {kind} TO {owner};"
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                run.exec(
                    format!(
                        "binding {binding}: default privileges in database {}",
                        names.database
                    ),
                    Some(&names.database),
                    &sql,
                )
                .await?;
                names.database.clone()
            }
        };
        Ok(super::credentials::credentials(
            server,
            &database,
            &role,
            &req.password,
        ))
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
    let databases = databases
        .iter()
        .map(|(database, _)| {
            Ident::new(database.as_str()).map_err(|e| StepError::invalid(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // The first database's connection is made while the role is cut off.
    let ahead = run.connect_ahead(databases.first());
    let cut_off = async {
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
        .await
    };
    let (cut, ahead) = tokio::join!(cut_off, ahead);
    cut?;
    run.adopt(ahead?);
    hand_over_and_drop(run, id, names, role, &databases).await
}

/// Hands what the role (cut off already) owns in `databases` to the owner group and drops it.
pub(crate) async fn hand_over_and_drop(
    run: &mut Run<'_>,
    id: &InstanceId,
    names: &InstanceNames,
    role: &Ident,
    databases: &[Ident],
) -> Result<(), StepError> {
    for database in databases {
        run.exec(
            format!(
                "instance {id}: handing objects of role {role} in database {database} to {}",
                names.owner
            ),
            Some(database),
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
