//! The operator runs under `deploy/`: the test API server in RBAC mode gets `deploy/crds/` and
//! the RBAC files of `deploy/base/` and both `deploy/components/` (cnpg-backend, operator) (in the namespace of `deploy/kustomization.yaml`, as `kubectl
//! apply -k deploy/` makes them), and `pgbroker serve` with the operator door talks to it through
//! a kubeconfig holding the ServiceAccount's token. A whole lifecycle (leader election, a database
//! waiting for its server, both Ready with Secrets, a deleted Secret written again, deletion held
//! by the finalizers until the backend is done, the Lease handed back) then succeeds only if every
//! request is allowed; every permission the operator's roles grant must have been used, and
//! nothing the operator did may rest on a grant outside its roles (the CloudNativePG backend's
//! ClusterRole is bound to the same ServiceAccount).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use common::TempDir;
use common::deploy_rbac::{self, Check, Grant};
use common::shared_server::{Cleanup, can_connect};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Resource, ResourceExt};
use pgbroker_adapters_cloud::{SharedServerBackend, SharedSettings};
use pgbroker_api_crd::{PostgreSQLDatabase, PostgreSQLServer};
use pgbroker_app::config::Config;
use pgbroker_app::serve;
use pgbroker_app::store_url::StoreUrl;
use pgbroker_domain::ports::BackendRegistry;
use pgbroker_kube_testserver::{TestServer, TestServerOptions, crds};
use pgbroker_testkit::pg_database::TestDatabase;
use serde::de::DeserializeOwned;
use serde_json::json;

const NS: &str = "team-a";
/// Failure guard only: how long the test waits for a state before giving up.
const GIVE_UP: Duration = Duration::from_secs(60);

const OPERATOR_ROLE: &str = "components/operator/clusterrole.yaml";
const OPERATOR_BINDING: &str = "components/operator/clusterrolebinding.yaml";
const LEADER_ROLE: &str = "components/operator/leader-role.yaml";
const LEADER_BINDING: &str = "components/operator/leader-rolebinding.yaml";

/// Granted for kube's event `Recorder`, which sends `create` for a new event and `patch` for one
/// repeated within its cache time. Every request to them is checked for refusal like any other.
/// Their use in the lifecycle is asserted only once the operator records Events at all (some
/// `events.k8s.io` request in the run: before the Events change it sends none), and then only
/// `create`: whether the lifecycle repeats an event depends on which events are recorded, so
/// `patch`'s use is shown by `the_events_rule_is_what_kubes_recorder_sends` instead.
const EVENTS_CREATE: (&str, &str, &str) = ("events.k8s.io", "events", "create");
const EVENTS_PATCH: (&str, &str, &str) = ("events.k8s.io", "events", "patch");

fn owned(grant: (&str, &str, &str)) -> Grant {
    (grant.0.into(), grant.1.into(), grant.2.into())
}

/// The ServiceAccount both operator bindings name (the one `deploy/base/` creates).
fn operator_user() -> String {
    let ((ns, name), role) = deploy_rbac::binding(OPERATOR_BINDING);
    assert_eq!(role, "pgbroker-operator");
    let (leader_subject, leader_role) = deploy_rbac::binding(LEADER_BINDING);
    assert_eq!(leader_role, "pgbroker-operator-leader");
    assert_eq!(leader_subject, (ns.clone(), name.clone()));
    format!("system:serviceaccount:{ns}:{name}")
}

fn kubeconfig(server: &TestServer, token: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters: [{{name: test, cluster: {{server: '{url}'}}}}]
users: [{{name: pgbroker, user: {{token: '{token}'}}}}]
contexts: [{{name: test, context: {{cluster: test, user: pgbroker, namespace: {ns}}}}}]
current-context: test
",
        url = server.url(),
        ns = deploy_rbac::deploy_namespace(),
    )
}

const CATALOG: &str = "services:
  - id: svc-shared
    name: shared
    description: shared server databases
    bindable: true
    plans:
      - id: plan-shared-small
        name: small
        description: a database
        backend: shared
        schemas:
          binding_create:
            type: object
            additionalProperties: false
            properties: {database: {type: string, pattern: '^[a-z][a-z0-9_]{0,29}$'}}
";

fn backends(tag: &str) -> BackendRegistry {
    let settings: SharedSettings = serde_json::from_value(json!({
        "servers": [{"name": "local", "admin_url": "postgres://postgres@127.0.0.1:5432/postgres",
                     "client_sslmode": "disable"}],
        "names": {
            "database": format!("{tag}_{{instance}}"),
            "owner_role": format!("{tag}_{{instance}}_owner"),
            "binding_role": format!("{tag}_{{instance}}_{{binding}}"),
        },
    }))
    .unwrap();
    BackendRegistry::new().with(
        "shared",
        Arc::new(SharedServerBackend::new("shared", settings).unwrap()),
    )
}

/// Waits for `probe` to answer; fails at once, naming them, when the operator was refused
/// something (a refused request only shows as a state never reached otherwise).
async fn eventually<T, F, Fut>(kube: &TestServer, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let user = operator_user();
    tokio::time::timeout(GIVE_UP, async {
        loop {
            let (_, refused) = deploy_rbac::checks(kube, &user);
            assert!(
                refused.is_empty(),
                "requests the roles refused: {refused:?}"
            );
            if let Some(v) = probe().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("gave up waiting: {what}"))
}

/// Waits until the object's `Ready` condition has `reason`.
async fn with_reason<K>(kube: &TestServer, api: &Api<K>, name: &str, reason: &str) -> K
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + serde::Serialize,
{
    eventually(kube, &format!("{name} with reason {reason}"), || async {
        let obj = api.get(name).await.unwrap();
        let value = serde_json::to_value(&obj).unwrap();
        let conditions = value["status"]["conditions"].as_array().cloned();
        conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c["type"] == "Ready" && c["reason"] == reason)
            .then_some(obj)
    })
    .await
}

async fn gone<K>(kube: &TestServer, api: &Api<K>, name: &str)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    eventually(kube, &format!("{name} deleted"), || async {
        api.get_opt(name).await.unwrap().is_none().then_some(())
    })
    .await;
}

fn uri(secret: &Secret) -> String {
    String::from_utf8(secret.data.as_ref().unwrap()["uri"].0.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_runs_under_the_deploy_roles_which_grant_nothing_unused() {
    let kube = TestServer::start(TestServerOptions {
        rbac: true,
        crd_dirs: vec![crds::pgbroker_crd_dir()],
        ..TestServerOptions::default()
    })
    .await
    .unwrap();
    deploy_rbac::install(&kube);
    kube.create_namespace(NS).unwrap();
    let ((sa_ns, sa_name), _) = deploy_rbac::binding(OPERATOR_BINDING);
    let token = kube.service_account_token(&sa_ns, &sa_name).unwrap();

    let dir = TempDir::new();
    let db = TestDatabase::create().await.unwrap();
    let tag = format!("oprb{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let _cleanup = Cleanup(tag.clone());
    let mut config = Config::default();
    config.state_store.url = StoreUrl::new(db.url());
    config.server.listen = "127.0.0.1:0".into();
    config.engine.poll_interval_ms = 10;
    config.osb.enabled = false;
    config.operator.enabled = true;
    config.operator.kubeconfig = Some(dir.file("kubeconfig", &kubeconfig(&kube, &token)));
    config.operator.default_backend = Some("shared".into());
    config.operator.lease_namespace = Some(deploy_rbac::deploy_namespace());
    config.catalog.path = Some(dir.file("catalog.yaml", CATALOG));
    let server = serve::start(&config, Some(backends(&tag))).await.unwrap();

    // The test's own requests are the admin's; only the operator's are checked.
    let servers: Api<PostgreSQLServer> = Api::namespaced(kube.client(), NS);
    let databases: Api<PostgreSQLDatabase> = Api::namespaced(kube.client(), NS);
    let secrets: Api<Secret> = Api::namespaced(kube.client(), NS);
    let create = |kind: &str, name: &str, spec: serde_json::Value| {
        json!({"apiVersion": "pgbroker.io/v1alpha1", "kind": kind,
               "metadata": {"name": name, "namespace": NS}, "spec": spec})
    };

    // A database first: it waits for its server (which it reads and does not find).
    let database = create(
        "PostgreSQLDatabase",
        "orders-db",
        json!({"serverRef": {"name": "main"}, "credentialsSecret": "orders-db-pg"}),
    );
    databases
        .create(
            &PostParams::default(),
            &serde_json::from_value(database).unwrap(),
        )
        .await
        .unwrap();
    with_reason(&kube, &databases, "orders-db", "NotFound").await;
    let main = create(
        "PostgreSQLServer",
        "main",
        json!({"size": {"class": "small", "storageGB": 1}, "credentialsSecret": "main-pg"}),
    );
    servers
        .create(
            &PostParams::default(),
            &serde_json::from_value(main).unwrap(),
        )
        .await
        .unwrap();
    with_reason(&kube, &servers, "main", "Ready").await;
    with_reason(&kube, &databases, "orders-db", "Ready").await;
    let first = secrets.get("main-pg").await.unwrap();
    assert!(
        can_connect(&uri(&first)).await,
        "the server's Secret connects"
    );
    let db_secret = secrets.get("orders-db-pg").await.unwrap();
    assert!(
        can_connect(&uri(&db_secret)).await,
        "the database's Secret connects"
    );

    // A deleted Secret is written again (its watch wakes the owner).
    secrets
        .delete("main-pg", &DeleteParams::default())
        .await
        .unwrap();
    let again = eventually(&kube, "main-pg written again", || async {
        secrets
            .get_opt("main-pg")
            .await
            .unwrap()
            .filter(|s| s.uid() != first.uid())
    })
    .await;
    assert!(can_connect(&uri(&again)).await, "the new Secret connects");

    // The server waits for its database (listing them), then both go once the backend is done.
    servers
        .delete("main", &DeleteParams::default())
        .await
        .unwrap();
    with_reason(&kube, &servers, "main", "InvalidState").await;
    databases
        .delete("orders-db", &DeleteParams::default())
        .await
        .unwrap();
    gone(&kube, &databases, "orders-db").await;
    gone(&kube, &servers, "main").await;
    assert!(!can_connect(&uri(&again)).await, "deprovisioned");

    server.shutdown().await.unwrap();
    let lease = kube
        .get_object(
            "leases",
            Some(&deploy_rbac::deploy_namespace()),
            "pgbroker-operator",
        )
        .expect("the operator made its Lease");
    assert!(
        lease["spec"]["holderIdentity"].is_null(),
        "handed back on shutdown: {lease}"
    );

    let (used, refused) = deploy_rbac::checks(&kube, &operator_user());
    assert!(
        refused.is_empty(),
        "requests the roles refused: {refused:?}"
    );
    assert_uses_what_is_granted(&used);
}

/// Every grant of the operator's roles was used (but for the Events rule, see [`EVENTS_CREATE`]),
/// nothing was used that they do not grant, and the Lease Role was used in its namespace only.
fn assert_uses_what_is_granted(used: &BTreeSet<Check>) {
    let cluster = deploy_rbac::grants(OPERATOR_ROLE, "ClusterRole");
    let leader = deploy_rbac::grants(LEADER_ROLE, "Role");
    let used_grants: BTreeSet<Grant> = used.iter().map(|c| c.grant.clone()).collect();
    let lease_namespace = deploy_rbac::deploy_namespace();
    for check in used.iter().filter(|c| leader.contains(&c.grant)) {
        assert_eq!(check.namespace, lease_namespace, "{check:?}");
    }
    let granted: BTreeSet<Grant> = cluster.union(&leader).cloned().collect();
    let records_events = used_grants.iter().any(|g| g.0 == "events.k8s.io");
    let not_asserted: BTreeSet<Grant> = if records_events {
        [owned(EVENTS_PATCH)].into()
    } else {
        [owned(EVENTS_CREATE), owned(EVENTS_PATCH)].into()
    };
    for grant in &not_asserted {
        assert!(granted.contains(grant), "{grant:?} is in the ClusterRole");
    }
    let unused: Vec<&Grant> = granted
        .difference(&used_grants)
        .filter(|g| !not_asserted.contains(*g))
        .collect();
    assert!(unused.is_empty(), "granted but never used: {unused:?}");
    let ungranted: Vec<&Grant> = used_grants.difference(&granted).collect();
    assert!(
        ungranted.is_empty(),
        "allowed only by another role (pgbroker-cnpg): {ungranted:?}"
    );
}

/// The Events rule is exactly what kube's `Recorder` sends, under the ServiceAccount: `create`
/// for a new event, `patch` for the same event again; both allowed.
#[tokio::test]
async fn the_events_rule_is_what_kubes_recorder_sends() {
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};

    let kube = TestServer::start(TestServerOptions {
        rbac: true,
        crd_dirs: vec![crds::pgbroker_crd_dir()],
        ..TestServerOptions::default()
    })
    .await
    .unwrap();
    deploy_rbac::install(&kube);
    kube.create_namespace(NS).unwrap();
    let servers: Api<PostgreSQLServer> = Api::namespaced(kube.client(), NS);
    let main: PostgreSQLServer = serde_json::from_value(json!({
        "apiVersion": "pgbroker.io/v1alpha1", "kind": "PostgreSQLServer",
        "metadata": {"name": "main", "namespace": NS},
        "spec": {"size": {"class": "small", "storageGB": 1}, "credentialsSecret": "main-pg"}
    }))
    .unwrap();
    let main = servers.create(&PostParams::default(), &main).await.unwrap();
    let ((sa_ns, sa_name), _) = deploy_rbac::binding(OPERATOR_BINDING);
    let client = kube.service_account_client(&sa_ns, &sa_name).unwrap();
    let recorder = Recorder::new(
        client,
        Reporter {
            controller: "pgbroker-operator".into(),
            instance: None,
        },
    );
    let event = Event {
        type_: EventType::Warning,
        reason: "BackendFailed".into(),
        note: Some("the backend refused".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    let reference = main.object_ref(&());
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();

    let (used, refused) = deploy_rbac::checks(&kube, &operator_user());
    assert!(refused.is_empty(), "{refused:?}");
    let used: BTreeSet<Grant> = used.into_iter().map(|c| c.grant).collect();
    let events: BTreeSet<Grant> = deploy_rbac::grants(OPERATOR_ROLE, "ClusterRole")
        .into_iter()
        .filter(|g| g.0 == "events.k8s.io")
        .collect();
    assert_eq!(used, [owned(EVENTS_CREATE), owned(EVENTS_PATCH)].into());
    assert_eq!(events, used, "the ClusterRole's Events rule");
}
