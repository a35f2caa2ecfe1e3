//! Names of the Kubernetes objects of an instance or binding. Every name is derived from ids
//! alone, so a step that runs again (or after a crash) finds what an earlier step made.

use pgbroker_domain::{BindingId, InstanceId, JsonObject};
use sha2::{Digest, Sha256};

use crate::settings::{CnpgSettings, NamespaceMode};

/// CNPG refuses Cluster names longer than this (its webhook's `validateName`).
pub const MAX_CLUSTER_NAME: usize = 50;

/// The names of one instance's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceNames {
    pub namespace: String,
    pub cluster: String,
}

impl InstanceNames {
    /// The names of an instance whose request carried the platform context `context` (used in
    /// [`NamespaceMode::Request`] only; fails there when the context names no valid namespace).
    pub fn new(
        settings: &CnpgSettings,
        id: &InstanceId,
        context: &JsonObject,
    ) -> Result<Self, String> {
        let cluster = cluster_name(&settings.name_prefix, id);
        let namespace = match &settings.namespace {
            NamespaceMode::PerInstance => cluster.clone(),
            NamespaceMode::Shared { name } => name.clone(),
            NamespaceMode::Request => request_namespace(context)?,
        };
        Ok(Self { namespace, cluster })
    }

    /// Read-write service CNPG makes for the cluster.
    pub fn rw_service(&self) -> String {
        format!("{}-rw", self.cluster)
    }
    pub fn ro_service(&self) -> String {
        format!("{}-ro", self.cluster)
    }
    /// CNPG's CA secret (`ca.crt` is handed out; `ca.key` never).
    pub fn ca_secret(&self) -> String {
        format!("{}-ca", self.cluster)
    }
    /// Not `<cluster>-pooler`: CNPG uses that name for the pooler's TLS secret.
    pub fn pooler(&self) -> String {
        format!("{}-pooler-rw", self.cluster)
    }
    /// LoadBalancer service, managed by CNPG through `spec.managed.services.additional`.
    pub fn load_balancer(&self) -> String {
        format!("{}-lb", self.cluster)
    }
    pub fn object_store(&self) -> String {
        format!("{}-store", self.cluster)
    }
    pub fn scheduled_backup(&self) -> String {
        format!("{}-daily", self.cluster)
    }
    pub fn pod_monitor(&self) -> String {
        self.cluster.clone()
    }
    /// The pooler's PodMonitor, named like the pooler.
    pub fn pooler_pod_monitor(&self) -> String {
        self.pooler()
    }
    /// Copy of the backup credentials in a per-instance namespace.
    pub fn backup_credentials(&self) -> String {
        format!("{}-backup-s3", self.cluster)
    }
    /// Fully qualified name of a service in the instance's namespace.
    pub fn fqdn(&self, service: &str) -> String {
        format!("{service}.{}.svc", self.namespace)
    }
}

/// The namespace a request's platform context names (OSB's Kubernetes context profile).
fn request_namespace(context: &JsonObject) -> Result<String, String> {
    match context.get("namespace") {
        Some(serde_json::Value::String(ns)) if is_dns_label(ns, 63) => Ok(ns.clone()),
        Some(serde_json::Value::String(ns)) => Err(format!(
            "the request's context.namespace {:?} is not a valid namespace name",
            ns.chars().take(70).collect::<String>()
        )),
        _ => Err(
            "this backend places each instance in the namespace of its request \
                  (namespace mode `request`), but the request's context names no namespace"
                .to_string(),
        ),
    }
}

/// The names of one binding's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingNames {
    /// DatabaseRole object and its password Secret share this name.
    pub object: String,
    /// The PostgreSQL role.
    pub role: String,
}

impl BindingNames {
    pub fn new(instance: &InstanceNames, id: &BindingId) -> Self {
        let h = short_hash(id.as_str(), 16);
        Self {
            // ≤ 50 + 3 + 10 = 63, a valid DNS label.
            object: format!("{}-b-{}", instance.cluster, &h[..10]),
            // Binding ids may hold characters that need quoting in SQL; a hash never does.
            role: format!("pgb_{h}"),
        }
    }
}

/// `<prefix>-<id>` when the id is already a lowercase DNS label that fits; otherwise a readable
/// part of the id plus a hash of all of it, so distinct ids never share a name.
pub fn cluster_name(prefix: &str, id: &InstanceId) -> String {
    let raw = id.as_str();
    let plain = format!("{prefix}-{raw}");
    if is_dns_label(&plain, MAX_CLUSTER_NAME) {
        return plain;
    }
    let hash = short_hash(raw, 10);
    let room = MAX_CLUSTER_NAME - prefix.len() - hash.len() - 2;
    let readable: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(room)
        .collect();
    let readable = readable.trim_matches('-');
    if readable.is_empty() {
        format!("{prefix}-{hash}")
    } else {
        format!("{prefix}-{readable}-{hash}")
    }
}

/// A DNS-1035 label: lowercase letters, digits and '-', starting with a letter, ending with a
/// letter or digit.
pub fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A label value for an id: the id itself when Kubernetes accepts it, else a hash of it (the
/// full id is always in an annotation too).
pub fn label_value(raw: &str) -> String {
    let ok = !raw.is_empty()
        && raw.len() <= 63
        && raw.starts_with(|c: char| c.is_ascii_alphanumeric())
        && raw.ends_with(|c: char| c.is_ascii_alphanumeric())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        raw.to_string()
    } else {
        format!("sha256-{}", short_hash(raw, 32))
    }
}

fn short_hash(raw: &str, len: usize) -> String {
    let digest = Sha256::digest(raw.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex[..len.min(hex.len())].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> InstanceId {
        InstanceId::parse(raw).unwrap()
    }

    #[test]
    fn guids_keep_their_id_behind_the_prefix() {
        let name = cluster_name("pg", &id("0a651d10-25ab-4a75-99a6-520c0abbe2ae"));
        assert_eq!(name, "pg-0a651d10-25ab-4a75-99a6-520c0abbe2ae");
        assert!(is_dns_label(&name, MAX_CLUSTER_NAME));
    }

    #[test]
    fn awkward_ids_get_a_hashed_dns_label() {
        for raw in [
            "My_DB.1",
            "UPPER",
            &"x".repeat(128),
            "a-",
            "___",
            "0a651d10-25ab-4a75-99a6-520c0abbe2ae-and-more-text",
        ] {
            let name = cluster_name("pg", &id(raw));
            assert!(is_dns_label(&name, MAX_CLUSTER_NAME), "{raw} -> {name}");
        }
        assert_ne!(
            cluster_name("pg", &id("my_db")),
            cluster_name("pg", &id("my.db")),
            "ids that read alike still get different names"
        );
        assert_ne!(cluster_name("pg", &id("A")), cluster_name("pg", &id("a")));
    }

    #[test]
    fn binding_names_fit_kubernetes_and_postgres() {
        let settings = CnpgSettings::default();
        let inst = InstanceNames::new(&settings, &id(&"a".repeat(47)), &JsonObject::new()).unwrap();
        assert_eq!(inst.cluster.len(), 50);
        let b = BindingNames::new(
            &inst,
            &BindingId::parse("B'1;--").unwrap_or_else(|_| BindingId::parse("b.1").unwrap()),
        );
        assert!(is_dns_label(&b.object, 63), "{}", b.object);
        assert!(
            b.role.len() <= 63
                && b.role
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
        );
        assert!(is_dns_label(&inst.pooler(), 63));
    }

    #[test]
    fn label_values_are_hashed_only_when_needed() {
        assert_eq!(label_value("plan-1"), "plan-1");
        let long = label_value(&"p".repeat(100));
        assert!(long.starts_with("sha256-") && long.len() <= 63);
        assert!(label_value("_x").starts_with("sha256-"));
    }
}
