//! What the bench made on the shared PostgreSQL server: counted by tag, and dropped when the
//! bench ends, however it ends.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection};

async fn admin(url: &str) -> anyhow::Result<PgConnection> {
    Ok(PgConnectOptions::from_str(url)?.connect().await?)
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Databases on the server whose names start with `prefix`.
pub async fn databases(url: &str, prefix: &str) -> anyhow::Result<i64> {
    let mut admin = admin(url).await?;
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{prefix}%"))
            .fetch_one(&mut admin)
            .await?,
    )
}

async fn drop_all(url: &str, tag: &str) -> anyhow::Result<()> {
    let mut admin = admin(url).await?;
    let pattern = format!("{tag}%");
    let dbs: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE $1")
            .bind(&pattern)
            .fetch_all(&mut admin)
            .await?;
    for db in dbs {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote(&db));
        sqlx::raw_sql(&sql).execute(&mut admin).await?;
    }
    let roles: Vec<String> =
        sqlx::query_scalar("SELECT rolname::text FROM pg_roles WHERE rolname LIKE $1")
            .bind(&pattern)
            .fetch_all(&mut admin)
            .await?;
    // Roles may still own objects in the `postgres` database (grants, default privileges).
    for role in &roles {
        sqlx::raw_sql(&format!("DROP OWNED BY {}", quote(role)))
            .execute(&mut admin)
            .await?;
    }
    for role in &roles {
        sqlx::raw_sql(&format!("DROP ROLE IF EXISTS {}", quote(role)))
            .execute(&mut admin)
            .await?;
    }
    Ok(())
}

/// Drops every database and role whose name starts with the tag when dropped (on its own
/// thread and runtime, so it also runs while a failed bench unwinds).
pub struct Cleanup {
    pub admin_url: String,
    pub tag: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (url, tag) = (self.admin_url.clone(), self.tag.clone());
        let cleaner = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(drop_all(&url, &tag))
        });
        match cleaner.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("cleaning up {}: {error:#}", self.tag),
            Err(_) => eprintln!("cleaning up {} panicked", self.tag),
        }
    }
}
