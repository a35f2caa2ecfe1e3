//! Provision → ready → bind → update → unbind → deprovision against the in-memory Kubernetes API
//! server and its CNPG simulator, driven through the broker and the operation engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use pgbroker_adapters_k8s::settings::{CnpgSettings, NamespaceMode};
use pgbroker_domain::{BindingState, OperationState};
use serde_json::{Value, json};
use support::crd::validate;
use support::world::*;

const ID: &str = "0a651d10-25ab-4a75-99a6-520c0abbe2ae";
const CLUSTER: &str = "pg-0a651d10-25ab-4a75-99a6-520c0abbe2ae";

fn settings() -> CnpgSettings {
    CnpgSettings {
        allowed_parameters: vec!["work_mem".into()],
        monitoring: true,
        poll_interval_seconds: 5,
        ..CnpgSettings::default()
    }
}

/// Every CNPG object in the server fits CNPG's CRD schema (the server validated each write too).
fn assert_all_valid(w: &World) {
    for resource in [
        "clusters",
        "poolers",
        "databases",
        "databaseroles",
        "scheduledbackups",
        "objectstores",
    ] {
        for object in w.server.objects(resource) {
            if let Err(e) = validate(&object) {
                panic!("{resource}: {e}");
            }
        }
    }
}

fn nothing_left(w: &World, id: &str) {
    for resource in RESOURCES {
        let left: Vec<Value> = w.objects_of(resource, id);
        let names: Vec<&Value> = left.iter().map(|o| &o["metadata"]["name"]).collect();
        assert!(left.is_empty(), "{resource} left behind: {names:?}");
    }
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
async fn storage_can_only_grow() {
    let w = World::new(settings()).await;
    let op = w.provision(ID, SINGLE, json!({})).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let op = w.update(ID, TINY, None).await;
    let failed = w.settle(op).await;
    assert_eq!(failed.state, OperationState::Failed);
    assert_eq!(
        failed.description.as_deref(),
        Some("storage can only grow: the cluster has 10Gi, the new plan 5Gi")
    );
    let cluster = w
        .server
        .get_object("clusters", Some(CLUSTER), CLUSTER)
        .unwrap();
    assert_eq!(
        cluster["spec"]["storage"]["size"],
        json!("10Gi"),
        "nothing was changed"
    );
    // Growing works and is applied.
    let op = w.update(ID, HA, None).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let cluster = w
        .server
        .get_object("clusters", Some(CLUSTER), CLUSTER)
        .unwrap();
    assert_eq!(cluster["spec"]["storage"]["size"], json!("20Gi"));
}

#[tokio::test]
async fn a_failing_cluster_fails_the_provision_with_cnpg_words_and_leaves_nothing() {
    let w = World::new(settings()).await;
    w.server.simulator().fail_cluster(
        CLUSTER,
        CLUSTER,
        "Cluster is unrecoverable and needs manual intervention",
        "primary lost its data",
    );
    let op = w.provision(ID, HA, json!({})).await;
    let failed = w.settle(op).await;
    assert_eq!(failed.state, OperationState::Failed);
    let text = failed.description.unwrap();
    assert!(
        text.contains("Cluster is unrecoverable and needs manual intervention")
            && text.contains("primary lost its data"),
        "{text}"
    );
    w.settle_instance(&instance(ID)).await;
    assert!(
        w.store.instance(&instance(ID)).await.unwrap().is_none(),
        "orphan mitigation finished"
    );
    nothing_left(&w, ID);
    assert!(w.server.get_object("namespaces", None, CLUSTER).is_none());
}

#[tokio::test]
async fn a_cluster_that_never_gets_ready_fails_at_the_deadline_and_leaves_nothing() {
    let w = World::new(settings()).await;
    w.server.simulator().stall_cluster(CLUSTER, CLUSTER);
    let op = w.provision(ID, QUICK, json!({})).await;
    let failed = w.settle(op).await;
    assert_eq!(failed.state, OperationState::Failed);
    let text = failed.description.unwrap();
    assert!(text.contains("deadline"), "{text}");
    w.settle_instance(&instance(ID)).await;
    assert!(w.store.instance(&instance(ID)).await.unwrap().is_none());
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
        .filter(|r| r.verb != "watch")
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

#[tokio::test]
async fn updates_that_cannot_be_done_are_refused_in_words() {
    let w = World::new(settings()).await;
    let op = w
        .provision(ID, SINGLE, json!({"postgres_version": 17}))
        .await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let op = w
        .update(ID, SINGLE, Some(json!({"postgres_version": 16})))
        .await;
    let failed = w.settle(op).await;
    assert_eq!(failed.state, OperationState::Failed);
    assert_eq!(
        failed.description.as_deref(),
        Some("postgres_version cannot go down from 17 to 16")
    );
    let op = w
        .update(
            ID,
            SINGLE,
            Some(json!({"parameters": {"shared_buffers": "1GB"}})),
        )
        .await;
    let failed = w.settle(op).await;
    assert_eq!(
        failed.description.as_deref(),
        Some("postgresql parameter \"shared_buffers\" may not be set (allowed: work_mem)")
    );
    // A major upgrade goes through, and the cluster is still there and healthy.
    let op = w
        .update(ID, SINGLE, Some(json!({"postgres_version": 18})))
        .await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let cluster = w
        .server
        .get_object("clusters", Some(CLUSTER), CLUSTER)
        .unwrap();
    assert_eq!(
        cluster["spec"]["imageName"],
        json!("ghcr.io/cloudnative-pg/postgresql:18.6-system-trixie")
    );
}

#[tokio::test]
async fn retain_mode_keeps_only_clusters_that_hold_data() {
    let w = World::new(CnpgSettings {
        retain_on_deprovision: true,
        ..settings()
    })
    .await;
    // Never bootstrapped: nothing worth keeping, so it is deleted.
    w.server.simulator().stall_cluster("pg-never", "pg-never");
    let op = w.provision("never", QUICK, json!({})).await;
    assert_eq!(w.settle(op).await.state, OperationState::Failed);
    w.settle_instance(&instance("never")).await;
    nothing_left(&w, "never");
    // Healthy: kept, annotated, and the instance is gone from the broker.
    let op = w.provision(ID, SINGLE, json!({})).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let op = w.deprovision(ID, SINGLE).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    assert!(w.store.instance(&instance(ID)).await.unwrap().is_none());
    let kept = w
        .server
        .get_object("clusters", Some(CLUSTER), CLUSTER)
        .expect("retained");
    assert!(kept["metadata"]["annotations"]["pgbroker.io/retained"].is_string());
}

#[tokio::test]
async fn backups_are_scheduled_and_a_new_instance_restores_from_them() {
    let w = World::new(CnpgSettings {
        backup: Some(pgbroker_adapters_k8s::settings::BackupSettings {
            destination_path: "s3://backups/pgbroker".into(),
            endpoint_url: None,
            s3_credentials: None,
            retention: "14d".into(),
            schedule: "0 30 1 * * *".into(),
        }),
        ..settings()
    })
    .await;
    let op = w.provision("src", SINGLE, json!({})).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let store = w
        .server
        .get_object("objectstores", Some("pg-src"), "pg-src-store")
        .expect("object store");
    assert_eq!(store["spec"]["retentionPolicy"], json!("14d"));
    assert_eq!(
        store["spec"]["configuration"]["destinationPath"],
        json!("s3://backups/pgbroker")
    );
    let schedule = w
        .server
        .get_object("scheduledbackups", Some("pg-src"), "pg-src-daily")
        .expect("schedule");
    assert_eq!(schedule["spec"]["schedule"], json!("0 30 1 * * *"));
    assert_eq!(schedule["spec"]["method"], json!("plugin"));
    let src = w
        .server
        .get_object("clusters", Some("pg-src"), "pg-src")
        .unwrap();
    assert_eq!(src["spec"]["plugins"][0]["isWALArchiver"], json!(true));

    let op = w
        .provision(
            "dst",
            SINGLE,
            json!({"restore_from": {"instance_id": "src", "target_time": "2026-11-24T06:00:00Z"}}),
        )
        .await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let dst = w
        .server
        .get_object("clusters", Some("pg-dst"), "pg-dst")
        .unwrap();
    assert_eq!(
        dst["spec"]["bootstrap"]["recovery"]["source"],
        json!("origin")
    );
    assert_eq!(
        dst["spec"]["externalClusters"][0]["plugin"]["parameters"],
        json!({"barmanObjectName": "pg-dst-store", "serverName": "pg-src"})
    );
    assert_all_valid(&w);
    for id in ["src", "dst"] {
        let op = w.deprovision(id, SINGLE).await;
        assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
        nothing_left(&w, id);
    }
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
