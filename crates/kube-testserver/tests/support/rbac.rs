//! RBAC-mode helpers: a server with namespaces `a` and `b`, a ServiceAccount with given rules.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use pgbroker_kube_testserver::{SimulatorOptions, TestServer, TestServerOptions};
use serde_json::Value;

pub async fn rbac_server() -> TestServer {
    let options = TestServerOptions {
        rbac: true,
        namespaces: vec!["default".into(), "a".into(), "b".into()],
        simulator: SimulatorOptions {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    };
    TestServer::start(options).await.unwrap()
}

/// A ServiceAccount `a/app` with the given rules, in a ClusterRole bound by a RoleBinding in `a`
/// (`cluster_wide`: by a ClusterRoleBinding); answers its client.
pub fn account(server: &TestServer, rules: Value, cluster_wide: bool) -> kube::Client {
    let binding = if cluster_wide {
        "kind: ClusterRoleBinding\nmetadata: {name: app}"
    } else {
        "kind: RoleBinding\nmetadata: {name: app, namespace: a}"
    };
    let yaml = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: app, namespace: a}}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: app}}\nrules: {rules}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\n{binding}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: app}}\n\
         subjects: [{{kind: ServiceAccount, name: app, namespace: a}}]\n"
    );
    server.create_from_yaml(&yaml, None).unwrap();
    server.service_account_client("a", "app").unwrap()
}

pub fn status(result: Result<impl std::fmt::Debug, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}
