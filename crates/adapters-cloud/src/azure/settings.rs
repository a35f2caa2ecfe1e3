//! The settings of an `azure-flexible` backend (`backends.<name>.settings`), named as in the
//! hybrid-cloud operator's `azure` and `azurepostgresflexible` sections.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::aws::names::{NamePattern, PatternError};
use crate::cloud_sql::SqlEndpoint;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("name_pattern: {0}")]
    NamePattern(#[source] PatternError),
    #[error("tags.{key}: {source}")]
    Tag {
        key: String,
        #[source]
        source: PatternError,
    },
    #[error("tags: {0:?} starts with pgbroker, which the backend keeps for its own tags")]
    ReservedTag(String),
    #[error(
        "admin_username {0:?}: Azure takes 1 to 63 lowercase letters, digits and underscores, starting with a letter, and not azure_superuser, admin, administrator, root, guest or public"
    )]
    AdminUsername(String),
    #[error("default_class {0:?} is not one of classes ({1})")]
    DefaultClass(String, String),
    #[error("network: {0}")]
    Network(String),
    #[error("parameters.firewall_rules[{index}]: {why}")]
    FirewallRule { index: usize, why: String },
    #[error("parameters.backup_retention_days {0}: Azure keeps backups 7 to 35 days")]
    Retention(u32),
    #[error("{what} {value:?} is not an http(s) URL")]
    Url { what: &'static str, value: String },
    #[error("extensions: {0:?} is not a valid extension name")]
    BadExtension(String),
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

/// How the backend gets its Entra ID tokens for ARM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CredentialSettings {
    /// A service principal's client secret from `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
    /// `AZURE_CLIENT_SECRET`.
    ClientSecret,
    /// AKS workload identity (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE`).
    WorkloadIdentity,
    /// The managed identity of the VM or pod; `client_id` picks a user-assigned one.
    ManagedIdentity {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// An OAuth2 token endpoint (Entra ID's `.../oauth2/v2.0/token`, a sovereign cloud's, a
    /// local token service, or the tests' stand-in) taking the client-credentials grant; the
    /// client secret is read from a file (a mounted Secret).
    TokenEndpoint {
        url: String,
        client_id: String,
        client_secret_file: PathBuf,
    },
}

/// Settings of an `azure-flexible` backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureSettings {
    #[serde(default)]
    pub subscription_id: String,
    #[serde(default)]
    pub resource_group: String,
    /// Azure region of the servers, e.g. `westeurope`.
    #[serde(default)]
    pub location: String,
    /// The server name: `{instance}`, and for operator-made servers `{namespace}` and `{name}`.
    #[serde(default = "default_name_pattern")]
    pub name_pattern: String,
    /// Tags put on every server, with the same variables as `name_pattern`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The server's administrator login; its password is made by pgbroker and kept in its vault.
    #[serde(default = "default_admin_username")]
    pub admin_username: String,
    /// Compute classes that plans choose by name (plan setting `class`).
    #[serde(default = "default_classes")]
    pub classes: BTreeMap<String, ClassSettings>,
    #[serde(default = "default_class")]
    pub default_class: String,
    /// Zone of the primary; default: Azure chooses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    /// Zone of a zone-redundant standby (plans with `high_availability`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_availability_zone: Option<String>,
    #[serde(default)]
    pub network: NetworkSettings,
    /// Deprovision tags the server as deleted instead of deleting it.
    #[serde(default)]
    pub server_delete_fake: bool,
    /// Unbind keeps a binding's own database (under the instance's owner) instead of dropping it.
    #[serde(default)]
    pub database_delete_fake: bool,
    /// A `CanNotDelete` management lock on every server made; the backend never removes it,
    /// so a deprovision fails, saying so, until a person removes the lock.
    #[serde(default)]
    pub lock_from_deletion: bool,
    /// Defaults of every server.
    #[serde(default)]
    pub parameters: ParameterDefaults,
    /// Server parameters an instance may set (provision parameter `configurations`), by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configurations: Vec<String>,
    /// Extensions an instance may ask for (parameter `extensions`); put in `azure.extensions`.
    #[serde(default = "default_extensions")]
    pub extensions: Vec<String>,
    /// Where the tokens come from; default: a client secret from the environment.
    #[serde(default = "default_credential")]
    pub credential: CredentialSettings,
    /// ARM's endpoint; another cloud's, or the tests' local stand-in.
    #[serde(default = "default_resource_manager_url")]
    pub resource_manager_url: String,
    /// CA bundle of Azure's server certificates: with it the broker connects with
    /// `sslmode=verify-full`, else `require`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_file: Option<PathBuf>,
    /// Where the broker's SQL connections go instead of the server's endpoint (a bastion; tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_endpoint_override: Option<SqlEndpoint>,
    /// Milliseconds between two looks at a long-running operation when ARM names no `Retry-After`.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Longest wait ARM's `Retry-After` may ask for, in milliseconds (a cap on a bad header).
    #[serde(default = "default_max_retry_after_ms")]
    pub max_retry_after_ms: u64,
}

impl Default for AzureSettings {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({}))
            .unwrap_or_else(|e| unreachable!("defaults deserialize: {e}"))
    }
}

/// One compute class: ARM's `sku`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSettings {
    /// The SKU name, e.g. `Standard_B1ms`, `Standard_D2ds_v5`.
    pub name: String,
    pub tier: Tier,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tier {
    Burstable,
    GeneralPurpose,
    MemoryOptimized,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Burstable => "Burstable",
            Self::GeneralPurpose => "GeneralPurpose",
            Self::MemoryOptimized => "MemoryOptimized",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSettings {
    /// A public endpoint, reached through the firewall rules.
    #[serde(default = "yes")]
    pub public_access: bool,
    /// The firewall rule `AllowAllAzureServicesAndResourcesWithinAzureIps` (0.0.0.0).
    #[serde(default)]
    pub allow_azure_services: bool,
    /// VNet integration: the virtual network and its delegated subnet (names in the resource
    /// group, or resource ids), and the private DNS zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_zone: Option<String>,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        Self {
            public_access: true,
            allow_azure_services: false,
            virtual_network: None,
            subnet: None,
            dns_zone: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterDefaults {
    #[serde(default = "default_retention")]
    pub backup_retention_days: u32,
    #[serde(default)]
    pub geo_redundant_backup: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub firewall_rules: Vec<FirewallRule>,
}

impl Default for ParameterDefaults {
    fn default() -> Self {
        Self {
            backup_retention_days: default_retention(),
            geo_redundant_backup: false,
            firewall_rules: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallRule {
    pub name: String,
    pub start_ip: Ipv4Addr,
    pub end_ip: Ipv4Addr,
}

fn yes() -> bool {
    true
}

fn default_retention() -> u32 {
    7
}

fn default_name_pattern() -> String {
    "pgbroker-{instance}".into()
}

fn default_admin_username() -> String {
    "pgbroker_admin".into()
}

fn default_class() -> String {
    "small".into()
}

fn default_classes() -> BTreeMap<String, ClassSettings> {
    BTreeMap::from([(
        "small".to_string(),
        ClassSettings {
            name: "Standard_B1ms".into(),
            tier: Tier::Burstable,
        },
    )])
}

fn default_extensions() -> Vec<String> {
    crate::shared::SharedSettings::default().extensions
}

fn default_credential() -> CredentialSettings {
    CredentialSettings::ClientSecret
}

fn default_resource_manager_url() -> String {
    "https://management.azure.com".into()
}

fn default_poll_interval_ms() -> u64 {
    15_000
}

fn default_max_retry_after_ms() -> u64 {
    300_000
}

/// Azure's rule for a firewall rule's name: 1 to 80 letters, digits, `-`, `_` and `.`.
fn valid_rule_name(name: &str) -> bool {
    (1..=80).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl AzureSettings {
    /// Checks everything that can be checked without calling Azure.
    pub fn check(&self) -> Result<(), SettingsError> {
        for (value, what) in [
            (&self.subscription_id, "subscription_id"),
            (&self.resource_group, "resource_group"),
            (&self.location, "location"),
        ] {
            if value.trim().is_empty() {
                return Err(SettingsError::Missing(what));
            }
        }
        NamePattern::parse(&self.name_pattern).map_err(SettingsError::NamePattern)?;
        for (key, value) in &self.tags {
            if key.starts_with("pgbroker") {
                return Err(SettingsError::ReservedTag(key.clone()));
            }
            NamePattern::parse_text(value).map_err(|source| SettingsError::Tag {
                key: key.clone(),
                source,
            })?;
        }
        let user = &self.admin_username;
        let reserved = [
            "azure_superuser",
            "azure_pg_admin",
            "admin",
            "administrator",
            "root",
            "guest",
            "public",
        ];
        let valid_user = (1..=63).contains(&user.len())
            && user.starts_with(|c: char| c.is_ascii_lowercase())
            && user
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !user.starts_with("pg_")
            && !reserved.contains(&user.as_str());
        if !valid_user {
            return Err(SettingsError::AdminUsername(user.clone()));
        }
        if !self.classes.contains_key(&self.default_class) {
            return Err(SettingsError::DefaultClass(
                self.default_class.clone(),
                self.classes.keys().cloned().collect::<Vec<_>>().join(", "),
            ));
        }
        let n = &self.network;
        match (n.public_access, &n.subnet, &n.virtual_network) {
            (true, Some(_), _) | (true, _, Some(_)) => {
                return Err(SettingsError::Network(
                    "public_access and VNet integration (virtual_network, subnet) exclude each other".into(),
                ));
            }
            (false, None, _) => {
                return Err(SettingsError::Network(
                    "without public_access a server needs VNet integration: set virtual_network and subnet (and dns_zone)".into(),
                ));
            }
            (false, Some(subnet), None) if !subnet.starts_with("/subscriptions/") => {
                return Err(SettingsError::Network(
                    "subnet is a name, so virtual_network must name its network".into(),
                ));
            }
            _ => {}
        }
        if n.allow_azure_services && !n.public_access {
            return Err(SettingsError::Network(
                "allow_azure_services is a firewall rule, and firewall rules need public_access"
                    .into(),
            ));
        }
        let p = &self.parameters;
        if !(7..=35).contains(&p.backup_retention_days) {
            return Err(SettingsError::Retention(p.backup_retention_days));
        }
        for (index, rule) in p.firewall_rules.iter().enumerate() {
            let why = if !valid_rule_name(&rule.name) {
                Some(format!(
                    "name {:?}: 1 to 80 letters, digits, '-', '_' or '.'",
                    rule.name
                ))
            } else if rule.start_ip > rule.end_ip {
                Some(format!(
                    "start_ip {} is after end_ip {}",
                    rule.start_ip, rule.end_ip
                ))
            } else if !n.public_access {
                Some("firewall rules need public_access".into())
            } else {
                None
            };
            if let Some(why) = why {
                return Err(SettingsError::FirewallRule { index, why });
            }
        }
        let mut urls = vec![("resource_manager_url", &self.resource_manager_url)];
        if let CredentialSettings::TokenEndpoint { url, .. } = &self.credential {
            urls.push(("credential.url", url));
        }
        for (what, value) in urls {
            let ok = url::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                return Err(SettingsError::Url {
                    what,
                    value: value.clone(),
                });
            }
        }
        for ext in &self.extensions {
            crate::shared::sql::Ident::new(ext.as_str())
                .map_err(|_| SettingsError::BadExtension(ext.clone()))?;
        }
        if self.poll_interval_ms == 0 {
            return Err(SettingsError::Zero("poll_interval_ms"));
        }
        Ok(())
    }

    /// The firewall rules every server gets (the Azure-services rule included).
    pub fn firewall_rules(&self) -> Vec<FirewallRule> {
        let mut rules = self.parameters.firewall_rules.clone();
        if self.network.allow_azure_services {
            rules.push(FirewallRule {
                name: "AllowAllAzureServicesAndResourcesWithinAzureIps".into(),
                start_ip: Ipv4Addr::UNSPECIFIED,
                end_ip: Ipv4Addr::UNSPECIFIED,
            });
        }
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({"subscription_id": "s", "resource_group": "rg", "location": "westeurope"})
    }

    fn check(extra: serde_json::Value) -> Result<AzureSettings, String> {
        let mut v = base();
        if let (Some(v), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
            v.extend(e);
        }
        let s: AzureSettings = serde_json::from_value(v).map_err(|e| e.to_string())?;
        s.check().map_err(|e| e.to_string())?;
        Ok(s)
    }

    #[test]
    fn the_defaults_need_only_where_servers_go() {
        let s = check(serde_json::json!({})).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.network.public_access && !s.server_delete_fake && !s.lock_from_deletion);
        assert_eq!(s.credential, CredentialSettings::ClientSecret);
        assert!(s.firewall_rules().is_empty());
        let missing = AzureSettings::default().check().map_err(|e| e.to_string());
        assert_eq!(missing, Err("subscription_id is required".into()));
    }

    #[test]
    fn mistakes_are_named() {
        for (json, needle) in [
            (serde_json::json!({"name_pattern": "x-{colour}"}), "colour"),
            (serde_json::json!({"tags": {"pgbroker-x": "y"}}), "pgbroker"),
            (
                serde_json::json!({"admin_username": "admin"}),
                "admin_username",
            ),
            (
                serde_json::json!({"admin_username": "Admin1"}),
                "admin_username",
            ),
            (serde_json::json!({"default_class": "huge"}), "huge"),
            (
                serde_json::json!({"classes": {"small": {"name": "Standard_B1ms", "tier": "Cheap"}}}),
                "Cheap",
            ),
            (
                serde_json::json!({"network": {"public_access": false}}),
                "VNet integration",
            ),
            (
                serde_json::json!({"network": {"subnet": "s", "virtual_network": "v"}}),
                "exclude",
            ),
            (
                serde_json::json!({"parameters": {"backup_retention_days": 40}}),
                "7 to 35",
            ),
            (
                serde_json::json!({"parameters": {"firewall_rules": [{"name": "office", "start_ip": "10.0.0.9", "end_ip": "10.0.0.1"}]}}),
                "firewall_rules[0]",
            ),
            (
                serde_json::json!({"credential": {"kind": "token_endpoint", "url": "ftp://x", "client_id": "c", "client_secret_file": "/s"}}),
                "credential.url",
            ),
            (
                serde_json::json!({"credential": {"kind": "password"}}),
                "password",
            ),
            (serde_json::json!({"locaton": "x"}), "locaton"),
        ] {
            let err = check(json).unwrap_err();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn azure_services_are_a_firewall_rule_of_0_0_0_0() {
        let s = check(serde_json::json!({"network": {"allow_azure_services": true}}))
            .unwrap_or_else(|e| panic!("{e}"));
        let rules = s.firewall_rules();
        assert_eq!(rules.len(), 1);
        assert_eq!(
            (rules[0].start_ip, rules[0].end_ip),
            (Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED)
        );
    }
}
