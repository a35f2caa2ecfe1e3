//! A throwaway PostgreSQL database per test, on the local server.
//!
//! The server is `postgres://postgres@127.0.0.1:5432/postgres` (trust auth) unless
//! `TEST_POSTGRES_URL` names another; that URL's database is only used to create and drop
//! the test databases.

use std::str::FromStr;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

/// Environment variable naming the server (any database on it) the test databases go to. Not a
/// `PGBROKER_*` name: binaries that tests spawn would read that as configuration.
pub const BASE_URL_VAR: &str = "TEST_POSTGRES_URL";
pub const DEFAULT_BASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database of its own for one test, dropped (`WITH (FORCE)`, so open connections do not
/// stop it) when the value is dropped, also when the test panics, or by [`Self::drop_now`].
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
    dropped: bool,
}

impl TestDatabase {
    /// Creates `pgbroker_test_<uuid>` on the test server.
    pub async fn create() -> anyhow::Result<Self> {
        let admin_url = std::env::var(BASE_URL_VAR).unwrap_or_else(|_| DEFAULT_BASE_URL.into());
        let name = format!("pgbroker_test_{}", uuid::Uuid::new_v4().simple());
        let url = with_database(&admin_url, &name)?;
        let mut admin = admin_connection(&admin_url).await?;
        admin
            .execute(format!("CREATE DATABASE {}", quote_ident(&name)).as_str())
            .await
            .with_context(|| format!("creating test database {name}"))?;
        admin.close().await.ok();
        Ok(Self {
            name,
            url,
            admin_url,
            dropped: false,
        })
    }

    /// Connection URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database now, reporting failure (the `Drop` impl can only print it).
    pub async fn drop_now(mut self) -> anyhow::Result<()> {
        self.dropped = true;
        drop_database(&self.admin_url, &self.name).await
    }
}

/// The URLs may hold the server's password: only the name is shown.
impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Drop may run inside a runtime (which cannot be blocked on) or during a panic: a
        // thread of its own with a small runtime works in both cases.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("building a runtime to drop the test database")?;
            runtime.block_on(drop_database(&admin_url, &name))
        });
        match dropper.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("test database {} was not dropped: {e:#}", self.name),
            Err(_) => eprintln!("test database {} was not dropped: panic", self.name),
        }
    }
}

async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = admin_connection(admin_url).await?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name)).as_str())
        .await
        .with_context(|| format!("dropping test database {name}"))?;
    admin.close().await.ok();
    Ok(())
}

async fn admin_connection(admin_url: &str) -> anyhow::Result<sqlx::PgConnection> {
    let options = PgConnectOptions::from_str(admin_url)
        .with_context(|| format!("{BASE_URL_VAR} is not a PostgreSQL URL"))?;
    let target = format!("{}:{}", options.get_host(), options.get_port());
    options
        .connect()
        .await
        .with_context(|| format!("connecting to the test PostgreSQL server at {target}"))
}

/// `base` with its database (the URL path) replaced by `database`; query parameters are kept.
fn with_database(base: &str, database: &str) -> anyhow::Result<String> {
    let (head, query) = match base.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (base, None),
    };
    let authority_start = head
        .find("://")
        .map(|i| i + 3)
        .with_context(|| format!("{BASE_URL_VAR} has no scheme://"))?;
    let server = match head[authority_start..].find('/') {
        Some(slash) => &head[..authority_start + slash],
        None => head,
    };
    Ok(match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    })
}

/// A PostgreSQL identifier in double quotes, inner quotes doubled.
/// `name` as a quoted SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_database() -> anyhow::Result<()> {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "t1")?,
            "postgres://u:p@h:5432/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t2")?, "postgres://h/t2");
        assert!(with_database("h/db", "t3").is_err());
        Ok(())
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[tokio::test]
    async fn creates_a_database_and_drops_it_even_without_drop_now() -> anyhow::Result<()> {
        let db = TestDatabase::create().await?;
        let name = db.name().to_string();
        let mut conn = admin_connection(db.url()).await?;
        let current: (String,) = sqlx::query_as("SELECT current_database()")
            .fetch_one(&mut conn)
            .await?;
        assert_eq!(current.0, name);
        drop(db); // while `conn` is still open: WITH (FORCE) ends it
        let admin_url = std::env::var(BASE_URL_VAR).unwrap_or_else(|_| DEFAULT_BASE_URL.into());
        let mut admin = admin_connection(&admin_url).await?;
        let left: (i64,) = sqlx::query_as("SELECT count(*) FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
        assert_eq!(left.0, 0);
        Ok(())
    }
}
