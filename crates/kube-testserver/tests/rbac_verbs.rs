//! RBAC mode: the verb and resource a request is authorized as, where they are easy to get
//! wrong: what `watch` values make a watch, and that an apply to a status subresource is a
//! `patch` that never creates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kube::api::{Api, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;
use support::rbac::{account, rbac_server};

/// `watch` is decoded as the API server decodes it: any value but `0` or `false` (the empty one
/// too) is a watch, to the authorizer and to what is served.
#[tokio::test]
async fn any_watch_value_but_false_or_0_is_a_watch() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = rbac_server().await;
    account(
        &server,
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["watch"]}]),
        false,
    );
    let token = server.service_account_token("a", "app").unwrap();
    let code = |query: &'static str| {
        let (addr, token) = (server.addr(), token.clone());
        async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let request = format!(
                "GET /api/v1/namespaces/a/secrets?timeoutSeconds=1&{query} HTTP/1.1\r\nHost: x\r\n\
                 Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            answer[9..12].parse::<u16>().unwrap()
        }
    };
    for watch in ["watch=true", "watch=1", "watch=True", "watch=yes", "watch="] {
        assert_eq!(code(watch).await, 200, "{watch}: a watch, allowed");
    }
    for list in ["watch=false", "watch=FALSE", "watch=0", "resourceVersion=0"] {
        assert_eq!(code(list).await, 403, "{list}: a list, refused");
    }
    let verbs: Vec<String> = server
        .authorizations()
        .into_iter()
        .map(|c| c.attributes.verb)
        .collect();
    assert_eq!(
        verbs,
        ["watch"; 5]
            .into_iter()
            .chain(["list"; 4])
            .collect::<Vec<_>>()
    );
}

/// An apply to the status subresource never creates (the status store does not create on
/// update, k8s.io/apiserver registry `StatusREST.Update` passes `forceAllowCreate: false`): a
/// missing object is 404, and no `create` check is made, so `patch` on `<resource>/status` is
/// all a status writer needs.
#[tokio::test]
async fn an_apply_to_status_of_a_missing_object_is_404_and_checks_no_create() {
    let server = rbac_server().await;
    let client = account(
        &server,
        json!([{"apiGroups": ["postgresql.cnpg.io"], "resources": ["clusters/status"], "verbs": ["patch"]}]),
        false,
    );
    let gvk = GroupVersionKind::gvk("postgresql.cnpg.io", "v1", "Cluster");
    let clusters: Api<DynamicObject> =
        Api::namespaced_with(client, "a", &ApiResource::from_gvk(&gvk));
    let status = json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
                        "status": {"phase": "x"}});
    let answer = clusters
        .patch_status("pg", &PatchParams::apply("t"), &Patch::Apply(status))
        .await;
    let code = match answer {
        Err(kube::Error::Api(s)) => s.code,
        other => panic!("expected 404, got {other:?}"),
    };
    assert_eq!(code, 404);
    let verbs: Vec<String> = server
        .authorizations()
        .into_iter()
        .map(|c| c.attributes.verb)
        .collect();
    assert_eq!(verbs, ["patch"]);
}
