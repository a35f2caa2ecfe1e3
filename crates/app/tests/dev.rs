//! `pgbroker dev` as a user runs it: the binary is spawned, starts its throwaway PostgreSQL,
//! serves a provision and a bind over HTTP whose credentials work, and on SIGTERM stops the
//! server and removes its directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};

use common::dev::Dev;
use serde_json::{Value, json};
use sqlx::{Connection, Executor};

const SERVICE: &str = "f3f7eb7c-f181-44e2-8a8e-95fc51e94990";
const PLAN: &str = "8918ebda-7ee3-4766-bb57-9e658fcd9689";

async fn put(http: &reqwest::RequestBuilder, body: Value) -> (u16, Value) {
    let response = http.try_clone().unwrap().json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn dev_serves_a_working_database_and_cleans_up_on_sigterm() {
    let mut dev = Dev::start(&[]);
    let base = dev.base();
    let creds = dev.value("OSB credentials:");
    let password = creds
        .strip_prefix("username dev, password ")
        .unwrap()
        .to_string();
    let dir = dev.data_dir();
    let port = dev.pg_port();
    assert!(dir.is_dir(), "{dir:?}");
    assert!(
        dev.banner.iter().any(|l| l.contains("curl -s -u dev:")),
        "{:#?}",
        dev.banner
    );

    let http = reqwest::Client::new();
    let request = |path: &str| {
        http.put(format!("{base}{path}"))
            .basic_auth("dev", Some(&password))
            .header("X-Broker-API-Version", "2.17")
    };
    let (status, body) = put(
        &request("/v2/service_instances/my-db"),
        json!({"service_id": SERVICE, "plan_id": PLAN, "organization_guid": "org-1",
               "space_guid": "space-1", "parameters": {"extensions": ["pgcrypto"]}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = put(
        &request("/v2/service_instances/my-db/service_bindings/my-app"),
        json!({"service_id": SERVICE, "plan_id": PLAN}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let uri = body["credentials"]["uri"].as_str().unwrap().to_string();
    let mut conn = sqlx::PgConnection::connect(&uri).await.unwrap();
    conn.execute("CREATE TABLE t (v int); INSERT INTO t VALUES (42)")
        .await
        .unwrap();
    let v: i32 = sqlx::query_scalar("SELECT v FROM t")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(v, 42);
    // Without the credentials the API refuses.
    let anonymous = http
        .get(format!("{base}/v2/catalog"))
        .header("X-Broker-API-Version", "2.17")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    drop(conn);

    let status = dev.terminate();
    assert!(status.success(), "{status}");
    assert!(!dir.exists(), "{dir:?} is left behind");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "postgres still listens on {port}"
    );
}

#[tokio::test]
async fn dev_without_auth_says_so_loudly() {
    let dev = Dev::start(&["--no-auth"]);
    assert_eq!(dev.value("OSB credentials:"), "NONE (--no-auth)");
    assert!(
        dev.banner
            .iter()
            .any(|l| l.contains("WITHOUT AUTHENTICATION")),
        "{:#?}",
        dev.banner
    );
    let response = reqwest::Client::new()
        .get(format!("{}/v2/catalog", dev.base()))
        .header("X-Broker-API-Version", "2.17")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn dev_against_an_existing_server_keeps_the_password_out_of_sight() {
    let dir = common::TempDir::new();
    let url = "postgres://postgres:not-shown-anywhere@127.0.0.1:5432/postgres";
    let dev = Dev::start_in(dir.path(), &["--postgres-url", url]);
    assert_eq!(
        dev.value("PostgreSQL:"),
        "postgres://postgres@127.0.0.1:5432/postgres"
    );
    assert!(!dev.banner.join("\n").contains("not-shown-anywhere"));
    let base = dev.base();
    let password = dev
        .value("OSB credentials:")
        .strip_prefix("username dev, password ")
        .unwrap()
        .to_string();
    let http = reqwest::Client::new();
    let id = uuid::Uuid::new_v4().to_string();
    let _cleanup = DropNamed(format!("pgb_{id}"));
    let instance = format!("{base}/v2/service_instances/{id}");
    let put = |url: String| {
        http.put(url)
            .basic_auth("dev", Some(&password))
            .header("X-Broker-API-Version", "2.17")
    };
    let delete = |url: String| {
        http.delete(url)
            .basic_auth("dev", Some(&password))
            .header("X-Broker-API-Version", "2.17")
    };
    let (status, body) = super_put(
        put(instance.clone()),
        json!({"service_id": SERVICE, "plan_id": PLAN,
               "organization_guid": "org-1", "space_guid": "space-1"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = super_put(
        put(format!("{instance}/service_bindings/b")),
        json!({"service_id": SERVICE, "plan_id": PLAN}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let uri = body["credentials"]["uri"].as_str().unwrap().to_string();
    sqlx::PgConnection::connect(&uri)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    let ids = format!("service_id={SERVICE}&plan_id={PLAN}");
    let r = delete(format!("{instance}/service_bindings/b?{ids}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = delete(format!("{instance}?{ids}")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut admin = sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(format!("pgb_{id}"))
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert!(dir.path().join("pgbroker-dev.db").is_file());
}

async fn super_put(request: reqwest::RequestBuilder, body: Value) -> (u16, Value) {
    let response = request.json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[test]
fn dev_without_postgres_binaries_says_how_to_install_them() {
    let out = common::run(
        common::pgbroker(&[
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--pg-bindir",
            "/nonexistent",
        ])
        .current_dir(std::env::temp_dir()),
    );
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("apt-get install postgresql"), "{out}");
    assert!(out.stderr.contains("--postgres-url"), "{out}");
}

/// Drops the databases and roles named with this prefix on the local server, also when the test
/// fails half-way (the names are unique to the test).
struct DropNamed(String);

impl Drop for DropNamed {
    fn drop(&mut self) {
        let sql = format!(
            "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', datname) FROM pg_database WHERE starts_with(datname, '{p}') \\gexec\n\
             SELECT format('DROP ROLE IF EXISTS %I', rolname) FROM pg_roles WHERE starts_with(rolname, '{p}') ORDER BY length(rolname) DESC \\gexec\n",
            p = self.0
        );
        let _ = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(sql.as_bytes())?;
                }
                child.wait()
            });
    }
}
