//! `PostgreSQLDatabase`: a database of its own, with its own login role, inside the instance of a
//! `PostgreSQLServer` in the same namespace. Field names are the hybrid-cloud operator's.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::status::PostgreSQLStatus;
use super::validation::SECRET_NAME_PATTERN;

/// Desired state of a database on a PostgreSQLServer.
// The printcolumn(...) entries repeat `type_ = "string"`, which clippy reads as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "pgbroker.io",
    version = "v1alpha1",
    kind = "PostgreSQLDatabase",
    plural = "postgresqldatabases",
    singular = "postgresqldatabase",
    namespaced,
    status = "PostgreSQLStatus",
    shortname = "pgdb",
    category = "pgbroker",
    derive = "PartialEq",
    doc = "A database of its own, owned by its own login role, inside a PostgreSQLServer of the \
           same namespace, with its credentials in a Secret.",
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Where the database stands"
    ),
    printcolumn(
        name = "Backend",
        type_ = "string",
        json_path = ".status.backend",
        description = "The backend of its server"
    ),
    printcolumn(
        name = "Server",
        type_ = "string",
        json_path = ".spec.serverRef.name",
        description = "The PostgreSQLServer it lives on"
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
#[serde(rename_all = "camelCase")]
pub struct PostgreSQLDatabaseSpec {
    /// The PostgreSQLServer the database lives on. Immutable.
    #[x_kube(validation = Rule::new("self.name == oldSelf.name").message("serverRef is immutable: create a new PostgreSQLDatabase to use another server"))]
    pub server_ref: ServerRef,
    /// Options of the database itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseOptions>,
    /// Name of the Secret (in the database's namespace) that pgbroker writes the database's
    /// credentials to: its own login role, which owns this database and can open no other.
    /// pgbroker owns this Secret and never overwrites one it did not create.
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_NAME_PATTERN))]
    pub credentials_secret: String,
}

/// Reference to a PostgreSQLServer in the same namespace (there is no namespace field: a database
/// can only live on a server of its own namespace).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServerRef {
    /// `metadata.name` of the PostgreSQLServer.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Options of the database.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseOptions {
    /// Character set (encoding) of the database, like `UTF8`. Default: the backend's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub charset: Option<String>,
    /// Collation of the database, like `en_US.UTF-8`. Default: the backend's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub collation: Option<String>,
    /// Extensions to create in the database (`CREATE EXTENSION`); only extensions the server
    /// makes available (its `spec.extensions`, or the backend's own) can be created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), extend("x-kubernetes-list-type" = "set"), inner(length(min = 1, max = 63)))]
    pub extensions: Option<Vec<String>>,
}
