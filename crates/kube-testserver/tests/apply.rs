//! Server-side apply: create-or-merge, field ownership in managedFields, conflicts and force,
//! the status subresource, finalizers as a set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use pgbroker_kube_testserver::{SimulatorOptions, TestServer, TestServerOptions};
use serde_json::json;

fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn clusters(server: &TestServer) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("postgresql.cnpg.io", "v1", "Cluster");
    Api::namespaced_with(server.client(), "default", &ApiResource::from_gvk(&gvk))
}

fn applied(instances: i64, extra_labels: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": { "name": "pg", "labels": extra_labels },
        "spec": { "instances": instances, "storage": { "size": "1Gi" } },
    })
}

#[tokio::test]
async fn server_side_apply_creates_merges_removes_and_reports_conflicts() {
    let options = TestServerOptions {
        simulator: SimulatorOptions {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let server = TestServer::start(options).await.unwrap();
    let api = clusters(&server);
    let broker = PatchParams::apply("broker");
    let created = api
        .patch(
            "pg",
            &broker,
            &Patch::Apply(applied(1, json!({ "a": "1", "b": "2" }))),
        )
        .await
        .unwrap();
    assert_eq!(created.data["spec"]["instances"], 1);
    let managed = created.metadata.managed_fields.clone().unwrap();
    assert_eq!(managed[0].manager.as_deref(), Some("broker"));
    assert_eq!(managed[0].operation.as_deref(), Some("Apply"));

    // Someone else (an update, not an apply) adds a label the broker does not manage.
    api.patch(
        "pg",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "labels": { "other": "x" } } })),
    )
    .await
    .unwrap();

    // Applying again without label b removes b (owned by broker), keeps "other" (not broker's).
    let reapplied = api
        .patch(
            "pg",
            &broker,
            &Patch::Apply(applied(2, json!({ "a": "1" }))),
        )
        .await
        .unwrap();
    let labels = reapplied.metadata.labels.clone().unwrap();
    assert_eq!(labels.get("a").map(String::as_str), Some("1"));
    assert!(
        !labels.contains_key("b"),
        "field dropped from the applied config is removed: {labels:?}"
    );
    assert_eq!(labels.get("other").map(String::as_str), Some("x"));
    assert_eq!(reapplied.data["spec"]["instances"], 2);
    assert_eq!(reapplied.metadata.generation, Some(2));

    // Applying the same config is a no-op.
    let again = api
        .patch(
            "pg",
            &broker,
            &Patch::Apply(applied(2, json!({ "a": "1" }))),
        )
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        reapplied.metadata.resource_version
    );

    // A second manager setting the broker's field to another value conflicts...
    let ops = PatchParams::apply("ops");
    let err = api_error(
        api.patch("pg", &ops, &Patch::Apply(applied(3, json!({}))))
            .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message
            .contains("conflict with \"broker\": .spec.instances"),
        "{}",
        err.message
    );
    // ...unless forced, which moves ownership.
    let forced = api
        .patch(
            "pg",
            &ops.clone().force(),
            &Patch::Apply(applied(3, json!({}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["instances"], 3);
    let err = api_error(
        api.patch(
            "pg",
            &broker,
            &Patch::Apply(applied(2, json!({ "a": "1" }))),
        )
        .await,
    );
    assert!(
        err.message.contains("conflict with \"ops\""),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn apply_to_the_status_subresource_changes_only_status() {
    let options = TestServerOptions {
        simulator: SimulatorOptions {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let server = TestServer::start(options).await.unwrap();
    let api = clusters(&server);
    api.patch(
        "pg",
        &PatchParams::apply("broker"),
        &Patch::Apply(applied(1, json!({}))),
    )
    .await
    .unwrap();
    let status = json!({
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": { "name": "pg" },
        "spec": { "instances": 9 },
        "status": { "phase": "Setting up primary" },
    });
    let after = api
        .patch_status("pg", &PatchParams::apply("operator"), &Patch::Apply(status))
        .await
        .unwrap();
    assert_eq!(after.data["status"]["phase"], "Setting up primary");
    assert_eq!(after.data["spec"]["instances"], 1);
    let merged = api
        .patch_status(
            "pg",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "readyInstances": 1 } })),
        )
        .await
        .unwrap();
    assert_eq!(merged.data["status"]["phase"], "Setting up primary");
    assert_eq!(merged.data["status"]["readyInstances"], 1);
}

#[tokio::test]
async fn fields_changed_by_updates_are_owned_by_their_manager_and_conflict_with_apply() {
    let options = TestServerOptions {
        simulator: SimulatorOptions {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let server = TestServer::start(options).await.unwrap();
    let api = clusters(&server);
    let broker = PatchParams::apply("broker");
    api.patch(
        "pg",
        &broker,
        &Patch::Apply(applied(1, json!({ "a": "1" }))),
    )
    .await
    .unwrap();
    let kubectl = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    let edited = api
        .patch(
            "pg",
            &kubectl,
            &Patch::Merge(json!({ "spec": { "instances": 4 } })),
        )
        .await
        .unwrap();
    let managers: Vec<(String, String)> = edited
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| (m.manager.unwrap(), m.operation.unwrap()))
        .collect();
    assert!(
        managers.contains(&("kubectl-edit".into(), "Update".into())),
        "{managers:?}"
    );

    let err = api_error(
        api.patch(
            "pg",
            &broker,
            &Patch::Apply(applied(1, json!({ "a": "1" }))),
        )
        .await,
    );
    assert!(
        err.message
            .contains("conflict with \"kubectl-edit\": .spec.instances"),
        "{}",
        err.message
    );
    // Applying the value the updater set is no conflict; forcing takes the field back.
    api.patch(
        "pg",
        &broker,
        &Patch::Apply(applied(4, json!({ "a": "1" }))),
    )
    .await
    .unwrap();
    let forced = api
        .patch(
            "pg",
            &broker.clone().force(),
            &Patch::Apply(applied(1, json!({ "a": "1" }))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["instances"], 1);
}

#[tokio::test]
async fn applied_finalizers_are_a_set_shared_between_managers() {
    let server = TestServer::start_default().await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let config = |finalizers: &[&str]| json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "f", "finalizers": finalizers } });
    let finalizers = |cm: ConfigMap| cm.metadata.finalizers.unwrap_or_default();
    let a = PatchParams::apply("controller-a");
    let b = PatchParams::apply("controller-b");
    maps.patch("f", &a, &Patch::Apply(config(&["a.example/cleanup"])))
        .await
        .unwrap();
    let both = maps
        .patch("f", &b, &Patch::Apply(config(&["b.example/cleanup"])))
        .await
        .unwrap();
    assert_eq!(
        finalizers(both),
        ["a.example/cleanup", "b.example/cleanup"],
        "no conflict, both kept"
    );
    let shared = maps
        .patch(
            "f",
            &b,
            &Patch::Apply(config(&["a.example/cleanup", "b.example/cleanup"])),
        )
        .await
        .unwrap();
    assert_eq!(finalizers(shared).len(), 2);

    // A drops its finalizer: still there, B owns it too. B drops both: only then is it gone.
    let a_done = maps
        .patch("f", &a, &Patch::Apply(config(&[])))
        .await
        .unwrap();
    assert_eq!(
        finalizers(a_done),
        ["a.example/cleanup", "b.example/cleanup"]
    );
    let b_done = maps
        .patch("f", &b, &Patch::Apply(config(&[])))
        .await
        .unwrap();
    assert!(finalizers(b_done).is_empty());

    // A finalizer someone added by update survives an apply that never owned it.
    maps.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "finalizers": ["x.example/kept"] } })),
    )
    .await
    .unwrap();
    let kept = maps
        .patch("f", &a, &Patch::Apply(config(&["a.example/cleanup"])))
        .await
        .unwrap();
    assert_eq!(finalizers(kept), ["x.example/kept", "a.example/cleanup"]);
}
