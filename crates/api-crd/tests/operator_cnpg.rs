//! A PostgreSQLServer on CloudNativePG through the operator, end to end against the test
//! server's CNPG simulator: the Cluster is made in the custom resource's own namespace
//! (namespace mode `request`), labelled as the resource's and not owned by it, the server gets
//! Ready with a Secret naming the Cluster's service; a PostgreSQLDatabase on it is a CNPG
//! `Database` owned by its own role; deleting both removes what was made.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod operator;

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use operator::{World, database_with_reason, delete, eventually, server_with_reason, text};
use pgbroker_adapters_k8s::CnpgBackend;
use pgbroker_adapters_k8s::settings::{CnpgSettings, NamespaceMode};
use pgbroker_domain::ports::BackendRegistry;
use pgbroker_domain::server::ServerPolicy;
use pgbroker_domain::{Catalog, CatalogDocument};
use serde_json::{Value, json};

fn catalog() -> Catalog {
    let doc: CatalogDocument = serde_json::from_value(json!({"services": [
        {"id": "svc-cnpg", "name": "postgresql-cnpg", "description": "CloudNativePG", "plans": [
            {"id": "plan-cnpg-single", "name": "single", "description": "one instance", "backend": "cnpg",
             "settings": {"instances": 1, "cpu": "500m", "memory": "512Mi", "storage": "10Gi"}}
        ]}
    ]}))
    .unwrap();
    Catalog::load(doc, &["cnpg".to_string()].into())
        .unwrap()
        .offering_own_databases(|backend| backend == "cnpg")
}

async fn world() -> World {
    let kube = World::kube(true).await;
    let settings = CnpgSettings {
        namespace: NamespaceMode::Request,
        poll_interval_seconds: 1,
        ..Default::default()
    };
    let backend = Arc::new(CnpgBackend::with_client("cnpg", settings, kube.client()).unwrap());
    let tag = format!("pgbc{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    World::build(
        kube,
        tag,
        catalog(),
        BackendRegistry::new().with("cnpg", backend),
        ServerPolicy::new(["cnpg".to_string()], Some("cnpg".into())),
        Duration::from_secs(600),
    )
    .await
}

fn label(obj: &Value, key: &str) -> Option<String> {
    obj.pointer(&format!("/metadata/labels/{}", key.replace('/', "~1")))
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_cloudnativepg_lives_in_its_namespace_and_gets_ready() {
    let world = world().await;
    world
        .apply_server(
            "main",
            json!({"backend": "cnpg", "size": {"class": "single", "storageGB": 10},
                   "credentialsSecret": "main-pg"}),
        )
        .await;
    let server = server_with_reason(&world, "main", "Ready").await;
    let status = server.status.as_ref().unwrap();
    assert_eq!(status.backend.as_deref(), Some("cnpg"));
    assert_eq!(status.plan.as_deref(), Some("single"));

    // The Cluster is in the resource's namespace, labelled as its, with no ownerReference.
    let clusters: Vec<Value> = world
        .kube
        .objects("clusters")
        .into_iter()
        .filter(|c| c.pointer("/metadata/namespace") == Some(&json!(operator::NS)))
        .collect();
    assert_eq!(clusters.len(), 1, "{clusters:?}");
    let cluster = &clusters[0];
    assert_eq!(
        label(cluster, "pgbroker.io/instance-name").as_deref(),
        Some("main")
    );
    assert!(cluster.pointer("/metadata/ownerReferences").is_none());
    let cluster_name = cluster["metadata"]["name"].as_str().unwrap().to_string();

    let secret = world.secrets().get("main-pg").await.unwrap();
    assert!(
        text(&secret, "host").starts_with(&format!("{cluster_name}-rw.{}", operator::NS)),
        "{}",
        text(&secret, "host")
    );
    for key in [
        "port", "dbname", "username", "password", "uri", "jdbc-uri", "pgpass",
    ] {
        assert!(!text(&secret, key).is_empty(), "{key}");
    }

    // A database on it: a CNPG Database owned by the binding's role, in the same namespace.
    world
        .apply_database(
            "orders",
            json!({"serverRef": {"name": "main"}, "credentialsSecret": "orders-pg",
                   "database": {"extensions": ["pg_trgm"]}}),
        )
        .await;
    database_with_reason(&world, "orders", "Ready").await;
    let db_secret = world.secrets().get("orders-pg").await.unwrap();
    assert_eq!(text(&db_secret, "dbname"), "orders");
    assert_ne!(text(&db_secret, "username"), text(&secret, "username"));
    let databases: Vec<Value> = world
        .kube
        .objects("databases")
        .into_iter()
        .filter(|d| d.pointer("/spec/name") == Some(&json!("orders")))
        .collect();
    assert_eq!(databases.len(), 1, "{databases:?}");
    let database = &databases[0];
    assert_eq!(database["metadata"]["namespace"], json!(operator::NS));
    assert_eq!(
        database["spec"]["owner"],
        json!(text(&db_secret, "username"))
    );
    assert_eq!(database["spec"]["cluster"]["name"], json!(cluster_name));

    // Deleting the database removes its Database object; then the server goes with its Cluster.
    delete(&world.databases(), "orders").await;
    eventually(
        "the database is gone",
        || async { world.databases().get_opt("orders").await.unwrap() },
        Option::is_none,
    )
    .await;
    assert!(
        world
            .kube
            .objects("databases")
            .iter()
            .all(|d| d.pointer("/spec/name") != Some(&json!("orders")))
    );
    delete(&world.servers(), "main").await;
    eventually(
        "the server is gone",
        || async { world.servers().get_opt("main").await.unwrap() },
        Option::is_none,
    )
    .await;
    let left: Vec<String> = world
        .kube
        .objects("clusters")
        .iter()
        .map(|c| c["metadata"]["name"].to_string())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(server.uid().is_some());
}
