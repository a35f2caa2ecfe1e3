//! Looks at the server's system catalogs, so each step can see what already exists.
//! Names go in as bind parameters here: these are plain queries.

use sqlx::PgExecutor;

/// Advisory lock that serialises placing instances on a server ("pgbroker" in ASCII).
pub(crate) const PLACEMENT_LOCK: i64 = 0x7067_6272_6f6b_6572;

/// Comment marking an instance's owner role and databases; placement counts these roles.
pub(crate) fn instance_marker(instance: &str) -> String {
    format!("pgbroker instance {instance}")
}

pub(crate) fn binding_marker(instance: &str, binding: &str) -> String {
    format!("pgbroker binding {instance}/{binding}")
}

pub(crate) fn binding_marker_prefix(instance: &str) -> String {
    format!("pgbroker binding {instance}/")
}

pub(crate) fn retained_marker(instance: &str, operation: &str) -> String {
    format!("pgbroker retained instance {instance} (deprovision {operation})")
}

/// Counts the instances placed on the server: roles carrying an instance marker.
pub(crate) const INSTANCE_COUNT: &str = "SELECT count(*) FROM pg_roles r JOIN pg_shdescription d \
     ON d.objoid = r.oid AND d.classoid = 'pg_authid'::regclass \
     WHERE d.description LIKE 'pgbroker instance %'";

/// `None` when the role does not exist, else its comment (empty when it has none).
pub(crate) async fn role_comment<'c>(
    db: impl PgExecutor<'c>,
    role: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(shobj_description(oid, 'pg_authid'), '') FROM pg_roles WHERE rolname = $1",
    )
    .bind(role)
    .fetch_optional(db)
    .await
}

/// Owner of a database, or `None` when it does not exist.
pub(crate) async fn database_owner<'c>(
    db: impl PgExecutor<'c>,
    database: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1")
        .bind(database)
        .fetch_optional(db)
        .await
}

/// Databases owned by `role` with their comments, by name.
pub(crate) async fn databases_of<'c>(
    db: impl PgExecutor<'c>,
    role: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.datname::text, coalesce(shobj_description(d.oid, 'pg_database'), '') \
         FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba \
         WHERE r.rolname = $1 ORDER BY d.datname",
    )
    .bind(role)
    .fetch_all(db)
    .await
}

/// Roles that are members of `group` and whose comment starts with `marker_prefix`.
pub(crate) async fn marked_members<'c>(
    db: impl PgExecutor<'c>,
    group: &str,
    marker_prefix: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT m.rolname::text FROM pg_auth_members am \
         JOIN pg_roles g ON g.oid = am.roleid JOIN pg_roles m ON m.oid = am.member \
         WHERE g.rolname = $1 \
         AND starts_with(coalesce(shobj_description(m.oid, 'pg_authid'), ''), $2) \
         ORDER BY m.rolname",
    )
    .bind(group)
    .bind(marker_prefix)
    .fetch_all(db)
    .await
}

/// Whether the admin role may create roles and databases.
pub(crate) async fn admin_can_manage<'c>(db: impl PgExecutor<'c>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT rolsuper OR (rolcreaterole AND rolcreatedb) FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(db)
    .await
}
