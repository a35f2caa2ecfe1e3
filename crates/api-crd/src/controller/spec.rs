//! The custom resources' specs as the domain's request types: parsing only, no rules (which
//! backend, plan or field is acceptable is decided by `Broker::choose_server`).

use pgbroker_domain::server::{
    Backup, Cpu, FirewallRule, InvalidField, MaintenanceWindow, ServerRequest, Size, TimeOfDay,
    Weekday, parse_major_version,
};

use pgbroker_domain::OwnDatabase;

use crate::crd::{DatabaseOptions, PostgreSQLServerSpec, Weekday as SpecWeekday};

/// The server spec as a [`ServerRequest`], or the first field that does not parse.
pub fn server_request(spec: &PostgreSQLServerSpec) -> Result<ServerRequest, InvalidField> {
    let version = match spec.version.as_deref().map(str::trim) {
        None | Some("") | Some("latest") => None,
        Some(raw) => Some(parse_major_version(raw)?),
    };
    let cpu = match spec.size.cpu {
        None => None,
        Some(cores) => Some(
            cores
                .checked_mul(1000)
                .and_then(Cpu::from_millicores)
                .ok_or_else(|| {
                    InvalidField::new("size.cpu", format!("{cores} is not a number of cores"))
                })?,
        ),
    };
    let firewall_rules = spec
        .network
        .as_ref()
        .and_then(|n| n.firewall_rules.as_ref())
        .map(|rules| {
            rules
                .iter()
                .map(|r| FirewallRule::parse(&r.name, &r.start_ip, &r.end_ip))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let maintenance = match spec.maintenance.as_ref().and_then(|m| m.window.as_ref()) {
        None => None,
        Some(window) => Some(MaintenanceWindow {
            weekday: weekday(window.weekday),
            start: TimeOfDay::parse(&window.starttime)?,
        }),
    };
    let backup = spec.backup.as_ref();
    Ok(ServerRequest {
        backend: spec.backend.clone().filter(|b| !b.trim().is_empty()),
        version,
        size: Size {
            class: spec.size.class.clone().filter(|c| !c.trim().is_empty()),
            cpu,
            memory_mb: spec.size.memory_mb.map(u64::from),
            storage_gb: spec.size.storage_gb,
            storage_auto_grow: spec.size.storage_auto_grow.unwrap_or(false),
        },
        backup: Backup {
            retention_days: backup.and_then(|b| b.retention_days),
            geo_redundant: backup.and_then(|b| b.geo_redundant).unwrap_or(false),
        },
        extensions: spec.extensions.clone().unwrap_or_default(),
        firewall_rules,
        server_parameters: spec.server_parameters.clone().unwrap_or_default(),
        maintenance,
        high_availability: spec
            .highavailability
            .as_ref()
            .and_then(|h| h.enabled)
            .unwrap_or(false),
    })
}

fn weekday(day: SpecWeekday) -> Weekday {
    match day {
        SpecWeekday::Mon => Weekday::Monday,
        SpecWeekday::Tue => Weekday::Tuesday,
        SpecWeekday::Wed => Weekday::Wednesday,
        SpecWeekday::Thu => Weekday::Thursday,
        SpecWeekday::Fri => Weekday::Friday,
        SpecWeekday::Sat => Weekday::Saturday,
        SpecWeekday::Sun => Weekday::Sunday,
    }
}

/// What a PostgreSQLDatabase asks of its database of its own: named after the object (`-` and
/// `.` as `_`, as the bind parameter `database` takes names), with `spec.database`'s
/// charset, collation and extensions. The domain checks the shape.
pub fn own_database(
    object_name: &str,
    options: Option<&DatabaseOptions>,
) -> Result<OwnDatabase, InvalidField> {
    let name: String = object_name
        .chars()
        .map(|c| if c == '-' || c == '.' { '_' } else { c })
        .collect();
    let named = OwnDatabase::named(name).map_err(|_| {
        InvalidField::new(
            "metadata.name",
            format!(
                "{object_name:?} does not make a database name: at most 30 characters, starting with a letter"
            ),
        )
    })?;
    let Some(options) = options else {
        return Ok(named);
    };
    OwnDatabase::new(
        named.name,
        options.charset.clone(),
        options.collation.clone(),
        options.extensions.clone().unwrap_or_default(),
    )
    .map_err(|e| InvalidField::new("database", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: serde_json::Value) -> PostgreSQLServerSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_full_spec_becomes_a_request() {
        let request = server_request(&spec(serde_json::json!({
            "backend": "cnpg", "version": "17",
            "size": {"class": "small", "cpu": 2, "memoryMB": 2048, "storageGB": 20, "storageAutoGrow": true},
            "backup": {"retentionDays": 7, "geoRedundant": true},
            "extensions": ["pg_trgm"],
            "network": {"firewallRules": [{"name": "office", "startIp": "10.0.0.1", "endIp": "10.0.0.9"}]},
            "serverParameters": {"work_mem": "8MB"},
            "maintenance": {"window": {"weekday": "Sun", "starttime": "03:30"}},
            "highavailability": {"enabled": true},
            "credentialsSecret": "db"
        })))
        .unwrap();
        assert_eq!(request.backend.as_deref(), Some("cnpg"));
        assert_eq!(request.version, Some(17));
        assert_eq!(request.size.cpu.map(Cpu::millicores), Some(2000));
        assert_eq!(request.size.memory_mb, Some(2048));
        assert!(request.size.storage_auto_grow && request.backup.geo_redundant);
        assert_eq!(request.firewall_rules[0].name, "office");
        assert_eq!(
            request
                .maintenance
                .map(|m| (m.weekday, m.start.to_string())),
            Some((Weekday::Sunday, "03:30".to_string()))
        );
        assert!(request.high_availability);
    }

    #[test]
    fn empty_and_latest_mean_the_defaults() {
        let request = server_request(&spec(serde_json::json!({
            "backend": "", "version": "latest", "size": {"storageGB": 5}, "credentialsSecret": "db"
        })))
        .unwrap();
        assert_eq!(request.backend, None);
        assert_eq!(request.version, None);
        assert!(request.firewall_rules.is_empty() && !request.high_availability);
    }

    #[test]
    fn what_does_not_parse_is_named() {
        let err = server_request(&spec(serde_json::json!({
            "size": {"storageGB": 5}, "credentialsSecret": "db",
            "maintenance": {"window": {"weekday": "Mon", "starttime": "25:00"}}
        })))
        .unwrap_err();
        assert_eq!(err.field, "maintenance.window.starttime");
    }

    #[test]
    fn database_names_follow_the_object_name() {
        assert_eq!(own_database("orders-db", None).unwrap().name, "orders_db");
        assert!(own_database("1abc", None).is_err());
        assert!(own_database(&"a".repeat(31), None).is_err());
        let options = DatabaseOptions {
            charset: Some("LATIN1".into()),
            collation: Some("C".into()),
            extensions: Some(vec!["pg_trgm".into()]),
        };
        let db = own_database("orders", Some(&options)).unwrap();
        assert_eq!(
            (db.charset.as_deref(), db.extensions.len()),
            (Some("LATIN1"), 1)
        );
        let bad = DatabaseOptions {
            charset: Some("UTF8'; --".into()),
            ..options
        };
        assert_eq!(
            own_database("orders", Some(&bad)).unwrap_err().field,
            "database"
        );
    }
}
