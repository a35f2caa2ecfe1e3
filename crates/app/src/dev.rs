//! `pgbroker dev`: the broker with the SQLite state store and the shared-server backend against a
//! throwaway PostgreSQL (or `--postgres-url`), OSB credentials and a curl walkthrough printed,
//! everything stopped and removed on Ctrl-C or SIGTERM. Only services whose backends work here
//! are offered: the other configured backends (CloudNativePG by default) are checked first, and
//! the banner says which were left out and why.

mod throwaway;

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::Context;
use pgbroker_adapters_cloud::shared::split_password;
use pgbroker_app::availability::{self, LeftOut};
use pgbroker_app::backends;
use pgbroker_app::catalog_file::{self, LoadedCatalog};
use pgbroker_app::config::{BackendConfig, BasicAuthConfig, Config};
use pgbroker_app::secret_value::SecretValue;
use pgbroker_app::serve;
use pgbroker_app::store_url::StoreUrl;
use pgbroker_domain::Catalog;
use pgbroker_domain::ports::{BackendRegistry, SecretGenerator};
use serde_json::json;

use throwaway::Throwaway;

/// Name of the shared-server backend in dev mode (the default catalog's shared plans use it).
const BACKEND: &str = "shared";
const DEV_USER: &str = "dev";
/// How long another configured backend's check may take before dev mode leaves it out.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Use this PostgreSQL server (admin URL; a password in it is kept in a private file)
    /// instead of starting a throwaway one. The state store then lives in ./pgbroker-dev.db.
    #[arg(long, value_name = "URL")]
    postgres_url: Option<String>,
    /// Directory of initdb, pg_ctl, postgres and pg_isready (default: the newest
    /// /usr/lib/postgresql/<version>/bin, else PATH).
    #[arg(long, value_name = "DIR")]
    pg_bindir: Option<PathBuf>,
    /// Address the OSB API listens on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Accept OSB requests without credentials. Only dev mode can do this; never expose it.
    #[arg(long)]
    no_auth: bool,
}

/// Where the databases go, and what to remove on exit.
enum Postgres {
    Throwaway(Throwaway),
    Existing { url: String, scratch: PathBuf },
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Self::Existing { scratch, .. } = self {
            let _ = std::fs::remove_dir_all(scratch);
        }
    }
}

pub async fn run(mut config: Config, args: DevArgs) -> anyhow::Result<()> {
    // Before anything is started, so that a signal at any point cleans up.
    let termination = serve::Termination::listen();
    let secrets = pgbroker_adapters_cloud::OsRngSecrets;
    let (postgres, server_settings, state) = match &args.postgres_url {
        None => {
            eprintln!("starting a throwaway PostgreSQL server...");
            let pg = Throwaway::start(args.pg_bindir.as_deref()).await?;
            let settings =
                json!({"name": "dev", "admin_url": pg.admin_url(), "client_sslmode": "disable"});
            let state = format!("sqlite://{}?mode=rwc", pg.dir.join("state.db").display());
            (Postgres::Throwaway(pg), settings, state)
        }
        Some(raw) => {
            let (url, password) = split_password(raw).context("--postgres-url")?;
            let scratch = std::env::temp_dir().join(format!(
                "pgbroker-dev-{}",
                secrets.password().expose()[..10].to_lowercase()
            ));
            std::fs::create_dir(&scratch)
                .with_context(|| format!("creating {}", scratch.display()))?;
            std::fs::set_permissions(&scratch, std::fs::Permissions::from_mode(0o700))
                .context("restricting the scratch directory")?;
            let mut settings = json!({"name": "dev", "admin_url": url});
            if let Some(password) = password {
                let file = scratch.join("admin-password");
                std::fs::write(&file, password.expose())
                    .context("writing the admin password file")?;
                settings["password_file"] = json!(file);
            }
            let pg = Postgres::Existing { url, scratch };
            (
                pg,
                settings,
                "sqlite://pgbroker-dev.db?mode=rwc".to_string(),
            )
        }
    };
    config.state_store.url = StoreUrl::new(state);
    config.server.listen = args.listen.clone();
    let settings = json!({"servers": [server_settings]});
    config.backends.insert(
        BACKEND.to_string(),
        BackendConfig {
            kind: "shared-postgres".to_string(),
            settings: settings.as_object().cloned().unwrap_or_default(),
        },
    );
    let password = secrets.password();
    if args.no_auth {
        config.auth = Default::default();
        config.auth.dev_mode = true;
    } else {
        config.auth.dev_mode = false;
        config.auth.bearer_tokens.clear();
        config.auth.basic = vec![BasicAuthConfig {
            username: DEV_USER.to_string(),
            password: SecretValue::Inline(password.expose().clone()),
        }];
    }
    let (registry, loaded, left_out, vault) = usable_backends(&config).await?;
    let server = serve::start_with(&config, registry, loaded, vault).await?;
    let banner = banner(
        &config,
        &server.broker.core().catalog,
        &left_out,
        &postgres,
        server.addr,
        (!args.no_auth).then_some(password.expose().as_str()),
    )?;
    let mut out = std::io::stdout().lock();
    out.write_all(banner.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to standard output")?;
    drop(out);
    termination.wait().await;
    let result = server.shutdown().await;
    if let Postgres::Throwaway(pg) = &postgres {
        eprintln!(
            "stopping the throwaway PostgreSQL server and removing {}",
            pg.dir.display()
        );
    }
    drop(postgres);
    eprintln!("pgbroker dev stopped");
    result
}

/// The configured backends that work here (the dev `shared` one always; any other only when it
/// has a configuration and its check answers within [`PROBE_TIMEOUT`]) and the catalog without
/// the plans of the others, which are reported.
async fn usable_backends(
    config: &Config,
) -> anyhow::Result<(
    BackendRegistry,
    LoadedCatalog,
    Vec<LeftOut>,
    std::sync::Arc<pgbroker_app::vault::LateVault>,
)> {
    let built = backends::build(&config.backends, config.state_store.vault_key.is_some())
        .context("building the configured backends")?;
    let unusable = availability::unusable(
        &built.registry,
        &built.unconfigurable,
        BACKEND,
        PROBE_TIMEOUT,
    )
    .await;
    let registry = built
        .registry
        .iter()
        .filter(|(name, _)| !unusable.contains_key(*name))
        .fold(BackendRegistry::new(), |r, (name, backend)| {
            r.with(name.clone(), backend.clone())
        });
    let (origin, document) = catalog_file::read(config.catalog.path.as_deref())?;
    let (document, left_out) = availability::without_backends(document, &unusable);
    for out in &left_out {
        tracing::info!(
            backend = %out.backend,
            reason = %out.reason,
            services = %out.what.join(", "),
            "dev mode leaves out the plans of a backend that does not work here"
        );
    }
    if document.services.is_empty() {
        anyhow::bail!(
            "none of the catalog's services can be served in dev mode: {}",
            left_out
                .iter()
                .map(|o| format!("backend {}: {}", o.backend, o.reason))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let loaded = catalog_file::check(origin, document, &registry.names())?;
    Ok((registry, loaded, left_out, built.vault))
}

fn banner(
    config: &Config,
    catalog: &Catalog,
    left_out: &[LeftOut],
    postgres: &Postgres,
    addr: std::net::SocketAddr,
    password: Option<&str>,
) -> anyhow::Result<String> {
    // The catalog the server has already loaded and checked.
    let (service, plan) = catalog
        .services()
        .iter()
        .find_map(|s| {
            s.plans
                .iter()
                .find(|p| p.backend == BACKEND)
                .map(|p| (s, p))
        })
        .context("the catalog has no plan on the `shared` backend to show in the walkthrough")?;
    let base = format!("http://{addr}");
    let auth = match password {
        Some(pw) => format!("-u {DEV_USER}:{pw} "),
        None => String::new(),
    };
    let mut b = String::new();
    writeln!(b, "pgbroker dev is running")?;
    match password {
        Some(pw) => {
            writeln!(b, "  OSB API:          {base}")?;
            writeln!(b, "  OSB credentials:  username {DEV_USER}, password {pw}")?;
        }
        None => {
            writeln!(b, "  OSB API:          {base}")?;
            writeln!(b, "  OSB credentials:  NONE (--no-auth)")?;
            writeln!(b)?;
            writeln!(
                b,
                "  !!! DEV MODE WITHOUT AUTHENTICATION: anyone who can reach {addr} can create and"
            )?;
            writeln!(
                b,
                "  !!! delete databases. Only `pgbroker dev --no-auth` runs like this; never expose it."
            )?;
        }
    }
    match postgres {
        Postgres::Throwaway(pg) => writeln!(
            b,
            "  PostgreSQL:       throwaway server on 127.0.0.1:{} (data in {}), stopped and deleted on exit",
            pg.port,
            pg.dir.display()
        )?,
        Postgres::Existing { url, .. } => writeln!(b, "  PostgreSQL:       {url}")?,
    }
    writeln!(b, "  State store:      {}", config.state_store.url)?;
    let served: Vec<String> = catalog
        .services()
        .iter()
        .map(|s| {
            let backends: std::collections::BTreeSet<&str> =
                s.plans.iter().map(|p| p.backend.as_str()).collect();
            let backends: Vec<&str> = backends.into_iter().collect();
            format!("{} (backend {})", s.name, backends.join(", "))
        })
        .collect();
    writeln!(b, "  Services:         {}", served.join(", "))?;
    if left_out.is_empty() {
        writeln!(b, "  Left out:         none")?;
    }
    for out in left_out {
        let what = if out.what.is_empty() {
            "no plan".to_string()
        } else {
            out.what.join(", ")
        };
        writeln!(
            b,
            "  Left out:         {what}: backend {}: {}",
            out.backend, out.reason
        )?;
    }
    writeln!(b)?;
    let h = "-H 'X-Broker-API-Version: 2.17'";
    let ids = format!("service_id={}&plan_id={}", service.id, plan.id);
    writeln!(b, "Try it (plan {} of {}):", plan.name, service.name)?;
    writeln!(b, "  curl -s {auth}{h} {base}/v2/catalog")?;
    writeln!(
        b,
        "  curl -s {auth}{h} -H 'Content-Type: application/json' -X PUT {base}/v2/service_instances/my-db \\\n    -d '{{\"service_id\": \"{}\", \"plan_id\": \"{}\", \"organization_guid\": \"dev-org\", \"space_guid\": \"dev-space\", \"parameters\": {{\"extensions\": [\"pgcrypto\"]}}}}'",
        service.id, plan.id
    )?;
    writeln!(
        b,
        "  curl -s {auth}{h} -H 'Content-Type: application/json' -X PUT {base}/v2/service_instances/my-db/service_bindings/my-app \\\n    -d '{{\"service_id\": \"{}\", \"plan_id\": \"{}\"}}'",
        service.id, plan.id
    )?;
    writeln!(b, "  psql \"<credentials.uri from the answer above>\"")?;
    writeln!(
        b,
        "  curl -s {auth}{h} -X DELETE '{base}/v2/service_instances/my-db/service_bindings/my-app?{ids}'"
    )?;
    writeln!(
        b,
        "  curl -s {auth}{h} -X DELETE '{base}/v2/service_instances/my-db?{ids}'"
    )?;
    writeln!(b)?;
    writeln!(b, "Press Ctrl-C to stop.")?;
    Ok(b)
}
