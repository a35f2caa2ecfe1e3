//! A binding's password works where the server demands SCRAM-SHA-256. The local test server
//! trusts every TCP connection, which would accept any password, so this test starts a
//! throwaway cluster (the one `pgbroker dev` runs) whose TCP connections need SCRAM for every
//! role but the admin, binds there, and logs in with the binding's credentials: the server
//! checks the verifier the backend stored, and a wrong password is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

// The throwaway server of `pgbroker dev`, reused rather than written twice.
#[allow(dead_code)]
#[path = "../../app/src/dev/throwaway.rs"]
mod throwaway;

use std::str::FromStr;
use std::time::Duration;

use common::*;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

/// The admin keeps trust (it has no password); everyone else must prove theirs with SCRAM.
const HBA: &str = "local all all trust\n\
                   host all postgres 127.0.0.1/32 trust\n\
                   host all all 127.0.0.1/32 scram-sha-256\n";

async fn demand_scram(server: &throwaway::Throwaway) -> anyhow::Result<()> {
    std::fs::write(server.dir.join("data").join("pg_hba.conf"), HBA)?;
    let mut admin = PgConnection::connect(&server.admin_url()).await?;
    sqlx::raw_sql("CREATE ROLE probe LOGIN; SELECT pg_reload_conf()")
        .execute(&mut admin)
        .await?;
    // The postmaster reloads asynchronously: wait until a role without a password is refused.
    let probe = PgConnectOptions::from_str(&server.admin_url())?.username("probe");
    for _ in 0..100 {
        if probe.connect().await.is_err() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the server still trusts TCP connections after reloading pg_hba.conf")
}

#[tokio::test]
async fn the_server_accepts_the_binding_password_over_scram_and_refuses_a_wrong_one() {
    let server = throwaway::Throwaway::start(None).await.unwrap();
    demand_scram(&server).await.unwrap();
    // The cluster goes away with its objects; the fixture's clean-up of the local server finds
    // nothing under this fresh tag.
    let tag = format!("pgbt{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let fx = Fixture::from_settings(
        tag,
        json!({
            "servers": [{"name": "scram", "admin_url": server.admin_url(), "max_databases": 10}],
        }),
    );
    let id = fx.instance_id();
    fx.provision(&instance_req(&id, json!({}))).await;
    let creds = fx.bind(&bind_req(&id, "b1", json!({}))).await;

    let mut conn = connect(&creds)
        .await
        .expect("the binding's password is accepted");
    let user: String = sqlx::query_scalar("SELECT session_user::text")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(user, field(&creds, "username"));
    conn.close().await.unwrap();

    let wrong = PgConnectOptions::from_str(&field(&creds, "uri"))
        .unwrap()
        .password("not-the-password");
    let err = wrong
        .connect()
        .await
        .expect_err("a wrong password is refused");
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err}"
    );

    // A password reset runs the bind again with a new password: the new one is accepted, the
    // old one refused.
    let mut reset = bind_req(&id, "b1", json!({}));
    reset.password = pgbroker_domain::Sensitive::new("a-new-password-for-b1".to_string());
    let fresh = fx.bind(&reset).await;
    assert_eq!(field(&fresh, "username"), field(&creds, "username"));
    connect(&fresh)
        .await
        .expect("the new password is accepted")
        .close()
        .await
        .unwrap();
    let err = connect(&creds)
        .await
        .expect_err("the old password is refused");
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err}"
    );
}
