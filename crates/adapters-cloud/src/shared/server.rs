//! One configured server: its admin connection options (built on first use, when the password
//! is read) and a small pool per database the broker works in.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use pgbroker_domain::{Reason, Sensitive};
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::error::StepError;
use super::settings::{AdminUrl, ServerSettings, SslMode};
use super::sql::Ident;

/// Key of the pool for the admin URL's own database.
const ADMIN: &str = "";

pub(crate) struct Server {
    pub settings: ServerSettings,
    url: AdminUrl,
    /// The admin password when the caller holds it (a cloud DB's master secret) instead of
    /// `password_env`/`password_file`.
    password: Option<Sensitive<String>>,
    pools: Mutex<HashMap<String, PgPool>>,
}

impl Server {
    pub fn new(settings: ServerSettings, url: AdminUrl) -> Self {
        Self {
            settings,
            url,
            password: None,
            pools: Mutex::new(HashMap::new()),
        }
    }

    /// A server whose admin password the caller holds.
    pub fn with_password(
        settings: ServerSettings,
        url: AdminUrl,
        password: Sensitive<String>,
    ) -> Self {
        Self {
            password: Some(password),
            ..Self::new(settings, url)
        }
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// Connection options; the password is read now so that a rotated secret file is picked up
    /// by every new pool.
    fn options(&self) -> Result<PgConnectOptions, StepError> {
        let server = self.name();
        // The URL has no password (checked when settings are loaded).
        let mut options = PgConnectOptions::from_str(self.url.url.as_str()).map_err(|e| {
            StepError::Permanent(
                Reason::BackendUnavailable,
                format!("server {server}: admin_url is not usable: {e}"),
            )
        })?;
        if let Some(password) = &self.password {
            options = options.password(password.expose());
        } else if let Some(var) = &self.settings.password_env {
            let password = std::env::var(var).map_err(|_| {
                StepError::Retryable(
                    Reason::BackendUnavailable,
                    format!(
                        "server {server}: environment variable {var} (password_env) is not set"
                    ),
                )
            })?;
            options = options.password(&password);
        } else if let Some(path) = &self.settings.password_file {
            let password = std::fs::read_to_string(path).map_err(|e| {
                StepError::Retryable(
                    Reason::BackendUnavailable,
                    format!(
                        "server {server}: reading password_file {}: {e}",
                        path.display()
                    ),
                )
            })?;
            options = options.password(password.trim_end_matches(['\r', '\n']));
        }
        // Statements carry password verifiers (CREATE ROLE ... PASSWORD): sqlx must never log them.
        Ok(options
            .application_name("pgbroker")
            .log_statements(log::LevelFilter::Off)
            .log_slow_statements(log::LevelFilter::Off, Duration::from_secs(3600)))
    }

    fn pool(&self, database: Option<&Ident>) -> Result<PgPool, StepError> {
        let key = database.map(Ident::as_str).unwrap_or(ADMIN);
        let mut pools = self.pools.lock().map_err(|_| {
            StepError::Retryable(
                Reason::BackendFailed,
                "connection pool registry is poisoned".into(),
            )
        })?;
        if let Some(pool) = pools.get(key) {
            return Ok(pool.clone());
        }
        let mut options = self.options()?;
        if let Some(db) = database {
            options = options.database(db.as_str());
        }
        // An instance's steps run one at a time and visit its databases briefly (a provision
        // and the bind after it), so each database gets one connection, closed after 1 s idle:
        // a burst of provisions must not hold one server connection per new database for long,
        // and idle connections would block renames.
        let (max, idle) = match database {
            Some(_) => (1, 1),
            None => (self.settings.max_connections, 300),
        };
        // No ping before each use: a step on a connection that went bad fails and is retried.
        // An acquire here includes connecting to the server (a new database's first session
        // reads its catalogs), which under a burst on a busy server takes seconds; sqlx would
        // warn of it after 2 s. That is the server's latency, bounded by the connect timeout
        // (past which the step fails and is retried, with a warning of its own), not a stall
        // of the broker: it is logged at INFO.
        let mut pool = PgPoolOptions::new();
        if database.is_none() {
            pool = pool.after_connect(|conn, _| Box::pin(prefer_generic_plans(conn)));
        }
        let pool = pool
            .max_connections(max)
            .test_before_acquire(false)
            .acquire_slow_level(log::LevelFilter::Info)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(self.settings.connect_timeout_seconds))
            .idle_timeout(Some(Duration::from_secs(idle)))
            .connect_lazy_with(options);
        pools.insert(key.to_string(), pool.clone());
        Ok(pool)
    }

    /// The pool for the admin URL's database, where roles and databases are managed.
    pub fn admin(&self) -> Result<PgPool, StepError> {
        self.pool(None)
    }

    /// A pool connected to `database`, for statements that act inside it.
    pub fn database(&self, database: &Ident) -> Result<PgPool, StepError> {
        self.pool(Some(database))
    }

    /// Closes the pool of a database about to be dropped or renamed, so that the broker's own
    /// idle connections do not stand in the way.
    pub async fn forget(&self, database: &Ident) {
        let pool = self
            .pools
            .lock()
            .ok()
            .and_then(|mut pools| pools.remove(database.as_str()));
        if let Some(pool) = pool {
            pool.close().await;
        }
    }

    /// Host, port and sslmode that applications use.
    pub fn client_endpoint(&self) -> (String, u16, SslMode) {
        let host = self
            .settings
            .client_host
            .clone()
            .or_else(|| self.url.url.host_str().map(str::to_string))
            .unwrap_or_else(|| "localhost".to_string());
        let port = self
            .settings
            .client_port
            .or(self.url.url.port())
            .unwrap_or(5432);
        let sslmode = self
            .settings
            .client_sslmode
            .or(self.url.sslmode)
            .unwrap_or(SslMode::Prefer);
        (host, port, sslmode)
    }

    /// Whether this server may hold instances of `plan` (matched by id or name).
    pub fn accepts(&self, plan: &pgbroker_domain::Plan) -> bool {
        self.settings.plans.is_empty()
            || self
                .settings
                .plans
                .iter()
                .any(|p| p == plan.id.as_str() || *p == plan.name)
    }
}

/// Lets the admin connection plan each prepared catalog query once. A step's look at the
/// catalogs (`inspect::LOOK`, a dozen subqueries) takes PostgreSQL about 1.5 ms to plan and well
/// under 1 ms to run; with the default `plan_cache_mode` every connection plans it afresh for
/// its first five executions, and with many pooled connections that is most executions. The
/// setting exists from PostgreSQL 12 on: an older server refuses it, and keeps planning as before.
async fn prefer_generic_plans(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    use sqlx::Executor;
    if let Err(e) = conn
        .execute("SET plan_cache_mode = force_generic_plan")
        .await
    {
        tracing::debug!(error = %e, "the server does not take plan_cache_mode; catalog queries are planned per execution");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::settings::SharedSettings;
    use super::*;

    /// The admin pool's connections plan prepared catalog queries once (see
    /// `prefer_generic_plans`); an instance database's connections are left as the server sets.
    #[tokio::test]
    async fn admin_connections_prefer_generic_plans() {
        let url = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let settings: SharedSettings = serde_json::from_value(serde_json::json!({
            "servers": [{"name": "local", "admin_url": url}],
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let urls = settings.check().unwrap_or_else(|e| panic!("{e}"));
        let (Some(server), Some(url)) = (settings.servers.first(), urls.into_iter().next()) else {
            panic!("one server");
        };
        let server = Server::new(server.clone(), url);
        let show = |pool: PgPool| async move {
            sqlx::query_scalar::<_, String>("SHOW plan_cache_mode")
                .fetch_one(&pool)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let admin = server.admin().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(show(admin).await, "force_generic_plan");
        let postgres = Ident::new("postgres".to_string()).unwrap_or_else(|e| panic!("{e}"));
        let inside = server.database(&postgres).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(show(inside).await, "auto");
    }
}
