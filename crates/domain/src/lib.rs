//! pgbroker's domain: the words of the business (catalog, instance, binding, operation), the ports
//! the outside world plugs into, the use cases with Open Service Broker semantics and the
//! operation engine that drives backends to completion.
//!
//! This crate knows no HTTP, SQL or Kubernetes; adapters and front doors depend on it, never the reverse.

pub mod audit;
pub mod catalog;
pub mod ids;
pub mod model;
pub mod operation;
pub mod own_database;
pub mod ports;
pub mod reason;
pub mod sensitive;
pub mod server;

pub use catalog::{Catalog, CatalogDocument, CatalogError, Plan, PlanLookupError, Service};
pub use ids::{BindingId, InstanceId, InvalidId, OperationId, PlanId, ServiceId};
pub use model::{
    Binding, BindingSpec, BindingState, Instance, InstanceSpec, InstanceState, JsonObject,
};
pub use operation::{DeletionPolicy, Lease, Operation, OperationKind, OperationState, Origin};
pub use own_database::{InvalidOwnDatabase, OwnDatabase};
pub use reason::{FrontDoor, Reason};
pub use sensitive::{Credentials, Sensitive};

pub mod core;
pub mod engine;
pub mod policy;
pub mod usecases;

pub use crate::core::Core;
pub use engine::{Engine, EngineConfig, EngineWaker};
pub use policy::OperationPolicy;
pub use usecases::{Broker, BrokerError, ErrorDetail, FailureIds, Outcome};
