//! How a shared server serves an operator's server spec: a database of its own on a server
//! that others share, so extensions (from the backend's allow-list) are all it can honour.
//! The server's version, settings, network, backups, maintenance and availability belong to
//! whoever runs the server; a spec asking for them is refused by name. Its plans are not sized
//! in CPU, memory or storage (`Backend::plan_size` keeps the default, `None`).

use pgbroker_domain::JsonObject;
use pgbroker_domain::server::{ServerField, ServerTarget, Translation, Unsupported};
use serde_json::json;

use super::settings::SharedSettings;

pub fn server_parameters(
    backend: &str,
    settings: &SharedSettings,
    target: &ServerTarget<'_>,
) -> Result<Translation, Unsupported> {
    let request = target.request;
    request.refuse_any(
        &[
            ServerField::Version,
            ServerField::ServerParameters,
            ServerField::FirewallRules,
            ServerField::BackupRetentionDays,
            ServerField::BackupGeoRedundant,
            ServerField::MaintenanceWindow,
            ServerField::HighAvailability,
            ServerField::StorageAutoGrow,
        ],
        |field| {
            let what = match field {
                ServerField::Version => "PostgreSQL version",
                ServerField::ServerParameters => "server settings",
                ServerField::FirewallRules => "network access",
                ServerField::BackupRetentionDays | ServerField::BackupGeoRedundant => "backups",
                ServerField::MaintenanceWindow => "maintenance",
                ServerField::HighAvailability => "availability",
                _ => "disk",
            };
            format!(
                "backend {backend} places a database on a shared server, whose {what} is not set per database"
            )
        },
    )?;
    refuse_extensions(backend, &settings.extensions, &request.extensions)?;
    let mut parameters = JsonObject::new();
    if !request.extensions.is_empty() {
        parameters.insert("extensions".into(), json!(request.extensions));
    }
    Ok(Translation {
        parameters,
        notes: Vec::new(),
    })
}

/// The first of `requested` that is not in the backend's allow-list, refused by name.
pub(crate) fn refuse_extensions(
    backend: &str,
    allowed: &[String],
    requested: &[String],
) -> Result<(), Unsupported> {
    match requested.iter().find(|ext| !allowed.contains(ext)) {
        Some(ext) => Err(Unsupported::new(
            ServerField::Extensions,
            format!(
                "{ext:?} is not one of backend {backend}'s extensions ({})",
                allowed.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// A server spec's `serverParameters` outside a cloud backend's allow-list are refused by name.
pub(crate) fn refuse_server_parameters(
    backend: &str,
    allowed: &[String],
    requested: &std::collections::BTreeMap<String, String>,
) -> Result<(), Unsupported> {
    match requested.keys().find(|name| !allowed.contains(name)) {
        Some(name) => Err(Unsupported::new(
            ServerField::ServerParameters,
            format!(
                "{name:?} may not be set on backend {backend} (allowed: {})",
                allowed_list(allowed)
            ),
        )),
        None => Ok(()),
    }
}

/// An allow-list for a message: its names, or `none`.
pub(crate) fn allowed_list(allowed: &[String]) -> String {
    if allowed.is_empty() {
        "none".to_string()
    } else {
        allowed.join(", ")
    }
}

/// The first of an instance's server parameters and extensions a cloud backend does not
/// allow, as the message its `Unsupported` failure carries.
pub(crate) fn disallowed<'a>(
    parameters: impl IntoIterator<Item = &'a String>,
    allowed_parameters: &[String],
    extensions: &[String],
    allowed_extensions: &[String],
) -> Option<String> {
    if let Some(name) = parameters
        .into_iter()
        .find(|n| !allowed_parameters.contains(n))
    {
        return Some(format!(
            "server parameter {name:?} may not be set on this backend (allowed: {})",
            allowed_list(allowed_parameters)
        ));
    }
    extensions
        .iter()
        .find(|e| !allowed_extensions.contains(e))
        .map(|ext| {
            format!(
                "extension {ext:?} is not allowed on this backend (allowed: {})",
                allowed_extensions.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgbroker_domain::server::{Backup, ServerRequest};

    fn translate(request: &ServerRequest) -> Result<Translation, Unsupported> {
        server_parameters(
            "shared",
            &SharedSettings::default(),
            &ServerTarget {
                request,
                storage_gb: None,
            },
        )
    }

    #[test]
    fn extensions_from_the_allow_list_are_the_parameters() {
        let request = ServerRequest {
            extensions: vec!["pg_trgm".into(), "citext".into()],
            ..ServerRequest::default()
        };
        let t = translate(&request).unwrap();
        assert_eq!(
            serde_json::Value::Object(t.parameters),
            json!({"extensions": ["pg_trgm", "citext"]})
        );
        assert!(
            translate(&ServerRequest::default())
                .unwrap()
                .parameters
                .is_empty()
        );
        let request = ServerRequest {
            extensions: vec!["timescaledb".into()],
            ..ServerRequest::default()
        };
        let err = translate(&request).unwrap_err();
        assert_eq!(err.field, ServerField::Extensions);
        assert!(err.why.contains("\"timescaledb\" is not one of"), "{err}");
    }

    #[test]
    fn what_belongs_to_the_server_is_refused_by_name() {
        let cases: Vec<(ServerRequest, ServerField)> = vec![
            (
                ServerRequest {
                    version: Some(17),
                    ..ServerRequest::default()
                },
                ServerField::Version,
            ),
            (
                ServerRequest {
                    high_availability: true,
                    ..ServerRequest::default()
                },
                ServerField::HighAvailability,
            ),
            (
                ServerRequest {
                    backup: Backup {
                        retention_days: None,
                        geo_redundant: true,
                    },
                    ..ServerRequest::default()
                },
                ServerField::BackupGeoRedundant,
            ),
            (
                ServerRequest {
                    server_parameters: [("work_mem".to_string(), "8MB".to_string())].into(),
                    ..ServerRequest::default()
                },
                ServerField::ServerParameters,
            ),
        ];
        for (request, field) in cases {
            let err = translate(&request).unwrap_err();
            assert_eq!(err.field, field);
        }
        let mut request = ServerRequest::default();
        request.size.storage_auto_grow = true;
        let err = translate(&request).unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.size.storageAutoGrow is not supported: backend shared places a database on a shared server, whose disk is not set per database"
        );
    }
}
