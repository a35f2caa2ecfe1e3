//! PostgreSQLDatabase objects against the committed CRD in the test API server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kube::api::{Api, PostParams};
use pgbroker_api_crd::PostgreSQLDatabase;
use serde_json::json;
use support::*;

#[tokio::test]
async fn valid_databases_are_accepted_by_create_and_server_side_apply() {
    let server = server().await;
    let api = databases(&server);
    api.create(
        &PostParams::default(),
        &database_object("created", database_spec("teamfoo")),
    )
    .await
    .unwrap();
    let minimal = json!({ "serverRef": { "name": "teamfoo" }, "credentialsSecret": "app-db" });
    apply(&api, &database_object("applied", minimal))
        .await
        .unwrap();

    let typed: Api<PostgreSQLDatabase> = Api::namespaced(server.client(), NS);
    let created = typed.get("created").await.unwrap();
    assert_eq!(created.spec.server_ref.name, "teamfoo");
    let options = created.spec.database.unwrap();
    assert_eq!(options.charset.as_deref(), Some("UTF8"));
    assert_eq!(options.extensions, Some(vec!["pgcrypto".to_owned()]));
    assert_eq!(typed.get("applied").await.unwrap().spec.database, None);
}

#[tokio::test]
async fn server_ref_and_credentials_secret_are_required() {
    let server = server().await;
    let api = databases(&server);
    let status = create_rejected(
        &api,
        &database_object("d", json!({ "credentialsSecret": "s" })),
    )
    .await;
    assert_cause(&status, "spec.serverRef", "Required value");
    let status = create_rejected(
        &api,
        &database_object("d", json!({ "serverRef": {}, "credentialsSecret": "s" })),
    )
    .await;
    assert_cause(&status, "spec.serverRef.name", "Required value");
    let status = create_rejected(
        &api,
        &database_object("d", json!({ "serverRef": { "name": "x" } })),
    )
    .await;
    assert_cause(&status, "spec.credentialsSecret", "Required value");
}

#[tokio::test]
async fn server_ref_is_immutable_and_names_a_server_of_the_same_namespace_only() {
    let server = server().await;
    let api = databases(&server);
    apply(&api, &database_object("d", database_spec("teamfoo")))
        .await
        .unwrap();
    apply(&api, &database_object("d", database_spec("teamfoo")))
        .await
        .expect("the same serverRef again is no change");
    let mut other_options = database_spec("teamfoo");
    other_options["database"]["collation"] = json!("C");
    apply(&api, &database_object("d", other_options))
        .await
        .expect("other fields may change");
    let status = apply_rejected(&api, &database_object("d", database_spec("teambar"))).await;
    assert_cause(&status, "spec.serverRef", "serverRef is immutable");

    let mut elsewhere = database_spec("teamfoo");
    elsewhere["serverRef"]["namespace"] = json!("other");
    let status = create_rejected(&api, &database_object("e", elsewhere)).await;
    assert_cause(
        &status,
        "spec.serverRef.namespace",
        "is not declared in the schema",
    );
}

#[tokio::test]
async fn unknown_fields_and_duplicate_extensions_are_rejected() {
    let server = server().await;
    let api = databases(&server);
    let mut unknown = database_spec("teamfoo");
    unknown["database"]["encoding"] = json!("UTF8");
    let status = create_rejected(&api, &database_object("d", unknown)).await;
    assert_cause(
        &status,
        "spec.database.encoding",
        "is not declared in the schema",
    );
    let mut duplicate = database_spec("teamfoo");
    duplicate["database"]["extensions"] = json!(["pgcrypto", "pgcrypto"]);
    let status = create_rejected(&api, &database_object("d", duplicate)).await;
    assert_cause(&status, "spec.database.extensions[1]", "Duplicate value");
}
