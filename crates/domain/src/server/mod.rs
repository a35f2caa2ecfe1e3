//! Servers declared by teams (the operator's `PostgreSQLServer`): the spec as types, the
//! policy of which backends may serve them, the choice of a plan by class or size, and the
//! words backends use to say how they serve a spec (see `Backend::plan_size` and
//! `Backend::server_parameters`). The use case is `Broker::choose_server`.

mod request;
mod sizing;
mod terms;

pub use request::{
    Backup, Cpu, FirewallRule, InvalidField, MaintenanceWindow, ServerRequest, Size, TimeOfDay,
    Weekday, parse_major_version,
};
pub use sizing::{Offer, choose};
pub use terms::{
    PlanSize, ServerField, ServerPolicy, ServerTarget, SpecRejected, Translation, Unsupported,
};
