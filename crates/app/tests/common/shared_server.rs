//! The local PostgreSQL server as the shared backend's server in tests: cleanup of what a test
//! made there, and whether credentials work.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// Drops every database and role whose name starts with the test's tag, also when the test fails.
#[allow(unused_imports)] // Not every test binary that includes `common` cleans up.
pub use pgbroker_testkit::pg_tagged::TaggedCleanup as Cleanup;

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
