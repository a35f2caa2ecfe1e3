//! `pgbroker migrate` against a SQLite file and a real PostgreSQL database.

mod common;

use common::{TempDir, pgbroker, run};
use sqlx::Connection;

/// Server the PostgreSQL test creates its database on; override with `TEST_POSTGRES_URL`.
/// (Not a `PGBROKER_*` name: the binary would read that as configuration.)
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

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
    let db = TestDatabase::create(&admin_url()).await;
    let url = db.url_with_placeholder_password();

    for _ in 0..2 {
        let out = run(pgbroker(&["migrate"]).env("PGBROKER_STATE_STORE__URL", &url)).success();
        assert!(out.stdout.contains(&db.name), "{out}");
        if url.contains(PLACEHOLDER_PASSWORD) {
            assert!(out.stdout.contains(":***@"), "{out}");
            assert!(!out.stdout.contains(PLACEHOLDER_PASSWORD), "{out}");
            assert!(!out.stderr.contains(PLACEHOLDER_PASSWORD), "{out}");
        }
    }

    let mut conn = sqlx::PgConnection::connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", db.name));
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name = ANY($1) ORDER BY table_name",
    )
    .bind(&TABLES[..])
    .fetch_all(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("listing tables: {e}"));
    assert_eq!(tables, TABLES, "tables in {}", db.name);
    let _ = conn.close().await;
}

/// Under trust authentication the server never asks for it; the test checks it is not printed.
const PLACEHOLDER_PASSWORD: &str = "not-a-real-pw-1f2e";

/// A database of its own on the test server, dropped on drop (also when the test panics).
struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    async fn create(admin_url: &str) -> Self {
        let name = format!("pgbroker_app_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {admin_url}: {e} (is PostgreSQL up?)"));
        sqlx::query(&format!("CREATE DATABASE {}", quote_ident(&name)))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        let _ = admin.close().await;
        Self {
            admin_url: admin_url.to_string(),
            url: with_database(admin_url, &name),
            name,
        }
    }

    /// The database URL with a password added when the admin URL has none.
    fn url_with_placeholder_password(&self) -> String {
        let Some((scheme, rest)) = self.url.split_once("://") else {
            return self.url.clone();
        };
        match rest.split_once('@') {
            Some((user, host)) if !user.contains(':') => {
                format!("{scheme}://{user}:{PLACEHOLDER_PASSWORD}@{host}")
            }
            _ => self.url.clone(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statement = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&self.name)
        );
        // Drop runs inside the test's runtime, which cannot be blocked on; use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(&statement)
                    .execute(&mut admin)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = admin.close().await;
                Ok::<(), String>(())
            })
        })
        .join();
        if let Ok(Err(err)) = dropped {
            eprintln!("dropping test database {}: {err}", self.name);
        }
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `url` with its database (the last path segment) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_and_path = &base[scheme_end..];
    let root = match host_and_path.find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
}
