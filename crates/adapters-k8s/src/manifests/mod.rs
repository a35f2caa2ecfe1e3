//! The objects of an instance and of a binding, as JSON for server-side apply. Pure functions of
//! settings, names and request, so they are unit-tested against CNPG's CRD schemas.

mod binding;
mod cluster;
mod extras;
mod own_database;

pub use binding::{database_role, password_secret};
pub use own_database::{own_database, refused_database_name};

use pgbroker_domain::OperationId;

use crate::labels::Owner;
use crate::names::InstanceNames;
use crate::plan::Desired;
use crate::settings::CnpgSettings;

/// Application database and its owner, made by `bootstrap.initdb` (CNPG's defaults, spelled out).
pub const APP_DATABASE: &str = "app";
pub const APP_OWNER: &str = "app";
/// The Barman Cloud plugin's name in CNPG's `plugins` and `pluginConfiguration`.
pub const BARMAN_PLUGIN: &str = "barman-cloud.cloudnative-pg.io";

/// Builds the objects of one instance.
pub struct InstanceManifests<'a> {
    pub settings: &'a CnpgSettings,
    pub names: &'a InstanceNames,
    pub owner: Owner<'a>,
    pub desired: &'a Desired,
    pub operation: OperationId,
    /// Names of the source of a restore: (cluster name of the instance restored from).
    pub restore_source: Option<String>,
    /// Extensions the previous spec had that this one drops (to be dropped in the database).
    pub dropped_extensions: Vec<String>,
}
