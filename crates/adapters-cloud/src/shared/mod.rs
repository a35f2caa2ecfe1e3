//! `SharedServerBackend`: each instance is a database, owned by a NOLOGIN group role, on one of
//! a set of existing PostgreSQL servers; each binding is a LOGIN role in that group.
//!
//! Every step is a short list of idempotent statements (see `run`), each guarded by a look at
//! the system catalogs, so running a step twice, or again after a crash half-way, converges.
//! Roles and databases carry a comment (`pgbroker instance <id>`, ...) that marks them as the
//! broker's: a step never touches a role or database of the same name that lacks the mark.

mod credentials;
mod database;
mod deprovision;
mod error;
mod inspect;
pub mod names;
mod own_database;
mod request;
mod roles;
mod run;
mod server;
pub(crate) mod server_spec;
pub mod settings;
pub mod sql;
mod unbind;

use std::sync::Mutex;

use async_trait::async_trait;
use pgbroker_domain::ports::{
    Backend, BindRequest, CheckError, InstanceRequest, ProvisionOutput, Step, UnbindRequest,
};
use pgbroker_domain::server::{ServerTarget, Translation, Unsupported};
use pgbroker_domain::{Credentials, InstanceId, OperationKind, Plan, Reason, Sensitive};

pub use request::{BindParameters, InstanceParameters, PlanSettings};
pub use run::Statement;
pub use settings::{
    DeprovisionMode, NameSettings, ServerSettings, SettingsError, SharedSettings, SslMode,
    split_password,
};

use error::StepError;
use run::Run;
use server::Server;
use sql::Ident;

/// A backend that places databases on shared PostgreSQL servers.
pub struct SharedServerBackend {
    name: String,
    settings: SharedSettings,
    servers: Vec<Server>,
    /// Fault injection: stop every step after this many statements.
    interrupt_after: Mutex<Option<usize>>,
    /// Statements sent, while recording is on.
    journal: run::Journal,
    /// Steps running at once: as many as the servers have admin connections. A step sends its
    /// statements one after another on one admin connection at a time, so an admitted step
    /// never queues for one (sqlx would fail it after the connect timeout, and warn after 2 s),
    /// and the steps of a burst (the engine runs 16 at once) wait here, in order, for as long
    /// as it takes.
    admission: tokio::sync::Semaphore,
}

impl std::fmt::Debug for SharedServerBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedServerBackend")
            .field("name", &self.name)
            .field(
                "servers",
                &self.servers.iter().map(Server::name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Names of an instance's objects.
#[derive(Debug, Clone)]
pub(crate) struct InstanceNames {
    pub database: Ident,
    pub owner: Ident,
    pub marker: String,
}

impl SharedServerBackend {
    /// Checks the settings; does not connect (that happens on the first step or check).
    pub fn new(name: impl Into<String>, settings: SharedSettings) -> Result<Self, SettingsError> {
        let urls = settings.check()?;
        let servers: Vec<Server> = settings
            .servers
            .iter()
            .cloned()
            .zip(urls)
            .map(|(s, url)| Server::new(s, url))
            .collect();
        let connections = servers
            .iter()
            .map(|s| s.settings.max_connections as usize)
            .sum::<usize>();
        Ok(Self {
            name: name.into(),
            settings,
            servers,
            interrupt_after: Mutex::new(None),
            journal: Mutex::new(None),
            admission: tokio::sync::Semaphore::new(connections.max(1)),
        })
    }

    /// One server whose admin password the caller holds (a cloud DB's master user, its
    /// password from the cloud's secret store): the cloud backends run their databases, roles
    /// and bindings through the same steps as this backend (`provision_step`, `bind_step`,
    /// `unbind_step`, `update_step`), so isolation and revocation behave identically.
    pub(crate) fn on_server(
        name: impl Into<String>,
        settings: SharedSettings,
        password: Sensitive<String>,
    ) -> Result<Self, SettingsError> {
        let mut backend = Self::new(name, settings)?;
        let urls = backend.settings.check()?;
        backend.servers = backend
            .settings
            .servers
            .iter()
            .cloned()
            .zip(urls)
            .map(|(s, url)| Server::with_password(s, url, password.clone()))
            .collect();
        Ok(backend)
    }

    /// Fault injection for crash tests: every later step stops after `statements` statements
    /// (as if the broker died there) and fails retryably; `None` switches it off.
    pub fn interrupt_after(&self, statements: Option<usize>) {
        if let Ok(mut limit) = self.interrupt_after.lock() {
            *limit = statements;
        }
    }

    /// For benchmarks: from now on keep every statement the steps send (not their reads of the
    /// system catalogs), until [`Self::take_statements`] hands them over; `false` stops.
    pub fn record_statements(&self, on: bool) {
        if let Ok(mut journal) = self.journal.lock() {
            *journal = on.then(Vec::new);
        }
    }

    /// The statements recorded since the last call.
    pub fn take_statements(&self) -> Vec<Statement> {
        self.journal
            .lock()
            .ok()
            .and_then(|mut j| j.as_mut().map(std::mem::take))
            .unwrap_or_default()
    }

    fn limit(&self) -> Option<usize> {
        self.interrupt_after.lock().ok().and_then(|l| *l)
    }

    pub(crate) fn instance_names(&self, id: &InstanceId) -> InstanceNames {
        InstanceNames {
            database: self.settings.names.database.render(id, None),
            owner: self.settings.names.owner_role.render(id, None),
            marker: inspect::instance_marker(id.as_str()),
        }
    }

    /// The server holding the instance (found by its marked owner role), if any, with what the
    /// step needs to know there (see [`inspect::look`]: `roles`, and the roles and databases
    /// marked with `marked`), all read in one round trip per server asked; the step's run on that
    /// server goes on with the admin connection the look used. A server that cannot be asked
    /// only matters when no other server has the instance: then the answer is unknown and the
    /// step is retried.
    pub(crate) async fn locate(
        &self,
        id: &InstanceId,
        names: &InstanceNames,
        roles: &[&str],
        marked: Option<&str>,
    ) -> Result<Option<(Run<'_>, inspect::Look)>, StepError> {
        let mut unreachable = None;
        for server in &self.servers {
            let mut run = self.run(server);
            let look = match run.admin().await {
                Ok(admin) => inspect::look(admin, names.owner.as_str(), roles, marked)
                    .await
                    .map_err(|e| {
                        StepError::from_sqlx(
                            format!("instance {id}: looking for it on server {}", server.name()),
                            &e,
                        )
                    }),
                Err(e) => Err(e),
            };
            match look {
                Err(e) => unreachable = unreachable.or(Some(e)),
                Ok(look) => match look.owner.as_deref() {
                    None => continue,
                    Some(c) if c == names.marker => return Ok(Some((run, look))),
                    Some(_) => return Err(owner_not_ours(id, names, server)),
                },
            }
        }
        match unreachable {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    /// Servers that accept `plan`, fullest last.
    pub(crate) async fn candidates(
        &self,
        id: &InstanceId,
        plan: &Plan,
    ) -> Result<Vec<&Server>, StepError> {
        let mut loads = Vec::new();
        let accepting: Vec<&Server> = self.servers.iter().filter(|s| s.accepts(plan)).collect();
        if accepting.len() == 1 {
            // Nothing to choose between; the placement itself checks for room under its lock.
            return Ok(accepting);
        }
        for server in accepting {
            let admin = server.admin()?;
            let count: i64 = sqlx::query_scalar(inspect::INSTANCE_COUNT)
                .fetch_one(&admin)
                .await
                .map_err(|e| {
                    StepError::from_sqlx(
                        format!(
                            "instance {id}: counting instances on server {}",
                            server.name()
                        ),
                        &e,
                    )
                })?;
            let max = f64::from(server.settings.max_databases);
            loads.push((count as f64 / max, server));
        }
        if loads.is_empty() {
            return Err(StepError::Permanent(
                Reason::Unsupported,
                format!(
                    "instance {id}: no server of backend {} accepts plan {} ({}); see `plans` in the server settings",
                    self.name, plan.name, plan.id
                ),
            ));
        }
        loads.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(loads.into_iter().map(|(_, s)| s).collect())
    }

    fn run<'a>(&'a self, server: &'a Server) -> Run<'a> {
        Run::new(server, self.limit(), &self.journal)
    }
}

fn done<T>(result: Result<T, StepError>) -> Step<T> {
    match result {
        Ok(value) => Step::Done(value),
        Err(err) => Step::Failed(err.into()),
    }
}

#[async_trait]
impl Backend for SharedServerBackend {
    fn completes_synchronously(&self, _kind: OperationKind) -> bool {
        // A handful of DDL statements: every step finishes within a request.
        true
    }

    async fn provision(&self, req: &InstanceRequest) -> Step<ProvisionOutput> {
        let _admitted = self.admission.acquire().await;
        done(
            self.provision_step(req)
                .await
                .map(|()| ProvisionOutput::default()),
        )
    }

    async fn update(&self, req: &InstanceRequest) -> Step<()> {
        let _admitted = self.admission.acquire().await;
        done(self.update_step(req).await)
    }

    async fn deprovision(&self, req: &InstanceRequest) -> Step<()> {
        let _admitted = self.admission.acquire().await;
        done(self.deprovision_step(req).await)
    }

    async fn bind(&self, req: &BindRequest) -> Step<Credentials> {
        let _admitted = self.admission.acquire().await;
        done(self.bind_step(req).await)
    }

    async fn unbind(&self, req: &UnbindRequest) -> Step<()> {
        let _admitted = self.admission.acquire().await;
        done(self.unbind_step(req).await)
    }

    fn supports_own_database(&self) -> bool {
        true
    }

    async fn check(&self) -> Result<(), CheckError> {
        if self.servers.is_empty() {
            return Err(CheckError::unavailable(format!(
                "backend {}: no servers configured; set backends.{}.settings.servers",
                self.name, self.name
            )));
        }
        let mut problems = Vec::new();
        for server in &self.servers {
            let result = match server.admin() {
                Err(e) => Err(e.to_string()),
                Ok(admin) => match inspect::admin_can_manage(&admin).await {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(
                        "the admin role is neither superuser nor CREATEROLE and CREATEDB"
                            .to_string(),
                    ),
                    Err(e) => Err(format!("cannot be reached: {e}")),
                },
            };
            if let Err(why) = result {
                problems.push(format!("server {}: {why}", server.name()));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            // Whatever the cause (unreachable, not allowed to manage roles), the backend
            // cannot work right now.
            Err(CheckError::unavailable(problems.join("; ")))
        }
    }

    fn server_parameters(
        &self,
        _plan: &Plan,
        target: &ServerTarget<'_>,
    ) -> Result<Translation, Unsupported> {
        server_spec::server_parameters(&self.name, &self.settings, target)
    }
}

/// The refusal of a step that found the instance's owner role without the instance's mark.
pub(crate) fn owner_not_ours(id: &InstanceId, names: &InstanceNames, server: &Server) -> StepError {
    StepError::Permanent(
        Reason::ForeignObject,
        format!(
            "instance {id}: role {} on server {} exists but is not marked as this instance's owner role; refusing to touch it",
            names.owner,
            server.name()
        ),
    )
}
