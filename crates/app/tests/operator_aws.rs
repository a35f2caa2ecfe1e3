//! A `PostgreSQLServer` on the `aws-rds` and the `aws-aurora` backend through the operator door,
//! against moto (see common/aws.rs) and the in-memory Kubernetes API: create → Ready with a
//! Secret whose login works → a bigger class (and storage, on RDS) → delete, with a final
//! snapshot in moto.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::TempDir;
use common::aws::{AwsWorld, SECRET_KEY, local_uri};
use common::kube::{ready, until};
use common::shared_server::{Cleanup, can_connect};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use pgbroker_adapters_cloud::aws::client::fixed;
use pgbroker_adapters_cloud::{AwsBackend, AwsSettings, Flavor};
use pgbroker_api_crd::crd::server::PostgreSQLServer;
use pgbroker_app::config::Config;
use pgbroker_app::serve;
use pgbroker_app::store_url::StoreUrl;
use pgbroker_domain::ports::BackendRegistry;
use pgbroker_kube_testserver::TestServer;
use pgbroker_testkit::moto::REGION;
use serde_json::json;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Rds,
    Aurora,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_server_on_rds_is_created_resized_and_deleted() {
    server_lifecycle(Kind::Rds).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_server_on_aurora_is_created_resized_and_deleted() {
    server_lifecycle(Kind::Aurora).await;
}

async fn server_lifecycle(kind: Kind) {
    let kube = TestServer::start_default().await.unwrap();
    kube.create_namespace("team-a").unwrap();
    let dir = TempDir::new();
    let kubeconfig = dir.file("kubeconfig", &common::kube::kubeconfig(&kube));
    let world = AwsWorld::start().await;
    let settings: AwsSettings = serde_json::from_value(world.settings()).unwrap();
    let credentials =
        aws_sdk_rds::config::Credentials::new("testing", SECRET_KEY, None, None, "tests");
    let flavor = if kind == Kind::Rds {
        Flavor::Rds
    } else {
        Flavor::Aurora
    };
    let backend = AwsBackend::new("rds", flavor, settings)
        .unwrap()
        .with_sdk_config(fixed(REGION, credentials));
    let backends = BackendRegistry::new().with("rds", Arc::new(backend));
    let mut config = Config::default();
    config.state_store.url = StoreUrl::new("sqlite::memory:".to_string());
    config.server.listen = "127.0.0.1:0".into();
    config.engine.poll_interval_ms = 10;
    config.osb.enabled = false;
    config.operator.enabled = true;
    config.operator.kubeconfig = Some(kubeconfig);
    config.operator.default_backend = Some("rds".into());
    config.operator.lease_namespace = Some("default".into());
    let (small, medium) = match kind {
        Kind::Rds => ("small", "medium"),
        Kind::Aurora => ("serverless", "provisioned"),
    };
    let catalog = dir.file(
        "catalog.yaml",
        &format!("services:
  - id: svc-rds
    name: rds
    description: RDS for PostgreSQL
    bindable: true
    plan_updateable: true
    plans:
      - {{id: plan-rds-small, name: small, description: small, backend: rds, settings: {{class: {small}, storage_gb: 20}}}}
      - {{id: plan-rds-medium, name: medium, description: medium, backend: rds, settings: {{class: {medium}, storage_gb: 20}}}}
"),
    );
    config.catalog.path = Some(catalog);
    let _server = serve::start(&config, Some(backends)).await.unwrap();

    let servers: Api<PostgreSQLServer> = Api::namespaced(kube.client(), "team-a");
    let object: PostgreSQLServer = serde_json::from_value(json!({
        "apiVersion": "pgbroker.io/v1alpha1", "kind": "PostgreSQLServer",
        "metadata": {"name": "orders", "namespace": "team-a"},
        "spec": {"size": {"class": "small", "storageGB": 20}, "credentialsSecret": "orders-db"}
    }))
    .unwrap();
    let created = servers
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let _sql = Cleanup(format!("pgb_{uid}"));
    let (identifier, _) = world.accept_master_password().await;
    assert_eq!(identifier, format!("pgbroker-{uid}"));
    until("Ready", || async {
        servers.get("orders").await.ok().filter(ready)
    })
    .await;

    let secrets: Api<Secret> = Api::namespaced(kube.client(), "team-a");
    let data = secrets.get("orders-db").await.unwrap().data.unwrap();
    let text = |key: &str| String::from_utf8(data[key].0.clone()).unwrap();
    let writer = format!("{identifier}-writer");
    let host = match kind {
        Kind::Rds => {
            let db = world.db(&identifier).await.unwrap();
            db.endpoint().and_then(|e| e.address()).unwrap().to_string()
        }
        Kind::Aurora => {
            let cluster = world.cluster(&identifier).await.unwrap();
            cluster.endpoint().unwrap().to_string()
        }
    };
    let host = host.as_str();
    assert_eq!(text("host"), host);
    assert!(
        can_connect(&local_uri(&text("uri"), host)).await,
        "the Secret's login works"
    );

    // A bigger class and more storage.
    servers
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": {"class": "medium", "storageGB": 30}}})),
        )
        .await
        .unwrap();
    until("the DB is resized", || async {
        let resized = match kind {
            Kind::Rds => {
                let db = world.db(&identifier).await?;
                db.db_instance_class() == Some("db.t4g.small") && db.allocated_storage() == Some(30)
            }
            Kind::Aurora => {
                let db = world.db(&writer).await?;
                db.db_instance_class() == Some("db.r6g.large")
            }
        };
        resized.then_some(())
    })
    .await;
    until("Ready after the change", || async {
        let now = servers.get("orders").await.ok()?;
        let generation = now.metadata.generation;
        let observed = now.status.as_ref().and_then(|s| s.observed_generation);
        (ready(&now) && observed == generation).then_some(())
    })
    .await;

    // Deleted: the DB goes, with a final snapshot named after it.
    servers
        .delete("orders", &DeleteParams::default())
        .await
        .unwrap();
    until("the object is gone", || async {
        servers
            .get_opt("orders")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    let snapshot = format!("{identifier}-final");
    match kind {
        Kind::Rds => {
            assert!(world.db(&identifier).await.is_none());
            assert!(world.snapshot_exists(&snapshot).await);
        }
        Kind::Aurora => {
            assert!(world.cluster(&identifier).await.is_none());
            assert!(world.db(&writer).await.is_none());
            assert!(world.cluster_snapshot_exists(&snapshot).await);
        }
    }
}
