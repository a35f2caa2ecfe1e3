//! What the use cases and the engine share: the catalog, the ports and the policy.

use std::sync::Arc;

use crate::catalog::{Catalog, Plan};
use crate::ids::{PlanId, ServiceId};
use crate::model::InstanceSpec;
use crate::policy::OperationPolicy;
use crate::ports::{
    Backend, BackendRegistry, Clock, ParameterSchemas, SecretGenerator, StateStore, TraceContext,
};
use crate::reason::Reason;
use crate::usecases::{BrokerError, ErrorDetail};

pub struct Core {
    pub catalog: Arc<Catalog>,
    pub store: Arc<dyn StateStore>,
    pub backends: BackendRegistry,
    pub clock: Arc<dyn Clock>,
    pub secrets: Arc<dyn SecretGenerator>,
    /// Checks request parameters against the plans' JSON schemas.
    pub parameter_schemas: Arc<dyn ParameterSchemas>,
    pub policy: OperationPolicy,
    /// Stores the starting request's trace with each operation and continues it in its steps.
    pub traces: Arc<dyn TraceContext>,
}

impl Core {
    /// The plan and backend an instance spec runs on, or why there is none: the plan left the
    /// catalog ([`Reason::InvalidSpec`]) or names a backend that is not configured
    /// ([`Reason::BackendUnavailable`]).
    pub(crate) fn plan_and_backend(
        &self,
        spec: &InstanceSpec,
    ) -> Result<(&Plan, &Arc<dyn Backend>), ErrorDetail> {
        let (_, plan) = self
            .catalog
            .plan(&spec.service_id, &spec.plan_id)
            .map_err(|e| BrokerError::from(e).into_detail())?;
        let backend = self.backends.get(&plan.backend).ok_or_else(|| {
            BrokerError::unavailable(
                Reason::BackendUnavailable,
                format!(
                    "plan {} names backend {:?}, which is not configured",
                    plan.id, plan.backend
                ),
            )
            .plan(&plan.id)
            .backend(&plan.backend)
            .into_detail()
        })?;
        Ok((plan, backend))
    }
}

impl Core {
    /// Checks `parameters` against `schema` when the plan has one; the error names the field.
    pub(crate) fn check_parameters(
        &self,
        plan: &Plan,
        which: &str,
        schema: Option<&serde_json::Value>,
        parameters: &crate::model::JsonObject,
    ) -> Result<(), BrokerError> {
        let Some(schema) = schema else {
            return Ok(());
        };
        self.parameter_schemas
            .validate(schema, parameters)
            .map_err(|why| {
                BrokerError::bad_request(
                    Reason::InvalidSpec,
                    format!(
                        "parameters do not match plan {}'s {which} schema: {why}",
                        plan.id
                    ),
                )
                .plan(&plan.id)
            })
    }

    /// A new in-flight operation, due now, with its deadline from the plan or the policy. `door`
    /// is the owner of the instance it is for.
    /// `ids` are the service and plan the operation is for (see [`Operation::plan_id`]); `plan`
    /// is the one whose `maximum_polling_duration` bounds it (for an update, the target plan).
    ///
    /// [`Operation::plan_id`]: crate::operation::Operation::plan_id
    pub(crate) fn new_operation(
        &self,
        kind: crate::operation::OperationKind,
        (origin, door): (crate::operation::Origin, crate::reason::FrontDoor),
        instance_id: crate::ids::InstanceId,
        binding_id: Option<crate::ids::BindingId>,
        ids: (&ServiceId, &PlanId),
        plan: Option<&Plan>,
    ) -> crate::operation::Operation {
        let now = self.clock.now();
        let budget = match origin {
            crate::operation::Origin::OrphanMitigation => self.policy.mitigation_deadline,
            crate::operation::Origin::Platform => plan
                .and_then(|p| p.maximum_polling_duration)
                .map(std::time::Duration::from_secs)
                .unwrap_or(self.policy.default_deadline),
        };
        crate::operation::Operation {
            id: crate::ids::OperationId::new(),
            kind,
            origin,
            door,
            instance_id,
            binding_id,
            service_id: Some(ids.0.clone()),
            plan_id: Some(ids.1.clone()),
            state: crate::operation::OperationState::InProgress,
            description: None,
            reason: None,
            target: None,
            deletion_policy: crate::operation::DeletionPolicy::Delete,
            originating_identity: None,
            trace_parent: self.traces.current(),
            attempts: 0,
            failures: 0,
            next_attempt_at: now,
            deadline: now + budget,
            lease: None,
            created_at: now,
            updated_at: now,
        }
    }
}
