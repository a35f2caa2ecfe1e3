//! `pgbroker migrate` against a SQLite file and a real PostgreSQL database.

mod common;

use common::{TempDir, pgbroker, run};
use pgbroker_testkit::pg_database::TestDatabase;
use sqlx::Connection;

/// Tables the state store keeps (see migrations/).
const TABLES: [&str; 3] = ["bindings", "instances", "operations"];

#[tokio::test]
async fn migrate_creates_a_sqlite_store_and_is_idempotent() {
    let dir = TempDir::new();
    let db = dir.path().join("state.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());

    let first = run(pgbroker(&["migrate"]).env("PGBROKER_STATE_STORE__URL", &url)).success();
    assert!(first.stdout.contains(&url), "{first}");
    assert!(db.is_file(), "{first}");
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    assert!(size > 0, "{first}");

    let second = run(pgbroker(&["migrate"]).env("PGBROKER_STATE_STORE__URL", &url)).success();
    assert!(second.stdout.contains(&url), "{second}");

    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("opening {}: {e}", db.display()));
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ($1, $2, $3) ORDER BY name",
    )
    .bind(TABLES[0])
    .bind(TABLES[1])
    .bind(TABLES[2])
    .fetch_all(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("listing tables: {e}"));
    assert_eq!(tables, TABLES);
    let _ = conn.close().await;
}

#[tokio::test]
async fn migrate_creates_tables_in_postgres_and_hides_the_password() {
    let db = TestDatabase::create()
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let url = url_with_placeholder_password(db.url());

    for _ in 0..2 {
        let out = run(pgbroker(&["migrate"]).env("PGBROKER_STATE_STORE__URL", &url)).success();
        assert!(out.stdout.contains(db.name()), "{out}");
        if url.contains(PLACEHOLDER_PASSWORD) {
            assert!(out.stdout.contains(":***@"), "{out}");
            assert!(!out.stdout.contains(PLACEHOLDER_PASSWORD), "{out}");
            assert!(!out.stderr.contains(PLACEHOLDER_PASSWORD), "{out}");
        }
    }

    let mut conn = sqlx::PgConnection::connect(db.url())
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", db.name()));
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name = ANY($1) ORDER BY table_name",
    )
    .bind(&TABLES[..])
    .fetch_all(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("listing tables: {e}"));
    assert_eq!(tables, TABLES, "tables in {}", db.name());
    let _ = conn.close().await;
}

/// Under trust authentication the server never asks for it; the test checks it is not printed.
const PLACEHOLDER_PASSWORD: &str = "not-a-real-pw-1f2e";

/// `url` with a password added when it has none.
fn url_with_placeholder_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((user, host)) if !user.contains(':') => {
            format!("{scheme}://{user}:{PLACEHOLDER_PASSWORD}@{host}")
        }
        _ => url.to_string(),
    }
}
