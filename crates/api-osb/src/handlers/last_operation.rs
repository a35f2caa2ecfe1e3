//! Polling asynchronous operations of instances and bindings.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use pgbroker_domain::usecases::{LastOperation, LastOperationQuery as Query};
use pgbroker_domain::{BindingId, FrontDoor, OperationState};

use super::{OsbState, json, operation_id, retry_after};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{OsbPath, OsbQuery, path_id};
use crate::wire::instance::{LastOperationQuery, LastOperationResponse, LastOperationState};

async fn poll(
    state: &OsbState,
    instance: String,
    binding: Option<String>,
    query: LastOperationQuery,
) -> Result<Response, ApiError> {
    let instance_id = path_id("instance_id", instance)?;
    let binding_id: Option<BindingId> = binding.map(|b| path_id("binding_id", b)).transpose()?;
    state
        .broker
        .check_catalog_ids(query.service_id.as_ref(), query.plan_id.as_ref())?;
    let operation = operation_id(query.operation.as_deref())?;
    let last = state
        .broker
        .last_operation(Query {
            door: FrontDoor::Osb,
            instance_id,
            binding_id,
            operation,
            service_id: query.service_id,
            plan_id: query.plan_id,
        })
        .await
        .map_err(ApiError::of_read)?;
    Ok(report(last))
}

fn report(last: LastOperation) -> Response {
    let state = match last.state {
        OperationState::InProgress => LastOperationState::InProgress,
        OperationState::Succeeded => LastOperationState::Succeeded,
        OperationState::Failed => LastOperationState::Failed,
    };
    let mut response = json(
        StatusCode::OK,
        &LastOperationResponse {
            state,
            description: last.description,
        },
    );
    retry_after(&mut response, last.retry_after);
    response
}

/// Where an instance's asynchronous operation stands.
#[utoipa::path(
    get,
    path = "/v2/service_instances/{instance_id}/last_operation",
    operation_id = "instance_last_operation",
    tag = "instances",
    params(("instance_id" = String, Path, description = "Instance id"), LastOperationQuery),
    responses(
        (status = 200, description = "The operation's state; Retry-After while in progress", body = LastOperationResponse,
         headers(("Retry-After" = u64, description = "Seconds until polling again is worthwhile"))),
        (status = 400, description = "Invalid request, or service_id/plan_id not those of the instance", body = ErrorBody),
        (status = 404, description = "No such instance or operation", body = ErrorBody),
        (status = 410, description = "The deprovision being polled has finished: the instance is gone", body = ErrorBody),
    )
)]
pub async fn instance_last_operation(
    State(state): State<OsbState>,
    OsbPath(instance): OsbPath<String>,
    OsbQuery(query): OsbQuery<LastOperationQuery>,
) -> Result<Response, ApiError> {
    poll(&state, instance, None, query).await
}

/// Where a binding's asynchronous operation stands.
#[utoipa::path(
    get,
    path = "/v2/service_instances/{instance_id}/service_bindings/{binding_id}/last_operation",
    operation_id = "binding_last_operation",
    tag = "bindings",
    params(
        ("instance_id" = String, Path, description = "Instance id"),
        ("binding_id" = String, Path, description = "Binding id"),
        LastOperationQuery
    ),
    responses(
        (status = 200, description = "The operation's state; Retry-After while in progress", body = LastOperationResponse,
         headers(("Retry-After" = u64, description = "Seconds until polling again is worthwhile"))),
        (status = 400, description = "Invalid request, or service_id/plan_id not those of the binding", body = ErrorBody),
        (status = 404, description = "No such binding or operation", body = ErrorBody),
        (status = 410, description = "The unbind being polled has finished: the binding is gone", body = ErrorBody),
    )
)]
pub async fn binding_last_operation(
    State(state): State<OsbState>,
    OsbPath((instance, binding)): OsbPath<(String, String)>,
    OsbQuery(query): OsbQuery<LastOperationQuery>,
) -> Result<Response, ApiError> {
    poll(&state, instance, Some(binding), query).await
}
