//! Use cases with Open Service Broker semantics. Front doors parse requests into these commands,
//! call the [`Broker`] and map its results; every rule about what a request means lives here.
//!
//! Repeating a request that already succeeded (or is under way) returns the same result; the same
//! id with different attributes is a conflict; a request while another operation on the instance
//! is in flight is a concurrency error.

mod bind;
mod binding_ids;
mod catalog_ids;
mod door;
mod error;
mod fetch;
mod instance;
mod last_operation;
mod launch;
mod reset_password;
mod server;
mod update;

use std::sync::Arc;

use crate::core::Core;
use crate::engine::EngineWaker;
use crate::ids::OperationId;

pub use bind::{BindCommand, UnbindCommand};
pub use catalog_ids::check_catalog_ids;
pub use error::{BrokerError, ErrorDetail, FailureIds};
pub use fetch::FetchBindingQuery;
pub use instance::{DeprovisionCommand, ProvisionCommand};
pub use last_operation::{LastOperation, LastOperationQuery};
pub use reset_password::{RESETTING, ResetPasswordCommand};
pub use server::ServerChoice;
pub use update::UpdateCommand;

/// How a mutating request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// Finished within the request. `created` is false when an identical earlier request had
    /// already done it (OSB 200 instead of 201).
    Done { value: T, created: bool },
    /// Under way; poll `last_operation` with this operation id (OSB 202).
    Accepted { operation: OperationId },
}

pub struct Broker {
    core: Arc<Core>,
    waker: Option<EngineWaker>,
}

impl Broker {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core, waker: None }
    }

    /// Wake this engine whenever a request starts an operation, so it starts at once rather than
    /// at the engine's next poll.
    pub fn with_waker(mut self, waker: EngineWaker) -> Self {
        self.waker = Some(waker);
        self
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    fn wake(&self) {
        if let Some(waker) = &self.waker {
            waker.wake();
        }
    }
}
