//! What the simulated PostgreSQL of each cluster holds, so that Database and DatabaseRole
//! objects meet the rules PostgreSQL applies when CNPG's instance manager runs their SQL: a
//! database's owner must be an existing role (`CREATE DATABASE ... OWNER`, `ALTER DATABASE ...
//! OWNER TO`), a role that owns a database cannot be dropped (`DROP ROLE` fails on the shared
//! dependency), and `CREATE EXTENSION` needs the extension in the image. Objects inside a
//! database (tables a login made) are not modelled.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Inner;
use crate::store::meta;

/// Extensions of the default CNPG image: PostgreSQL's contrib modules plus what CNPG's
/// standard/system images add (pgaudit, pgvector, pg_failover_slots).
pub const DEFAULT_EXTENSIONS: &[&str] = &[
    "amcheck",
    "autoinc",
    "bloom",
    "btree_gin",
    "btree_gist",
    "citext",
    "cube",
    "dblink",
    "dict_int",
    "dict_xsyn",
    "earthdistance",
    "file_fdw",
    "fuzzystrmatch",
    "hstore",
    "insert_username",
    "intagg",
    "intarray",
    "isn",
    "lo",
    "ltree",
    "moddatetime",
    "pageinspect",
    "pg_buffercache",
    "pg_failover_slots",
    "pg_freespacemap",
    "pg_prewarm",
    "pg_stat_statements",
    "pg_surgery",
    "pg_trgm",
    "pg_visibility",
    "pg_walinspect",
    "pgaudit",
    "pgcrypto",
    "pgrowlocks",
    "pgstattuple",
    "plpgsql",
    "postgres_fdw",
    "refint",
    "seg",
    "sslinfo",
    "tablefunc",
    "tcn",
    "tsm_system_rows",
    "tsm_system_time",
    "unaccent",
    "uuid-ossp",
    "vector",
    "xml2",
];

/// One cluster's PostgreSQL, as far as the simulator keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresState {
    /// Roles made by bootstrap or by DatabaseRoles, with whether they may log in. Roles of
    /// `spec.managed.roles` are read from the Cluster when needed.
    pub roles: BTreeMap<String, bool>,
    /// Databases, with their owner.
    pub databases: BTreeMap<String, String>,
}

impl PostgresState {
    /// What `initdb` and CNPG's bootstrap leave: `postgres`, `streaming_replica`, the
    /// application owner, the template databases and the application database.
    pub fn bootstrapped(cluster: &Value) -> Self {
        let initdb = |key: &str, default: &str| {
            cluster
                .pointer(&format!("/spec/bootstrap/initdb/{key}"))
                .and_then(Value::as_str)
                .unwrap_or(default)
                .to_owned()
        };
        let (database, owner) = (initdb("database", "app"), initdb("owner", "app"));
        let roles = [("postgres", true), ("streaming_replica", true)]
            .into_iter()
            .map(|(r, login)| (r.to_owned(), login))
            .chain([(owner.clone(), true)])
            .collect();
        let databases = ["postgres", "template0", "template1"]
            .into_iter()
            .map(|d| (d.to_owned(), "postgres".to_owned()))
            .chain([(database, owner)])
            .collect();
        Self { roles, databases }
    }

    /// Whether `role` exists: made here, or declared in the Cluster's managed roles.
    pub fn has_role(&self, cluster: &Value, role: &str) -> bool {
        self.roles.contains_key(role) || managed_roles(cluster).contains(role)
    }

    /// The databases `role` owns (what keeps `DROP ROLE` from succeeding).
    pub fn owned_by(&self, role: &str) -> Vec<String> {
        self.databases
            .iter()
            .filter(|(_, owner)| *owner == role)
            .map(|(db, _)| db.clone())
            .collect()
    }
}

fn managed_roles(cluster: &Value) -> BTreeSet<String> {
    cluster
        .pointer("/spec/managed/roles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| r.get("ensure").and_then(Value::as_str) != Some("absent"))
        .filter_map(|r| r.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// `(namespace, cluster)` of an object that references a cluster in `spec.cluster.name`.
pub fn cluster_of(object: &Value) -> (String, String) {
    (
        meta::meta_str(object, "namespace")
            .unwrap_or_default()
            .to_owned(),
        object
            .pointer("/spec/cluster/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    )
}

impl Inner {
    /// Runs `f` on the cluster's PostgreSQL, bootstrapped on first use.
    pub(crate) fn with_postgres<T>(
        &self,
        cluster: &Value,
        f: impl FnOnce(&mut PostgresState) -> T,
    ) -> T {
        let id = (
            meta::meta_str(cluster, "namespace")
                .unwrap_or_default()
                .to_owned(),
            meta::name(cluster).to_owned(),
        );
        let mut controls = self.controls();
        let pg = controls
            .postgres
            .entry(id)
            .or_insert_with(|| PostgresState::bootstrapped(cluster));
        f(pg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bootstrap_makes_the_application_database_and_its_owner() {
        let cluster = json!({"spec": {"bootstrap": {"initdb": {"database": "shop", "owner": "sam"}},
            "managed": {"roles": [{"name": "ops"}, {"name": "gone", "ensure": "absent"}]}}});
        let pg = PostgresState::bootstrapped(&cluster);
        assert_eq!(pg.databases["shop"], "sam");
        assert!(pg.has_role(&cluster, "sam") && pg.has_role(&cluster, "ops"));
        assert!(!pg.has_role(&cluster, "gone") && !pg.has_role(&cluster, "nobody"));
        assert_eq!(pg.owned_by("sam"), vec!["shop".to_owned()]);
    }
}
