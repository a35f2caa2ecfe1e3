//! Provision → ready → bind → update → unbind → deprovision against the in-memory Kubernetes API
//! server and its CNPG simulator, driven through the broker and the operation engine; readiness
//! from the cache; resuming in another replica.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pgbroker_adapters_k8s::settings::{CnpgSettings, NamespaceMode};
use pgbroker_domain::usecases::LastOperationQuery;
use pgbroker_domain::{BindingState, OperationState};
use serde_json::json;
use support::world::*;

const ID: &str = GUID;
const CLUSTER: &str = GUID_CLUSTER;

fn settings() -> CnpgSettings {
    test_settings()
}

#[tokio::test]
async fn an_ha_instance_lives_its_whole_life() {
    let w = World::new(settings()).await;
    let op = w
        .provision(
            ID,
            HA,
            json!({"parameters": {"work_mem": "64MB"}, "extensions": ["pg_trgm"]}),
        )
        .await;
    let done = w.settle(op).await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "{:?}",
        done.description
    );

    let cluster = w
        .server
        .get_object("clusters", Some(CLUSTER), CLUSTER)
        .expect("cluster");
    assert_eq!(cluster["spec"]["instances"], json!(3));
    assert_eq!(cluster["spec"]["storage"]["size"], json!("20Gi"));
    assert_eq!(
        cluster["spec"]["postgresql"]["parameters"]["work_mem"],
        json!("64MB")
    );
    assert_eq!(
        cluster["status"]["phase"],
        json!("Cluster in healthy state")
    );
    let pooler = w
        .server
        .get_object("poolers", Some(CLUSTER), &format!("{CLUSTER}-pooler-rw"))
        .expect("pooler");
    assert_eq!(
        pooler["spec"]["pgbouncer"]["poolMode"],
        json!("transaction")
    );
    assert!(
        w.server
            .get_object("podmonitors", Some(CLUSTER), CLUSTER)
            .is_some()
    );
    let pooler_monitor = w
        .server
        .get_object(
            "podmonitors",
            Some(CLUSTER),
            &format!("{CLUSTER}-pooler-rw"),
        )
        .expect("the pooler's PodMonitor");
    assert_eq!(
        pooler_monitor["spec"]["selector"]["matchLabels"]["cnpg.io/poolerName"],
        json!(format!("{CLUSTER}-pooler-rw"))
    );
    assert!(
        w.server
            .get_object("databases", Some(CLUSTER), &format!("{CLUSTER}-app"))
            .is_some()
    );
    assert!(w.server.get_object("namespaces", None, CLUSTER).is_some());
    assert_all_valid(&w);

    // Bind: a role and a password secret; credentials from names, the CA and the LB address.
    let op = w.bind(ID, "binding-1", HA).await;
    let done = w.settle(op).await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "{:?}",
        done.description
    );
    let binding = w.binding(ID, "binding-1").await.unwrap();
    assert_eq!(binding.state, BindingState::Ready);
    let creds = binding.credentials.unwrap();
    let c = creds.expose();
    let ns = CLUSTER;
    assert_eq!(c["host"], json!(format!("{CLUSTER}-rw.{ns}.svc")));
    assert_eq!(c["ro_host"], json!(format!("{CLUSTER}-ro.{ns}.svc")));
    assert_eq!(
        c["pooler_host"],
        json!(format!("{CLUSTER}-pooler-rw.{ns}.svc"))
    );
    assert_eq!(c["port"], json!(5432));
    assert_eq!(c["password"], json!(binding.password.expose()));
    assert_eq!(c["database"], json!("app"));
    assert_eq!(c["sslmode"], json!("verify-full"));
    let username = c["username"].as_str().unwrap();
    assert!(
        c["uri"]
            .as_str()
            .unwrap()
            .starts_with(&format!("postgresql://{username}:"))
    );
    assert!(
        c["jdbc_uri"]
            .as_str()
            .unwrap()
            .starts_with("jdbc:postgresql://")
    );
    assert!(
        c["ca_cert"].as_str().unwrap().contains("BEGIN CERTIFICATE"),
        "{}",
        c["ca_cert"]
    );
    let ca = w
        .server
        .get_object("secrets", Some(ns), &format!("{CLUSTER}-ca"))
        .expect("CNPG's CA secret");
    let decode = |key: &str| {
        let b64 = ca["data"][key].as_str().unwrap();
        String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap()
    };
    assert_eq!(
        c["ca_cert"],
        json!(decode("ca.crt")),
        "ca_cert is CNPG's ca.crt"
    );
    let ca_key = decode("ca.key");
    assert!(
        !c.values()
            .any(|v| v.as_str().is_some_and(|s| s.contains(ca_key.trim()))),
        "the CA's private key is never handed out"
    );
    assert!(
        c.contains_key("lb_host"),
        "the simulator gave the load balancer an address"
    );
    assert!(
        !c.keys().any(|k| k.contains("key")),
        "no private keys: {:?}",
        c.keys().collect::<Vec<_>>()
    );
    let roles = w.objects_of("databaseroles", ID);
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["spec"]["name"], json!(username));
    assert_eq!(roles[0]["spec"]["inRoles"], json!(["app"]));
    let secret_name = roles[0]["spec"]["passwordSecret"]["name"].as_str().unwrap();
    let secret = w
        .server
        .get_object("secrets", Some(ns), secret_name)
        .expect("password secret");
    assert_eq!(secret["type"], json!("kubernetes.io/basic-auth"));
    assert_eq!(
        secret["metadata"]["labels"]["cnpg.io/reload"],
        json!("true")
    );
    assert_all_valid(&w);

    // Update to a single-instance plan: fewer instances, more CPU and storage, no pooler.
    let op = w.update(ID, SINGLE_BIG, None).await;
    let done = w.settle(op).await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "{:?}",
        done.description
    );
    let cluster = w
        .server
        .get_object("clusters", Some(CLUSTER), CLUSTER)
        .unwrap();
    assert_eq!(cluster["spec"]["instances"], json!(1));
    assert_eq!(cluster["spec"]["resources"]["requests"]["cpu"], json!("4"));
    assert_eq!(
        cluster["spec"]["resources"]["limits"]["memory"],
        json!("4Gi")
    );
    assert_eq!(cluster["spec"]["storage"]["size"], json!("50Gi"));
    assert!(
        cluster
            .pointer("/spec/affinity/podAntiAffinityType")
            .is_none(),
        "anti-affinity went with the HA plan: {:#}",
        cluster["spec"]
    );
    assert_eq!(
        cluster["metadata"]["labels"]["pgbroker.io/plan-id"],
        json!(SINGLE_BIG)
    );
    assert!(
        w.server
            .get_object("poolers", Some(CLUSTER), &format!("{CLUSTER}-pooler-rw"))
            .is_none()
    );
    assert!(
        w.server
            .get_object(
                "podmonitors",
                Some(CLUSTER),
                &format!("{CLUSTER}-pooler-rw")
            )
            .is_none(),
        "the pooler's PodMonitor went with the pooler"
    );

    // Unbind removes the role and the secret.
    let op = w.unbind(ID, "binding-1", HA).await;
    let done = w.settle(op).await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "{:?}",
        done.description
    );
    assert!(w.objects_of("databaseroles", ID).is_empty());
    assert!(
        w.server
            .get_object("secrets", Some(ns), secret_name)
            .is_none()
    );

    // Deprovision removes everything, the namespace last.
    let op = w.deprovision(ID, SINGLE_BIG).await;
    let done = w.settle(op).await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "{:?}",
        done.description
    );
    assert!(w.server.get_object("namespaces", None, CLUSTER).is_none());
    nothing_left(&w, ID);
}

#[tokio::test]
async fn waiting_for_a_cluster_reads_the_cache_not_the_api() {
    let w = World::new(settings()).await;
    w.server.simulator().stall_cluster(CLUSTER, CLUSTER);
    let op = w.provision(ID, SINGLE, json!({})).await;
    // Let the first step apply everything and the watch see it.
    for _ in 0..50 {
        w.step_once(op).await;
        let d = w.operation(op).await.description.unwrap_or_default();
        if d.starts_with("CloudNativePG") {
            break;
        }
    }
    w.server.clear_requests();
    let mut polls = 0;
    for _ in 0..20 {
        w.step_once(op).await;
        // What a platform polling `last_operation` gets: the stored description, no API call.
        let seen = w
            .broker
            .last_operation(LastOperationQuery {
                door: pgbroker_domain::FrontDoor::Osb,
                instance_id: instance(ID),
                binding_id: None,
                operation: Some(op),
                service_id: None,
                plan_id: None,
            })
            .await
            .unwrap();
        assert_eq!(seen.state, OperationState::InProgress);
        polls += 1;
    }
    let stored = w.operation(op).await;
    assert_eq!(stored.state, OperationState::InProgress);
    assert!(
        stored.attempts >= polls,
        "every poll was a backend step ({} attempts)",
        stored.attempts
    );
    assert!(
        stored
            .description
            .as_deref()
            .unwrap_or("")
            .starts_with("CloudNativePG: "),
        "the description is CNPG's phase text: {:?}",
        stored.description
    );
    let calls: Vec<String> = w
        .server
        .requests()
        .into_iter()
        // The cache's own watch (and a re-list should the watch expire) is not the polling.
        .filter(|r| !(r.resource == "clusters" && matches!(r.verb.as_str(), "watch" | "list")))
        .map(|r| format!("{} {}", r.verb, r.path))
        .collect();
    assert!(calls.is_empty(), "{polls} polls made API calls: {calls:?}");
    w.server.simulator().heal_cluster(CLUSTER, CLUSTER);
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
}

#[tokio::test]
async fn a_shared_namespace_holds_instances_and_is_left_alone() {
    let settings = CnpgSettings {
        namespace: NamespaceMode::Shared {
            name: "databases".into(),
        },
        ..settings()
    };
    let w = World::new(settings).await;
    w.server.create_namespace("databases").unwrap();
    let op = w.provision(ID, HA, json!({})).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    assert!(
        w.server
            .get_object("clusters", Some("databases"), CLUSTER)
            .is_some()
    );
    assert!(
        w.server.get_object("namespaces", None, CLUSTER).is_none(),
        "no namespace of its own"
    );
    let op = w.deprovision(ID, HA).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    nothing_left(&w, ID);
    assert!(
        w.server
            .get_object("namespaces", None, "databases")
            .is_some()
    );
}

/// A broker replica that dies after the first step: another one, with a fresh cache, carries
/// the same operation on from what it finds, without writing anything again.
#[tokio::test]
async fn a_provision_resumes_in_another_replica_without_reapplying() {
    use pgbroker_adapters_k8s::CnpgBackend;
    use pgbroker_domain::OperationId;
    use pgbroker_domain::ports::{Backend, InstanceRequest, Step};

    let w = World::new(settings()).await;
    w.server.simulator().stall_cluster(CLUSTER, CLUSTER);
    let req = InstanceRequest {
        operation_id: OperationId::new(),
        instance_id: instance(ID),
        spec: spec(HA, json!({})),
        plan: plan(HA),
        previous: None,
        deletion_policy: pgbroker_domain::DeletionPolicy::Delete,
    };
    let first = CnpgBackend::with_client("cnpg", settings(), w.server.client()).unwrap();
    assert!(matches!(
        first.provision(&req).await,
        Step::InProgress { .. }
    ));
    drop(first);
    w.server.clear_requests();
    let second = CnpgBackend::with_client("cnpg", settings(), w.server.client()).unwrap();
    w.server.simulator().heal_cluster(CLUSTER, CLUSTER);
    let mut outcome = second.provision(&req).await;
    for _ in 0..200 {
        if !matches!(outcome, Step::InProgress { .. }) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        outcome = second.provision(&req).await;
    }
    assert!(matches!(outcome, Step::Done(_)), "{outcome:?}");
    let writes: Vec<String> = w
        .server
        .requests()
        .into_iter()
        .filter(|r| !matches!(r.verb.as_str(), "get" | "list" | "watch"))
        .map(|r| format!("{} {}", r.verb, r.path))
        .collect();
    assert!(
        writes.is_empty(),
        "the second replica wrote again: {writes:?}"
    );
}

#[tokio::test]
async fn one_watch_serves_many_instances_at_once() {
    let w = World::new(settings()).await;
    let ids = ["many-1", "many-2", "many-3", "many-4"];
    let mut ops = Vec::new();
    for id in ids {
        ops.push(w.provision(id, SINGLE, json!({})).await);
    }
    for op in ops {
        let done = w.settle(op).await;
        assert_eq!(
            done.state,
            OperationState::Succeeded,
            "{:?}",
            done.description
        );
    }
    for id in ids {
        let name = format!("pg-{id}");
        assert!(
            w.server
                .get_object("clusters", Some(&name), &name)
                .is_some()
        );
    }
    let watches: Vec<String> = w
        .server
        .requests()
        .into_iter()
        .filter(|r| r.verb == "watch")
        .map(|r| r.path)
        .collect();
    assert!(
        watches
            .iter()
            .all(|p| p == "/apis/postgresql.cnpg.io/v1/clusters"),
        "only the cluster cache watches: {watches:?}"
    );
    assert!(
        watches.len() <= 2,
        "one watch (re-opened at most once): {watches:?}"
    );
}
