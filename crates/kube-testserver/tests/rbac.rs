//! RBAC mode: tokens name ServiceAccounts, roles and bindings in the store decide with the API
//! server's rules, refusals are the API server's 401 and 403 `Status` objects.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::rbac::{account, rbac_server, status};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use pgbroker_kube_testserver::TestServer;
use serde_json::{Value, json};

fn secret(name: &str) -> Secret {
    serde_json::from_value(json!({"metadata": {"name": name}, "stringData": {"k": "v"}})).unwrap()
}

fn clusters(client: kube::Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("postgresql.cnpg.io", "v1", "Cluster");
    Api::namespaced_with(client, ns, &ApiResource::from_gvk(&gvk))
}

fn cluster_manifest() -> Value {
    json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
           "metadata": {"name": "pg"}, "spec": {"instances": 1, "storage": {"size": "1Gi"}}})
}

/// The raw answer to a GET, status line and JSON body, to compare the exact `Status`.
async fn raw_get(server: &TestServer, path: &str, token: Option<&str>) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    support::raw(server, "GET", path, &headers, "").await
}

#[tokio::test]
async fn a_refusal_is_the_api_servers_403_status_word_for_word() {
    let server = rbac_server().await;
    account(
        &server,
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]),
        false,
    );
    let token = server.service_account_token("a", "app").unwrap();
    let (code, body) = raw_get(&server, "/api/v1/namespaces/a/secrets/s1", Some(&token)).await;
    assert_eq!(code, 403);
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "secrets \"s1\" is forbidden: User \"system:serviceaccount:a:app\" cannot get resource \"secrets\" in API group \"\" in the namespace \"a\"",
            "reason": "Forbidden", "details": {"name": "s1", "kind": "secrets"}, "code": 403})
    );
    let (code, body) = raw_get(
        &server,
        "/apis/postgresql.cnpg.io/v1/clusters",
        Some(&token),
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        body["message"],
        json!(
            "clusters.postgresql.cnpg.io is forbidden: User \"system:serviceaccount:a:app\" cannot list resource \"clusters\" in API group \"postgresql.cnpg.io\" at the cluster scope"
        )
    );
    assert_eq!(
        body["details"],
        json!({"group": "postgresql.cnpg.io", "kind": "clusters"})
    );
    let (code, body) = raw_get(&server, "/metrics", Some(&token)).await;
    assert_eq!(code, 403);
    assert_eq!(
        body["message"],
        json!("forbidden: User \"system:serviceaccount:a:app\" cannot get path \"/metrics\"")
    );
    assert_eq!(body["details"], json!({}));
}

#[tokio::test]
async fn no_token_an_unknown_one_or_a_deleted_service_account_is_401() {
    let server = rbac_server().await;
    account(&server, json!([]), false);
    let token = server.service_account_token("a", "app").unwrap();
    let unauthorized = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401});
    assert_eq!(
        raw_get(&server, "/api", None).await,
        (401, unauthorized.clone())
    );
    assert_eq!(
        raw_get(&server, "/api", Some("made-up")).await,
        (401, unauthorized.clone())
    );
    // The scheme is case-insensitive; a Basic header is no token.
    let lower = format!("bearer {token}");
    let answer = support::raw(&server, "GET", "/api", &[("Authorization", &lower)], "").await;
    assert_eq!(answer.0, 200);
    let basic = support::raw(
        &server,
        "GET",
        "/api",
        &[("Authorization", "Basic eDp5")],
        "",
    )
    .await;
    assert_eq!(basic, (401, unauthorized.clone()));
    // Discovery is allowed to every authenticated user, as the bootstrap roles allow it.
    for path in [
        "/version",
        "/api",
        "/api/v1",
        "/apis",
        "/apis/postgresql.cnpg.io/v1",
    ] {
        assert_eq!(raw_get(&server, path, Some(&token)).await.0, 200, "{path}");
    }
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(server.client(), "a");
    accounts
        .delete("app", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        raw_get(&server, "/api", Some(&token)).await,
        (401, unauthorized)
    );
}

#[tokio::test]
async fn grants_allow_and_everything_else_is_refused() {
    let server = rbac_server().await;
    let client = account(
        &server,
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create"]}]),
        false,
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "a");
    secrets
        .create(&PostParams::default(), &secret("s1"))
        .await
        .unwrap();
    secrets.get("s1").await.unwrap();
    secrets.list(&ListParams::default()).await.unwrap();
    let refused = status(secrets.delete("s1", &DeleteParams::default()).await);
    assert_eq!((refused.code, refused.reason.as_str()), (403, "Forbidden"));
    // Watch is its own verb, not implied by list.
    let refused = status(
        secrets
            .watch(&kube::api::WatchParams::default(), "0")
            .await
            .map(|_| ()),
    );
    assert!(
        refused
            .message
            .contains("cannot watch resource \"secrets\""),
        "{}",
        refused.message
    );
    // Other kinds, and the admin can do anything.
    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client, "a");
    assert_eq!(status(configmaps.get("x").await).code, 403);
    let admin: Api<Secret> = Api::namespaced(server.client(), "a");
    admin.delete("s1", &DeleteParams::default()).await.unwrap();
}

#[tokio::test]
async fn an_apply_that_creates_needs_create_as_well_as_patch() {
    let server = rbac_server().await;
    let client = account(
        &server,
        json!([{"apiGroups": ["postgresql.cnpg.io"], "resources": ["clusters"], "verbs": ["patch"]}]),
        false,
    );
    let api = clusters(client, "a");
    let apply = PatchParams::apply("me");
    let refused = status(
        api.patch("pg", &apply, &Patch::Apply(cluster_manifest()))
            .await,
    );
    // The upsert's create check words its refusal with the authorizer's reason only (empty).
    assert_eq!(refused.code, 403);
    assert_eq!(
        refused.message,
        "clusters.postgresql.cnpg.io \"pg\" is forbidden: "
    );
    assert!(server.get_object("clusters", Some("a"), "pg").is_none());
    let checks = server.authorizations();
    let last = checks.last().unwrap();
    assert_eq!(
        (last.attributes.verb.as_str(), last.allowed),
        ("create", false)
    );

    // Once the object exists, patch alone is enough to apply again.
    clusters(server.client(), "a")
        .patch("pg", &apply, &Patch::Apply(cluster_manifest()))
        .await
        .unwrap();
    api.patch("pg", &apply, &Patch::Apply(cluster_manifest()))
        .await
        .unwrap();
}

#[tokio::test]
async fn subresources_and_deletecollection_are_their_own() {
    let server = rbac_server().await;
    let client = account(
        &server,
        json!([{"apiGroups": ["postgresql.cnpg.io"], "resources": ["clusters"],
                "verbs": ["get", "create", "patch", "delete"]}]),
        false,
    );
    let api = clusters(client, "a");
    let object: DynamicObject = serde_json::from_value(cluster_manifest()).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
    let status_patch = Patch::Merge(json!({"status": {"phase": "x"}}));
    let refused = status(
        api.patch_status("pg", &PatchParams::default(), &status_patch)
            .await,
    );
    assert!(
        refused
            .message
            .contains("cannot patch resource \"clusters/status\""),
        "{}",
        refused.message
    );
    let refused = status(api.get_scale("pg").await);
    assert!(
        refused
            .message
            .contains("cannot get resource \"clusters/scale\"")
    );
    let refused = status(
        api.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .map(|_| ()),
    );
    assert!(
        refused
            .message
            .contains("cannot deletecollection resource \"clusters\"")
    );
    api.delete("pg", &DeleteParams::default()).await.unwrap();
}

#[tokio::test]
async fn resource_names_restrict_named_requests_only() {
    let server = rbac_server().await;
    let admin: Api<Secret> = Api::namespaced(server.client(), "a");
    for name in ["mine", "other"] {
        admin
            .create(&PostParams::default(), &secret(name))
            .await
            .unwrap();
    }
    let client = account(
        &server,
        json!([{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["mine"],
                "verbs": ["get", "list", "create"]}]),
        false,
    );
    let secrets: Api<Secret> = Api::namespaced(client, "a");
    secrets.get("mine").await.unwrap();
    assert_eq!(status(secrets.get("other").await).code, 403);
    // A list is allowed only when a field selector names the object.
    assert_eq!(status(secrets.list(&ListParams::default()).await).code, 403);
    let named = ListParams::default().fields("metadata.name=mine");
    assert_eq!(secrets.list(&named).await.unwrap().items.len(), 1);
    // A create has no name when it is authorized.
    assert_eq!(
        status(
            secrets
                .create(&PostParams::default(), &secret("mine2"))
                .await
        )
        .code,
        403
    );
}

#[tokio::test]
async fn a_role_binding_grants_in_its_namespace_only() {
    let server = rbac_server().await;
    let client = account(
        &server,
        json!([{"apiGroups": [""], "resources": ["secrets", "namespaces"], "verbs": ["get", "list"]}]),
        false,
    );
    let in_a: Api<Secret> = Api::namespaced(client.clone(), "a");
    in_a.list(&ListParams::default()).await.unwrap();
    let in_b: Api<Secret> = Api::namespaced(client.clone(), "b");
    let refused = status(in_b.list(&ListParams::default()).await);
    assert!(
        refused.message.ends_with("in the namespace \"b\""),
        "{}",
        refused.message
    );
    let everywhere: Api<Secret> = Api::all(client.clone());
    assert_eq!(
        status(everywhere.list(&ListParams::default()).await).code,
        403
    );
    // A request on a Namespace is in that namespace.
    let namespaces: Api<Namespace> = Api::all(client);
    namespaces.get("a").await.unwrap();
    let refused = status(namespaces.get("b").await);
    assert!(
        refused.message.ends_with("in the namespace \"b\""),
        "{}",
        refused.message
    );
}

#[tokio::test]
async fn a_put_that_creates_a_lease_needs_create() {
    use k8s_openapi::api::coordination::v1::Lease;
    let server = rbac_server().await;
    let client = account(
        &server,
        json!([{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["update"]}]),
        false,
    );
    let leases: Api<Lease> = Api::namespaced(client, "a");
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "l"}})).unwrap();
    let refused = status(leases.replace("l", &PostParams::default(), &lease).await);
    assert_eq!(
        (refused.code, refused.message.as_str()),
        (403, "leases.coordination.k8s.io \"l\" is forbidden: ")
    );
    // Leases are made by PUT (their strategy allows create on update); others are not.
    let admin: Api<Lease> = Api::namespaced(server.client(), "a");
    admin
        .replace("l", &PostParams::default(), &lease)
        .await
        .unwrap();
    let current = leases.get_opt("l").await;
    assert!(matches!(current, Err(kube::Error::Api(ref s)) if s.code == 403));
    leases
        .replace("l", &PostParams::default(), &lease)
        .await
        .unwrap();
    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(server.client(), "a");
    let cm = serde_json::from_value(json!({"metadata": {"name": "cm"}})).unwrap();
    assert_eq!(
        status(configmaps.replace("cm", &PostParams::default(), &cm).await).code,
        404
    );
}
