//! Bind and unbind: each binding gets credentials of its own, made by the plan's backend.

use crate::ids::{BindingId, InstanceId, PlanId, ServiceId};
use crate::model::{Binding, BindingSpec, BindingState, InstanceState};
use crate::operation::{DeletionPolicy, OperationKind, Origin};
use crate::ports::{StoreError, Write};
use crate::reason::FrontDoor;
use crate::reason::Reason;

use super::binding_ids::BindingIds;
use super::door::check_owner;
use super::instance::{concurrency, other_policy};
use super::launch::{LaunchError, Started, finished};
use super::{Broker, BrokerError, Outcome};

#[derive(Debug, Clone, PartialEq)]
pub struct BindCommand {
    /// The door asking; must be the instance's owner.
    pub door: FrontDoor,
    pub instance_id: InstanceId,
    pub binding_id: BindingId,
    pub spec: BindingSpec,
    pub accepts_incomplete: bool,
    pub originating_identity: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnbindCommand {
    /// The door asking; must be the instance's owner.
    pub door: FrontDoor,
    pub instance_id: InstanceId,
    pub binding_id: BindingId,
    pub service_id: ServiceId,
    pub plan_id: PlanId,
    /// Whether the backend drops what holds the binding's data (its own database) or keeps it.
    pub deletion_policy: DeletionPolicy,
    pub accepts_incomplete: bool,
    pub originating_identity: Option<String>,
}

fn same_request(a: &BindingSpec, b: &BindingSpec) -> bool {
    a.service_id == b.service_id
        && a.plan_id == b.plan_id
        && a.parameters == b.parameters
        && a.bind_resource == b.bind_resource
}

impl Broker {
    #[tracing::instrument(name = "broker.bind", skip_all, fields(door = cmd.door.as_str(), instance_id = %cmd.instance_id, binding_id = %cmd.binding_id, accepts_incomplete = cmd.accepts_incomplete))]
    pub async fn bind(&self, cmd: BindCommand) -> Result<Outcome<Binding>, BrokerError> {
        let core = &self.core;
        let (service, plan) = core
            .catalog
            .plan(&cmd.spec.service_id, &cmd.spec.plan_id)
            .map_err(BrokerError::from)?;
        // OSB: the credentials of a bind answered with 202 reach the platform only by fetching
        // the binding. A service whose bindings cannot be fetched must bind within the request.
        let bindings_retrievable = service.bindings_retrievable;
        let accepts_incomplete = cmd.accepts_incomplete && bindings_retrievable;
        if !plan.bindable {
            return Err(BrokerError::bad_request(
                Reason::Unsupported,
                format!("plan {} is not bindable", plan.id),
            )
            .plan(&plan.id));
        }
        core.check_parameters(
            plan,
            "binding_create",
            plan.schemas.binding_create.as_ref(),
            &cmd.spec.parameters,
        )?;
        let own_database = cmd.spec.own_database().map_err(|e| {
            BrokerError::bad_request(Reason::InvalidSpec, e.to_string()).plan(&plan.id)
        })?;
        let plan = plan.clone();
        for _ in 0..2 {
            // The three reads the request needs go to the store together; their answers are
            // looked at in order, as if read one after another.
            let (instance, existing, in_flight) = futures::join!(
                core.store.instance(&cmd.instance_id),
                core.store.binding(&cmd.instance_id, &cmd.binding_id),
                core.store.operation_in_flight(&cmd.instance_id),
            );
            let instance = instance?.ok_or_else(|| {
                BrokerError::not_found(format!("instance {} does not exist", cmd.instance_id))
                    .instance(&cmd.instance_id)
            })?;
            check_owner(&instance, cmd.door)?;
            if instance.spec.service_id != cmd.spec.service_id
                || instance.spec.plan_id != cmd.spec.plan_id
            {
                return Err(BrokerError::bad_request(
                    Reason::InvalidSpec,
                    format!(
                        "instance {} has service_id {} and plan_id {}, not {} and {}",
                        cmd.instance_id,
                        instance.spec.service_id,
                        instance.spec.plan_id,
                        cmd.spec.service_id,
                        cmd.spec.plan_id
                    ),
                ));
            }
            let existing = existing?;
            if let Some(existing) = &existing
                && !same_request(&existing.spec, &cmd.spec)
            {
                return Err(BrokerError::conflict(format!(
                    "binding {} already exists with different attributes",
                    cmd.binding_id
                ))
                .instance(&cmd.instance_id)
                .binding(&cmd.binding_id));
            }
            if let Some(in_flight) = in_flight? {
                if in_flight.kind == OperationKind::Bind
                    && in_flight.origin == Origin::Platform
                    && in_flight.binding_id.as_ref() == Some(&cmd.binding_id)
                {
                    return Ok(Outcome::Accepted {
                        operation: in_flight.id,
                    });
                }
                return Err(concurrency(&cmd.instance_id, &in_flight));
            }
            if let Some(existing) = &existing
                && existing.state == BindingState::Ready
            {
                return Ok(Outcome::Done {
                    value: existing.clone(),
                    created: false,
                });
            }
            if instance.state != InstanceState::Ready {
                return Err(BrokerError::unprocessable(
                    Reason::InvalidState,
                    format!(
                        "instance {} is {} and cannot be bound",
                        cmd.instance_id,
                        instance.state.as_str()
                    ),
                ));
            }
            let (_, backend) = core
                .plan_and_backend(&instance.spec)
                .map_err(BrokerError::Unavailable)?;
            if let Some(db) = &own_database
                && !backend.supports_own_database()
            {
                return Err(BrokerError::unprocessable(
                    Reason::Unsupported,
                    format!(
                        "plan {}'s backend {} cannot give a binding a database of its own \
                         (parameter database {:?})",
                        plan.id, plan.backend, db.name
                    ),
                )
                .plan(&plan.id)
                .backend(&plan.backend));
            }
            if !bindings_retrievable && !backend.completes_synchronously(OperationKind::Bind) {
                return Err(BrokerError::unprocessable(
                    Reason::Unsupported,
                    format!(
                        "plan {}'s backend binds asynchronously, but service {} declares \
                     bindings_retrievable: false, so the credentials could never be delivered",
                        plan.id, cmd.spec.service_id
                    ),
                ));
            }
            Self::require_async_unless_synchronous(
                backend.as_ref(),
                OperationKind::Bind,
                accepts_incomplete,
            )?;
            let now = core.clock.now();
            // A binding whose bind failed (and was cleaned up) may be retried with the same request.
            let write = match existing {
                Some(failed) => Write::UpdateBinding(Binding {
                    state: BindingState::Binding,
                    updated_at: now,
                    ..failed
                }),
                None => Write::InsertBinding(Binding {
                    id: cmd.binding_id.clone(),
                    instance_id: cmd.instance_id.clone(),
                    spec: cmd.spec.clone(),
                    state: BindingState::Binding,
                    password: core.secrets.password(),
                    credentials: None,
                    created_at: now,
                    updated_at: now,
                }),
            };
            let mut op = core.new_operation(
                OperationKind::Bind,
                (Origin::Platform, instance.owner),
                cmd.instance_id.clone(),
                Some(cmd.binding_id.clone()),
                (&cmd.spec.service_id, &cmd.spec.plan_id),
                Some(&plan),
            );
            op.originating_identity = cmd.originating_identity.clone();
            op.description = Some("binding".into());
            match self
                .launch_read(op, &[write], Some(&instance), accepts_incomplete)
                .await
            {
                Ok(Started::Accepted(operation)) => return Ok(Outcome::Accepted { operation }),
                Ok(Started::Finished(done)) => {
                    let value = self
                        .finished_binding(&done, &cmd.instance_id, &cmd.binding_id)
                        .await?;
                    return Ok(Outcome::Done {
                        value,
                        created: true,
                    });
                }
                Err(LaunchError::Store(StoreError::AlreadyExists(_))) => continue,
                Err(e) => return Err(self.launch_error(e, &cmd.instance_id)),
            }
        }
        Err(BrokerError::concurrency(format!(
            "binding {} is being created by a concurrent request",
            cmd.binding_id
        ))
        .instance(&cmd.instance_id)
        .binding(&cmd.binding_id))
    }

    #[tracing::instrument(name = "broker.unbind", skip_all, fields(door = cmd.door.as_str(), instance_id = %cmd.instance_id, binding_id = %cmd.binding_id, accepts_incomplete = cmd.accepts_incomplete))]
    pub async fn unbind(&self, cmd: UnbindCommand) -> Result<Outcome<()>, BrokerError> {
        let core = &self.core;
        let gone = || {
            BrokerError::gone(format!("binding {} does not exist", cmd.binding_id))
                .instance(&cmd.instance_id)
                .binding(&cmd.binding_id)
        };
        // The three reads the request needs go to the store together; their answers are looked
        // at in order, as if read one after another.
        let (instance, binding, in_flight) = futures::join!(
            core.store.instance(&cmd.instance_id),
            core.store.binding(&cmd.instance_id, &cmd.binding_id),
            core.store.operation_in_flight(&cmd.instance_id),
        );
        let instance = instance?.ok_or_else(gone)?;
        check_owner(&instance, cmd.door)?;
        let binding = binding?.ok_or_else(gone)?;
        let ids = BindingIds {
            subject: &format!("binding {} of instance {}", cmd.binding_id, cmd.instance_id),
            service_id: &binding.spec.service_id,
            bound_plan: &binding.spec.plan_id,
            instance_plan: Some(&instance.spec.plan_id),
        };
        ids.check_service(&cmd.service_id)?;
        ids.check_plan(&cmd.plan_id)?;
        if let Some(in_flight) = in_flight? {
            // Joins an unbind of this binding, including the broker's own orphan mitigation.
            if in_flight.kind == OperationKind::Unbind
                && in_flight.binding_id.as_ref() == Some(&cmd.binding_id)
            {
                if in_flight.origin == Origin::Platform
                    && in_flight.deletion_policy != cmd.deletion_policy
                {
                    return Err(other_policy(
                        &cmd.instance_id,
                        Some(&cmd.binding_id),
                        &in_flight,
                    ));
                }
                return Ok(Outcome::Accepted {
                    operation: in_flight.id,
                });
            }
            return Err(concurrency(&cmd.instance_id, &in_flight));
        }
        let mut op = self.binding_operation(
            OperationKind::Unbind,
            &instance,
            &binding,
            cmd.accepts_incomplete,
        )?;
        op.originating_identity = cmd.originating_identity.clone();
        op.description = Some("unbinding".into());
        op.deletion_policy = cmd.deletion_policy;
        let write = Write::UpdateBinding(Binding {
            state: BindingState::Unbinding,
            updated_at: core.clock.now(),
            ..binding
        });
        match self
            .launch_read(op, &[write], Some(&instance), cmd.accepts_incomplete)
            .await
        {
            Ok(Started::Accepted(operation)) => Ok(Outcome::Accepted { operation }),
            Ok(Started::Finished(done)) => finished(&done.op, ()).map(|()| Outcome::Done {
                value: (),
                created: false,
            }),
            Err(e) => Err(self.launch_error(e, &cmd.instance_id)),
        }
    }

    /// A new operation of `kind` on an existing `binding` of `instance`, once the instance's
    /// backend can serve it as asked (synchronously unless `accepts_incomplete`). It carries
    /// the binding's ids; a poll may send the instance's current plan instead, as the request
    /// itself may.
    pub(super) fn binding_operation(
        &self,
        kind: OperationKind,
        instance: &crate::model::Instance,
        binding: &Binding,
        accepts_incomplete: bool,
    ) -> Result<crate::operation::Operation, BrokerError> {
        let core = &self.core;
        let (plan, backend) = core
            .plan_and_backend(&instance.spec)
            .map_err(BrokerError::Unprocessable)?;
        Self::require_async_unless_synchronous(backend.as_ref(), kind, accepts_incomplete)?;
        Ok(core.new_operation(
            kind,
            (Origin::Platform, instance.owner),
            instance.id.clone(),
            Some(binding.id.clone()),
            (&binding.spec.service_id, &binding.spec.plan_id),
            Some(plan),
        ))
    }

    pub async fn binding(
        &self,
        instance_id: &InstanceId,
        id: &BindingId,
    ) -> Result<Binding, BrokerError> {
        self.core
            .store
            .binding(instance_id, id)
            .await?
            .ok_or_else(|| {
                BrokerError::not_found(format!(
                    "binding {id} of instance {instance_id} does not exist"
                ))
                .instance(instance_id)
                .binding(id)
            })
    }
}
