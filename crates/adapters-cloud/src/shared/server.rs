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
        let pool = PgPoolOptions::new()
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
