//! An instance the Kubernetes operator made is not the platform's: every OSB request about it is
//! refused (422 for a change, 404 for a read, as if unknown) with a description saying that the
//! operator manages it, and nothing reaches the backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use pgbroker_domain::usecases::{BindCommand, ProvisionCommand};
use pgbroker_domain::{
    BindingId, BindingSpec, FrontDoor, InstanceId, InstanceSpec, JsonObject, OperationKind, PlanId,
    ServiceId,
};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn osb_requests_about_an_operator_instance_are_refused() {
    let server = Server::start().await;
    let id = unique("i");
    let instance_id = InstanceId::parse(id.clone()).unwrap();
    let (service_id, plan_id) = (
        ServiceId::parse(SYNC_SERVICE).unwrap(),
        PlanId::parse(SYNC_PLAN).unwrap(),
    );
    server
        .broker
        .provision(ProvisionCommand {
            door: FrontDoor::Operator,
            instance_id: instance_id.clone(),
            spec: InstanceSpec {
                service_id: service_id.clone(),
                plan_id: plan_id.clone(),
                parameters: JsonObject::new(),
                context: JsonObject::new(),
                organization_guid: None,
                space_guid: None,
                maintenance_version: None,
            },
            accepts_incomplete: false,
            originating_identity: None,
        })
        .await
        .unwrap();
    server
        .broker
        .bind(BindCommand {
            door: FrontDoor::Operator,
            instance_id,
            binding_id: BindingId::parse("b1").unwrap(),
            spec: BindingSpec {
                service_id,
                plan_id,
                parameters: JsonObject::new(),
                context: JsonObject::new(),
                bind_resource: JsonObject::new(),
            },
            accepts_incomplete: false,
            originating_identity: None,
        })
        .await
        .unwrap();
    let calls = |kind| server.sync_backend.calls(kind);
    let before: Vec<usize> = OperationKind::ALL.into_iter().map(calls).collect();

    let path = instance_path(&id);
    let binding = binding_path(&id, "b1");
    let ids = format!("service_id={SYNC_SERVICE}&plan_id={SYNC_PLAN}");
    let requests = [
        (
            server
                .osb(Method::PUT, &path)
                .json(&provision_body(SYNC_SERVICE, SYNC_PLAN)),
            422,
        ),
        (
            server
                .osb(Method::PATCH, &path)
                .json(&json!({"service_id": SYNC_SERVICE, "parameters": {"postgres_version": 17}})),
            422,
        ),
        (server.osb(Method::DELETE, &format!("{path}?{ids}")), 422),
        (
            server
                .osb(Method::PUT, &binding_path(&id, "b2"))
                .json(&json!({"service_id": SYNC_SERVICE, "plan_id": SYNC_PLAN})),
            422,
        ),
        (server.osb(Method::DELETE, &format!("{binding}?{ids}")), 422),
        (server.osb(Method::GET, &path), 404),
        (server.osb(Method::GET, &binding), 404),
        (
            server.osb(Method::GET, &format!("{path}/last_operation")),
            404,
        ),
        (
            server.osb(Method::GET, &format!("{binding}/last_operation")),
            404,
        ),
    ];
    for (request, expected) in requests {
        let (status, body) = send(request).await;
        assert_eq!(status, expected, "{body}");
        assert_error_body(&body);
        let description = body["description"].as_str().unwrap();
        assert!(
            description.contains(&id) && description.contains("Kubernetes operator"),
            "{description}"
        );
    }
    let after: Vec<usize> = OperationKind::ALL.into_iter().map(calls).collect();
    assert_eq!(before, after, "a refused request reached the backend");
    server.stop().await;
}
