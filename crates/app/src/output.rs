//! Printing documents (catalog, configuration) in the format asked for on the command line.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Yaml,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("rendering {what} as YAML")]
    Yaml {
        what: &'static str,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("rendering {what} as JSON")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// `value` as text ending in a newline; `what` names it in errors.
pub fn render<T: Serialize>(
    value: &T,
    format: OutputFormat,
    what: &'static str,
) -> Result<String, RenderError> {
    match format {
        OutputFormat::Yaml => {
            serde_yaml::to_string(value).map_err(|source| RenderError::Yaml { what, source })
        }
        OutputFormat::Json => serde_json::to_string_pretty(value)
            .map(|json| json + "\n")
            .map_err(|source| RenderError::Json { what, source }),
    }
}
