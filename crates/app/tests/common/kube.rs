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
