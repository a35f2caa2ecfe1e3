//! The `aws-rds` backend's steps against moto (crates/testkit/src/moto.rs), with the SQL side on
//! the local PostgreSQL (see aws_fixture).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aws_fixture;
mod common;

use aws_fixture::{AwsFixture, instance_req};
use pgbroker_domain::ports::{Backend, InstanceRequest, Step, StepFailure};
use pgbroker_domain::{DeletionPolicy, Reason};
use serde_json::json;

fn failure<T: std::fmt::Debug>(step: Step<T>) -> StepFailure {
    match step {
        Step::Failed(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn update_req(req: &InstanceRequest, plan_settings: serde_json::Value) -> InstanceRequest {
    let mut next = instance_req(&req.instance_id, plan_settings, json!({}));
    next.previous = Some(req.spec.clone());
    next
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_bind_modify_unbind_delete_with_a_final_snapshot() {
    let f = AwsFixture::new().await;
    let id = f.instance_id();
    let req = instance_req(
        &id,
        json!({"class": "small", "storage_gb": 20}),
        json!({"parameters": {"work_mem": "8MB"}}),
    );

    let first = f.backend.provision(&req).await;
    match &first {
        Step::InProgress { description, .. } => {
            assert!(description.contains("creating"), "{description}")
        }
        other => panic!("first provision step: {other:?}"),
    }
    f.provision(&req).await;
    let db = f.describe(&id).await.unwrap();
    assert_eq!(db.db_instance_class(), Some("db.t4g.micro"));
    assert_eq!(db.master_username(), Some(f.admin.as_str()));
    assert!(
        db.master_user_secret().is_some(),
        "ManageMasterUserPassword"
    );
    let tags: Vec<_> = db
        .tag_list()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert!(
        tags.contains(&("pgbroker:instance-id", id.as_str())),
        "{tags:?}"
    );
    assert_eq!(
        db.db_parameter_groups()
            .first()
            .and_then(|g| g.db_parameter_group_name()),
        Some(f.identifier(&id).as_str())
    );

    // Bind: a login on the DB (here: the local server) that works.
    let bind = common::bind_req(&id, "3f1c2f4e-0d0b-4f55-9a52-6a7a1d0c9b11", json!({}));
    let creds = match f.backend.bind(&bind).await {
        Step::Done(c) => c,
        other => panic!("bind: {other:?}"),
    };
    let endpoint = db.endpoint().and_then(|e| e.address()).unwrap();
    assert_eq!(
        common::field(&creds, "host"),
        endpoint,
        "applications get the DB's endpoint"
    );
    assert_eq!(common::field(&creds, "sslmode"), "require");
    let mut app = aws_fixture::connect_locally(&creds, endpoint).await;
    sqlx::raw_sql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
        .execute(&mut app)
        .await
        .unwrap();
    drop(app);

    // Modify class and storage.
    let next = update_req(&req, json!({"class": "medium", "storage_gb": 30}));
    let steps = f.settle("update", || f.backend.update(&next)).await;
    assert!(
        steps.iter().any(|s| s.contains("class db.t4g.small")
            && s.contains("storage 30 GiB")
            && s.contains("applied immediately")),
        "{steps:?}"
    );
    let db = f.describe(&id).await.unwrap();
    assert_eq!(
        (db.db_instance_class(), db.allocated_storage()),
        (Some("db.t4g.small"), Some(30))
    );

    // Unbind: the login is gone.
    let unbind = common::unbind_req(&bind);
    assert!(matches!(f.backend.unbind(&unbind).await, Step::Done(())));
    let role = common::field(&creds, "username");
    let mut admin = common::admin().await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_roles WHERE rolname = $1")
        .bind(&role)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(left, 0);

    // Delete with a final snapshot named after the DB; its parameter group goes too.
    let steps = f
        .settle("deprovision", || f.backend.deprovision(&next))
        .await;
    assert!(
        steps.iter().any(|s| s.contains("final snapshot")),
        "{steps:?}"
    );
    assert!(f.describe(&id).await.is_none());
    let snapshot = format!("{}-final", f.identifier(&id));
    let snapshots = f
        .rds
        .describe_db_snapshots()
        .db_snapshot_identifier(&snapshot)
        .send()
        .await
        .unwrap();
    assert_eq!(
        snapshots.db_snapshots().len(),
        1,
        "final snapshot {snapshot}"
    );
    let groups = f
        .rds
        .describe_db_parameter_groups()
        .db_parameter_group_name(f.identifier(&id))
        .send()
        .await;
    // moto answers an empty list for a group that does not exist (AWS: DBParameterGroupNotFound).
    assert!(
        groups.map_or(true, |g| g.db_parameter_groups().is_empty()),
        "the parameter group is deleted"
    );

    // A retained instance: the DB stays, tagged.
    let kept = f.instance_id();
    let req = instance_req(&kept, json!({}), json!({}));
    f.provision(&req).await;
    let retain = InstanceRequest {
        deletion_policy: DeletionPolicy::Retain,
        ..req.clone()
    };
    f.settle("retain", || f.backend.deprovision(&retain)).await;
    let db = f.describe(&kept).await.expect("a retained DB stays");
    assert!(
        db.tag_list()
            .iter()
            .any(|t| t.key() == Some("pgbroker:retained"))
    );

    // The documented IAM policy allows exactly what the backend called.
    f.assert_calls_match_policy("RdsCalls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_db_of_the_same_identifier_without_our_tag_is_refused() {
    let f = AwsFixture::new().await;
    let id = f.instance_id();
    f.rds
        .create_db_instance()
        .db_instance_identifier(f.identifier(&id))
        .db_instance_class("db.t4g.micro")
        .engine("postgres")
        .allocated_storage(20)
        .master_username("someone")
        .manage_master_user_password(true)
        .send()
        .await
        .unwrap();
    let req = instance_req(&id, json!({}), json!({}));
    let err = failure(f.backend.provision(&req).await);
    assert_eq!((err.reason, err.retryable), (Reason::ForeignObject, false));
    assert!(
        err.description.contains("refusing to touch it"),
        "{}",
        err.description
    );
    let err = failure(f.backend.deprovision(&req).await);
    assert_eq!(err.reason, Reason::ForeignObject);
    assert!(
        f.describe(&id).await.is_some(),
        "the foreign DB is untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_protection_fails_the_deprovision_saying_how_to_release_it() {
    let f = AwsFixture::with(json!({"deletion_protection": true})).await;
    let id = f.instance_id();
    let req = instance_req(&id, json!({}), json!({}));
    f.provision(&req).await;
    let err = failure(f.backend.deprovision(&req).await);
    assert_eq!((err.reason, err.retryable), (Reason::InvalidState, false));
    assert!(
        err.description.contains("--no-deletion-protection"),
        "{}",
        err.description
    );
    assert!(f.describe(&id).await.is_some());
    // Released, the same deprovision goes through.
    f.rds
        .modify_db_instance()
        .db_instance_identifier(f.identifier(&id))
        .deletion_protection(false)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    f.settle("deprovision", || f.backend.deprovision(&req))
        .await;
    assert!(f.describe(&id).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_by_the_sdk_then_by_the_engine() {
    let f = AwsFixture::new().await;
    let id = f.instance_id();
    let req = instance_req(&id, json!({}), json!({}));
    // Two throttled describes: the SDK's own retries (3 attempts) get through.
    f.moto.throttle("rds:DescribeDBInstances", 2);
    assert!(matches!(
        f.backend.provision(&req).await,
        Step::InProgress { .. }
    ));
    assert_eq!(f.moto.injected(), 2);
    // Three: the step fails retryably (the engine tries again with backoff), and the next try works.
    f.moto.throttle("rds:DescribeDBInstances", 3);
    let err = failure(f.backend.provision(&req).await);
    assert_eq!(
        (err.reason, err.retryable),
        (Reason::BackendUnavailable, true)
    );
    assert!(
        err.description.contains("Throttling"),
        "{}",
        err.description
    );
    f.provision(&req).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_fail_permanently_with_a_clear_message_before_calling_aws() {
    let f = AwsFixture::new().await;
    let id = f.instance_id();
    let cases = [
        (
            json!({"class": "huge"}),
            json!({}),
            Reason::InvalidSpec,
            "class \"huge\", which is not one of the backend's classes (medium, provisioned, serverless, serverless-large, small)",
        ),
        (
            json!({}),
            json!({"parameters": {"fsync": "off"}}),
            Reason::Unsupported,
            "\"fsync\" may not be set",
        ),
        (
            json!({"storage_gb": 50, "max_storage_gb": 40}),
            json!({}),
            Reason::InvalidSpec,
            "max_storage_gb 40",
        ),
        (
            json!({"colour": "red"}),
            json!({}),
            Reason::InvalidSpec,
            "colour",
        ),
    ];
    for (plan, params, reason, needle) in cases {
        let err = failure(f.backend.provision(&instance_req(&id, plan, params)).await);
        assert_eq!(
            (err.reason, err.retryable),
            (reason, false),
            "{}",
            err.description
        );
        assert!(
            err.description.contains(needle),
            "{needle}: {}",
            err.description
        );
    }
    assert!(!f.moto.actions().contains("rds:CreateDBInstance"));
    // Storage only grows.
    let req = instance_req(&id, json!({"storage_gb": 30}), json!({}));
    f.provision(&req).await;
    let err = failure(
        f.backend
            .update(&update_req(&req, json!({"storage_gb": 20})))
            .await,
    );
    assert_eq!(err.reason, Reason::Unsupported);
    assert!(
        err.description.contains("storage cannot shrink"),
        "{}",
        err.description
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_refusals_keep_their_words_and_category() {
    use pgbroker_testkit::moto::Fault;
    let f = AwsFixture::new().await;
    let id = f.instance_id();
    let req = instance_req(&id, json!({}), json!({}));
    // A class AWS does not offer (moto takes any, so the refusal is AWS's words, injected).
    let words = "RDS does not support creating a DB instance with the following combination: DBInstanceClass=db.t4g.micro, Engine=postgres";
    f.moto.fail(
        "rds:CreateDBInstance",
        1,
        Fault {
            status: 400,
            code: "InvalidParameterCombination".into(),
            message: words.into(),
        },
    );
    let err = failure(f.backend.provision(&req).await);
    assert_eq!((err.reason, err.retryable), (Reason::InvalidSpec, false));
    assert!(err.description.contains(words), "{}", err.description);
    assert!(
        err.description.contains("class small = db.t4g.micro"),
        "{}",
        err.description
    );
    f.moto.fail(
        "rds:CreateDBInstance",
        1,
        Fault {
            status: 400,
            code: "InstanceQuotaExceeded".into(),
            message: "DB instance quota exceeded".into(),
        },
    );
    let err = failure(f.backend.provision(&req).await);
    assert_eq!((err.reason, err.retryable), (Reason::QuotaExceeded, false));
    f.moto.fail(
        "rds:DescribeDBInstances",
        3,
        Fault {
            status: 503,
            code: "ServiceUnavailable".into(),
            message: "try later".into(),
        },
    );
    let err = failure(f.backend.provision(&req).await);
    assert_eq!(
        (err.reason, err.retryable),
        (Reason::BackendUnavailable, true)
    );
    // The readiness check: moto answers; an endpoint where nothing listens does not.
    assert!(f.backend.check().await.is_ok());
    let down = pgbroker_adapters_cloud::AwsBackend::new(
        "rds",
        pgbroker_adapters_cloud::Flavor::Rds,
        serde_json::from_value(
            json!({"region": "us-east-1", "endpoint_url": "http://127.0.0.1:1", "max_attempts": 1}),
        )
        .unwrap(),
    )
    .unwrap()
    .with_sdk_config(pgbroker_adapters_cloud::aws::client::fixed(
        "us-east-1",
        aws_fixture::credentials(),
    ));
    let err = down.check().await.unwrap_err();
    assert_eq!(err.reason, Reason::BackendUnavailable, "{err}");
}

/// A binding with a database of its own on an RDS instance: the shared backend's code on the
/// DB's SQL side, so the same rules as there: the binding's login owns its database and logs
/// into it, and unbind drops both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_with_a_database_of_its_own_owns_it_and_unbind_drops_it() {
    let f = AwsFixture::new().await;
    assert!(f.backend.supports_own_database());
    let id = f.instance_id();
    let req = instance_req(&id, json!({"class": "small", "storage_gb": 20}), json!({}));
    f.provision(&req).await;
    let db = f.describe(&id).await.unwrap();
    let endpoint = db.endpoint().and_then(|e| e.address()).unwrap().to_string();
    let bind = common::bind_req(
        &id,
        "5d2e7c1a-3b4f-4a6d-8e9f-0a1b2c3d4e5f",
        json!({"database": "orders"}),
    );
    let creds = match f.backend.bind(&bind).await {
        Step::Done(c) => c,
        other => panic!("bind: {other:?}"),
    };
    let own = common::field(&creds, "database");
    let login = common::field(&creds, "username");
    assert!(own.contains("orders"), "{own}");
    let mut app = aws_fixture::connect_locally(&creds, &endpoint).await;
    let (current, owner): (String, String) = sqlx::query_as(
        "SELECT current_database()::text, pg_get_userbyid(datdba)::text \
         FROM pg_database WHERE datname = current_database()",
    )
    .fetch_one(&mut app)
    .await
    .unwrap();
    assert_eq!(
        (current.as_str(), owner.as_str()),
        (own.as_str(), login.as_str())
    );
    drop(app);

    assert!(matches!(
        f.backend.unbind(&common::unbind_req(&bind)).await,
        Step::Done(())
    ));
    let mut admin = common::admin().await;
    let left: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM pg_database WHERE datname = $1), \
                (SELECT count(*) FROM pg_roles WHERE rolname = $2)",
    )
    .bind(&own)
    .bind(&login)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(left, (0, 0), "unbind drops the database and the login");
    f.settle("deprovision", || f.backend.deprovision(&req))
        .await;
}
