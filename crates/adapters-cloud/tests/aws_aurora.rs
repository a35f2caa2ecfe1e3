//! The `aws-aurora` backend's steps against moto (crates/testkit/src/moto.rs), with the SQL side
//! on the local PostgreSQL (see aws_fixture): a Serverless v2 cluster with its writer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aws_fixture;
mod common;

use aws_fixture::{AwsFixture, instance_req};
use pgbroker_adapters_cloud::Flavor;
use pgbroker_domain::ports::{Backend, InstanceRequest, Step};
use pgbroker_domain::{DeletionPolicy, Reason};
use serde_json::json;

fn update_req(req: &InstanceRequest, plan_settings: serde_json::Value) -> InstanceRequest {
    let mut next = instance_req(&req.instance_id, plan_settings, json!({}));
    next.previous = Some(req.spec.clone());
    next
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serverless_cluster_is_created_bound_resized_unbound_and_deleted_with_a_final_snapshot() {
    let f = AwsFixture::of(Flavor::Aurora, json!({})).await;
    let id = f.instance_id();
    let identifier = f.identifier(&id);
    let req = instance_req(&id, json!({"class": "serverless"}), json!({}));
    match f.backend.provision(&req).await {
        Step::InProgress { description, .. } => {
            assert!(
                description.contains("DB cluster") && description.contains("creating"),
                "{description}"
            )
        }
        other => panic!("first provision step: {other:?}"),
    }
    f.provision(&req).await;
    let cluster = f.describe_cluster(&id).await.unwrap();
    assert!(
        cluster
            .tag_list()
            .iter()
            .any(|t| t.key() == Some("pgbroker:instance-id") && t.value() == Some(id.as_str()))
    );
    let range = cluster
        .serverless_v2_scaling_configuration()
        .map(|c| (c.min_capacity(), c.max_capacity()));
    assert_eq!(range, Some((Some(0.5), Some(4.0))));
    assert!(
        cluster.master_user_secret().is_some(),
        "ManageMasterUserPassword"
    );
    let writer = format!("{identifier}-writer");
    let members: Vec<_> = cluster
        .db_cluster_members()
        .iter()
        .filter_map(|m| m.db_instance_identifier())
        .collect();
    assert_eq!(members, vec![writer.as_str()]);
    let db = f.instance(&writer).await.unwrap();
    assert_eq!(db.db_instance_class(), Some("db.serverless"));

    let bind = common::bind_req(&id, "0a7b7f9e-51d6-4b8c-9d55-3f5d9b0e6a21", json!({}));
    let creds = match f.backend.bind(&bind).await {
        Step::Done(c) => c,
        other => panic!("bind: {other:?}"),
    };
    let endpoint = cluster.endpoint().unwrap();
    assert_eq!(
        common::field(&creds, "host"),
        endpoint,
        "applications get the cluster's endpoint"
    );
    let mut app = aws_fixture::connect_locally(&creds, endpoint).await;
    sqlx::raw_sql("CREATE TABLE t (x int)")
        .execute(&mut app)
        .await
        .unwrap();
    drop(app);

    // More capacity and retention, then a provisioned class.
    let bigger = update_req(
        &req,
        json!({"class": "serverless-large", "backup_retention_days": 10}),
    );
    let steps = f.settle("update", || f.backend.update(&bigger)).await;
    assert!(
        steps
            .iter()
            .any(|s| s.contains("Serverless v2 capacity") && s.contains("applied immediately")),
        "{steps:?}"
    );
    let cluster = f.describe_cluster(&id).await.unwrap();
    let range = cluster
        .serverless_v2_scaling_configuration()
        .map(|c| (c.min_capacity(), c.max_capacity()));
    assert_eq!(
        (range, cluster.backup_retention_period()),
        (Some((Some(1.0), Some(8.0))), Some(10))
    );
    let provisioned = update_req(
        &req,
        json!({"class": "provisioned", "backup_retention_days": 10}),
    );
    f.settle("update", || f.backend.update(&provisioned)).await;
    let db = f.instance(&writer).await.unwrap();
    assert_eq!(db.db_instance_class(), Some("db.r6g.large"));

    assert!(matches!(
        f.backend.unbind(&common::unbind_req(&bind)).await,
        Step::Done(())
    ));

    let steps = f
        .settle("deprovision", || f.backend.deprovision(&provisioned))
        .await;
    assert!(
        steps.iter().any(|s| s.contains("final snapshot")),
        "{steps:?}"
    );
    assert!(f.describe_cluster(&id).await.is_none());
    assert!(
        f.rds
            .describe_db_instances()
            .db_instance_identifier(&writer)
            .send()
            .await
            .is_err(),
        "the writer is gone"
    );
    let snapshots = f
        .rds
        .describe_db_cluster_snapshots()
        .db_cluster_snapshot_identifier(format!("{identifier}-final"))
        .send()
        .await
        .unwrap();
    assert_eq!(snapshots.db_cluster_snapshots().len(), 1);

    // A retained cluster stays, tagged.
    let kept = f.instance_id();
    let req = instance_req(&kept, json!({"class": "serverless"}), json!({}));
    f.provision(&req).await;
    let retain = InstanceRequest {
        deletion_policy: DeletionPolicy::Retain,
        ..req.clone()
    };
    f.settle("retain", || f.backend.deprovision(&retain)).await;
    let cluster = f
        .describe_cluster(&kept)
        .await
        .expect("a retained cluster stays");
    assert!(
        cluster
            .tag_list()
            .iter()
            .any(|t| t.key() == Some("pgbroker:retained"))
    );

    // The documented IAM policy allows exactly what the backend called.
    f.assert_calls_match_policy("AuroraCalls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_not_ours_and_a_protected_cluster_are_refused() {
    let f = AwsFixture::of(Flavor::Aurora, json!({"deletion_protection": true})).await;
    let foreign = f.instance_id();
    f.rds
        .create_db_cluster()
        .db_cluster_identifier(f.identifier(&foreign))
        .engine("aurora-postgresql")
        .master_username("someone")
        .manage_master_user_password(true)
        .send()
        .await
        .unwrap();
    let req = instance_req(&foreign, json!({"class": "serverless"}), json!({}));
    let step = f.backend.provision(&req).await;
    assert!(
        matches!(&step, Step::Failed(e) if e.reason == Reason::ForeignObject && !e.retryable),
        "{step:?}"
    );

    let id = f.instance_id();
    let req = instance_req(&id, json!({"class": "serverless"}), json!({}));
    f.provision(&req).await;
    let step = f.backend.deprovision(&req).await;
    match step {
        Step::Failed(e) => {
            assert_eq!((e.reason, e.retryable), (Reason::InvalidState, false));
            assert!(
                e.description.contains("modify-db-cluster")
                    && e.description.contains("--no-deletion-protection"),
                "{}",
                e.description
            );
        }
        other => panic!("deprovision: {other:?}"),
    }
    assert!(f.describe_cluster(&id).await.is_some());
    // A class with RDS storage is refused before anything is called.
    let wrong = instance_req(&f.instance_id(), json!({"class": "small"}), json!({}));
    let step = f.backend.provision(&wrong).await;
    assert!(
        matches!(&step, Step::Failed(e) if e.reason == Reason::InvalidSpec && e.description.contains("gp3")),
        "{step:?}"
    );
}

/// Server parameters of an Aurora instance land in a cluster parameter group of its own, marked
/// as its, which the cluster uses; deprovision deletes the group with the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_parameters_go_into_a_cluster_parameter_group_of_the_instance() {
    let f = AwsFixture::of(Flavor::Aurora, json!({})).await;
    let id = f.instance_id();
    let identifier = f.identifier(&id);
    let req = instance_req(
        &id,
        json!({"class": "serverless"}),
        json!({"parameters": {"work_mem": "8MB"}}),
    );
    f.provision(&req).await;
    let cluster = f.describe_cluster(&id).await.unwrap();
    let group = cluster.db_cluster_parameter_group().unwrap().to_string();
    let parameters = f
        .rds
        .describe_db_cluster_parameters()
        .db_cluster_parameter_group_name(&group)
        .send()
        .await
        .unwrap();
    let set: Vec<_> = parameters
        .parameters()
        .iter()
        .filter(|p| p.parameter_name() == Some("work_mem"))
        .map(|p| p.parameter_value().unwrap_or_default().to_string())
        .collect();
    assert_eq!(set, vec!["8MB".to_string()], "{group}");
    assert!(group.contains(&identifier), "{group}");
    f.settle("deprovision", || f.backend.deprovision(&req))
        .await;
    let left = f
        .rds
        .describe_db_cluster_parameter_groups()
        .db_cluster_parameter_group_name(&group)
        .send()
        .await;
    assert!(left.is_err(), "the group is deleted: {left:?}");
    // The documented policy's parameter statement is what these calls need, and the rest is
    // within the Aurora statement.
    let (aurora, _) = aws_fixture::policy_actions("AuroraCalls");
    let (parameter_calls, _) = aws_fixture::policy_actions("AuroraParameterCalls");
    let called = f.moto.actions();
    assert!(parameter_calls.is_subset(&called), "{called:?}");
    let allowed: std::collections::BTreeSet<String> =
        aurora.union(&parameter_calls).cloned().collect();
    assert!(called.is_subset(&allowed), "{called:?} beyond {allowed:?}");
}

/// A Multi-AZ plan gives the cluster a reader next to its writer; switching Multi-AZ off
/// removes the reader, and deprovision removes the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_az_plan_adds_a_reader_and_leaving_it_removes_the_reader() {
    let f = AwsFixture::of(Flavor::Aurora, json!({})).await;
    let id = f.instance_id();
    let identifier = f.identifier(&id);
    let req = instance_req(
        &id,
        json!({"class": "provisioned", "multi_az": true}),
        json!({}),
    );
    f.provision(&req).await;
    let members = |cluster: aws_sdk_rds::types::DbCluster| {
        let mut names: Vec<(String, bool)> = cluster
            .db_cluster_members()
            .iter()
            .map(|m| {
                (
                    m.db_instance_identifier().unwrap_or_default().to_string(),
                    m.is_cluster_writer().unwrap_or_default(),
                )
            })
            .collect();
        names.sort();
        names
    };
    let both = members(f.describe_cluster(&id).await.unwrap());
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!(
        both.iter().filter(|(_, writer)| *writer).count(),
        1,
        "one writer, one reader: {both:?}"
    );
    assert!(
        both.iter().all(|(name, _)| name.starts_with(&identifier)),
        "{both:?}"
    );

    let single = update_req(&req, json!({"class": "provisioned", "multi_az": false}));
    f.settle("update", || f.backend.update(&single)).await;
    let left = members(f.describe_cluster(&id).await.unwrap());
    assert_eq!(left, vec![(format!("{identifier}-writer"), true)]);
    f.settle("deprovision", || f.backend.deprovision(&single))
        .await;
    assert!(f.describe_cluster(&id).await.is_none());
}
