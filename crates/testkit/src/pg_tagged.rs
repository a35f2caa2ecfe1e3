//! What a test made on the local PostgreSQL server under a tag (every database and role whose
//! name starts with it), removed when the test ends, also when it fails.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection};

use crate::pg_database::{BASE_URL_VAR, DEFAULT_BASE_URL, quote_ident};

/// Drops every database and role whose name starts with its tag when dropped.
pub struct TaggedCleanup(pub String);

impl Drop for TaggedCleanup {
    fn drop(&mut self) {
        drop_tagged_blocking(&self.0);
    }
}

/// Drops every database (`WITH (FORCE)`) and role whose name starts with `tag`, and what the
/// roles own. Errors are ignored: a clean-up must not hide the test's own failure.
pub async fn drop_tagged(tag: &str) {
    let url = std::env::var(BASE_URL_VAR).unwrap_or_else(|_| DEFAULT_BASE_URL.into());
    let Ok(options) = PgConnectOptions::from_str(&url) else {
        return;
    };
    let Ok(mut admin) = options.connect().await else {
        return;
    };
    let pattern = format!("{tag}%");
    let databases = names(
        &mut admin,
        "SELECT datname::text FROM pg_database WHERE datname LIKE $1",
        &pattern,
    )
    .await;
    for db in databases {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&db));
        sqlx::raw_sql(&sql).execute(&mut admin).await.ok();
    }
    let roles = names(
        &mut admin,
        "SELECT rolname::text FROM pg_roles WHERE rolname LIKE $1",
        &pattern,
    )
    .await;
    for role in &roles {
        let sql = format!("DROP OWNED BY {}", quote_ident(role));
        sqlx::raw_sql(&sql).execute(&mut admin).await.ok();
    }
    for role in &roles {
        let sql = format!("DROP ROLE IF EXISTS {}", quote_ident(role));
        sqlx::raw_sql(&sql).execute(&mut admin).await.ok();
    }
}

async fn names(admin: &mut PgConnection, sql: &'static str, pattern: &str) -> Vec<String> {
    sqlx::query_scalar::<_, String>(sql)
        .bind(pattern)
        .fetch_all(admin)
        .await
        .unwrap_or_default()
}

/// [`drop_tagged`] from synchronous code (a `Drop`), inside a runtime or during a panic: on a
/// thread with a runtime of its own.
pub fn drop_tagged_blocking(tag: &str) {
    let tag = tag.to_string();
    let cleaner = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(drop_tagged(&tag));
        }
    });
    if cleaner.join().is_err() {
        eprintln!("cleaning up what the test made on PostgreSQL failed");
    }
}
