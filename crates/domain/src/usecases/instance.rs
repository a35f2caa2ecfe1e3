//! Provision and deprovision service instances (update is in `update.rs`, fetch in `fetch.rs`).

use crate::catalog::Plan;
use crate::ids::{InstanceId, PlanId, ServiceId};
use crate::model::{Instance, InstanceSpec, InstanceState};
use crate::operation::{DeletionPolicy, Operation, OperationKind, Origin};
use crate::ports::{StoreError, Write};
use crate::reason::FrontDoor;
use crate::reason::Reason;

use super::door::check_owner;
use super::launch::{LaunchError, Started, finished};
use super::{Broker, BrokerError, Outcome};

#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionCommand {
    /// The door asking; it becomes the instance's owner.
    pub door: FrontDoor,
    pub instance_id: InstanceId,
    pub spec: InstanceSpec,
    pub accepts_incomplete: bool,
    pub originating_identity: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeprovisionCommand {
    /// The door asking; must be the instance's owner.
    pub door: FrontDoor,
    pub instance_id: InstanceId,
    pub service_id: ServiceId,
    pub plan_id: PlanId,
    /// Whether the backend drops the instance's data or keeps it.
    pub deletion_policy: DeletionPolicy,
    pub accepts_incomplete: bool,
    pub originating_identity: Option<String>,
}

enum Existing {
    /// An operation doing what was asked is in flight.
    Join(crate::ids::OperationId),
    /// The instance is already provisioned as asked.
    Provisioned,
    StartNew,
}

/// Two provision requests are the same request when they ask for the same thing in the same place.
fn same_request(a: &InstanceSpec, b: &InstanceSpec) -> bool {
    a.service_id == b.service_id
        && a.plan_id == b.plan_id
        && a.parameters == b.parameters
        && a.organization_guid == b.organization_guid
        && a.space_guid == b.space_guid
}

pub(super) fn check_maintenance(plan: &Plan, requested: Option<&str>) -> Result<(), BrokerError> {
    let Some(requested) = requested else {
        return Ok(());
    };
    match &plan.maintenance_info {
        Some(info) if info.version == requested => Ok(()),
        Some(info) => Err(BrokerError::maintenance_info_conflict(format!(
            "maintenance_info.version {requested} does not match plan {}'s {}",
            plan.id, info.version
        ))),
        None => Err(BrokerError::maintenance_info_conflict(format!(
            "plan {} has no maintenance_info, but the request names version {requested}",
            plan.id
        ))),
    }
}

impl Broker {
    #[tracing::instrument(name = "broker.provision", skip_all, fields(door = cmd.door.as_str(), instance_id = %cmd.instance_id, accepts_incomplete = cmd.accepts_incomplete))]
    pub async fn provision(&self, cmd: ProvisionCommand) -> Result<Outcome<Instance>, BrokerError> {
        let core = &self.core;
        let (plan, backend) = {
            let (_, plan) = core
                .catalog
                .plan(&cmd.spec.service_id, &cmd.spec.plan_id)
                .map_err(BrokerError::from)?;
            check_maintenance(plan, cmd.spec.maintenance_version.as_deref())?;
            core.check_parameters(
                plan,
                "instance_create",
                plan.schemas.instance_create.as_ref(),
                &cmd.spec.parameters,
            )?;
            let (_, backend) = core
                .plan_and_backend(&cmd.spec)
                .map_err(BrokerError::Unavailable)?;
            (plan.clone(), backend.clone())
        };
        let mut spec = cmd.spec.clone();
        spec.maintenance_version = plan.maintenance_info.as_ref().map(|m| m.version.clone());
        // A new instance is the usual case, so the first round writes without reading first:
        // the store refuses an instance that exists (or an operation in flight on it), and the
        // rounds after that read it and answer as for any existing instance. Two reading rounds
        // at most: a start that loses a race to an identical request re-reads and joins it.
        for round in 0..3 {
            let existing = if round == 0 {
                None
            } else {
                core.store.instance(&cmd.instance_id).await?
            };
            if let Some(existing) = &existing {
                check_owner(existing, cmd.door)?;
            }
            let retry_of_failed = match existing {
                Some(existing) if !same_request(&existing.spec, &cmd.spec) => {
                    return Err(BrokerError::conflict(format!(
                        "instance {} already exists with different attributes",
                        cmd.instance_id
                    ))
                    .instance(&cmd.instance_id));
                }
                Some(existing) => match existing_instance(
                    &existing,
                    core.store.operation_in_flight(&existing.id).await?,
                    OperationKind::Provision,
                    DeletionPolicy::Delete,
                )? {
                    Existing::Join(operation) => return Ok(Outcome::Accepted { operation }),
                    Existing::Provisioned => {
                        return Ok(Outcome::Done {
                            value: existing,
                            created: false,
                        });
                    }
                    Existing::StartNew => Some(existing),
                },
                None => None,
            };
            let synchronous = Self::require_async_unless_synchronous(
                backend.as_ref(),
                OperationKind::Provision,
                cmd.accepts_incomplete,
            );
            match synchronous {
                // Unread yet: an identical instance that exists is an answer all the same.
                Err(_) if round == 0 => continue,
                other => other?,
            }
            let now = core.clock.now();
            // A provision that failed (and was cleaned up) may be retried with the same request.
            let write = match retry_of_failed {
                Some(failed) => Write::UpdateInstance(Instance {
                    state: InstanceState::Provisioning,
                    updated_at: now,
                    ..failed
                }),
                None => Write::InsertInstance(Instance {
                    id: cmd.instance_id.clone(),
                    spec: spec.clone(),
                    state: InstanceState::Provisioning,
                    owner: cmd.door,
                    dashboard_url: None,
                    created_at: now,
                    updated_at: now,
                }),
            };
            let mut op = self.platform_operation(
                OperationKind::Provision,
                (cmd.door, &cmd.instance_id),
                &spec,
                &plan,
                &cmd.originating_identity,
            );
            op.description = Some("provisioning".into());
            match self.launch(op, &[write], cmd.accepts_incomplete).await {
                Ok(started) => return self.instance_outcome(started, &cmd.instance_id, true).await,
                Err(LaunchError::Store(StoreError::AlreadyExists(_))) => continue,
                // Unread yet: the operation in flight may be an identical provision to join.
                Err(LaunchError::Store(StoreError::Busy(_))) if round == 0 => continue,
                Err(e) => return Err(self.launch_error(e, &cmd.instance_id)),
            }
        }
        Err(BrokerError::concurrency(format!(
            "instance {} is being created by a concurrent request",
            cmd.instance_id
        ))
        .instance(&cmd.instance_id))
    }

    #[tracing::instrument(name = "broker.deprovision", skip_all, fields(door = cmd.door.as_str(), instance_id = %cmd.instance_id, accepts_incomplete = cmd.accepts_incomplete))]
    pub async fn deprovision(&self, cmd: DeprovisionCommand) -> Result<Outcome<()>, BrokerError> {
        let core = &self.core;
        // Both reads go to the store together; their answers are looked at in order, as if
        // read one after another.
        let (instance, in_flight) = futures::join!(
            core.store.instance(&cmd.instance_id),
            core.store.operation_in_flight(&cmd.instance_id),
        );
        let Some(instance) = instance? else {
            return Err(
                BrokerError::gone(format!("instance {} does not exist", cmd.instance_id))
                    .instance(&cmd.instance_id),
            );
        };
        check_owner(&instance, cmd.door)?;
        if cmd.service_id != instance.spec.service_id || cmd.plan_id != instance.spec.plan_id {
            return Err(BrokerError::bad_request(
                Reason::InvalidSpec,
                format!(
                    "instance {} has service_id {} and plan_id {}, not {} and {}",
                    cmd.instance_id,
                    instance.spec.service_id,
                    instance.spec.plan_id,
                    cmd.service_id,
                    cmd.plan_id
                ),
            ));
        }
        if let Existing::Join(operation) = existing_instance(
            &instance,
            in_flight?,
            OperationKind::Deprovision,
            cmd.deletion_policy,
        )? {
            return Ok(Outcome::Accepted { operation });
        }
        let (plan, backend) = core
            .plan_and_backend(&instance.spec)
            .map_err(BrokerError::Unprocessable)?;
        Self::require_async_unless_synchronous(
            backend.as_ref(),
            OperationKind::Deprovision,
            cmd.accepts_incomplete,
        )?;
        let plan = plan.clone();
        let mut op = self.platform_operation(
            OperationKind::Deprovision,
            (cmd.door, &cmd.instance_id),
            &instance.spec,
            &plan,
            &cmd.originating_identity,
        );
        op.description = Some("deprovisioning".into());
        op.deletion_policy = cmd.deletion_policy;
        let write = Write::UpdateInstance(Instance {
            state: InstanceState::Deprovisioning,
            updated_at: core.clock.now(),
            ..instance
        });
        match self.launch(op, &[write], cmd.accepts_incomplete).await {
            Ok(Started::Accepted(operation)) => Ok(Outcome::Accepted { operation }),
            Ok(Started::Finished(done)) => finished(&done.op, ()).map(|()| Outcome::Done {
                value: (),
                created: false,
            }),
            Err(e) => Err(self.launch_error(e, &cmd.instance_id)),
        }
    }

    pub async fn instance(&self, id: &InstanceId) -> Result<Instance, BrokerError> {
        self.core.store.instance(id).await?.ok_or_else(|| {
            BrokerError::not_found(format!("instance {id} does not exist")).instance(id)
        })
    }

    pub(super) fn platform_operation(
        &self,
        kind: OperationKind,
        (door, instance_id): (FrontDoor, &InstanceId),
        spec: &InstanceSpec,
        plan: &Plan,
        originating_identity: &Option<String>,
    ) -> Operation {
        let mut op = self.core.new_operation(
            kind,
            (Origin::Platform, door),
            instance_id.clone(),
            None,
            (&spec.service_id, &spec.plan_id),
            Some(plan),
        );
        op.originating_identity = originating_identity.clone();
        op
    }

    pub(super) async fn instance_outcome(
        &self,
        started: Started,
        id: &InstanceId,
        created: bool,
    ) -> Result<Outcome<Instance>, BrokerError> {
        match started {
            Started::Accepted(operation) => Ok(Outcome::Accepted { operation }),
            Started::Finished(done) => {
                let value = self.finished_instance(&done, id).await?;
                Ok(Outcome::Done { value, created })
            }
        }
    }

    pub(super) fn launch_error(&self, e: LaunchError, instance_id: &InstanceId) -> BrokerError {
        match e {
            LaunchError::Broker(e) => e,
            LaunchError::Store(StoreError::Busy(_)) => BrokerError::concurrency(format!(
                "instance {instance_id} has another operation in flight"
            )),
            LaunchError::Store(e @ (StoreError::AlreadyExists(_) | StoreError::NotFound(_))) => {
                BrokerError::concurrency(format!("a concurrent request changed it first: {e}"))
            }
            LaunchError::Store(e) => e.into(),
        }
    }
}

pub(super) fn concurrency(instance_id: &InstanceId, in_flight: &Operation) -> BrokerError {
    let what = match &in_flight.binding_id {
        Some(b) => format!("{} of binding {b}", in_flight.kind.as_str()),
        None => in_flight.kind.as_str().to_string(),
    };
    BrokerError::concurrency(format!(
        "instance {instance_id} has an operation in flight ({what}, operation {})",
        in_flight.id
    ))
    .instance(instance_id)
    .operation(in_flight.id)
}

/// A removal asked with another deletion policy than the one in flight.
pub(super) fn other_policy(
    instance_id: &InstanceId,
    binding_id: Option<&crate::ids::BindingId>,
    in_flight: &Operation,
) -> BrokerError {
    let subject = match binding_id {
        Some(b) => format!("binding {b} of instance {instance_id}"),
        None => format!("instance {instance_id}"),
    };
    BrokerError::concurrency(format!(
        "{subject} is already being removed with deletion policy {} (operation {}); \
         a removal with the other policy cannot join it",
        in_flight.deletion_policy.as_str(),
        in_flight.id
    ))
    .instance(instance_id)
    .operation(in_flight.id)
}

/// For a request of `kind` (with deletion `policy`) about an existing instance, with the
/// operation in flight on it (as read): joins an identical operation in flight, refuses when
/// another is in flight, reports a finished provision, or says to start anew.
fn existing_instance(
    instance: &Instance,
    in_flight: Option<Operation>,
    kind: OperationKind,
    policy: DeletionPolicy,
) -> Result<Existing, BrokerError> {
    if let Some(in_flight) = in_flight {
        // A deprovision request joins the orphan mitigation that is already removing the instance.
        let joins = in_flight.kind == kind
            && (in_flight.origin == Origin::Platform || kind == OperationKind::Deprovision);
        // A removal asked with another deletion policy is another request; the clean-up of
        // a failed provision has no data to keep, so any removal joins it.
        if joins && in_flight.deletion_policy != policy && in_flight.origin == Origin::Platform {
            return Err(other_policy(&instance.id, None, &in_flight));
        }
        if joins {
            return Ok(Existing::Join(in_flight.id));
        }
        return Err(concurrency(&instance.id, &in_flight));
    }
    match (kind, instance.state) {
        (OperationKind::Provision, InstanceState::Ready) => Ok(Existing::Provisioned),
        (OperationKind::Provision, InstanceState::Deprovisioning) => Err(BrokerError::concurrency(
            format!("instance {} is being deprovisioned", instance.id),
        )
        .instance(&instance.id)),
        _ => Ok(Existing::StartNew),
    }
}
