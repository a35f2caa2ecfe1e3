//! The words a backend and the domain share about a server spec: the fields a backend may be
//! unable to honour, a plan's size, the spec after the plan is chosen, and what a backend's
//! translation gives back. The backend-specific knowledge itself lives in the adapters.

use std::collections::BTreeSet;

use crate::model::JsonObject;
use crate::reason::Reason;

use super::request::ServerRequest;

/// A spec field a backend may not honour; named in messages by its path below `spec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServerField {
    Version,
    Class,
    Cpu,
    MemoryMb,
    StorageGb,
    StorageAutoGrow,
    BackupRetentionDays,
    BackupGeoRedundant,
    Extensions,
    FirewallRules,
    ServerParameters,
    MaintenanceWindow,
    HighAvailability,
}

impl ServerField {
    /// The field's path below `spec`, as the `PostgreSQLServer` custom resource spells it.
    pub fn path(self) -> &'static str {
        match self {
            Self::Version => "version",
            Self::Class => "size.class",
            Self::Cpu => "size.cpu",
            Self::MemoryMb => "size.memoryMB",
            Self::StorageGb => "size.storageGB",
            Self::StorageAutoGrow => "size.storageAutoGrow",
            Self::BackupRetentionDays => "backup.retentionDays",
            Self::BackupGeoRedundant => "backup.geoRedundant",
            Self::Extensions => "extensions",
            Self::FirewallRules => "network.firewallRules",
            Self::ServerParameters => "serverParameters",
            Self::MaintenanceWindow => "maintenance.window",
            Self::HighAvailability => "highavailability.enabled",
        }
    }
}

/// What a plan gives, in the units a spec asks in. `None` where the backend cannot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanSize {
    pub cpu_millicores: Option<u32>,
    /// MiB.
    pub memory_mb: Option<u64>,
    /// GiB; `None` also means the backend does not size storage per instance.
    pub storage_gb: Option<u32>,
    /// PostgreSQL instances (1 = no replicas).
    pub instances: Option<u32>,
}

/// The spec as the chosen plan will run it: what the backend translates into its parameters.
#[derive(Debug, Clone, Copy)]
pub struct ServerTarget<'a> {
    pub request: &'a ServerRequest,
    /// Storage to give the instance (GiB): the spec's, raised to the plan's when that is more.
    /// `None` when the backend does not size storage (the domain tells the user in a note).
    pub storage_gb: Option<u32>,
}

/// A backend's provision parameters for a server spec.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Translation {
    /// The request parameters of a provision or update on the chosen plan.
    pub parameters: JsonObject,
    /// Sentences for the object's status about how the spec is served (no secrets).
    pub notes: Vec<String>,
}

/// A spec field the backend cannot honour, and why; nothing is made when one is found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spec.{} is not supported: {why}", .field.path())]
pub struct Unsupported {
    pub field: ServerField,
    pub why: String,
}

impl Unsupported {
    pub fn new(field: ServerField, why: impl Into<String>) -> Self {
        Self {
            field,
            why: why.into(),
        }
    }
}

impl ServerRequest {
    /// The fields the spec sets that a backend has to honour (the plan choice covers class,
    /// cpu and memory; storage size is handled by the domain).
    pub fn fields_set(&self) -> Vec<ServerField> {
        let mut set = Vec::new();
        let mut push = |on: bool, field| {
            if on {
                set.push(field);
            }
        };
        push(self.version.is_some(), ServerField::Version);
        push(self.size.storage_auto_grow, ServerField::StorageAutoGrow);
        push(
            self.backup.retention_days.is_some(),
            ServerField::BackupRetentionDays,
        );
        push(self.backup.geo_redundant, ServerField::BackupGeoRedundant);
        push(!self.extensions.is_empty(), ServerField::Extensions);
        push(!self.firewall_rules.is_empty(), ServerField::FirewallRules);
        push(
            !self.server_parameters.is_empty(),
            ServerField::ServerParameters,
        );
        push(self.maintenance.is_some(), ServerField::MaintenanceWindow);
        push(self.high_availability, ServerField::HighAvailability);
        set
    }

    /// Refuses the first field in `fields` that the spec sets, saying `why` the backend cannot.
    pub fn refuse_any(
        &self,
        fields: &[ServerField],
        why: impl Fn(ServerField) -> String,
    ) -> Result<(), Unsupported> {
        match self.fields_set().into_iter().find(|f| fields.contains(f)) {
            Some(field) => Err(Unsupported::new(field, why(field))),
            None => Ok(()),
        }
    }
}

/// Which backends operator-made servers may use (`operator.allowed_backends` and
/// `operator.default_backend` in the configuration). The default backend is always allowed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerPolicy {
    allowed: BTreeSet<String>,
    default_backend: Option<String>,
}

impl ServerPolicy {
    pub fn new(
        allowed_backends: impl IntoIterator<Item = String>,
        default_backend: Option<String>,
    ) -> Self {
        let mut allowed: BTreeSet<String> = allowed_backends.into_iter().collect();
        allowed.extend(default_backend.iter().cloned());
        Self {
            allowed,
            default_backend,
        }
    }

    pub fn allowed(&self) -> &BTreeSet<String> {
        &self.allowed
    }

    pub fn default_backend(&self) -> Option<&str> {
        self.default_backend.as_deref()
    }

    pub fn allows(&self, backend: &str) -> bool {
        self.allowed.contains(backend)
    }

    /// The allowed backends for a message: `a, b`, or `none`.
    pub fn allowed_list(&self) -> String {
        if self.allowed.is_empty() {
            "none".into()
        } else {
            self.allowed.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    }
}

/// Why a server spec cannot be served as written; nothing was made. The message names the
/// field and what would be accepted instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SpecRejected {
    pub reason: Reason,
    pub message: String,
}

impl SpecRejected {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

impl From<Unsupported> for SpecRejected {
    fn from(e: Unsupported) -> Self {
        Self::new(Reason::Unsupported, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_backend_is_allowed() {
        let policy = ServerPolicy::new(["cnpg".to_string()], Some("shared".into()));
        assert!(policy.allows("cnpg") && policy.allows("shared"));
        assert!(!policy.allows("aws"));
        assert_eq!(policy.allowed_list(), "cnpg, shared");
        assert_eq!(ServerPolicy::default().allowed_list(), "none");
    }

    #[test]
    fn refusal_names_the_first_field_set() {
        let mut request = ServerRequest::default();
        assert!(request.fields_set().is_empty());
        request.maintenance = None;
        request.high_availability = true;
        request.extensions = vec!["pg_trgm".into()];
        let err = request
            .refuse_any(
                &[ServerField::HighAvailability, ServerField::FirewallRules],
                |_| "no replicas here".into(),
            )
            .unwrap_err();
        assert_eq!(err.field, ServerField::HighAvailability);
        assert_eq!(
            err.to_string(),
            "spec.highavailability.enabled is not supported: no replicas here"
        );
        assert!(
            request
                .refuse_any(&[ServerField::FirewallRules], |_| String::new())
                .is_ok()
        );
    }
}
