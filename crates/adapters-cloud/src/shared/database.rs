//! Provision and update: the owner group role, the database and its settings.

use pgbroker_domain::Reason;
use pgbroker_domain::ports::InstanceRequest;

use super::error::StepError;
use super::inspect;
use super::request::{InstanceParameters, PlanSettings, parse};
use super::run::{DUPLICATE_DATABASE, Placed, Run};
use super::server::Server;
use super::sql::{Ident, Literal};
use super::{InstanceNames, SharedServerBackend};

fn literal(value: &str) -> Result<Literal, StepError> {
    Literal::new(value).map_err(|e| StepError::invalid(e.to_string()))
}

fn ident(name: &str) -> Result<Ident, StepError> {
    Ident::new(name).map_err(|e| StepError::invalid(e.to_string()))
}

impl SharedServerBackend {
    pub(crate) fn plan_settings(
        &self,
        req_plan: &pgbroker_domain::Plan,
    ) -> Result<PlanSettings, StepError> {
        parse(
            &format!("plan {} settings", req_plan.name),
            &req_plan.settings,
        )
        .map_err(StepError::invalid)
    }

    /// The requested extensions, each checked against the allow-list.
    fn extensions(&self, req: &InstanceRequest) -> Result<Vec<Ident>, StepError> {
        let id = &req.instance_id;
        let params: InstanceParameters = parse("parameters", &req.spec.parameters)
            .map_err(|e| StepError::invalid(format!("instance {id}: {e}")))?;
        self.allowed_extensions(&format!("instance {id}"), &params.extensions)
    }

    /// `requested` as identifiers, each checked against the allow-list; `subject` names what
    /// asks for them in the message.
    pub(crate) fn allowed_extensions(
        &self,
        subject: &str,
        requested: &[String],
    ) -> Result<Vec<Ident>, StepError> {
        requested
            .iter()
            .map(|ext| {
                if !self.settings.extensions.contains(ext) {
                    let shown: String = ext.chars().take(40).collect();
                    return Err(StepError::Permanent(Reason::Unsupported, format!(
                        "{subject}: extension {shown:?} is not allowed on backend {} (allowed: {})",
                        self.name,
                        self.settings.extensions.join(", ")
                    )));
                }
                ident(ext)
            })
            .collect()
    }

    pub(crate) async fn provision_step(&self, req: &InstanceRequest) -> Result<(), StepError> {
        let id = &req.instance_id;
        let plan = self.plan_settings(&req.plan)?;
        let extensions = self.extensions(req)?;
        let names = self.instance_names(id);
        let (mut run, exists) = match self.servers.as_slice() {
            // One server that takes the plan: nowhere else to look, so the placement block
            // itself looks for the owner role (one round trip instead of two); whether the
            // database exists, `CREATE DATABASE` finds out.
            [only] if only.accepts(&req.plan) => {
                (self.place(req, &names, &[only], true).await?, false)
            }
            _ => match self.locate(id, &names, &[], None).await? {
                Some((run, look)) => {
                    let exists = look.owns(names.database.as_str());
                    (run, exists)
                }
                None => {
                    let candidates = self.candidates(id, &req.plan).await?;
                    (self.place(req, &names, &candidates, false).await?, false)
                }
            },
        };
        let goal = Goal {
            open_to: Some(&names.owner),
            ..Goal::instance(&names.database, &names)
        };
        ensure_database(&mut run, id, &goal, &plan, exists).await?;
        configure_inside(&mut run, id, &names.database, &names.owner, &extensions).await
    }

    /// Creates the marked owner role on the first of `candidates` (least loaded first) with
    /// room, under the placement lock; with `adopt`, an owner role with the instance's mark
    /// found there under the lock counts as placed.
    async fn place<'a>(
        &'a self,
        req: &InstanceRequest,
        names: &InstanceNames,
        candidates: &[&'a Server],
        adopt: bool,
    ) -> Result<Run<'a>, StepError> {
        let id = &req.instance_id;
        // The admin joins the group: an admin that is not a superuser (CREATEROLE and
        // CREATEDB, as an RDS master user) must be a member to make it a database's owner.
        let sql = format!(
            "CREATE ROLE {owner} NOLOGIN; COMMENT ON ROLE {owner} IS {marker}; GRANT {owner} TO CURRENT_USER",
            owner = names.owner,
            marker = literal(&names.marker)?,
        );
        let owner = adopt.then_some((&names.owner, names.marker.as_str()));
        let mut full = Vec::new();
        for server in candidates {
            let mut run = self.run(server);
            let max = i64::from(server.settings.max_databases);
            let doing = format!(
                "instance {id}: creating owner role {} on server {}",
                names.owner,
                server.name()
            );
            match run.exec_placed(doing, max, owner, &sql).await? {
                Placed::Done => return Ok(run),
                Placed::Full => full.push(format!("{} holds {max}", server.name())),
                Placed::Unmarked => {
                    return Err(StepError::Permanent(
                        Reason::ForeignObject,
                        format!(
                            "instance {id}: role {} on server {} exists but is not marked as this instance's owner role; refusing to touch it",
                            names.owner,
                            server.name()
                        ),
                    ));
                }
            }
        }
        Err(StepError::Permanent(
            Reason::QuotaExceeded,
            format!(
                "instance {id}: every server that takes plan {} is full ({})",
                req.plan.name,
                full.join(", ")
            ),
        ))
    }

    pub(crate) async fn update_step(&self, req: &InstanceRequest) -> Result<(), StepError> {
        let id = &req.instance_id;
        let plan = self.plan_settings(&req.plan)?;
        let extensions = self.extensions(req)?;
        let names = self.instance_names(id);
        let prefix = inspect::binding_marker_prefix(id.as_str());
        let (mut run, look) = self
            .locate(id, &names, &[], Some(&prefix))
            .await?
            .ok_or_else(|| {
                StepError::Permanent(
                    Reason::NotFound,
                    format!(
                        "instance {id}: not found on any server of backend {}",
                        self.name
                    ),
                )
            })?;
        // Every database of the instance gets the new plan's limits, those of bindings' own too.
        for (database, _) in &look.databases {
            let database = ident(database)?;
            configure_database(
                &mut run,
                id,
                &database,
                &names.marker,
                Some(&names.owner),
                &plan,
            )
            .await?;
        }
        for (database, marker) in &look.own_databases {
            configure_database(&mut run, id, &ident(database)?, marker, None, &plan).await?;
        }
        // Extensions are only added: dropping one could drop data.
        configure_inside(&mut run, id, &names.database, &names.owner, &extensions).await
    }
}

/// What a database of the broker's looks like: who owns it, its mark, who else may open it.
pub(crate) struct Goal<'a> {
    pub name: &'a Ident,
    pub owner: &'a Ident,
    /// Its comment: the instance's mark, or for a binding's own database the binding's.
    pub marker: &'a str,
    /// Who may connect besides the owner (the owner group, for databases it does not own).
    pub open_to: Option<&'a Ident>,
    /// Extra `CREATE DATABASE` options (`ENCODING ... LC_COLLATE ... LC_CTYPE ...`), already quoted.
    pub options: String,
}

impl<'a> Goal<'a> {
    /// An instance database: owned by the owner group, with the instance's mark.
    pub fn instance(name: &'a Ident, names: &'a InstanceNames) -> Self {
        Self {
            name,
            owner: &names.owner,
            marker: &names.marker,
            open_to: None,
            options: String::new(),
        }
    }
}

/// The database exists, is owned by its owner, is closed to everyone else and has the plan's
/// limits. `owned`: the step's look found it with its owner already. Returns with the run
/// holding a connection into the database, for the statements there that follow.
pub(crate) async fn ensure_database(
    run: &mut Run<'_>,
    id: &pgbroker_domain::InstanceId,
    goal: &Goal<'_>,
    plan: &PlanSettings,
    owned: bool,
) -> Result<(), StepError> {
    let (database, server) = (goal.name, run.server.name().to_string());
    if !owned {
        let doing = format!("instance {id}: creating database {database} on server {server}");
        // template0: nothing an administrator put into template1 reaches tenants, and a
        // session connected to template1 cannot make the copy fail; it is also the only
        // template another encoding or locale may be copied from.
        let sql = format!(
            "CREATE DATABASE {database} OWNER {} TEMPLATE template0{}",
            goal.owner, goal.options
        );
        let created = run
            .exec_unless(doing, None, &sql, Some(DUPLICATE_DATABASE))
            .await?;
        if !created {
            // Only now is it worth asking whose it is (the look said: not the owner's).
            let owner = inspect::database_owner(run.admin().await?, database.as_str())
                .await
                .map_err(|e| {
                    StepError::from_sqlx(
                        format!("instance {id}: looking up database {database}"),
                        &e,
                    )
                })?;
            if owner.as_deref() != Some(goal.owner.as_str()) {
                return Err(StepError::Permanent(
                    Reason::ForeignObject,
                    format!(
                        "instance {id}: database {database} on server {server} exists and belongs to role {}, not to {}; refusing to touch it",
                        owner
                            .as_deref()
                            .map_or("(unknown)".to_string(), |o| format!("{o:?}")),
                        goal.owner
                    ),
                ));
            }
        }
    }
    // The caller goes inside the database next: connect there while the admin sets it up.
    let ahead = run.connect_ahead(Some(goal.name));
    let (configured, ahead) = tokio::join!(
        configure_database(run, id, goal.name, goal.marker, goal.open_to, plan),
        ahead
    );
    configured?;
    run.adopt(ahead?);
    Ok(())
}

/// The database's mark, who may open it (its owner, and `open_to`) and the plan's limits.
pub(crate) async fn configure_database(
    run: &mut Run<'_>,
    id: &pgbroker_domain::InstanceId,
    database: &Ident,
    marker: &str,
    open_to: Option<&Ident>,
    plan: &PlanSettings,
) -> Result<(), StepError> {
    let server = run.server.name().to_string();
    let limit = plan.connection_limit.map(i64::from).unwrap_or(-1);
    let timeout = match plan.statement_timeout {
        Some(t) => format!("SET statement_timeout = {}", t.millis),
        None => "RESET statement_timeout".to_string(),
    };
    let grant = open_to
        .map(|role| format!("GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {role};\n"))
        .unwrap_or_default();
    // One simple query is one implicit transaction: these apply together or not at all.
    let sql = format!(
        "COMMENT ON DATABASE {database} IS {marker};\n\
         REVOKE ALL ON DATABASE {database} FROM PUBLIC;\n\
         {grant}\
         ALTER DATABASE {database} WITH CONNECTION LIMIT {limit};\n\
         ALTER DATABASE {database} {timeout}",
        marker = literal(marker)?,
    );
    run.exec(
        format!("instance {id}: setting up database {database} on server {server}"),
        None,
        &sql,
    )
    .await
}

/// Inside the database: the owner group owns the `public` schema (nobody else may create in
/// it, as on PostgreSQL 15 and later) and the requested extensions exist.
pub(crate) async fn configure_inside(
    run: &mut Run<'_>,
    id: &pgbroker_domain::InstanceId,
    database: &Ident,
    owner: &Ident,
    extensions: &[Ident],
) -> Result<(), StepError> {
    let mut sql = format!(
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC;\nALTER SCHEMA public OWNER TO {owner};"
    );
    for ext in extensions {
        sql.push_str(&format!("\nCREATE EXTENSION IF NOT EXISTS {ext};"));
    }
    run.exec(
        format!("instance {id}: setting up schema and extensions in database {database}"),
        Some(database),
        &sql,
    )
    .await
}

/// Drops `database`, ending its sessions (the broker's own first).
pub(crate) async fn drop_database(
    run: &mut Run<'_>,
    id: &pgbroker_domain::InstanceId,
    database: &Ident,
) -> Result<(), StepError> {
    run.forget(database).await;
    run.exec(
        format!("instance {id}: dropping database {database}"),
        None,
        &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
    )
    .await
}
