//! `pgbroker`: the composition root. Reads the configuration, builds the adapters and runs the
//! command asked for.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod dev;

use pgbroker_app::config::Config;
use pgbroker_app::output::{OutputFormat, render};
use pgbroker_app::telemetry::Telemetry;
use pgbroker_app::{availability, backends, catalog_file, logging, serve};

/// Open Service Broker for PostgreSQL.
///
/// Configuration comes from defaults, then the `--config` file, then `PGBROKER_*` environment
/// variables with `__` between nesting levels (e.g. `PGBROKER_STATE_STORE__URL`).
#[derive(Debug, Parser)]
#[command(name = "pgbroker", version)]
struct Cli {
    /// Configuration file, YAML (.yaml, .yml) or TOML (.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or upgrade the state store's tables (a no-op when they are current).
    Migrate,
    /// Load and check the catalog against the configured backends, then print it; plans whose
    /// backend cannot be configured here (no Kubernetes configuration, say) are named on stderr.
    Catalog {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Print the effective configuration, passwords masked.
    Config {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Serve the Open Service Broker API and run the operation engine until SIGTERM or Ctrl-C.
    Serve,
    /// Print the OpenAPI 3.1 document of the HTTP API (committed as docs/openapi.json).
    Openapi,
    /// Print the CustomResourceDefinitions of PostgreSQLServer and PostgreSQLDatabase as one
    /// multi-document YAML stream (committed under deploy/crds/).
    Crds,
    /// Print the version, the commit it was built from and what is compiled in.
    Version,
    /// Zero-setup run: a throwaway PostgreSQL (or --postgres-url), the SQLite state store and the
    /// shared-server backend; prints OSB credentials and a curl walkthrough; cleans up on exit.
    Dev(dev::DevArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    // One TLS crypto provider for every rustls user that does not name its own (the OTLP
    // HTTP exporter's client among them): ring, which the whole tree is built with.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Needs no configuration: it describes the binary, not the installation.
    if matches!(cli.command, Command::Version) {
        return emit(&version_text());
    }
    let config = Config::load(cli.config.as_deref())?;
    let telemetry = Telemetry::new(&config.telemetry)?;
    logging::init(&config.log, &telemetry)?;
    if let Some(export) = &telemetry.exporting {
        tracing::info!(
            endpoint = export.endpoint.as_deref().unwrap_or("from OTEL_EXPORTER_OTLP_*"),
            protocol = ?export.protocol,
            "exporting traces over OTLP"
        );
    }
    let result = command(cli, config).await;
    telemetry.shutdown();
    result
}

async fn command(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command {
        Command::Migrate => migrate(&config).await,
        Command::Catalog { format } => {
            let built = backends::build(&config.backends, config.state_store.vault_key.is_some())
                .context("building the configured backends")?;
            let loaded =
                catalog_file::load(config.catalog.path.as_deref(), &built.registry.names())?;
            availability::warn_unconfigurable(&loaded.catalog, &built.unconfigurable);
            let services = loaded.catalog.services();
            tracing::info!(
                origin = %loaded.origin,
                services = services.len(),
                plans = services.iter().map(|s| s.plans.len()).sum::<usize>(),
                "catalog is valid"
            );
            emit(&render(&loaded.document, format, "the catalog")?)
        }
        Command::Config { format } => emit(&render(&config, format, "the configuration")?),
        Command::Serve => serve::serve(&config).await,
        Command::Openapi => emit(&pgbroker_api_osb::openapi_json()),
        Command::Crds => emit(&pgbroker_api_crd::crds_yaml()?),
        Command::Dev(args) => dev::run(config, args).await,
        Command::Version => emit(&version_text()),
    }
}

/// What `pgbroker version` prints: the crate version, the commit (build.rs) and what this
/// binary can run (Cargo features, backend kinds, front doors).
fn version_text() -> String {
    let features = match env!("PGBROKER_BUILD_FEATURES") {
        "" => "none",
        some => some,
    };
    format!(
        "pgbroker {}\ncommit: {}\ncargo features: {features}\nbackends: {}\nfront doors: osb, operator\n",
        env!("CARGO_PKG_VERSION"),
        env!("PGBROKER_BUILD_COMMIT"),
        backends::KINDS.join(", "),
    )
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let url = &config.state_store.url;
    tracing::info!(state_store = %url, "migrating the state store");
    pgbroker_adapters_sql::migrate(url.expose())
        .await
        .with_context(|| format!("migrating state store {url}"))?;
    emit(&format!("state store {url} is migrated\n"))
}

/// Writes command output; unlike `print!`, a closed pipe is an error rather than a panic.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing to standard output")
}
