//! Bindings with a database of their own on CloudNativePG: a `Database` owned by the binding's
//! `DatabaseRole` (outside the application owner's group), credentials that name it, unbind
//! that drops it or hands it to the application owner, deprovision that finds it by labels;
//! checked against the CRDs and against what the simulator's PostgreSQL then holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use pgbroker_domain::ports::Backend;
use pgbroker_domain::{DeletionPolicy, OperationState, Reason};
use serde_json::{Value, json};
use support::crd::validate;
use support::world::*;

const ID: &str = "own-1";
const CLUSTER: &str = "pg-own-1";

async fn provisioned() -> World {
    let w = World::new(test_settings()).await;
    let op = w.provision(ID, SINGLE, json!({})).await;
    let done = w.settle(op).await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "{:?}",
        done.description
    );
    w
}

/// Binds `binding` with the `database` parameter `database` and answers its Database object.
async fn bound(w: &World, binding: &str, database: Value) -> Value {
    let op = w
        .bind_with(ID, binding, SINGLE, json!({"database": database}))
        .await;
    let done = w.settle(op).await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "{:?}",
        done.description
    );
    let dbs: Vec<Value> = w
        .objects_of("databases", ID)
        .into_iter()
        .filter(|d| d["metadata"]["annotations"]["pgbroker.io/binding-id"] == json!(binding))
        .collect();
    assert_eq!(dbs.len(), 1, "one Database for the binding");
    dbs[0].clone()
}

fn role_object(w: &World, db: &Value) -> Value {
    let name = db["metadata"]["name"].as_str().unwrap();
    w.server
        .get_object("databaseroles", Some(CLUSTER), name)
        .expect("the binding's DatabaseRole")
}

#[tokio::test]
async fn the_database_is_the_binding_roles_and_the_credentials_name_it() {
    assert!(
        World::new(test_settings())
            .await
            .backend
            .supports_own_database()
    );
    let w = provisioned().await;
    let db = bound(
        &w,
        "b-own",
        json!({"name": "reports", "charset": "UTF8", "collation": "en_US.UTF-8",
               "extensions": ["pg_trgm", "uuid-ossp"]}),
    )
    .await;
    validate(&db).unwrap();
    let role = role_object(&w, &db);
    validate(&role).unwrap();
    let role_name = role["spec"]["name"].as_str().unwrap();
    let spec = &db["spec"];
    assert_eq!(spec["cluster"]["name"], json!(CLUSTER));
    assert_eq!(spec["name"], json!("reports"));
    assert_eq!(spec["owner"], json!(role_name));
    assert_eq!(spec["databaseReclaimPolicy"], json!("delete"));
    assert_eq!(spec["encoding"], json!("UTF8"));
    assert_eq!(spec["localeCollate"], json!("en_US.UTF-8"));
    assert_eq!(spec["localeCType"], json!("en_US.UTF-8"));
    assert_eq!(spec["template"], json!("template0"));
    assert_eq!(
        spec["extensions"],
        json!([{"name": "pg_trgm", "ensure": "present"}, {"name": "uuid-ossp", "ensure": "present"}])
    );
    assert_eq!(db["status"]["applied"], json!(true));
    // Outside the owner group: nothing of the application database is its.
    assert_eq!(role["spec"]["inRoles"], json!([]));

    let binding = w.binding(ID, "b-own").await.unwrap();
    let creds = binding.credentials.unwrap();
    let c = creds.expose();
    assert_eq!(c["username"], json!(role_name));
    assert_eq!(c["database"], json!("reports"));
    for key in ["uri", "ro_uri"] {
        let uri = c[key].as_str().unwrap();
        assert!(uri.contains(":5432/reports?sslmode="), "{key}: {uri}");
    }
    assert!(c["jdbc_uri"].as_str().unwrap().contains(":5432/reports?"));

    let pg = w.server.simulator().postgres(CLUSTER, CLUSTER).unwrap();
    assert_eq!(pg.databases["reports"], role_name);
    assert_eq!(pg.roles.get(role_name), Some(&true));

    // A plain binding of the same instance stays in the owner group, on the app database.
    let op = w.bind(ID, "b-plain", SINGLE).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let plain = w.binding(ID, "b-plain").await.unwrap();
    assert_eq!(
        plain.credentials.unwrap().expose()["database"],
        json!("app")
    );
    let plain_role = w
        .objects_of("databaseroles", ID)
        .into_iter()
        .find(|r| r["metadata"]["annotations"]["pgbroker.io/binding-id"] == json!("b-plain"))
        .unwrap();
    assert_eq!(plain_role["spec"]["inRoles"], json!(["app"]));
}

#[tokio::test]
async fn unbind_with_delete_drops_the_database_then_the_role() {
    let w = provisioned().await;
    let db = bound(&w, "b-del", json!("scratch")).await;
    let role_name = role_object(&w, &db)["spec"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let op = w
        .unbind_with(ID, "b-del", SINGLE, DeletionPolicy::Delete)
        .await;
    let done = w.settle(op).await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "{:?}",
        done.description
    );
    for resource in ["databases", "databaseroles", "secrets"] {
        let left: Vec<Value> = w
            .objects_of(resource, ID)
            .into_iter()
            .filter(|o| o["metadata"]["annotations"]["pgbroker.io/binding-id"] == json!("b-del"))
            .collect();
        assert!(left.is_empty(), "{resource} of the binding left: {left:?}");
    }
    let pg = w.server.simulator().postgres(CLUSTER, CLUSTER).unwrap();
    assert!(!pg.databases.contains_key("scratch"), "{pg:?}");
    assert!(!pg.roles.contains_key(&role_name), "{pg:?}");
}

#[tokio::test]
async fn unbind_with_retain_hands_the_database_to_the_application_owner() {
    let w = provisioned().await;
    let db = bound(
        &w,
        "b-keep",
        json!({"name": "ledger", "extensions": ["citext"]}),
    )
    .await;
    let role_name = role_object(&w, &db)["spec"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let op = w
        .unbind_with(ID, "b-keep", SINGLE, DeletionPolicy::Retain)
        .await;
    let done = w.settle(op).await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "{:?}",
        done.description
    );
    for resource in ["databases", "databaseroles", "secrets"] {
        let left: Vec<Value> = w
            .objects_of(resource, ID)
            .into_iter()
            .filter(|o| o["metadata"]["annotations"]["pgbroker.io/binding-id"] == json!("b-keep"))
            .collect();
        assert!(left.is_empty(), "{resource} of the binding left: {left:?}");
    }
    let pg = w.server.simulator().postgres(CLUSTER, CLUSTER).unwrap();
    assert_eq!(pg.databases.get("ledger").map(String::as_str), Some("app"));
    // The role stays (what it made inside is still its), but cannot log in.
    assert_eq!(pg.roles.get(&role_name), Some(&false), "{pg:?}");
    assert!(w.binding(ID, "b-keep").await.is_none());
}

#[tokio::test]
async fn an_extension_the_image_lacks_fails_the_bind_as_unsupported() {
    let w = provisioned().await;
    w.server
        .simulator()
        .set_available_extensions(&["plpgsql", "pg_trgm"]);
    let op = w
        .bind_with(
            ID,
            "b-ext",
            SINGLE,
            json!({"database": {"name": "geo", "extensions": ["pg_trgm", "postgis"]}}),
        )
        .await;
    let done = w.settle(op).await;
    assert_eq!(done.state, OperationState::Failed);
    assert_eq!(done.reason, Some(Reason::Unsupported));
    let description = done.description.unwrap_or_default();
    assert!(
        description.contains("\"postgis\"") && description.contains("not available"),
        "{description}"
    );
    // The cleanup after the failed bind drops what CNPG made of it.
    w.settle_instance(&instance(ID)).await;
    let pg = w.server.simulator().postgres(CLUSTER, CLUSTER).unwrap();
    assert!(!pg.databases.contains_key("geo"), "{pg:?}");
    let left: Vec<Value> = ["databases", "databaseroles", "secrets"]
        .into_iter()
        .flat_map(|r| w.objects_of(r, ID))
        .filter(|o| o["metadata"]["annotations"]["pgbroker.io/binding-id"] == json!("b-ext"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn names_cnpg_or_the_instance_use_and_names_taken_by_another_binding_are_refused() {
    let w = provisioned().await;
    for (binding, name) in [("b-app", "app"), ("b-pg", "postgres")] {
        let op = w
            .bind_with(ID, binding, SINGLE, json!({"database": name}))
            .await;
        let done = w.settle(op).await;
        assert_eq!(done.state, OperationState::Failed, "{name}");
        assert_eq!(done.reason, Some(Reason::InvalidSpec), "{name}");
        w.settle_instance(&instance(ID)).await;
    }
    assert!(w.objects_of("databases", ID).is_empty(), "nothing declared");

    bound(&w, "b-first", json!("shared")).await;
    let op = w
        .bind_with(ID, "b-second", SINGLE, json!({"database": "shared"}))
        .await;
    let done = w.settle(op).await;
    assert_eq!(done.state, OperationState::Failed);
    assert_eq!(done.reason, Some(Reason::Conflict));
    w.settle_instance(&instance(ID)).await;
    let pg = w.server.simulator().postgres(CLUSTER, CLUSTER).unwrap();
    let first = w.binding(ID, "b-first").await.unwrap();
    assert_eq!(
        pg.databases["shared"],
        first.credentials.unwrap().expose()["username"]
            .as_str()
            .unwrap(),
        "the first binding keeps its database"
    );
}

#[tokio::test]
async fn deprovision_removes_the_databases_bindings_left() {
    let w = provisioned().await;
    bound(&w, "b-left", json!("leftover")).await;
    let op = w.deprovision(ID, SINGLE).await;
    let done = w.settle(op).await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "{:?}",
        done.description
    );
    nothing_left(&w, ID);
}
