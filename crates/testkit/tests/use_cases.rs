//! OSB semantics of the use cases, over a real (in-memory SQLite) store and test backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pgbroker_domain::usecases::{BindCommand, LastOperationQuery, ProvisionCommand, UpdateCommand};
use pgbroker_domain::{
    BindingId, BindingSpec, BrokerError, InstanceState, JsonObject, OperationId, OperationKind,
    OperationState, Outcome, PlanId, Reason, ServiceId,
};
use pgbroker_testkit::world::*;
use serde_json::json;

async fn world() -> TestWorld {
    TestWorld::new(memory_store().await)
}

fn provision(id: &str, plan: &str, accepts_incomplete: bool) -> ProvisionCommand {
    let service = if plan.starts_with("plan-sync") {
        SYNC_SERVICE
    } else {
        ASYNC_SERVICE
    };
    ProvisionCommand {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id(id),
        spec: spec(service, plan, json!({"size": 1})),
        accepts_incomplete,
        originating_identity: Some("test eyJ1c2VyX2lkIjoiMSJ9".into()),
    }
}

fn accepted<T: std::fmt::Debug>(outcome: Outcome<T>) -> OperationId {
    match outcome {
        Outcome::Accepted { operation } => operation,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

fn done<T: std::fmt::Debug>(outcome: Outcome<T>) -> (T, bool) {
    match outcome {
        Outcome::Done { value, created } => (value, created),
        other => panic!("expected Done, got {other:?}"),
    }
}

fn bind_cmd(
    instance: &str,
    binding: &str,
    service: &str,
    plan: &str,
    accepts_incomplete: bool,
) -> BindCommand {
    BindCommand {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id(instance),
        binding_id: BindingId::parse(binding).unwrap(),
        spec: BindingSpec {
            service_id: ServiceId::parse(service).unwrap(),
            plan_id: PlanId::parse(plan).unwrap(),
            parameters: JsonObject::new(),
            context: JsonObject::new(),
            bind_resource: JsonObject::from_iter([("app_guid".to_string(), json!("app-1"))]),
        },
        accepts_incomplete,
        originating_identity: None,
    }
}

fn update_cmd(id: &str, plan: Option<&str>) -> UpdateCommand {
    UpdateCommand {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id(id),
        service_id: ServiceId::parse(ASYNC_SERVICE).unwrap(),
        plan_id: plan.map(|p| PlanId::parse(p).unwrap()),
        parameters: None,
        context: None,
        maintenance_version: None,
        accepts_incomplete: true,
        originating_identity: None,
    }
}

async fn last(
    w: &TestWorld,
    id: &str,
    op: Option<OperationId>,
) -> Result<pgbroker_domain::usecases::LastOperation, BrokerError> {
    w.broker
        .last_operation(LastOperationQuery {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance_id(id),
            binding_id: None,
            operation: op,
            service_id: None,
            plan_id: None,
        })
        .await
}

#[tokio::test]
async fn async_provision_is_accepted_then_succeeds_through_the_engine() {
    let w = world().await;
    let op = accepted(
        w.broker
            .provision(provision("i1", ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    let status = last(&w, "i1", Some(op)).await.unwrap();
    assert_eq!(status.state, OperationState::InProgress);
    assert!(status.retry_after.is_some());
    assert_eq!(
        w.broker.instance(&instance_id("i1")).await.unwrap().state,
        InstanceState::Provisioning
    );

    assert_eq!(w.drain().await, 1);
    let status = last(&w, "i1", Some(op)).await.unwrap();
    assert_eq!(status.state, OperationState::Succeeded);
    assert_eq!(status.retry_after, None);
    let instance = w.broker.instance(&instance_id("i1")).await.unwrap();
    assert_eq!(instance.state, InstanceState::Ready);
    assert_eq!(
        instance.dashboard_url.as_deref(),
        Some("https://dashboard.test/i1")
    );
    assert_eq!(instance.spec.maintenance_version.as_deref(), Some("1.0.0"));
    let stored = w.store.operation(op).await.unwrap().unwrap();
    assert_eq!(
        stored.originating_identity.as_deref(),
        Some("test eyJ1c2VyX2lkIjoiMSJ9")
    );
}

#[tokio::test]
async fn identical_provision_returns_the_existing_result() {
    let w = world().await;
    let first = accepted(
        w.broker
            .provision(provision("i1", ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    let again = accepted(
        w.broker
            .provision(provision("i1", ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    assert_eq!(
        first, again,
        "an identical request in flight joins the same operation"
    );
    w.drain().await;
    let (instance, created) = done(
        w.broker
            .provision(provision("i1", ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    assert!(
        !created,
        "an identical request after success is not a new creation"
    );
    assert_eq!(instance.state, InstanceState::Ready);
    assert_eq!(w.async_backend.calls(OperationKind::Provision), 1);
}

#[tokio::test]
async fn different_provision_for_an_existing_id_is_a_conflict() {
    let w = world().await;
    accepted(
        w.broker
            .provision(provision("i1", ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    let err = w
        .broker
        .provision(provision("i1", ASYNC_PLAN_BIG, true))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::Conflict(_)), "{err:?}");
    assert_eq!(err.reason(), Reason::Conflict);
    assert_eq!(err.ids().instance_id, Some(instance_id("i1")));
    let mut other_params = provision("i1", ASYNC_PLAN, true);
    other_params.spec.parameters.insert("size".into(), json!(2));
    let err = w.broker.provision(other_params).await.unwrap_err();
    assert!(matches!(err, BrokerError::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn requests_while_an_operation_is_in_flight_are_concurrency_errors() {
    let w = world().await;
    accepted(
        w.broker
            .provision(provision("i1", ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    let err = w
        .broker
        .update(update_cmd("i1", Some(ASYNC_PLAN_BIG)))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::Concurrency(_)), "{err:?}");
    assert_eq!(err.reason(), Reason::OperationInProgress);
    assert_eq!(err.ids().instance_id, Some(instance_id("i1")));
    assert!(
        err.ids().operation_id.is_some(),
        "names the operation in flight"
    );
    let err = w
        .broker
        .deprovision(deprovision_cmd("i1", ASYNC_SERVICE, ASYNC_PLAN, true))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::Concurrency(_)), "{err:?}");
    let err = w
        .broker
        .bind(bind_cmd("i1", "b1", ASYNC_SERVICE, ASYNC_PLAN, true))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::Concurrency(_)), "{err:?}");

    w.drain().await;
    accepted(
        w.broker
            .bind(bind_cmd("i1", "b1", ASYNC_SERVICE, ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    let err = w
        .broker
        .update(update_cmd("i1", Some(ASYNC_PLAN_BIG)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, BrokerError::Concurrency(_)),
        "bind in flight blocks update: {err:?}"
    );
}

#[tokio::test]
async fn synchronous_backend_serves_requests_without_accepts_incomplete() {
    let w = world().await;
    let (instance, created) = done(
        w.broker
            .provision(provision("s1", SYNC_PLAN, false))
            .await
            .unwrap(),
    );
    assert!(created);
    assert_eq!(instance.state, InstanceState::Ready);
    let (binding, created) = done(
        w.broker
            .bind(bind_cmd("s1", "b1", SYNC_SERVICE, SYNC_PLAN, false))
            .await
            .unwrap(),
    );
    assert!(created);
    let creds = binding.credentials.expect("credentials");
    assert_eq!(creds.expose()["password"], json!(binding.password.expose()));
    assert!(binding.password.expose().len() >= 32);
    let (_, created) = done(
        w.broker
            .bind(bind_cmd("s1", "b1", SYNC_SERVICE, SYNC_PLAN, false))
            .await
            .unwrap(),
    );
    assert!(!created, "repeat bind returns the existing binding");
    done(
        w.broker
            .unbind(unbind_cmd("s1", "b1", SYNC_SERVICE, SYNC_PLAN, false))
            .await
            .unwrap(),
    );
    done(
        w.broker
            .deprovision(deprovision_cmd("s1", SYNC_SERVICE, SYNC_PLAN, false))
            .await
            .unwrap(),
    );
    let err = w.broker.instance(&instance_id("s1")).await.unwrap_err();
    assert!(matches!(err, BrokerError::NotFound(_)));
}

#[tokio::test]
async fn asynchronous_backend_requires_accepts_incomplete() {
    let w = world().await;
    let err = w
        .broker
        .provision(provision("i1", ASYNC_PLAN, false))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::AsyncRequired(_)), "{err:?}");
    assert!(
        w.store
            .instance(&instance_id("i1"))
            .await
            .unwrap()
            .is_none(),
        "nothing recorded"
    );
}

#[tokio::test]
async fn synchronous_operation_that_fails_reports_why() {
    let w = world().await;
    w.sync_backend.script(
        OperationKind::Provision,
        [pgbroker_testkit::backend::Scripted::Permanent],
    );
    let err = w
        .broker
        .provision(provision("s1", SYNC_PLAN, false))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::OperationFailed(_)), "{err:?}");
    assert_eq!(err.reason(), Reason::BackendFailed);
    assert_eq!(err.message(), "provision is impossible");
}

#[tokio::test]
async fn a_failed_operation_keeps_the_backends_reason_for_the_request_and_later_polls() {
    let w = world().await;
    w.sync_backend.script(
        OperationKind::Provision,
        [pgbroker_testkit::backend::Scripted::Fails {
            reason: Reason::QuotaExceeded,
            retryable: false,
        }],
    );
    let err = w
        .broker
        .provision(provision("s1", SYNC_PLAN, false))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::OperationFailed(_)), "{err:?}");
    assert_eq!(err.reason(), Reason::QuotaExceeded);
    assert_eq!(err.ids().instance_id, Some(instance_id("s1")));
    assert!(err.ids().operation_id.is_some(), "{err:?}");
    let polled = last(&w, "s1", None).await.unwrap();
    assert_eq!(polled.state, OperationState::Failed);
    assert_eq!(polled.reason, Some(Reason::QuotaExceeded));
}

#[tokio::test]
async fn unknown_or_mismatched_catalog_ids_are_bad_requests() {
    let w = world().await;
    let mut cmd = provision("i1", ASYNC_PLAN, true);
    cmd.spec.plan_id = PlanId::parse("nope").unwrap();
    let err = w.broker.provision(cmd).await.unwrap_err();
    assert!(matches!(err, BrokerError::BadRequest(_)), "{err:?}");
    assert_eq!(err.message(), "plan_id nope is not in the catalog");
    assert_eq!(err.reason(), Reason::InvalidSpec);
    assert_eq!(err.ids().plan_id, Some(PlanId::parse("nope").unwrap()));
    let mut cmd = provision("i1", ASYNC_PLAN, true);
    cmd.spec.plan_id = PlanId::parse(SYNC_PLAN).unwrap();
    let err = w.broker.provision(cmd).await.unwrap_err();
    assert!(
        matches!(&err, BrokerError::BadRequest(m) if m.message.contains("does not belong")),
        "{err:?}"
    );
    let mut cmd = provision("i1", ASYNC_PLAN, true);
    cmd.spec.service_id = ServiceId::parse("nope").unwrap();
    let err = w.broker.provision(cmd).await.unwrap_err();
    assert!(matches!(err, BrokerError::BadRequest(_)), "{err:?}");
}

#[tokio::test]
async fn maintenance_info_must_match_the_plan() {
    let w = world().await;
    let mut cmd = provision("i1", ASYNC_PLAN, true);
    cmd.spec.maintenance_version = Some("9.9.9".into());
    let err = w.broker.provision(cmd).await.unwrap_err();
    assert!(
        matches!(err, BrokerError::MaintenanceInfoConflict(_)),
        "{err:?}"
    );
    accepted(
        w.broker
            .provision(provision("i1", ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    w.drain().await;
    let mut update = update_cmd("i1", None);
    update.maintenance_version = Some("2.0.0".into());
    let err = w.broker.update(update).await.unwrap_err();
    assert!(
        matches!(err, BrokerError::MaintenanceInfoConflict(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn update_changes_plan_and_parameters_when_it_succeeds() {
    let w = world().await;
    accepted(
        w.broker
            .provision(provision("i1", ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    w.drain().await;
    let mut cmd = update_cmd("i1", Some(ASYNC_PLAN_BIG));
    cmd.parameters = Some(serde_json::from_value(json!({"size": null, "extra": true})).unwrap());
    let op = accepted(w.broker.update(cmd.clone()).await.unwrap());
    assert_eq!(
        accepted(w.broker.update(cmd).await.unwrap()),
        op,
        "identical update joins"
    );
    let before = w.broker.instance(&instance_id("i1")).await.unwrap();
    assert_eq!(
        before.spec.plan_id.as_str(),
        ASYNC_PLAN,
        "not applied before the backend is done"
    );
    w.drain().await;
    let after = w.broker.instance(&instance_id("i1")).await.unwrap();
    assert_eq!(after.spec.plan_id.as_str(), ASYNC_PLAN_BIG);
    assert_eq!(
        after.spec.parameters,
        serde_json::from_value::<JsonObject>(json!({"extra": true})).unwrap()
    );
    assert_eq!(after.spec.maintenance_version.as_deref(), Some("2.0.0"));
    assert_eq!(
        last(&w, "i1", Some(op)).await.unwrap().state,
        OperationState::Succeeded
    );
    // Nothing to change: done at once, no backend call.
    let (_, created) = done(w.broker.update(update_cmd("i1", None)).await.unwrap());
    assert!(!created);
    assert_eq!(w.async_backend.calls(OperationKind::Update), 1);
}

#[tokio::test]
async fn update_rules() {
    let w = world().await;
    let err = w
        .broker
        .update(update_cmd("ghost", None))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::NotFound(_)), "{err:?}");
    accepted(
        w.broker
            .provision(provision("f1", ASYNC_PLAN_FIXED, true))
            .await
            .unwrap(),
    );
    w.drain().await;
    let err = w
        .broker
        .update(update_cmd("f1", Some(ASYNC_PLAN)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BrokerError::Unprocessable(m) if m.message.contains("plan_updateable")),
        "{err:?}"
    );
    let err = w
        .broker
        .update(update_cmd("f1", Some(SYNC_PLAN)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, BrokerError::BadRequest(_)),
        "plan of another service: {err:?}"
    );
}

#[tokio::test]
async fn deprovision_semantics_and_gone() {
    let w = world().await;
    let err = w
        .broker
        .deprovision(deprovision_cmd("ghost", ASYNC_SERVICE, ASYNC_PLAN, true))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::Gone(_)), "{err:?}");
    accepted(
        w.broker
            .provision(provision("i1", ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    w.drain().await;
    let err = w
        .broker
        .deprovision(deprovision_cmd("i1", ASYNC_SERVICE, ASYNC_PLAN_BIG, true))
        .await
        .unwrap_err();
    assert!(
        matches!(err, BrokerError::BadRequest(_)),
        "wrong plan_id: {err:?}"
    );
    let op = accepted(
        w.broker
            .deprovision(deprovision_cmd("i1", ASYNC_SERVICE, ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    assert_eq!(
        accepted(
            w.broker
                .deprovision(deprovision_cmd("i1", ASYNC_SERVICE, ASYNC_PLAN, true))
                .await
                .unwrap()
        ),
        op
    );
    assert_eq!(
        w.broker.instance(&instance_id("i1")).await.unwrap().state,
        InstanceState::Deprovisioning
    );
    w.drain().await;
    assert!(matches!(
        last(&w, "i1", Some(op)).await,
        Err(BrokerError::Gone(_))
    ));
    assert!(matches!(
        last(&w, "i1", None).await,
        Err(BrokerError::Gone(_))
    ));
    let err = w
        .broker
        .deprovision(deprovision_cmd("i1", ASYNC_SERVICE, ASYNC_PLAN, true))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::Gone(_)));
    // The id may be used again after it is gone.
    accepted(
        w.broker
            .provision(provision("i1", ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn last_operation_of_unknown_things_is_not_found() {
    let w = world().await;
    assert!(matches!(
        last(&w, "ghost", None).await,
        Err(BrokerError::NotFound(_))
    ));
    accepted(
        w.broker
            .provision(provision("i1", ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    assert!(matches!(
        last(&w, "i1", Some(OperationId::new())).await,
        Err(BrokerError::NotFound(_))
    ));
    // Another instance's operation id does not leak across instances.
    let other = accepted(
        w.broker
            .provision(provision("i2", ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    assert!(matches!(
        last(&w, "i1", Some(other)).await,
        Err(BrokerError::NotFound(_))
    ));
}

#[tokio::test]
async fn bind_semantics() {
    let w = world().await;
    let err = w
        .broker
        .bind(bind_cmd("ghost", "b1", ASYNC_SERVICE, ASYNC_PLAN, true))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::NotFound(_)), "{err:?}");
    done(
        w.broker
            .provision(provision("s1", SYNC_PLAN_UNBINDABLE, false))
            .await
            .unwrap(),
    );
    let err = w
        .broker
        .bind(bind_cmd(
            "s1",
            "b1",
            SYNC_SERVICE,
            SYNC_PLAN_UNBINDABLE,
            false,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BrokerError::BadRequest(m) if m.message.contains("not bindable")),
        "{err:?}"
    );

    accepted(
        w.broker
            .provision(provision("i1", ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    w.drain().await;
    let op = accepted(
        w.broker
            .bind(bind_cmd("i1", "b1", ASYNC_SERVICE, ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    assert_eq!(
        accepted(
            w.broker
                .bind(bind_cmd("i1", "b1", ASYNC_SERVICE, ASYNC_PLAN, true))
                .await
                .unwrap()
        ),
        op
    );
    w.drain().await;
    let status = w
        .broker
        .last_operation(LastOperationQuery {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance_id("i1"),
            binding_id: Some(BindingId::parse("b1").unwrap()),
            operation: Some(op),
            service_id: None,
            plan_id: None,
        })
        .await
        .unwrap();
    assert_eq!(status.state, OperationState::Succeeded);
    let (binding, created) = done(
        w.broker
            .bind(bind_cmd("i1", "b1", ASYNC_SERVICE, ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    assert!(!created);
    assert!(binding.credentials.is_some());
    let mut different = bind_cmd("i1", "b1", ASYNC_SERVICE, ASYNC_PLAN, true);
    different
        .spec
        .bind_resource
        .insert("app_guid".into(), json!("app-2"));
    assert!(matches!(
        w.broker.bind(different).await,
        Err(BrokerError::Conflict(_))
    ));

    // Each binding gets its own password.
    accepted(
        w.broker
            .bind(bind_cmd("i1", "b2", ASYNC_SERVICE, ASYNC_PLAN, true))
            .await
            .unwrap(),
    );
    w.drain().await;
    let b2 = w
        .broker
        .binding(&instance_id("i1"), &BindingId::parse("b2").unwrap())
        .await
        .unwrap();
    assert_ne!(b2.password.expose(), binding.password.expose());

    let unbind = |b: &str| unbind_cmd("i1", b, ASYNC_SERVICE, ASYNC_PLAN, true);
    assert!(matches!(
        w.broker.unbind(unbind("nope")).await,
        Err(BrokerError::Gone(_))
    ));
    let op = accepted(w.broker.unbind(unbind("b1")).await.unwrap());
    assert_eq!(accepted(w.broker.unbind(unbind("b1")).await.unwrap()), op);
    w.drain().await;
    let gone = w
        .broker
        .last_operation(LastOperationQuery {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance_id("i1"),
            binding_id: Some(BindingId::parse("b1").unwrap()),
            operation: Some(op),
            service_id: None,
            plan_id: None,
        })
        .await;
    assert!(matches!(gone, Err(BrokerError::Gone(_))), "{gone:?}");
    assert!(matches!(
        w.broker.unbind(unbind("b1")).await,
        Err(BrokerError::Gone(_))
    ));
    assert!(matches!(
        w.broker
            .binding(&instance_id("i1"), &BindingId::parse("b1").unwrap())
            .await,
        Err(BrokerError::NotFound(_))
    ));
}

#[tokio::test]
async fn secrets_never_show_in_debug_output() {
    let w = world().await;
    done(
        w.broker
            .provision(provision("s1", SYNC_PLAN, false))
            .await
            .unwrap(),
    );
    let (binding, _) = done(
        w.broker
            .bind(bind_cmd("s1", "b1", SYNC_SERVICE, SYNC_PLAN, false))
            .await
            .unwrap(),
    );
    let shown = format!("{binding:?}");
    assert!(
        !shown.contains(binding.password.expose().as_str()),
        "{shown}"
    );
}

#[tokio::test]
async fn synchronous_request_times_out_while_the_operation_goes_on() {
    let w = world().await;
    w.sync_backend.script(
        OperationKind::Provision,
        [pgbroker_testkit::backend::Scripted::InProgress(
            std::time::Duration::from_secs(1),
        )],
    );
    let err = w
        .broker
        .provision(provision("s1", SYNC_PLAN, false))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::Timeout(_)), "{err:?}");
    w.clock.advance(std::time::Duration::from_secs(1));
    w.drain().await;
    let (instance, created) = done(
        w.broker
            .provision(provision("s1", SYNC_PLAN, false))
            .await
            .unwrap(),
    );
    assert!(!created);
    assert_eq!(instance.state, InstanceState::Ready);
}

#[tokio::test]
async fn a_database_of_its_own_is_checked_before_anything_is_stored() {
    let w = world().await;
    done(
        w.broker
            .provision(provision("s1", SYNC_PLAN, false))
            .await
            .unwrap(),
    );
    let with = |database: serde_json::Value| {
        let mut cmd = bind_cmd("s1", "b1", SYNC_SERVICE, SYNC_PLAN, false);
        cmd.spec.parameters.insert("database".into(), database);
        cmd
    };
    // A malformed parameter: 400 naming it.
    let err = w.broker.bind(with(json!("Bad-Name"))).await.unwrap_err();
    assert!(
        matches!(&err, BrokerError::BadRequest(d) if d.reason == Reason::InvalidSpec
            && d.message.contains("parameter database")),
        "{err:?}"
    );
    // A well-formed one on a backend that cannot make it: 422 Unsupported, nothing stored.
    let err = w
        .broker
        .bind(with(json!({"name": "reports", "charset": "UTF8"})))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BrokerError::Unprocessable(d) if d.reason == Reason::Unsupported
            && d.message.contains("database of its own")),
        "{err:?}"
    );
    let err = w
        .broker
        .binding(&instance_id("s1"), &BindingId::parse("b1").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::NotFound(_)), "{err:?}");
    // Without the parameter the same bind works.
    done(
        w.broker
            .bind(bind_cmd("s1", "b1", SYNC_SERVICE, SYNC_PLAN, false))
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn reset_password_gives_new_credentials_or_keeps_the_old_ones() {
    use pgbroker_domain::usecases::ResetPasswordCommand;
    let w = world().await;
    done(
        w.broker
            .provision(provision("s1", SYNC_PLAN, false))
            .await
            .unwrap(),
    );
    let (bound, _) = done(
        w.broker
            .bind(bind_cmd("s1", "b1", SYNC_SERVICE, SYNC_PLAN, false))
            .await
            .unwrap(),
    );
    let password =
        |b: &pgbroker_domain::Binding| b.credentials.as_ref().unwrap().expose()["password"].clone();
    let reset = |door| ResetPasswordCommand {
        door,
        instance_id: instance_id("s1"),
        binding_id: BindingId::parse("b1").unwrap(),
        accepts_incomplete: false,
    };
    // Only the owner door may reset.
    let err = w
        .broker
        .reset_password(reset(pgbroker_domain::FrontDoor::Operator))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BrokerError::Unprocessable(d) if d.reason == Reason::ForeignObject),
        "{err:?}"
    );
    let (fresh, _) = done(
        w.broker
            .reset_password(reset(pgbroker_domain::FrontDoor::Osb))
            .await
            .unwrap(),
    );
    assert_ne!(password(&fresh), password(&bound));
    assert_eq!(fresh.state, pgbroker_domain::BindingState::Ready);

    // A reset that fails keeps the binding ready with the credentials it had; no clean-up.
    w.sync_backend.script(
        OperationKind::Bind,
        [pgbroker_testkit::backend::Scripted::Permanent],
    );
    let err = w
        .broker
        .reset_password(reset(pgbroker_domain::FrontDoor::Osb))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::OperationFailed(_)), "{err:?}");
    let after = w
        .broker
        .binding(&instance_id("s1"), &BindingId::parse("b1").unwrap())
        .await
        .unwrap();
    assert_eq!(after.state, pgbroker_domain::BindingState::Ready);
    assert_eq!(password(&after), password(&fresh));
    let last = last_of_binding(&w, "s1", "b1").await;
    assert_eq!(last.state, OperationState::Failed);
    assert_eq!(
        last.kind,
        OperationKind::Bind,
        "no orphan mitigation unbind followed"
    );

    // A binding that is not ready cannot be reset.
    let err = w
        .broker
        .reset_password(ResetPasswordCommand {
            binding_id: BindingId::parse("ghost").unwrap(),
            ..reset(pgbroker_domain::FrontDoor::Osb)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::NotFound(_)), "{err:?}");
}

async fn last_of_binding(
    w: &TestWorld,
    instance: &str,
    binding: &str,
) -> pgbroker_domain::usecases::LastOperation {
    w.broker
        .last_operation(LastOperationQuery {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance_id(instance),
            binding_id: Some(BindingId::parse(binding).unwrap()),
            operation: None,
            service_id: None,
            plan_id: None,
        })
        .await
        .unwrap()
}
