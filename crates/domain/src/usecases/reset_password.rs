//! Password reset: a ready binding gets a new password. The bind step runs again with it (every
//! backend's bind sets the binding's password on a login that exists), the new credentials
//! replace the old once it is done, and the old password stops working. A reset that fails
//! leaves the binding as it was: ready, with its old credentials.

use crate::ids::{BindingId, InstanceId};
use crate::model::{Binding, BindingState};
use crate::operation::OperationKind;
use crate::ports::Write;
use crate::reason::{FrontDoor, Reason};

use super::door::check_owner;
use super::instance::concurrency;
use super::launch::Started;
use super::{Broker, BrokerError, Outcome};

#[derive(Debug, Clone, PartialEq)]
pub struct ResetPasswordCommand {
    /// The door asking; must be the instance's owner.
    pub door: FrontDoor,
    pub instance_id: InstanceId,
    pub binding_id: BindingId,
    pub accepts_incomplete: bool,
}

/// Description of a reset while it runs, so a poll can tell it from a first bind.
pub const RESETTING: &str = "resetting the password";

impl Broker {
    #[tracing::instrument(name = "broker.reset_password", skip_all, fields(instance_id = %cmd.instance_id, binding_id = %cmd.binding_id))]
    pub async fn reset_password(
        &self,
        cmd: ResetPasswordCommand,
    ) -> Result<Outcome<Binding>, BrokerError> {
        let core = &self.core;
        let missing = |what: String| {
            BrokerError::not_found(what)
                .instance(&cmd.instance_id)
                .binding(&cmd.binding_id)
        };
        let instance = core
            .store
            .instance(&cmd.instance_id)
            .await?
            .ok_or_else(|| missing(format!("instance {} does not exist", cmd.instance_id)))?;
        check_owner(&instance, cmd.door)?;
        let binding = core
            .store
            .binding(&cmd.instance_id, &cmd.binding_id)
            .await?
            .ok_or_else(|| missing(format!("binding {} does not exist", cmd.binding_id)))?;
        if let Some(in_flight) = core.store.operation_in_flight(&cmd.instance_id).await? {
            // A reset (or the bind) of this binding under way: the same request joins it.
            if in_flight.kind == OperationKind::Bind
                && in_flight.binding_id.as_ref() == Some(&cmd.binding_id)
            {
                return Ok(Outcome::Accepted {
                    operation: in_flight.id,
                });
            }
            return Err(concurrency(&cmd.instance_id, &in_flight));
        }
        if binding.state != BindingState::Ready || binding.credentials.is_none() {
            return Err(BrokerError::unprocessable(
                Reason::InvalidState,
                format!(
                    "binding {} is {}; only a ready binding's password can be reset",
                    cmd.binding_id,
                    binding.state.as_str()
                ),
            )
            .instance(&cmd.instance_id)
            .binding(&cmd.binding_id));
        }
        let mut op = self.binding_operation(
            OperationKind::Bind,
            &instance,
            &binding,
            cmd.accepts_incomplete,
        )?;
        op.description = Some(RESETTING.into());
        // The binding stays ready with its credentials until the new ones are there.
        let write = Write::UpdateBinding(Binding {
            password: core.secrets.password(),
            updated_at: core.clock.now(),
            ..binding
        });
        match self
            .launch_read(op, &[write], Some(&instance), cmd.accepts_incomplete)
            .await
        {
            Ok(Started::Accepted(operation)) => Ok(Outcome::Accepted { operation }),
            Ok(Started::Finished(done)) => {
                let value = self
                    .finished_binding(&done, &cmd.instance_id, &cmd.binding_id)
                    .await?;
                Ok(Outcome::Done {
                    value,
                    created: false,
                })
            }
            Err(e) => Err(self.launch_error(e, &cmd.instance_id)),
        }
    }
}
