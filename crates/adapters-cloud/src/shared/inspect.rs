//! Looks at the server's system catalogs, so each step can see what already exists.
//! Names go in as bind parameters here: these are plain queries.

use sqlx::PgExecutor;

use super::sql::Literal;

/// Advisory lock that serialises placing instances on a server ("pgbroker" in ASCII).
pub(crate) const PLACEMENT_LOCK: i64 = 0x7067_6272_6f6b_6572;

/// Comment marking an instance's owner role and databases; placement counts these roles.
pub(crate) fn instance_marker(instance: &str) -> String {
    format!("pgbroker instance {instance}")
}

pub(crate) fn binding_marker(instance: &str, binding: &str) -> String {
    format!("pgbroker binding {instance}/{binding}")
}

/// The mark of a binding's login outside the owner group and of its own database: the binding's
/// mark and the owner role's name, so that another backend (or broker) on the same server whose
/// instance has the same id never takes them for its own.
pub(crate) fn own_binding_marker(instance: &str, binding: &str, owner: &str) -> String {
    format!("{} of {owner}", binding_marker(instance, binding))
}

pub(crate) fn binding_marker_prefix(instance: &str) -> String {
    format!("pgbroker binding {instance}/")
}

pub(crate) fn retained_marker(instance: &str, operation: &str) -> String {
    format!("pgbroker retained instance {instance} (deprovision {operation})")
}

/// PL/pgSQL for a `DO` block: reads the mark of the role named by `role` (a quoted literal)
/// into the variable `var` ('' for a role without one); `FOUND` then says whether it exists.
pub(crate) fn select_mark_into(var: &str, role: &Literal) -> String {
    format!(
        "SELECT coalesce(c.description, '') INTO {var} FROM pg_roles r \
         LEFT JOIN pg_shdescription c \
         ON c.objoid = r.oid AND c.classoid = 'pg_authid'::regclass \
         WHERE r.rolname = {role};\n"
    )
}

/// Counts the instances placed on the server: roles carrying an instance marker.
pub(crate) const INSTANCE_COUNT: &str = "SELECT count(*) FROM pg_roles r JOIN pg_shdescription d \
     ON d.objoid = r.oid AND d.classoid = 'pg_authid'::regclass \
     WHERE d.description LIKE 'pgbroker instance %'";

/// What a step needs to know about an instance on one server, read in one round trip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Look {
    /// The owner role's comment; `None` when the role does not exist.
    pub owner: Option<String>,
    /// The comment of each role asked about (`None`: no such role), in the order asked.
    pub roles: Vec<Option<String>>,
    /// The owner's databases with their comments, by name.
    pub databases: Vec<(String, String)>,
    /// Roles whose comment starts with the prefix asked for, by name: the instance's binding
    /// roles in the owner group, and (bindings with a database of their own) those outside it
    /// whose mark names the owner role.
    pub members: Vec<String>,
    /// Databases whose comment starts with the prefix asked for and names the owner role, with
    /// their comments, by name: the databases of bindings' own, owned by their binding roles.
    pub own_databases: Vec<(String, String)>,
}

impl Look {
    /// Whether the owner role owns `database`.
    pub fn owns(&self, database: &str) -> bool {
        self.databases.iter().any(|(name, _)| name == database)
    }
}

// Comments are joined from `pg_shdescription` directly: `shobj_description()` is an SQL function
// the executor runs as a query of its own for every row it is called on, which made this look
// take about twice as long on the server (psql `EXPLAIN ANALYZE`, PostgreSQL 15).
const LOOK: &str = "SELECT \
     (SELECT coalesce(c.description, '') FROM pg_roles r LEFT JOIN pg_shdescription c \
      ON c.objoid = r.oid AND c.classoid = 'pg_authid'::regclass WHERE r.rolname = $1), \
     ARRAY(SELECT (SELECT coalesce(c.description, '') FROM pg_roles r LEFT JOIN pg_shdescription c \
                   ON c.objoid = r.oid AND c.classoid = 'pg_authid'::regclass \
                   WHERE r.rolname = u.name) \
           FROM unnest($2::text[]) WITH ORDINALITY AS u(name, n) ORDER BY u.n), \
     ARRAY(SELECT d.datname::text FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba \
           WHERE r.rolname = $1 ORDER BY d.datname), \
     ARRAY(SELECT coalesce(c.description, '') FROM pg_database d \
           JOIN pg_roles r ON r.oid = d.datdba LEFT JOIN pg_shdescription c \
           ON c.objoid = d.oid AND c.classoid = 'pg_database'::regclass \
           WHERE r.rolname = $1 ORDER BY d.datname), \
     ARRAY(SELECT m.rolname::text FROM pg_auth_members am \
           JOIN pg_roles g ON g.oid = am.roleid JOIN pg_roles m ON m.oid = am.member \
           LEFT JOIN pg_shdescription c ON c.objoid = m.oid AND c.classoid = 'pg_authid'::regclass \
           WHERE g.rolname = $1 AND $3::text IS NOT NULL \
           AND starts_with(coalesce(c.description, ''), $3) \
           UNION \
           SELECT r.rolname::text FROM pg_roles r JOIN pg_shdescription c \
           ON c.objoid = r.oid AND c.classoid = 'pg_authid'::regclass \
           WHERE $3::text IS NOT NULL AND starts_with(c.description, $3) \
           AND right(c.description, length($1) + 4) = ' of ' || $1 ORDER BY 1), \
     ARRAY(SELECT d.datname::text FROM pg_database d JOIN pg_shdescription c \
           ON c.objoid = d.oid AND c.classoid = 'pg_database'::regclass \
           WHERE $3::text IS NOT NULL AND starts_with(c.description, $3) \
           AND right(c.description, length($1) + 4) = ' of ' || $1 ORDER BY d.datname), \
     ARRAY(SELECT c.description FROM pg_database d JOIN pg_shdescription c \
           ON c.objoid = d.oid AND c.classoid = 'pg_database'::regclass \
           WHERE $3::text IS NOT NULL AND starts_with(c.description, $3) \
           AND right(c.description, length($1) + 4) = ' of ' || $1 ORDER BY d.datname)";

/// Owner comment, role comments, database names, database comments, marked roles, marked
/// databases' names and comments.
type LookRow = (
    Option<String>,
    Vec<Option<String>>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
);

/// The owner role `owner`, the roles `roles`, the owner's databases and (with `marked`) the
/// roles and databases whose comment starts with that prefix: everything a step looks at
/// before it writes.
pub(crate) async fn look<'c>(
    db: impl PgExecutor<'c>,
    owner: &str,
    roles: &[&str],
    marked: Option<&str>,
) -> Result<Look, sqlx::Error> {
    let row: LookRow = sqlx::query_as(LOOK)
        .bind(owner)
        .bind(roles)
        .bind(marked)
        .fetch_one(db)
        .await?;
    let (owner, roles, names, comments, members, own_names, own_comments) = row;
    Ok(Look {
        owner,
        roles,
        databases: names.into_iter().zip(comments).collect(),
        members,
        own_databases: own_names.into_iter().zip(own_comments).collect(),
    })
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

/// Whether the admin role may create roles and databases.
pub(crate) async fn admin_can_manage<'c>(db: impl PgExecutor<'c>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT rolsuper OR (rolcreaterole AND rolcreatedb) FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(db)
    .await
}
