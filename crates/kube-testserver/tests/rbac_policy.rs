//! RBAC mode: writes of RBAC objects. Roles and bindings made through the API decide at once, a
//! binding's roleRef is fixed, and nobody grants what it does not hold (escalation prevention).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;
use support::rbac::{account, rbac_server, status};

#[tokio::test]
async fn roles_made_through_the_api_decide_at_once_and_a_missing_role_is_named() {
    let server = rbac_server().await;
    let client = account(&server, json!([]), true);
    let secrets: Api<Secret> = Api::namespaced(client, "b");
    assert_eq!(status(secrets.get("x").await).code, 403);
    let roles: Api<DynamicObject> = Api::namespaced_with(
        server.client(),
        "b",
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
        )),
    );
    let binding: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "a"}]}))
    .unwrap();
    roles
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let refused = status(secrets.get("x").await);
    assert!(
        refused
            .message
            .ends_with(": RBAC: role.rbac.authorization.k8s.io \"reader\" not found"),
        "{}",
        refused.message
    );
    server
        .create_from_yaml(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader, namespace: b}\n\
             rules: [{apiGroups: [\"\"], resources: [secrets], verbs: [get]}]\n",
            None,
        )
        .unwrap();
    assert_eq!(status(secrets.get("x").await).code, 404);
}

#[tokio::test]
async fn a_bindings_role_ref_cannot_change() {
    let server = rbac_server().await;
    account(&server, json!([]), true);
    let bindings: Api<DynamicObject> = Api::all_with(
        server.client(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
        )),
    );
    let patch = Patch::Merge(json!({"roleRef": {"name": "cluster-admin"}}));
    let refused = status(bindings.patch("app", &PatchParams::default(), &patch).await);
    assert_eq!(refused.code, 422);
    assert!(
        refused.message.ends_with(": cannot change roleRef"),
        "{}",
        refused.message
    );
    // The subjects may change.
    let patch = Patch::Merge(json!({"subjects": []}));
    bindings
        .patch("app", &PatchParams::default(), &patch)
        .await
        .unwrap();
}

fn rbac_api(server_client: kube::Client, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", kind);
    Api::namespaced_with(server_client, "a", &ApiResource::from_gvk(&gvk))
}

fn role(name: &str, verbs: &[&str]) -> DynamicObject {
    serde_json::from_value(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": verbs}]}),
    )
    .unwrap()
}

fn binding(name: &str, role_kind: &str, role: &str) -> DynamicObject {
    serde_json::from_value(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": "other", "namespace": "a"}]}),
    )
    .unwrap()
}

#[tokio::test]
async fn nobody_grants_what_it_does_not_hold_without_escalate_or_bind() {
    let server = rbac_server().await;
    let client = account(
        &server,
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
               {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
                "verbs": ["create", "patch"]}]),
        false,
    );
    let roles = rbac_api(client.clone(), "Role");
    let post = PostParams::default();
    roles.create(&post, &role("held", &["get"])).await.unwrap();
    let refused = status(
        roles
            .create(&post, &role("more", &["get", "list", "delete"]))
            .await,
    );
    assert_eq!(refused.code, 403);
    assert_eq!(
        refused.message,
        "roles.rbac.authorization.k8s.io \"more\" is forbidden: user \"system:serviceaccount:a:app\" \
         (groups=[\"system:serviceaccounts\" \"system:serviceaccounts:a\" \"system:authenticated\"]) \
         is attempting to grant RBAC permissions not currently held:\n\
         {APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"list\" \"delete\"]}"
    );
    // A patch that widens a role is checked too.
    let widen = Patch::Merge(
        json!({"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}]}),
    );
    assert_eq!(
        status(roles.patch("held", &PatchParams::default(), &widen).await).code,
        403
    );

    let bindings = rbac_api(client.clone(), "RoleBinding");
    bindings
        .create(&post, &binding("b1", "Role", "held"))
        .await
        .unwrap();
    rbac_api(server.client(), "Role")
        .create(&post, &role("big", &["*"]))
        .await
        .unwrap();
    let refused = status(bindings.create(&post, &binding("b2", "Role", "big")).await);
    assert!(
        refused
            .message
            .contains("is attempting to grant RBAC permissions not currently held"),
        "{}",
        refused.message
    );
    // `bind` on that role, or `escalate` on roles, lifts the check.
    server
        .create_from_yaml(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: delegate, namespace: a}\n\
             rules: [{apiGroups: [rbac.authorization.k8s.io], resources: [roles], resourceNames: [big], verbs: [bind]},\n\
                     {apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [escalate]}]\n---\n\
             apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: delegate, namespace: a}\n\
             roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: delegate}\n\
             subjects: [{kind: ServiceAccount, name: app, namespace: a}]\n",
            None,
        )
        .unwrap();
    bindings
        .create(&post, &binding("b2", "Role", "big"))
        .await
        .unwrap();
    roles
        .create(&post, &role("more", &["get", "list", "delete"]))
        .await
        .unwrap();
}
