//! `pgbroker dev`: the broker with the SQLite state store and the shared-server backend against a
//! throwaway PostgreSQL (or `--postgres-url`), OSB credentials and a curl walkthrough printed,
//! everything stopped and removed on Ctrl-C or SIGTERM.

mod throwaway;

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::Context;
use pgbroker_adapters_cloud::shared::split_password;
use pgbroker_app::config::{BackendConfig, BasicAuthConfig, Config};
use pgbroker_app::secret_value::SecretValue;
use pgbroker_app::serve;
use pgbroker_app::store_url::StoreUrl;
use pgbroker_domain::Catalog;
use pgbroker_domain::ports::SecretGenerator;
use serde_json::json;

use throwaway::Throwaway;

/// Name of the shared-server backend in dev mode (the default catalog's shared plans use it).
const BACKEND: &str = "shared";
const DEV_USER: &str = "dev";

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
    let server = serve::start(&config, None).await?;
    let banner = banner(
        &config,
        &server.broker.core().catalog,
        &postgres,
        server.addr,
        (!args.no_auth).then_some(password.expose().as_str()),
    )?;
    let mut out = std::io::stdout().lock();
    out.write_all(banner.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to standard output")?;
    drop(out);
    serve::termination().await;
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

fn banner(
    config: &Config,
    catalog: &Catalog,
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
    writeln!(b)?;
    let h = "-H 'X-Broker-API-Version: 2.17'";
    let ids = format!("service_id={}&plan_id={}", service.id, plan.id);
    writeln!(b, "Try it (plan {} of {}):", plan.name, service.name)?;
    writeln!(b, "  curl -s {auth}{h} {base}/v2/catalog")?;
    writeln!(
        b,
        "  curl -s {auth}{h} -H 'Content-Type: application/json' -X PUT {base}/v2/service_instances/my-db \\\n    -d '{{\"service_id\": \"{}\", \"plan_id\": \"{}\", \"parameters\": {{\"extensions\": [\"pgcrypto\"]}}}}'",
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
