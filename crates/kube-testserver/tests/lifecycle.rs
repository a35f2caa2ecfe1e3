//! Deletion semantics: finalizers and deletionTimestamp, namespace deletion, owner-reference
//! garbage collection with each propagation policy, delete preconditions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{
    Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions, PropagationPolicy,
};
use pgbroker_kube_testserver::TestServer;
use serde_json::json;

fn cm(name: &str, finalizers: &[&str], owner: Option<&ConfigMap>) -> ConfigMap {
    let owners: Vec<serde_json::Value> = owner
        .map(|o| {
            vec![json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "name": o.metadata.name.clone().unwrap(), "uid": o.metadata.uid.clone().unwrap(),
            })]
        })
        .unwrap_or_default();
    serde_json::from_value(json!({
        "metadata": { "name": name, "finalizers": finalizers, "ownerReferences": owners },
    }))
    .unwrap()
}

#[tokio::test]
async fn finalizers_delay_deletion_until_the_last_one_is_removed() {
    let server = TestServer::start_default().await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    maps.create(
        &PostParams::default(),
        &cm("f", &["a.example/one", "a.example/two"], None),
    )
    .await
    .unwrap();
    let pending = maps.delete("f", &DeleteParams::default()).await.unwrap();
    let marked = pending
        .left()
        .expect("deletion with finalizers returns the object");
    assert!(marked.metadata.deletion_timestamp.is_some());
    let more = json!({ "metadata": { "finalizers": ["a.example/one", "a.example/two", "a.example/new"] } });
    let added = maps
        .patch("f", &PatchParams::default(), &Patch::Merge(more))
        .await
        .unwrap_err();
    assert!(
        matches!(added, kube::Error::Api(s) if s.code == 422),
        "no new finalizers while deleting"
    );
    assert!(
        maps.get("f")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );

    maps.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "finalizers": ["a.example/two"] } })),
    )
    .await
    .unwrap();
    assert!(
        maps.get_opt("f").await.unwrap().is_some(),
        "one finalizer left: still there"
    );
    maps.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
    )
    .await
    .unwrap();
    assert!(
        maps.get_opt("f").await.unwrap().is_none(),
        "last finalizer removed: gone"
    );
}

#[tokio::test]
async fn deleting_a_namespace_removes_its_contents_and_then_itself() {
    let server = TestServer::start_default().await.unwrap();
    let namespaces: Api<Namespace> = Api::all(server.client());
    let ns: Namespace = serde_json::from_value(json!({ "metadata": { "name": "team" } })).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "team");
    maps.create(&PostParams::default(), &cm("plain", &[], None))
        .await
        .unwrap();
    maps.create(
        &PostParams::default(),
        &cm("held", &["x.example/hold"], None),
    )
    .await
    .unwrap();
    let secrets: Api<Secret> = Api::namespaced(server.client(), "team");
    let secret: Secret = serde_json::from_value(json!({ "metadata": { "name": "s" } })).unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let other: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    other
        .create(&PostParams::default(), &cm("elsewhere", &[], None))
        .await
        .unwrap();

    namespaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = namespaces.get("team").await.unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    assert!(maps.get_opt("plain").await.unwrap().is_none());
    assert!(secrets.get_opt("s").await.unwrap().is_none());
    assert!(
        maps.get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    let refused = maps
        .create(&PostParams::default(), &cm("new", &[], None))
        .await
        .unwrap_err();
    assert!(matches!(refused, kube::Error::Api(s) if s.code == 403));

    maps.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
    )
    .await
    .unwrap();
    assert!(
        namespaces.get_opt("team").await.unwrap().is_none(),
        "empty terminating namespace goes"
    );
    assert!(
        other.get_opt("elsewhere").await.unwrap().is_some(),
        "other namespaces untouched"
    );
}

#[tokio::test]
async fn owner_references_are_garbage_collected_per_propagation_policy() {
    let server = TestServer::start_default().await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let pp = PostParams::default();

    let owner = maps.create(&pp, &cm("owner", &[], None)).await.unwrap();
    let child = maps
        .create(&pp, &cm("child", &[], Some(&owner)))
        .await
        .unwrap();
    maps.create(&pp, &cm("grandchild", &[], Some(&child)))
        .await
        .unwrap();
    maps.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    assert!(maps.get_opt("child").await.unwrap().is_none());
    assert!(
        maps.get_opt("grandchild").await.unwrap().is_none(),
        "collection is transitive"
    );

    let owner = maps.create(&pp, &cm("owner2", &[], None)).await.unwrap();
    maps.create(&pp, &cm("kept", &[], Some(&owner)))
        .await
        .unwrap();
    maps.delete("owner2", &DeleteParams::orphan())
        .await
        .unwrap();
    let kept = maps.get("kept").await.unwrap();
    assert!(
        kept.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty(),
        "orphaned: owner reference removed"
    );

    let owner = maps.create(&pp, &cm("owner3", &[], None)).await.unwrap();
    maps.create(&pp, &cm("first-goes", &[], Some(&owner)))
        .await
        .unwrap();
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        ..DeleteParams::default()
    };
    maps.delete("owner3", &dp).await.unwrap();
    assert!(maps.get_opt("first-goes").await.unwrap().is_none());
    assert!(maps.get_opt("owner3").await.unwrap().is_none());
}

#[tokio::test]
async fn delete_preconditions_are_checked() {
    let server = TestServer::start_default().await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    maps.create(&PostParams::default(), &cm("p", &[], None))
        .await
        .unwrap();
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("not-the-uid".into()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let err = maps.delete("p", &dp).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 409));
    assert!(maps.get_opt("p").await.unwrap().is_some());
}
