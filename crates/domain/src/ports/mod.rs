//! What the domain needs from the outside world, named for the need, not the technology.

mod backend;
mod clock;
mod observer;
mod parameters;
mod secrets;
mod store;
mod traces;
mod vault;

pub use backend::{
    Backend, BackendRegistry, BindRequest, CheckError, InstanceRequest, ProvisionOutput, Step,
    StepFailure, UnbindRequest,
};
pub use clock::{Clock, SystemClock};
pub use observer::OperationObserver;
pub use parameters::ParameterSchemas;
pub use secrets::SecretGenerator;
pub use store::{StateStore, StoreError, Write};
pub use traces::{NoTraceContext, TraceContext};
pub use vault::{ByDoor, NoVault, SecretVault, VaultError, VaultKey};
