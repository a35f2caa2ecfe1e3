//! `PostgreSQLServer`: a PostgreSQL server (a service instance) on one of the configured backends.
//! Field names are those of the MaibornWolff hybrid-cloud PostgreSQL operator
//! (`hybridcloud.maibornwolff.de/v1alpha1`), so its manifests move over by changing `apiVersion`.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::status::PostgreSQLStatus;
use super::validation::{IPV4_PATTERN, SECRET_NAME_PATTERN, STARTTIME_PATTERN, ipv4_order_rule};

/// Desired state of a PostgreSQL server.
// The printcolumn(...) entries repeat `type_ = "string"`, which clippy reads as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "pgbroker.io",
    version = "v1alpha1",
    kind = "PostgreSQLServer",
    plural = "postgresqlservers",
    singular = "postgresqlserver",
    namespaced,
    status = "PostgreSQLStatus",
    shortname = "pgserver",
    shortname = "pgs",
    category = "pgbroker",
    derive = "PartialEq",
    doc = "A PostgreSQL server provisioned by pgbroker on one of the platform's backends, with its \
           credentials in a Secret of the same namespace.",
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Where the server stands"
    ),
    printcolumn(
        name = "Backend",
        type_ = "string",
        json_path = ".status.backend",
        description = "The backend that runs it"
    ),
    printcolumn(
        name = "Class",
        type_ = "string",
        json_path = ".spec.size.class",
        description = "The requested size class"
    ),
    printcolumn(
        name = "Endpoint",
        type_ = "string",
        json_path = ".status.endpoint",
        description = "Where clients connect"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new(
    "has(self.backend) == has(oldSelf.backend) && (!has(self.backend) || self.backend == oldSelf.backend)"
).message("backend is immutable: create a new PostgreSQLServer to move to another backend").field_path(".backend"))]
#[serde(rename_all = "camelCase")]
pub struct PostgreSQLServerSpec {
    /// Name of the backend to run the server on; it must be one of the operator's
    /// `operator.allowed_backends`. Empty: the operator's `operator.default_backend`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub backend: Option<String>,
    /// PostgreSQL major version, like `16` or `17`. Empty or `latest`: the newest version the
    /// backend offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16), regex(pattern = r"^(latest|[0-9]{1,3})$"))]
    pub version: Option<String>,
    /// How big the server is: a class, or CPU and memory, and the storage.
    pub size: Size,
    /// Automatic backups, where the backend supports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<Backup>,
    /// PostgreSQL extensions to make available on the server (which ones depends on the backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), extend("x-kubernetes-list-type" = "set"), inner(length(min = 1, max = 63)))]
    pub extensions: Option<Vec<String>>,
    /// Network access from outside the cluster, where the backend supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// PostgreSQL server parameters (`postgresql.conf` settings) by name, where the backend lets
    /// them be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 128, "additionalProperties" = { "type": "string", "maxLength": 4096 }))]
    pub server_parameters: Option<BTreeMap<String, String>>,
    /// When the backend may run maintenance, where it can be told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<Maintenance>,
    /// High availability (standby instances), where the backend supports it.
    #[serde(
        default,
        rename = "highavailability",
        skip_serializing_if = "Option::is_none"
    )]
    pub highavailability: Option<HighAvailability>,
    /// Name of the Secret (in the server's namespace) that pgbroker writes the server's
    /// credentials to: a login with the instance owner's rights. pgbroker owns this Secret and
    /// never overwrites one it did not create.
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_NAME_PATTERN))]
    pub credentials_secret: String,
}

/// The server's size. Without `class`, `cpu` and `memoryMB` pick the smallest plan covering both.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Size {
    /// A size class offered by the platform (a plan of the chosen backend). When set, `cpu` and
    /// `memoryMB` are not used to choose the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub class: Option<String>,
    /// Number of CPU cores wanted, when no `class` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024), extend("format" = "int32"))]
    pub cpu: Option<u32>,
    /// Memory wanted in MB, when no `class` is given.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "memoryMB")]
    #[schemars(range(min = 1, max = 16777216), extend("format" = "int32"))]
    pub memory_mb: Option<u32>,
    /// Size of the database storage in GB. Required. It can grow but never shrink.
    #[serde(rename = "storageGB")]
    #[schemars(range(min = 1, max = 65536), extend("format" = "int32"))]
    #[x_kube(validation = Rule::new("self >= oldSelf").message("storageGB cannot shrink"))]
    pub storage_gb: u32,
    /// Let the storage grow automatically, where the backend supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_auto_grow: Option<bool>,
}

/// Backup settings.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    /// Days to keep backups (the backend sets its own bounds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3650), extend("format" = "int32"))]
    pub retention_days: Option<u32>,
    /// Store backups in more than one region, where the backend supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_redundant: Option<bool>,
}

/// Network settings.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// Address ranges allowed to connect from outside the cluster, one rule per name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 64),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub firewall_rules: Option<Vec<FirewallRule>>,
}

/// One firewall rule: the IPv4 addresses from `startIp` to `endIp`, both included.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new(ipv4_order_rule()).message("startIp must not be after endIp"))]
#[serde(rename_all = "camelCase")]
pub struct FirewallRule {
    /// Name of the rule, unique in the list.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// First IPv4 address of the range, like `10.0.0.1`.
    #[schemars(length(min = 7, max = 15), regex(pattern = IPV4_PATTERN))]
    pub start_ip: String,
    /// Last IPv4 address of the range (equal to `startIp` for one address).
    #[schemars(length(min = 7, max = 15), regex(pattern = IPV4_PATTERN))]
    pub end_ip: String,
}

/// Maintenance settings.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Maintenance {
    /// The weekly window in which the backend may run maintenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<MaintenanceWindow>,
}

/// A weekly maintenance window.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindow {
    /// Day of the window, as a three-letter English weekday name: Mon, Tue, Wed, Thu, Fri, Sat
    /// or Sun.
    pub weekday: Weekday,
    /// Start of the window as `HH:MM` (24-hour clock, UTC), like `03:00`.
    #[schemars(length(min = 5, max = 5), regex(pattern = STARTTIME_PATTERN))]
    pub starttime: String,
}

/// Day of a maintenance window, spelled as the hybrid-cloud operator spells it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// High-availability settings.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HighAvailability {
    /// Run standby instances that take over when the primary fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}
