//! The local PostgreSQL server as the shared backend's server in tests: cleanup of what a test
//! made there, and whether credentials work.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// Drops every database and role whose name starts with the test's tag, also when the test fails.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let tag = self.0.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut admin =
                    PgConnectOptions::from_str(pgbroker_testkit::pg_database::DEFAULT_BASE_URL)
                        .unwrap()
                        .connect()
                        .await
                        .unwrap();
                let pattern = format!("{tag}%");
                let databases: Vec<(String,)> =
                    sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE $1")
                        .bind(&pattern)
                        .fetch_all(&mut admin)
                        .await
                        .unwrap();
                for (name,) in databases {
                    let sql = format!(
                        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                        name.replace('"', "\"\"")
                    );
                    sqlx::raw_sql(&sql).execute(&mut admin).await.ok();
                }
                let roles: Vec<(String,)> =
                    sqlx::query_as("SELECT rolname FROM pg_roles WHERE rolname LIKE $1")
                        .bind(&pattern)
                        .fetch_all(&mut admin)
                        .await
                        .unwrap();
                for (name,) in roles {
                    let sql = format!("DROP ROLE IF EXISTS \"{}\"", name.replace('"', "\"\""));
                    sqlx::raw_sql(&sql).execute(&mut admin).await.ok();
                }
            });
        })
        .join();
    }
}

pub async fn can_connect(uri: &str) -> bool {
    match PgConnectOptions::from_str(uri) {
        Ok(options) => match options.connect().await {
            Ok(mut conn) => {
                let one: (i32,) = sqlx::query_as("SELECT 1")
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.ok();
                one.0 == 1
            }
            Err(_) => false,
        },
        Err(e) => panic!("credentials uri does not parse: {e}"),
    }
}
