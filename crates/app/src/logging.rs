//! Log output through `tracing`, to standard error so that command output on standard output
//! stays clean for pipes.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Environment variable whose filter, when set and not empty, replaces `log.filter`.
const FILTER_ENV: &str = "RUST_LOG";

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("log filter {filter:?} from {from} is not valid")]
    BadFilter {
        filter: String,
        from: &'static str,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("installing the log subscriber: {0}")]
    Install(String),
}

/// Installs the global subscriber described by `config`.
pub fn init(config: &LogConfig) -> Result<(), LoggingError> {
    let (filter, from) = match std::env::var(FILTER_ENV) {
        Ok(value) if !value.trim().is_empty() => (value, FILTER_ENV),
        _ => (config.filter.clone(), "log.filter"),
    };
    let env_filter = EnvFilter::try_new(&filter).map_err(|source| LoggingError::BadFilter {
        filter: filter.clone(),
        from,
        source,
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|err| LoggingError::Install(err.to_string()))
}
