//! `deploy/` is what the backend runs under: the test API server in RBAC mode gets the
//! ServiceAccount of `deploy/base/` and the ClusterRole and ClusterRoleBinding of `deploy/components/cnpg-backend/` (in the namespace of
//! `deploy/kustomization.yaml`, as `kubectl apply -k deploy/` makes them), and the backend talks
//! to it with that ServiceAccount's token. A run through every feature (per-instance namespaces,
//! pooler, load balancer, monitoring, backups with copied credentials, extensions, bind, bind
//! with a database of its own and its unbind with retain, update, unbind, deprovision, retain,
//! readiness check) then succeeds only if the API server's RBAC rules
//! allow each request (an apply that creates is authorized as `create` too), and every granted
//! verb must have been used.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use pgbroker_adapters_k8s::settings::{BackupSettings, CnpgSettings, S3Credentials};
use pgbroker_domain::OperationState;
use pgbroker_domain::ports::Backend;
use pgbroker_kube_testserver::store::WriteOptions;
use pgbroker_kube_testserver::{Gvr, TestServer, TestServerOptions};
use serde_json::{Value, json};
use support::world::*;

type Grant = (String, String, String);

fn deploy_file(relative: &str) -> String {
    let path = format!("{}/../../deploy/{relative}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(relative: &str) -> Value {
    serde_yaml::from_str(&deploy_file(relative)).unwrap()
}

/// The namespace `kubectl apply -k deploy/` installs into.
fn deploy_namespace() -> String {
    yaml("kustomization.yaml")["namespace"]
        .as_str()
        .expect("deploy/kustomization.yaml sets a namespace")
        .to_owned()
}

/// The ServiceAccount `deploy/components/cnpg-backend/clusterrolebinding.yaml` binds the ClusterRole to.
fn bound_service_account() -> (String, String) {
    let binding = yaml("components/cnpg-backend/clusterrolebinding.yaml");
    let subjects = binding["subjects"].as_array().unwrap();
    assert_eq!(subjects.len(), 1, "one subject: pgbroker's ServiceAccount");
    assert_eq!(subjects[0]["kind"], json!("ServiceAccount"));
    let field = |k: &str| subjects[0][k].as_str().unwrap().to_owned();
    (field("namespace"), field("name"))
}

fn cluster_role() -> BTreeSet<Grant> {
    let role = yaml("components/cnpg-backend/clusterrole.yaml");
    assert_eq!(role["kind"], json!("ClusterRole"));
    let mut grants = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        assert!(rule.get("resourceNames").is_none(), "no rule names objects");
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                for verb in rule["verbs"].as_array().unwrap() {
                    let s = |v: &Value| v.as_str().unwrap().to_string();
                    grants.insert((s(group), s(resource), s(verb)));
                }
            }
        }
    }
    grants
}

/// Installs those files the way `kubectl apply -k deploy/` does, plus the backup credentials
/// the backend copies into each instance's namespace; answers the client of the bound
/// ServiceAccount.
fn install_deploy(server: &TestServer) -> kube::Client {
    let namespace = deploy_namespace();
    server.create_namespace(&namespace).unwrap();
    // The ServiceAccount of deploy/base and the files the cnpg-backend component lists.
    let resources = yaml("components/cnpg-backend/kustomization.yaml");
    let files = resources["resources"].as_array().unwrap().iter();
    let files = std::iter::once("base/serviceaccount.yaml".to_string())
        .chain(files.map(|f| format!("components/cnpg-backend/{}", f.as_str().unwrap())));
    for file in files {
        server
            .create_from_yaml(&deploy_file(&file), Some(&namespace))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "backup-s3", "namespace": namespace},
        "data": {"ACCESS_KEY_ID": "a2V5", "ACCESS_SECRET_KEY": "c2VjcmV0"}});
    server
        .store()
        .create(
            &Gvr::new("", "v1", "secrets"),
            Some(&namespace),
            secret,
            &WriteOptions::default(),
        )
        .unwrap();
    let (sa_namespace, sa_name) = bound_service_account();
    server
        .service_account_client(&sa_namespace, &sa_name)
        .unwrap()
}

fn settings(retain: bool) -> CnpgSettings {
    CnpgSettings {
        allowed_parameters: vec!["work_mem".into()],
        monitoring: true,
        backup: Some(BackupSettings {
            destination_path: "s3://backups/pgbroker".into(),
            endpoint_url: Some("http://minio.example:9000".into()),
            s3_credentials: Some(S3Credentials {
                secret_name: "backup-s3".into(),
                source_namespace: Some(deploy_namespace()),
                access_key_id_key: "ACCESS_KEY_ID".into(),
                secret_access_key_key: "ACCESS_SECRET_KEY".into(),
            }),
            retention: "30d".into(),
            schedule: "0 0 2 * * *".into(),
        }),
        retain_on_deprovision: retain,
        ..CnpgSettings::default()
    }
}

async fn world(retain: bool) -> World {
    let options = TestServerOptions {
        rbac: true,
        ..TestServerOptions::default()
    };
    World::with_backend_client(settings(retain), options, install_deploy).await
}

fn service_account_user() -> String {
    let (namespace, name) = bound_service_account();
    format!("system:serviceaccount:{namespace}:{name}")
}

/// What the ServiceAccount was allowed to do (resource requests), and what it was refused.
fn checks(w: &World) -> (BTreeSet<Grant>, Vec<String>) {
    let user = service_account_user();
    let mut allowed = BTreeSet::new();
    let mut refused = Vec::new();
    for check in w.server.authorizations() {
        if check.user != user {
            continue;
        }
        let Some(r) = &check.attributes.resource else {
            continue;
        };
        let grant = (r.group.clone(), r.combined(), check.attributes.verb.clone());
        if check.allowed {
            allowed.insert(grant);
        } else {
            refused.push(format!("{grant:?} {}/{}", r.namespace, r.name));
        }
    }
    (allowed, refused)
}

fn succeeded(op: &pgbroker_domain::Operation) {
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.description);
}

#[tokio::test]
async fn the_backend_runs_under_the_deploy_cluster_role_which_grants_nothing_unused() {
    let mut all_used = BTreeSet::new();
    let mut all_refused = Vec::new();

    let w = world(false).await;
    w.backend.check().await.unwrap();
    let op = w
        .provision(
            "inst-1",
            HA,
            json!({"parameters": {"work_mem": "8MB"}, "extensions": ["pg_trgm"]}),
        )
        .await;
    succeeded(&w.settle(op).await);
    let copied = w
        .server
        .get_object("secrets", Some("pg-inst-1"), "pg-inst-1-backup-s3")
        .unwrap();
    assert_eq!(
        copied["data"]["ACCESS_KEY_ID"],
        json!("a2V5"),
        "credentials copied"
    );
    let op = w.bind("inst-1", "b-1", HA).await;
    succeeded(&w.settle(op).await);
    // A binding with a database of its own, given up with Retain (the Database is handed over).
    let op = w
        .bind_with(
            "inst-1",
            "b-own",
            HA,
            json!({"database": {"name": "reports", "extensions": ["citext"]}}),
        )
        .await;
    succeeded(&w.settle(op).await);
    let op = w
        .unbind_with(
            "inst-1",
            "b-own",
            HA,
            pgbroker_domain::DeletionPolicy::Retain,
        )
        .await;
    succeeded(&w.settle(op).await);
    let op = w
        .update("inst-1", SINGLE_BIG, Some(json!({"extensions": []})))
        .await;
    succeeded(&w.settle(op).await);
    let op = w.unbind("inst-1", "b-1", HA).await;
    succeeded(&w.settle(op).await);
    let op = w.deprovision("inst-1", SINGLE_BIG).await;
    succeeded(&w.settle(op).await);
    nothing_left(&w, "inst-1");
    let (used, refused) = checks(&w);
    all_used.extend(used);
    all_refused.extend(refused);
    drop(w);

    let w = world(true).await;
    let op = w.provision("inst-2", SINGLE, json!({})).await;
    succeeded(&w.settle(op).await);
    let op = w.deprovision("inst-2", SINGLE).await;
    succeeded(&w.settle(op).await);
    let kept = w
        .server
        .get_object("clusters", Some("pg-inst-2"), "pg-inst-2")
        .expect("retained");
    assert!(kept["metadata"]["annotations"]["pgbroker.io/retained"].is_string());
    let (used, refused) = checks(&w);
    all_used.extend(used);
    all_refused.extend(refused);

    assert!(
        all_refused.is_empty(),
        "requests the ClusterRole refused: {all_refused:?}"
    );
    let granted = cluster_role();
    let unused: Vec<&Grant> = granted.difference(&all_used).collect();
    assert!(unused.is_empty(), "granted but never used: {unused:?}");
    // Everything used was allowed, so by RBAC's rules it is granted; nothing slipped past.
    let ungranted: Vec<&Grant> = all_used.difference(&granted).collect();
    assert!(
        ungranted.is_empty(),
        "allowed without a rule: {ungranted:?}"
    );
}

#[tokio::test]
async fn without_create_the_first_apply_is_refused_as_a_real_api_server_refuses_it() {
    let w = world(false).await;
    let role_gvr = Gvr::new("rbac.authorization.k8s.io", "v1", "clusterroles");
    let mut role = w
        .server
        .store()
        .get(&role_gvr, None, "pgbroker-cnpg")
        .unwrap();
    for rule in role["rules"].as_array_mut().unwrap() {
        let verbs = rule["verbs"].as_array_mut().unwrap();
        verbs.retain(|v| v != "create");
    }
    let key = pgbroker_kube_testserver::store::ObjKey::new(role_gvr, None, "pgbroker-cnpg");
    w.server
        .store()
        .replace(
            &key,
            role,
            pgbroker_kube_testserver::store::Subresource::Main,
            &WriteOptions::default(),
        )
        .unwrap();
    let op = w.provision("inst-3", SINGLE, json!({})).await;
    let done = w.settle(op).await;
    assert_eq!(done.state, OperationState::Failed);
    let description = done.description.unwrap_or_default();
    assert!(
        description.contains("403")
            && description.contains("namespaces \"pg-inst-3\" is forbidden"),
        "{description}"
    );
    let (_, refused) = checks(&w);
    assert!(
        refused
            .iter()
            .any(|r| r.starts_with("(\"\", \"namespaces\", \"create\")")),
        "{refused:?}"
    );
}
