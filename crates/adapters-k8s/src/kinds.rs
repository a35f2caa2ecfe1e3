//! The Kubernetes resources the backend reads and writes. All are handled as `DynamicObject`s:
//! the backend owns only the fields it writes (server-side apply) and reads a few status fields.

use kube::api::ApiResource;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Namespace,
    Secret,
    Service,
    Cluster,
    Pooler,
    Database,
    DatabaseRole,
    ScheduledBackup,
    ObjectStore,
    PodMonitor,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Namespace,
        Kind::Secret,
        Kind::Service,
        Kind::Cluster,
        Kind::Pooler,
        Kind::Database,
        Kind::DatabaseRole,
        Kind::ScheduledBackup,
        Kind::ObjectStore,
        Kind::PodMonitor,
    ];

    /// API group, version, kind and plural resource name.
    pub fn parts(self) -> (&'static str, &'static str, &'static str, &'static str) {
        const CNPG: &str = "postgresql.cnpg.io";
        match self {
            Kind::Namespace => ("", "v1", "Namespace", "namespaces"),
            Kind::Secret => ("", "v1", "Secret", "secrets"),
            Kind::Service => ("", "v1", "Service", "services"),
            Kind::Cluster => (CNPG, "v1", "Cluster", "clusters"),
            Kind::Pooler => (CNPG, "v1", "Pooler", "poolers"),
            Kind::Database => (CNPG, "v1", "Database", "databases"),
            Kind::DatabaseRole => (CNPG, "v1", "DatabaseRole", "databaseroles"),
            Kind::ScheduledBackup => (CNPG, "v1", "ScheduledBackup", "scheduledbackups"),
            Kind::ObjectStore => ("barmancloud.cnpg.io", "v1", "ObjectStore", "objectstores"),
            Kind::PodMonitor => ("monitoring.coreos.com", "v1", "PodMonitor", "podmonitors"),
        }
    }

    pub fn group(self) -> &'static str {
        self.parts().0
    }

    pub fn plural(self) -> &'static str {
        self.parts().3
    }

    pub fn kind(self) -> &'static str {
        self.parts().2
    }

    pub fn api_version(self) -> String {
        let (group, version, _, _) = self.parts();
        if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        }
    }

    pub fn is_namespaced(self) -> bool {
        self != Kind::Namespace
    }

    pub fn api_resource(self) -> ApiResource {
        let (group, version, kind, plural) = self.parts();
        ApiResource {
            group: group.to_string(),
            version: version.to_string(),
            api_version: self.api_version(),
            kind: kind.to_string(),
            plural: plural.to_string(),
        }
    }
}
