//! The in-memory Kubernetes API test server as `pgbroker serve` reaches it from outside.

use pgbroker_kube_testserver::TestServer;

/// A kubeconfig for `server` (no credentials: the test server trusts its clients unless in
/// RBAC mode).
pub fn kubeconfig(server: &TestServer) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: t, cluster: {{server: '{}'}}}}]\n\
         users: [{{name: t, user: {{}}}}]\ncontexts: [{{name: t, context: {{cluster: t, user: t}}}}]\n\
         current-context: t\n",
        server.url()
    )
}

/// Failure guard only: how long an operator test waits for a state before giving up.
pub const GIVE_UP: std::time::Duration = std::time::Duration::from_secs(60);

/// Probes until `probe` finds something (or [`GIVE_UP`] passes, which fails the test).
pub async fn until<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    tokio::time::timeout(GIVE_UP, async {
        loop {
            if let Some(found) = probe().await {
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("gave up waiting: {what}"))
}

/// Whether the server's `Ready` condition is `True`.
pub fn ready(server: &pgbroker_api_crd::crd::server::PostgreSQLServer) -> bool {
    server
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}
