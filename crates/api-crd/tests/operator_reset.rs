//! Password reset by label (`operator/action: reset-password`): a new password in the Secret,
//! the role's stored verifier replaced, the label gone; on a server and on a database.
//!
//! The local test server trusts loopback connections, so it would accept any password: here
//! the role's SCRAM verifier is checked to change; that the server then refuses the old
//! password and takes the new one is proven over SCRAM in `adapters-cloud/tests/scram.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod operator;

use kube::api::{Api, Patch, PatchParams};
use operator::{World, admin, connect, database_with_reason, eventually, server_with_reason, text};
use pgbroker_api_crd::controller::{ACTION_LABEL, RESET_PASSWORD};
use serde_json::json;

async fn ask_reset<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = json!({"metadata": {"labels": {ACTION_LABEL: RESET_PASSWORD}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

fn labelled<K: kube::Resource>(obj: &K) -> bool {
    obj.meta()
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(ACTION_LABEL))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_password_sets_a_new_one_and_removes_the_label() {
    let world = World::start().await;
    world.apply_small_server("main").await;
    server_with_reason(&world, "main", "Ready").await;
    world
        .apply_database(
            "orders",
            json!({"serverRef": {"name": "main"}, "credentialsSecret": "orders-pg"}),
        )
        .await;
    database_with_reason(&world, "orders", "Ready").await;

    for (kind, secret_name) in [("server", "main-pg"), ("database", "orders-pg")] {
        let old = world.secrets().get(secret_name).await.unwrap();
        connect(&old, None).await.unwrap();
        let verifier = || async {
            sqlx::query_scalar::<_, String>("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
                .bind(text(&old, "username"))
                .fetch_one(&mut admin().await)
                .await
                .unwrap()
        };
        let old_verifier = verifier().await;
        match kind {
            "server" => ask_reset(&world.servers(), "main").await,
            _ => ask_reset(&world.databases(), "orders").await,
        }
        let new = eventually(
            "the Secret has a new password",
            || async { world.secrets().get(secret_name).await.unwrap() },
            |s| text(s, "password") != text(&old, "password"),
        )
        .await;
        assert_eq!(text(&new, "username"), text(&old, "username"), "{kind}");
        assert!(
            text(&new, "uri").contains(&text(&new, "password")),
            "{kind}: every key carries the new password"
        );
        connect(&new, None).await.unwrap();
        assert_ne!(
            verifier().await,
            old_verifier,
            "{kind}: the role's password is unchanged"
        );
        match kind {
            "server" => {
                eventually(
                    "the server's label is gone",
                    || async { world.servers().get("main").await.unwrap() },
                    |s| !labelled(s),
                )
                .await;
            }
            _ => {
                eventually(
                    "the database's label is gone",
                    || async { world.databases().get("orders").await.unwrap() },
                    |d| !labelled(d),
                )
                .await;
            }
        }
        // Nothing more happens while the label is gone: the password stays.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let still = world.secrets().get(secret_name).await.unwrap();
        assert_eq!(text(&still, "password"), text(&new, "password"), "{kind}");
    }
}
