//! The server parameters the double knows (a fixed subset of what a flexible server lists, from
//! the "server parameters" and "extensions" pages of the flexible server docs), with the
//! shapes Configuration.json 2024-08-01 gives them: dataType, allowedValues, isDynamicConfig.

use super::reply::Refusal;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Integer(i64, i64),
    Boolean,
    Enumeration(&'static [&'static str]),
    /// A comma-separated subset of the allowed values.
    Set(&'static [&'static str]),
    Text,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Param {
    pub name: &'static str,
    pub default: &'static str,
    pub kind: Kind,
    pub dynamic: bool,
    pub description: &'static str,
}

const EXTENSIONS: &[&str] = &[
    "address_standardizer",
    "amcheck",
    "azure_ai",
    "azure_storage",
    "bloom",
    "btree_gin",
    "btree_gist",
    "citext",
    "cube",
    "dblink",
    "dict_int",
    "earthdistance",
    "fuzzystrmatch",
    "hstore",
    "hypopg",
    "intarray",
    "isn",
    "lo",
    "ltree",
    "orafce",
    "pg_buffercache",
    "pg_cron",
    "pg_hint_plan",
    "pg_partman",
    "pg_prewarm",
    "pg_repack",
    "pg_squeeze",
    "pg_stat_statements",
    "pg_trgm",
    "pg_visibility",
    "pgaudit",
    "pgcrypto",
    "pglogical",
    "pgrowlocks",
    "pgstattuple",
    "plpgsql",
    "postgis",
    "postgis_raster",
    "postgis_topology",
    "postgres_fdw",
    "semver",
    "tablefunc",
    "timescaledb",
    "tsm_system_rows",
    "tsm_system_time",
    "unaccent",
    "uuid-ossp",
    "vector",
];
const PRELOAD: &[&str] = &[
    "age",
    "anon",
    "auto_explain",
    "azure_storage",
    "pg_cron",
    "pg_failover_slots",
    "pg_hint_plan",
    "pg_partman_bgw",
    "pg_prewarm",
    "pg_squeeze",
    "pg_stat_statements",
    "pgaudit",
    "pglogical",
    "timescaledb",
    "wal2json",
];
const I32_MAX: i64 = 2_147_483_647;

pub(crate) const PARAMS: &[Param] = &[
    Param {
        name: "azure.extensions",
        default: "",
        kind: Kind::Set(EXTENSIONS),
        dynamic: true,
        description: "Specifies which extensions are allowed to be created in the server.",
    },
    Param {
        name: "shared_preload_libraries",
        default: "pg_cron,pg_stat_statements",
        kind: Kind::Set(PRELOAD),
        dynamic: false,
        description: "Lists shared libraries to preload into server.",
    },
    Param {
        name: "max_connections",
        default: "100",
        kind: Kind::Integer(25, 5000),
        dynamic: false,
        description: "Sets the maximum number of concurrent connections.",
    },
    Param {
        name: "shared_buffers",
        default: "16384",
        kind: Kind::Integer(16, 1_073_741_823),
        dynamic: false,
        description: "Sets the number of shared memory buffers used by the server (8kB units).",
    },
    Param {
        name: "work_mem",
        default: "4096",
        kind: Kind::Integer(4096, 2_097_151),
        dynamic: true,
        description: "Sets the amount of memory to be used by internal sort operations and hash tables (kB).",
    },
    Param {
        name: "maintenance_work_mem",
        default: "65536",
        kind: Kind::Integer(1024, 2_097_151),
        dynamic: true,
        description: "Sets the maximum memory to be used for maintenance operations (kB).",
    },
    Param {
        name: "log_min_duration_statement",
        default: "-1",
        kind: Kind::Integer(-1, I32_MAX),
        dynamic: true,
        description: "Sets the minimum execution time above which statements will be logged (ms).",
    },
    Param {
        name: "log_statement",
        default: "none",
        kind: Kind::Enumeration(&["none", "ddl", "mod", "all"]),
        dynamic: true,
        description: "Sets the type of statements logged.",
    },
    Param {
        name: "log_connections",
        default: "on",
        kind: Kind::Boolean,
        dynamic: true,
        description: "Logs each successful connection.",
    },
    Param {
        name: "log_disconnections",
        default: "off",
        kind: Kind::Boolean,
        dynamic: true,
        description: "Logs end of a session, including duration.",
    },
    Param {
        name: "statement_timeout",
        default: "0",
        kind: Kind::Integer(0, I32_MAX),
        dynamic: true,
        description: "Sets the maximum allowed duration of any statement (ms).",
    },
    Param {
        name: "idle_in_transaction_session_timeout",
        default: "0",
        kind: Kind::Integer(0, I32_MAX),
        dynamic: true,
        description: "Sets the maximum allowed idle time between queries, when in a transaction (ms).",
    },
    Param {
        name: "pg_qs.query_capture_mode",
        default: "none",
        kind: Kind::Enumeration(&["none", "top", "all"]),
        dynamic: true,
        description: "Selects which statements are tracked by query store.",
    },
    Param {
        name: "pg_qs.max_query_text_length",
        default: "6000",
        kind: Kind::Integer(100, 10000),
        dynamic: true,
        description: "Sets the maximum query text length that will be saved by query store.",
    },
    Param {
        name: "pgms_wait_sampling.query_capture_mode",
        default: "none",
        kind: Kind::Enumeration(&["none", "all"]),
        dynamic: true,
        description: "Selects types of wait events tracked by wait sampling.",
    },
    Param {
        name: "pg_stat_statements.track",
        default: "none",
        kind: Kind::Enumeration(&["none", "top", "all"]),
        dynamic: true,
        description: "Selects which statements are tracked by pg_stat_statements.",
    },
    Param {
        name: "pgaudit.log",
        default: "none",
        kind: Kind::Set(&[
            "none", "read", "write", "function", "role", "ddl", "misc", "misc_set", "all",
        ]),
        dynamic: true,
        description: "Specifies which classes of statements will be logged by session audit logging.",
    },
    Param {
        name: "require_secure_transport",
        default: "on",
        kind: Kind::Boolean,
        dynamic: true,
        description: "Whether client connections to the server are required to use some form of secure transport.",
    },
    Param {
        name: "password_encryption",
        default: "scram-sha-256",
        kind: Kind::Enumeration(&["md5", "scram-sha-256"]),
        dynamic: true,
        description: "Chooses the algorithm for encrypting passwords.",
    },
    Param {
        name: "autovacuum",
        default: "on",
        kind: Kind::Boolean,
        dynamic: true,
        description: "Starts the autovacuum subprocess.",
    },
    Param {
        name: "track_io_timing",
        default: "off",
        kind: Kind::Boolean,
        dynamic: true,
        description: "Collects timing statistics for database I/O activity.",
    },
    Param {
        name: "timezone",
        default: "UTC",
        kind: Kind::Text,
        dynamic: true,
        description: "Sets the time zone for displaying and interpreting time stamps.",
    },
    Param {
        name: "cron.database_name",
        default: "postgres",
        kind: Kind::Text,
        dynamic: false,
        description: "Sets the database in which pg_cron metadata is kept.",
    },
];

pub(crate) fn find(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

impl Param {
    pub fn data_type(&self) -> &'static str {
        match self.kind {
            Kind::Integer(..) => "Integer",
            Kind::Boolean => "Boolean",
            Kind::Enumeration(_) => "Enumeration",
            Kind::Set(_) => "Set",
            Kind::Text => "String",
        }
    }

    pub fn allowed_values(&self) -> String {
        match self.kind {
            Kind::Integer(min, max) => format!("{min}-{max}"),
            Kind::Boolean => "on,off".to_owned(),
            Kind::Enumeration(values) | Kind::Set(values) => values.join(","),
            Kind::Text => "[A-Za-z0-9._/+-]+".to_owned(),
        }
    }

    pub fn check(&self, value: &str) -> Result<(), Refusal> {
        let ok = match self.kind {
            Kind::Integer(min, max) => value
                .trim()
                .parse::<i64>()
                .is_ok_and(|n| (min..=max).contains(&n)),
            Kind::Boolean => matches!(
                value.to_ascii_lowercase().as_str(),
                "on" | "off" | "true" | "false"
            ),
            Kind::Enumeration(values) => values.iter().any(|v| v.eq_ignore_ascii_case(value)),
            Kind::Set(values) => value
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .all(|item| values.iter().any(|v| v.eq_ignore_ascii_case(item))),
            Kind::Text => {
                !value.is_empty()
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._/+-".contains(c))
            }
        };
        if ok {
            Ok(())
        } else {
            Err(Refusal::invalid_value(format!(
                "The value '{value}' for configuration '{}' is not valid. Allowed values: {}",
                self.name,
                self.allowed_values()
            )))
        }
    }
}
