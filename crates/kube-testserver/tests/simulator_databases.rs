//! The simulator's Database controller against its PostgreSQL: the owner must exist, a role
//! that owns a database cannot be dropped, the reclaim policy decides `DROP DATABASE`, one
//! Database object per PostgreSQL database, extensions the image lacks fail; and what the CRD
//! refuses (immutable name, the reclaim policy's enum).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kube::api::{DeleteParams, Patch, PatchParams};
use kube::core::DynamicObject;
use kube::runtime::wait::{await_condition, conditions};
use pgbroker_kube_testserver::TestServer;
use serde_json::{Value, json};
use support::{applied, cnpg, create, create_cluster, wait_phase};

async fn healthy_cluster() -> TestServer {
    let server = TestServer::start_default().await.unwrap();
    create_cluster(&server, "pg", json!({ "instances": 1 })).await;
    wait_phase(
        &server,
        "pg",
        pgbroker_kube_testserver::simulator::PHASE_HEALTHY,
    )
    .await;
    server
}

async fn wait_for(
    server: &TestServer,
    kind: &str,
    name: &str,
    what: impl Fn(&Value) -> bool,
) -> DynamicObject {
    let wait = await_condition(
        cnpg(server, kind),
        name,
        move |o: Option<&DynamicObject>| o.is_some_and(|o| what(&serde_json::to_value(o).unwrap())),
    );
    tokio::time::timeout(std::time::Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("{kind} {name} did not get there"))
        .unwrap()
        .unwrap()
}

fn message(o: &Value) -> &str {
    o.pointer("/status/message")
        .and_then(Value::as_str)
        .unwrap_or("")
}

async fn patch(server: &TestServer, kind: &str, name: &str, body: Value) -> Result<(), String> {
    cnpg(server, kind)
        .patch(name, &PatchParams::default(), &Patch::Merge(body))
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_owner_must_exist_and_a_role_owning_a_database_is_not_dropped() {
    let server = healthy_cluster().await;
    create(
        &server,
        "Database",
        "db-own",
        json!({"cluster": {"name": "pg"}, "name": "own", "owner": "b1", "databaseReclaimPolicy": "delete"}),
    )
    .await;
    let db = wait_for(&server, "Database", "db-own", |o| {
        message(o).contains("role \"b1\" does not exist")
    })
    .await;
    assert_eq!(applied(Some(&db)), Some(false));
    assert!(db.data["status"].get("observedGeneration").is_none());

    create(
        &server,
        "DatabaseRole",
        "role-b1",
        json!({"cluster": {"name": "pg"}, "name": "b1", "login": true, "databaseRoleReclaimPolicy": "delete"}),
    )
    .await;
    wait_for(&server, "Database", "db-own", |o| {
        o.pointer("/status/applied") == Some(&json!(true))
    })
    .await;
    let pg = server.simulator().postgres("default", "pg").unwrap();
    assert_eq!(pg.databases["own"], "b1");
    assert_eq!(pg.roles.get("b1"), Some(&true));

    // DROP ROLE fails while b1 owns a database; the finalizer keeps the object.
    cnpg(&server, "DatabaseRole")
        .delete("role-b1", &DeleteParams::default())
        .await
        .unwrap();
    let role = wait_for(&server, "DatabaseRole", "role-b1", |o| {
        message(o).contains("cannot be dropped because some objects depend on it")
    })
    .await;
    assert_eq!(applied(Some(&role)), Some(false));

    // Handing the database to the application owner lets the drop through.
    patch(
        &server,
        "Database",
        "db-own",
        json!({"spec": {"owner": "app"}}),
    )
    .await
    .unwrap();
    let uid = role.metadata.uid.clone().unwrap();
    await_condition(
        cnpg(&server, "DatabaseRole"),
        "role-b1",
        conditions::is_deleted(&uid),
    )
    .await
    .unwrap();
    let pg = server.simulator().postgres("default", "pg").unwrap();
    assert_eq!(pg.databases["own"], "app");
    assert!(!pg.roles.contains_key("b1"));
}

#[tokio::test]
async fn the_reclaim_policy_decides_whether_the_database_is_dropped() {
    let server = healthy_cluster().await;
    for (object, name, policy) in [("db-a", "a", "delete"), ("db-b", "b", "retain")] {
        create(
            &server,
            "Database",
            object,
            json!({"cluster": {"name": "pg"}, "name": name, "owner": "app", "databaseReclaimPolicy": policy}),
        )
        .await;
        let db = wait_for(&server, "Database", object, |o| {
            o.pointer("/status/applied") == Some(&json!(true))
        })
        .await;
        let uid = db.metadata.uid.clone().unwrap();
        cnpg(&server, "Database")
            .delete(object, &DeleteParams::default())
            .await
            .unwrap();
        await_condition(
            cnpg(&server, "Database"),
            object,
            conditions::is_deleted(&uid),
        )
        .await
        .unwrap();
    }
    let pg = server.simulator().postgres("default", "pg").unwrap();
    assert!(!pg.databases.contains_key("a"), "dropped: {pg:?}");
    assert_eq!(pg.databases.get("b").map(String::as_str), Some("app"));
}

#[tokio::test]
async fn a_second_object_for_a_database_and_a_missing_extension_are_reported() {
    let server = healthy_cluster().await;
    server
        .simulator()
        .set_available_extensions(&["plpgsql", "pg_trgm"]);
    create(
        &server,
        "Database",
        "db-first",
        json!({"cluster": {"name": "pg"}, "name": "same", "owner": "app",
               "extensions": [{"name": "pg_trgm"}, {"name": "postgis"}]}),
    )
    .await;
    let db = wait_for(&server, "Database", "db-first", |o| {
        o.pointer("/status/extensions/1/applied") == Some(&json!(false))
    })
    .await;
    assert_eq!(applied(Some(&db)), Some(false));
    assert_eq!(db.data["status"]["extensions"][0]["applied"], json!(true));
    assert!(
        db.data["status"]["extensions"][1]["message"]
            .as_str()
            .unwrap()
            .contains("\"postgis\" is not available")
    );
    patch(
        &server,
        "Database",
        "db-first",
        json!({"spec": {"extensions": null}}),
    )
    .await
    .unwrap();
    wait_for(&server, "Database", "db-first", |o| {
        o.pointer("/status/applied") == Some(&json!(true))
    })
    .await;

    create(
        &server,
        "Database",
        "db-second",
        json!({"cluster": {"name": "pg"}, "name": "same", "owner": "app"}),
    )
    .await;
    wait_for(&server, "Database", "db-second", |o| {
        message(o).contains("already managed by Database object \"db-first\"")
    })
    .await;
}

#[tokio::test]
async fn the_crd_keeps_the_name_and_the_reclaim_policy_in_bounds() {
    let server = healthy_cluster().await;
    create(
        &server,
        "Database",
        "db-x",
        json!({"cluster": {"name": "pg"}, "name": "x", "owner": "app"}),
    )
    .await;
    let db = cnpg(&server, "Database").get("db-x").await.unwrap();
    assert_eq!(
        db.data["spec"]["databaseReclaimPolicy"],
        json!("retain"),
        "the CRD's default"
    );
    let renamed = patch(&server, "Database", "db-x", json!({"spec": {"name": "y"}})).await;
    assert!(
        renamed
            .as_ref()
            .is_err_and(|e| e.contains("name is immutable")),
        "{renamed:?}"
    );
    let bad = patch(
        &server,
        "Database",
        "db-x",
        json!({"spec": {"databaseReclaimPolicy": "keep"}}),
    )
    .await;
    assert!(
        bad.as_ref()
            .is_err_and(|e| e.contains("databaseReclaimPolicy")),
        "{bad:?}"
    );
}
