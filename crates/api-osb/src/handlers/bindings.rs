//! Bind, unbind and fetch service bindings.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use pgbroker_domain::usecases::{BindCommand, FetchBindingQuery, UnbindCommand};
use pgbroker_domain::{
    Binding, BindingId, BindingSpec, DeletionPolicy, FrontDoor, InstanceId, JsonObject,
};

use super::instances::removal_outcome;
use super::{OsbState, json, outcome_response};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{OsbJson, OsbPath, OsbQuery, path_id};
use crate::headers::OriginatingIdentity;
use crate::wire::binding::{BindRequest, BindResponse, BindingResponse};
use crate::wire::instance::{AsyncOperationResponse, AsyncQuery, DeleteQuery, FetchQuery};

fn ids((instance, binding): (String, String)) -> Result<(InstanceId, BindingId), ApiError> {
    Ok((
        path_id("instance_id", instance)?,
        path_id("binding_id", binding)?,
    ))
}

fn credentials(binding: &Binding) -> JsonObject {
    binding
        .credentials
        .as_ref()
        .map(|c| {
            c.expose()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Create a binding: a database role of its own, with its credentials.
#[utoipa::path(
    put,
    path = "/v2/service_instances/{instance_id}/service_bindings/{binding_id}",
    operation_id = "bind",
    tag = "bindings",
    params(
        ("instance_id" = String, Path, description = "Instance id"),
        ("binding_id" = String, Path, description = "Binding id chosen by the platform"),
        AsyncQuery
    ),
    request_body = BindRequest,
    responses(
        (status = 200, description = "Already bound identically", body = BindResponse),
        (status = 201, description = "Bound", body = BindResponse),
        (status = 202, description = "Binding under way", body = BindResponse),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 404, description = "No such instance", body = ErrorBody),
        (status = 409, description = "Exists with different attributes", body = ErrorBody),
        (status = 422, description = "AsyncRequired or ConcurrencyError; without a code: the instance is not ready, or the plan's backend binds only asynchronously while the service has bindings_retrievable: false", body = ErrorBody),
    )
)]
pub async fn bind(
    State(state): State<OsbState>,
    OsbPath(raw): OsbPath<(String, String)>,
    OsbQuery(query): OsbQuery<AsyncQuery>,
    OriginatingIdentity(identity): OriginatingIdentity,
    OsbJson(body): OsbJson<BindRequest>,
) -> Result<Response, ApiError> {
    let (instance_id, binding_id) = ids(raw)?;
    let mut bind_resource = body.bind_resource.unwrap_or_default();
    if let Some(app_guid) = body.app_guid
        && !bind_resource.contains_key("app_guid")
    {
        bind_resource.insert("app_guid".into(), app_guid.into());
    }
    let outcome = state
        .broker
        .bind(BindCommand {
            door: FrontDoor::Osb,
            instance_id,
            binding_id,
            spec: BindingSpec {
                service_id: body.service_id,
                plan_id: body.plan_id,
                parameters: body.parameters.unwrap_or_default(),
                context: body.context.unwrap_or_default(),
                bind_resource,
            },
            accepts_incomplete: query.accepts_incomplete.unwrap_or(false),
            originating_identity: identity,
        })
        .await?;
    Ok(outcome_response(
        outcome,
        false,
        |binding| BindResponse {
            credentials: Some(credentials(&binding)),
            operation: None,
        },
        |operation| BindResponse {
            credentials: None,
            operation: Some(operation),
        },
    ))
}

/// Remove a binding; its credentials stop working.
#[utoipa::path(
    delete,
    path = "/v2/service_instances/{instance_id}/service_bindings/{binding_id}",
    operation_id = "unbind",
    tag = "bindings",
    params(
        ("instance_id" = String, Path, description = "Instance id"),
        ("binding_id" = String, Path, description = "Binding id"),
        DeleteQuery
    ),
    responses(
        (status = 200, description = "Unbound", body = AsyncOperationResponse),
        (status = 202, description = "Unbinding under way", body = AsyncOperationResponse),
        (status = 400, description = "Invalid request; service_id or plan_id not the binding's (its plan, or its instance's current plan, are accepted)", body = ErrorBody),
        (status = 410, description = "No such binding", body = ErrorBody),
        (status = 422, description = "AsyncRequired or ConcurrencyError", body = ErrorBody),
    )
)]
pub async fn unbind(
    State(state): State<OsbState>,
    OsbPath(raw): OsbPath<(String, String)>,
    OsbQuery(query): OsbQuery<DeleteQuery>,
    OriginatingIdentity(identity): OriginatingIdentity,
) -> Result<Response, ApiError> {
    let (instance_id, binding_id) = ids(raw)?;
    let outcome = state
        .broker
        .unbind(UnbindCommand {
            door: FrontDoor::Osb,
            instance_id,
            binding_id,
            service_id: query.service_id,
            plan_id: query.plan_id,
            deletion_policy: DeletionPolicy::Delete,
            accepts_incomplete: query.accepts_incomplete.unwrap_or(false),
            originating_identity: identity,
        })
        .await?;
    Ok(removal_outcome(outcome))
}

/// Fetch a binding with its credentials and parameters.
#[utoipa::path(
    get,
    path = "/v2/service_instances/{instance_id}/service_bindings/{binding_id}",
    operation_id = "get_binding",
    tag = "bindings",
    params(
        ("instance_id" = String, Path, description = "Instance id"),
        ("binding_id" = String, Path, description = "Binding id"),
        FetchQuery
    ),
    responses(
        (status = 200, description = "The binding", body = BindingResponse),
        (status = 400, description = "Invalid request; service_id or plan_id not the binding's (its plan, or its instance's current plan, are accepted); or the service has bindings_retrievable: false", body = ErrorBody),
        (status = 404, description = "No such binding, or still binding", body = ErrorBody),
    )
)]
pub async fn get_binding(
    State(state): State<OsbState>,
    OsbPath(raw): OsbPath<(String, String)>,
    OsbQuery(query): OsbQuery<FetchQuery>,
) -> Result<Response, ApiError> {
    let (instance_id, binding_id) = ids(raw)?;
    state
        .broker
        .check_catalog_ids(query.service_id.as_ref(), query.plan_id.as_ref())?;
    let binding = state
        .broker
        .fetch_binding(&FetchBindingQuery {
            door: FrontDoor::Osb,
            instance_id,
            binding_id,
            service_id: query.service_id,
            plan_id: query.plan_id,
        })
        .await
        .map_err(ApiError::of_read)?;
    Ok(json(
        StatusCode::OK,
        &BindingResponse {
            credentials: credentials(&binding),
            parameters: binding.spec.parameters,
            context: binding.spec.context,
        },
    ))
}
