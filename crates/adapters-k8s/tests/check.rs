//! The readiness check says what is wrong when the Kubernetes API cannot be used, and building
//! the backend never needs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pgbroker_adapters_k8s::CnpgBackend;
use pgbroker_adapters_k8s::settings::{CnpgSettings, Connection};
use pgbroker_domain::Reason;
use pgbroker_domain::ports::Backend;

#[tokio::test]
async fn a_missing_kubeconfig_is_named_by_the_check() {
    let settings = CnpgSettings {
        connection: Connection::Kubeconfig {
            path: "/nonexistent/pgbroker/kubeconfig".into(),
            context: None,
        },
        ..CnpgSettings::default()
    };
    let backend = CnpgBackend::new("cnpg", settings).expect("built without a cluster");
    let err = backend.check().await.unwrap_err();
    assert!(
        err.message.contains("/nonexistent/pgbroker/kubeconfig"),
        "{err}"
    );
    assert_eq!(err.reason, Reason::BackendUnavailable);
}

#[tokio::test]
async fn an_unreachable_api_server_is_reported_not_panicked() {
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = kube::Config::new(format!("http://127.0.0.1:{port}").parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let backend = CnpgBackend::with_client("cnpg", CnpgSettings::default(), client).unwrap();
    let err = backend.check().await.unwrap_err();
    assert!(err.message.starts_with("list Cluster"), "{err}");
    assert_eq!(err.reason, Reason::BackendUnavailable);
}

#[tokio::test]
async fn the_check_passes_against_a_reachable_server() {
    let server = pgbroker_kube_testserver::TestServer::start_default()
        .await
        .unwrap();
    let backend =
        CnpgBackend::with_client("cnpg", CnpgSettings::default(), server.client()).unwrap();
    assert_eq!(backend.check().await, Ok(()));
}

#[tokio::test]
async fn a_kubeconfig_and_context_are_followed_on_first_use() {
    let server = pgbroker_kube_testserver::TestServer::start_default()
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!(
        "pgbroker-kubeconfig-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config");
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: elsewhere\n\
         clusters:\n- name: test\n  cluster: {{server: \"{url}\"}}\n- name: nowhere\n  cluster: {{server: \"http://127.0.0.1:1\"}}\n\
         users:\n- name: u\n  user: {{token: t}}\n\
         contexts:\n- name: test\n  context: {{cluster: test, user: u}}\n- name: elsewhere\n  context: {{cluster: nowhere, user: u}}\n",
        url = server.url()
    );
    std::fs::write(&path, kubeconfig).unwrap();
    let settings = CnpgSettings {
        connection: Connection::Kubeconfig {
            path: path.clone(),
            context: Some("test".into()),
        },
        ..CnpgSettings::default()
    };
    let backend = CnpgBackend::new("cnpg", settings).unwrap();
    let result = backend.check().await;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(result, Ok(()));
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.resource == "clusters" && r.verb == "list"),
        "the check listed clusters on the configured server"
    );
}
