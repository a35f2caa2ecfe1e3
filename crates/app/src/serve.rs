//! `pgbroker serve`: configuration → state store → backends → catalog → use cases and operation
//! engine → the OSB HTTP server, all in one process, stopped gracefully on SIGTERM or Ctrl-C.
//!
//! [`start`] is reusable: `pgbroker dev` and tests start a server with backends of their own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pgbroker_api_osb::{ApiConfig, Auth, BasicUser, JsonSchemaParameters};
use pgbroker_domain::ports::{BackendRegistry, ByDoor, Clock, NoVault, SecretVault, SystemClock};
use pgbroker_domain::{Broker, Core, Engine, EngineConfig, OperationPolicy};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::catalog_file::LoadedCatalog;
use crate::config::{AuthConfig, Config};
use crate::metrics::{FailureMetrics, MeteredStore, ReconcileCounters, time_backends};
use crate::vault::LateVault;
use crate::{availability, backends, catalog_file};

/// A server started by [`start`]; dropping it does not stop it, [`RunningServer::shutdown`] does.
pub struct RunningServer {
    /// The address the server listens on (the real port when the configuration asked for 0).
    pub addr: SocketAddr,
    /// The use cases the server calls, for in-process callers such as `pgbroker dev`.
    pub broker: Arc<Broker>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    engine: JoinHandle<()>,
    operator: Option<JoinHandle<()>>,
    grace: Duration,
}

impl RunningServer {
    /// Stops accepting connections, lets in-flight requests and engine steps finish (within the
    /// configured grace period) and returns.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        let finish = async {
            let served = self.server.await.context("the HTTP server task failed")?;
            served.context("serving HTTP")?;
            if let Some(operator) = self.operator {
                operator.await.context("the operator task failed")?;
            }
            self.engine
                .await
                .context("the operation engine task failed")?;
            anyhow::Ok(())
        };
        match tokio::time::timeout(self.grace, finish).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(
                    grace_seconds = self.grace.as_secs(),
                    "shutdown grace period over; stopping now"
                );
                Ok(())
            }
        }
    }
}

/// Builds the authentication of the OSB routes from the configuration.
pub fn auth(config: &AuthConfig) -> anyhow::Result<Auth> {
    if config.dev_mode {
        tracing::warn!(
            "DEV MODE: authentication is OFF, every request to the OSB API is accepted; never run like this outside a developer machine"
        );
        return Ok(Auth::Disabled);
    }
    let basic = config
        .basic
        .iter()
        .enumerate()
        .map(|(i, user)| {
            Ok(BasicUser {
                username: user.username.clone(),
                password: user
                    .password
                    .resolve(&format!("auth.basic[{i}].password"))?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bearer = config
        .bearer_tokens
        .iter()
        .enumerate()
        .map(|(i, token)| token.resolve(&format!("auth.bearer_tokens[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Auth::required(basic, bearer).context(
        "refusing to start: configure auth.basic or auth.bearer_tokens (or set auth.dev_mode on a developer machine)",
    )
}

/// Starts the broker: the HTTP server and the operation engine. `backends` replaces the
/// configured backends (tests); `None` builds them from `config.backends`, and a backend that
/// cannot be configured here is logged with the plans it cannot provision (the server still
/// starts, for the other plans; `/readyz` reports that backend's failure).
pub async fn start(
    config: &Config,
    backends: Option<BackendRegistry>,
) -> anyhow::Result<RunningServer> {
    let (backends, unconfigurable, vault) = match backends {
        Some(backends) => (backends, Default::default(), LateVault::new()),
        None => {
            let built = backends::build(&config.backends, config.state_store.vault_key.is_some())
                .context("building the configured backends")?;
            (built.registry, built.unconfigurable, built.vault)
        }
    };
    let loaded = catalog_file::load(config.catalog.path.as_deref(), &backends.names())?;
    availability::warn_unconfigurable(&loaded.catalog, &unconfigurable);
    start_with(config, backends, loaded, vault).await
}

/// [`start`] with the backends and the checked catalog chosen by the caller (`pgbroker dev`).
pub async fn start_with(
    config: &Config,
    backends: BackendRegistry,
    loaded: LoadedCatalog,
    vault: Arc<LateVault>,
) -> anyhow::Result<RunningServer> {
    crate::doors::check(&config.osb, &config.operator, &backends.names())?;
    // Without the OSB routes nothing needs credentials.
    let auth = if config.osb.enabled {
        auth(&config.auth)?
    } else {
        Auth::Disabled
    };
    let registry = prometheus::Registry::new();
    let (store, sealed) = open_store(&config.state_store).await?;
    let failures = FailureMetrics::new(&registry).context("registering failure metrics")?;
    let store = MeteredStore::wrap(store, &registry, failures.clone())
        .context("registering operation metrics")?;
    let backend_names = backends.names();
    let backends = time_backends(backends, &registry).context("registering backend metrics")?;
    // Each plan's bind schema offers a database of the binding's own where its backend can make one.
    let catalog = loaded.catalog.offering_own_databases(|name| {
        backends
            .get(name)
            .is_some_and(|b| b.supports_own_database())
    });
    let core = Arc::new(Core {
        catalog: Arc::new(catalog),
        store,
        backends,
        clock: Arc::new(SystemClock::new(tokio::time::sleep)) as Arc<dyn Clock>,
        secrets: Arc::new(pgbroker_adapters_cloud::OsRngSecrets),
        parameter_schemas: Arc::new(JsonSchemaParameters),
        policy: OperationPolicy {
            sync_timeout: Duration::from_secs(config.engine.sync_timeout_seconds),
            lease: Duration::from_secs(config.engine.lease_seconds.max(1)),
            ..OperationPolicy::default()
        },
        traces: Arc::new(crate::telemetry::OtelTraceContext),
    });
    let mut engine = Engine::new(
        core.clone(),
        EngineConfig {
            concurrency: config.engine.concurrency.max(1),
            poll_interval: Duration::from_millis(config.engine.poll_interval_ms.max(1)),
            ..EngineConfig::default()
        },
    );
    let broker = Arc::new(Broker::new(core).with_waker(engine.waker()));
    let operator = if config.operator.enabled {
        let reconciles =
            ReconcileCounters::new(&registry).context("registering operator metrics")?;
        let door = crate::operator::OperatorDoor::build(
            &config.operator,
            &backend_names,
            broker.clone(),
            reconciles,
        )
        .await?;
        engine = engine.with_observer(door.observer());
        Some(door)
    } else {
        None
    };
    let kubernetes: Arc<dyn SecretVault> = match &operator {
        Some(door) => Arc::new(pgbroker_adapters_k8s::SecretsVault::new(
            door.client(),
            <pgbroker_api_crd::PostgreSQLServer as kube::Resource>::api_version(&()),
        )),
        None => Arc::new(NoVault(
            "the operator is off, and an operator-made instance's secrets are kept in Kubernetes Secrets".into(),
        )),
    };
    vault.set(Arc::new(ByDoor {
        kubernetes,
        other: sealed,
    }));
    let router = pgbroker_api_osb::router(
        broker.clone(),
        ApiConfig {
            auth,
            body_limit: config.server.body_limit_bytes,
            metrics: registry,
            osb: config.osb.enabled,
            readiness: operator.iter().map(|door| door.readiness()).collect(),
            on_failure: Some(failures.for_door("osb")),
            on_request_span: Some(std::sync::Arc::new(crate::telemetry::continue_trace)),
        },
    )?;
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    let (shutdown, stop) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let server = tokio::spawn(
        axum::serve(listener, router)
            .with_graceful_shutdown(stopped(stop.clone()))
            .into_future(),
    );
    let operator = operator.map(|door| tokio::spawn(door.run(stop.clone())));
    let engine = tokio::spawn(async move { engine.run(stopped(stop)).await });
    if config.osb.enabled {
        tracing::info!(%addr, origin = %loaded.origin, operator = config.operator.enabled, "pgbroker is serving the OSB API");
    } else {
        tracing::info!(%addr, origin = %loaded.origin, "pgbroker is serving health and metrics; the OSB API is off, the operator runs");
    }
    Ok(RunningServer {
        addr,
        broker,
        shutdown,
        server,
        engine,
        operator,
        grace: Duration::from_secs(config.server.shutdown_grace_seconds),
    })
}

/// The state store, and the vault sealed with `vault_key` on the same database (or one that
/// says the key is missing).
async fn open_store(
    config: &crate::config::StateStoreConfig,
) -> anyhow::Result<(
    Arc<dyn pgbroker_domain::ports::StateStore>,
    Arc<dyn SecretVault>,
)> {
    let url = &config.url;
    let Some(key) = &config.vault_key else {
        let store = pgbroker_adapters_sql::open_pooled(url.expose(), &config.pool())
            .await
            .with_context(|| format!("opening state store {url}"))?;
        let none = NoVault(
            "state_store.vault_key is not set, so no secret of a backend can be kept".into(),
        );
        return Ok((store, Arc::new(none)));
    };
    let key = key.resolve("state_store.vault_key")?;
    let cipher = pgbroker_adapters_sql::VaultCipher::from_base64(key.expose())
        .context("state_store.vault_key")?;
    pgbroker_adapters_sql::open_with_vault(url.expose(), &config.pool(), cipher)
        .await
        .with_context(|| format!("opening state store {url}"))
}

/// SIGTERM and Ctrl-C, listened for from creation on: made before the server starts, a signal
/// sent as soon as the server says it serves still stops it gracefully instead of killing it.
pub struct Termination {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Termination {
    pub fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(term), Ok(int)) => Some((term, int)),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                    None
                }
            };
            Self { signals }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// Resolves on SIGTERM or Ctrl-C.
    pub async fn wait(self) {
        #[cfg(unix)]
        match self.signals {
            Some((mut term, mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("termination requested; finishing in-flight work");
    }
}

/// `pgbroker serve`.
pub async fn serve(config: &Config) -> anyhow::Result<()> {
    let termination = Termination::listen();
    let server = start(config, None).await?;
    termination.wait().await;
    server.shutdown().await
}
