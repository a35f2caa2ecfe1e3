//! Provision, update, deprovision and fetch service instances.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use pgbroker_domain::usecases::{DeprovisionCommand, ProvisionCommand, UpdateCommand};
use pgbroker_domain::{DeletionPolicy, FrontDoor, Instance, InstanceId, InstanceSpec, Outcome};

use super::{OsbState, json, outcome_response};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{OsbJson, OsbPath, OsbQuery, path_id};
use crate::headers::OriginatingIdentity;
use crate::wire::instance::{
    AsyncOperationResponse, AsyncQuery, DeleteQuery, FetchQuery, InstanceOperationResponse,
    InstanceResponse, MaintenanceInfoRequest, ProvisionRequest, UpdateRequest,
};

fn instance_id(raw: String) -> Result<InstanceId, ApiError> {
    path_id("instance_id", raw)
}

/// Provision a service instance.
#[utoipa::path(
    put,
    path = "/v2/service_instances/{instance_id}",
    operation_id = "provision_instance",
    tag = "instances",
    params(("instance_id" = String, Path, description = "Instance id chosen by the platform"), AsyncQuery),
    request_body = ProvisionRequest,
    responses(
        (status = 200, description = "Already provisioned identically", body = InstanceOperationResponse),
        (status = 201, description = "Provisioned", body = InstanceOperationResponse),
        (status = 202, description = "Provisioning under way", body = InstanceOperationResponse),
        (status = 400, description = "Invalid request: a required field missing (organization_guid, space_guid, ...) or empty, a service or plan not in the catalog, parameters not matching the plan's schema", body = ErrorBody),
        (status = 409, description = "Exists with different attributes", body = ErrorBody),
        (status = 422, description = "AsyncRequired, ConcurrencyError or MaintenanceInfoConflict", body = ErrorBody),
    )
)]
pub async fn provision(
    State(state): State<OsbState>,
    OsbPath(raw_id): OsbPath<String>,
    OsbQuery(query): OsbQuery<AsyncQuery>,
    OriginatingIdentity(identity): OriginatingIdentity,
    OsbJson(body): OsbJson<ProvisionRequest>,
) -> Result<Response, ApiError> {
    let context = body.context.unwrap_or_default();
    let spec = InstanceSpec {
        service_id: body.service_id,
        plan_id: body.plan_id,
        parameters: body.parameters.unwrap_or_default(),
        organization_guid: Some(body.organization_guid.into()),
        space_guid: Some(body.space_guid.into()),
        context,
        maintenance_version: body.maintenance_info.map(|m| m.version),
    };
    let outcome = state
        .broker
        .provision(ProvisionCommand {
            door: FrontDoor::Osb,
            instance_id: instance_id(raw_id)?,
            spec,
            accepts_incomplete: query.accepts_incomplete.unwrap_or(false),
            originating_identity: identity,
        })
        .await?;
    Ok(instance_outcome(outcome, false))
}

fn instance_outcome(outcome: Outcome<Instance>, never_creates: bool) -> Response {
    outcome_response(
        outcome,
        never_creates,
        |instance| InstanceOperationResponse {
            dashboard_url: instance.dashboard_url,
            operation: None,
        },
        |operation| InstanceOperationResponse {
            dashboard_url: None,
            operation: Some(operation),
        },
    )
}

/// Update a service instance: plan, parameters, context or maintenance version.
#[utoipa::path(
    patch,
    path = "/v2/service_instances/{instance_id}",
    operation_id = "update_instance",
    tag = "instances",
    params(("instance_id" = String, Path, description = "Instance id"), AsyncQuery),
    request_body = UpdateRequest,
    responses(
        (status = 200, description = "Updated (or nothing to change)", body = InstanceOperationResponse),
        (status = 202, description = "Update under way", body = InstanceOperationResponse),
        (status = 400, description = "Invalid request: a service or plan not in the catalog, a plan of another service, parameters not matching the plan's schema", body = ErrorBody),
        (status = 404, description = "No such instance", body = ErrorBody),
        (status = 422, description = "AsyncRequired, ConcurrencyError or MaintenanceInfoConflict; without a code: a plan change away from a plan with plan_updateable: false, a change of the context alone for a service without allow_context_updates, or an instance not ready", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<OsbState>,
    OsbPath(raw_id): OsbPath<String>,
    OsbQuery(query): OsbQuery<AsyncQuery>,
    OriginatingIdentity(identity): OriginatingIdentity,
    OsbJson(body): OsbJson<UpdateRequest>,
) -> Result<Response, ApiError> {
    let outcome = state
        .broker
        .update(UpdateCommand {
            door: FrontDoor::Osb,
            instance_id: instance_id(raw_id)?,
            service_id: body.service_id,
            plan_id: body.plan_id,
            parameters: body.parameters,
            context: body.context,
            maintenance_version: body.maintenance_info.map(|m| m.version),
            accepts_incomplete: query.accepts_incomplete.unwrap_or(false),
            originating_identity: identity,
        })
        .await?;
    // An update never creates: 200 whether or not something changed.
    Ok(instance_outcome(outcome, true))
}

/// Deprovision a service instance.
#[utoipa::path(
    delete,
    path = "/v2/service_instances/{instance_id}",
    operation_id = "deprovision_instance",
    tag = "instances",
    params(("instance_id" = String, Path, description = "Instance id"), DeleteQuery),
    responses(
        (status = 200, description = "Deprovisioned", body = AsyncOperationResponse),
        (status = 202, description = "Deprovisioning under way", body = AsyncOperationResponse),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 410, description = "No such instance", body = ErrorBody),
        (status = 422, description = "AsyncRequired or ConcurrencyError", body = ErrorBody),
    )
)]
pub async fn deprovision(
    State(state): State<OsbState>,
    OsbPath(raw_id): OsbPath<String>,
    OsbQuery(query): OsbQuery<DeleteQuery>,
    OriginatingIdentity(identity): OriginatingIdentity,
) -> Result<Response, ApiError> {
    let outcome = state
        .broker
        .deprovision(DeprovisionCommand {
            door: FrontDoor::Osb,
            instance_id: instance_id(raw_id)?,
            service_id: query.service_id,
            plan_id: query.plan_id,
            deletion_policy: DeletionPolicy::Delete,
            accepts_incomplete: query.accepts_incomplete.unwrap_or(false),
            originating_identity: identity,
        })
        .await?;
    Ok(removal_outcome(outcome))
}

pub(crate) fn removal_outcome(outcome: Outcome<()>) -> Response {
    outcome_response(
        outcome,
        true,
        |()| AsyncOperationResponse::default(),
        |operation| AsyncOperationResponse {
            operation: Some(operation),
        },
    )
}

/// Fetch a service instance with the parameters and context it was provisioned with.
#[utoipa::path(
    get,
    path = "/v2/service_instances/{instance_id}",
    operation_id = "get_instance",
    tag = "instances",
    params(("instance_id" = String, Path, description = "Instance id"), FetchQuery),
    responses(
        (status = 200, description = "The instance", body = InstanceResponse),
        (status = 400, description = "Invalid request, or the service has instances_retrievable: false", body = ErrorBody),
        (status = 404, description = "No such instance, or still provisioning", body = ErrorBody),
        (status = 422, description = "ConcurrencyError: being updated", body = ErrorBody),
    )
)]
pub async fn get_instance(
    State(state): State<OsbState>,
    OsbPath(raw_id): OsbPath<String>,
    OsbQuery(query): OsbQuery<FetchQuery>,
) -> Result<Response, ApiError> {
    let id = instance_id(raw_id)?;
    state
        .broker
        .check_catalog_ids(query.service_id.as_ref(), query.plan_id.as_ref())?;
    let instance = state
        .broker
        .fetch_instance(FrontDoor::Osb, &id)
        .await
        .map_err(ApiError::of_read)?;
    Ok(json(
        StatusCode::OK,
        &InstanceResponse {
            service_id: instance.spec.service_id.to_string(),
            plan_id: instance.spec.plan_id.to_string(),
            dashboard_url: instance.dashboard_url,
            parameters: instance.spec.parameters,
            context: instance.spec.context,
            maintenance_info: instance
                .spec
                .maintenance_version
                .map(|version| MaintenanceInfoRequest { version }),
        },
    ))
}
