//! What a request asks of the flexible server: the plan's settings (class, storage and its
//! growth, high availability, backups, version) and the instance's parameters, merged and
//! checked before any ARM call; the server as ARM's PUT body, and the PATCH that moves an
//! existing server there.

use std::collections::BTreeMap;

use pgbroker_domain::ports::InstanceRequest;
use pgbroker_domain::{Reason, Sensitive};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::AzureError;
use super::settings::{AzureSettings, ClassSettings, FirewallRule, Tier};
use crate::aws::plan::parse;

/// The storage sizes flexible server offers, in GiB.
pub const STORAGE_SIZES: [u32; 11] = [32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32767];

/// `settings` of a plan on an `azure-flexible` backend.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// A key of the backend's `classes`; default: its `default_class`.
    #[serde(default)]
    pub class: Option<String>,
    /// Storage in GiB, rounded up to a size Azure offers.
    #[serde(default = "default_storage_gb")]
    pub storage_gb: u32,
    /// Storage grows by itself when it fills.
    #[serde(default = "yes")]
    pub auto_grow: bool,
    /// A zone-redundant standby (not on the Burstable tier).
    #[serde(default)]
    pub high_availability: bool,
    /// Default: the backend's `parameters.backup_retention_days`.
    #[serde(default)]
    pub backup_retention_days: Option<u32>,
    /// Default: the backend's `parameters.geo_redundant_backup`.
    #[serde(default)]
    pub geo_redundant_backup: Option<bool>,
    /// PostgreSQL major version.
    #[serde(default = "default_major")]
    pub postgres_version: u32,
}

fn default_storage_gb() -> u32 {
    32
}

fn yes() -> bool {
    true
}

fn default_major() -> u32 {
    16
}

/// Parameters of a provision or update on an `azure-flexible` backend.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceParameters {
    /// Extensions to create in the database, from the backend's allow-list.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Server parameters, from the backend's `configurations` allow-list.
    #[serde(default)]
    pub configurations: BTreeMap<String, String>,
    /// More storage than the plan's (GiB).
    #[serde(default)]
    pub storage_gb: Option<u32>,
    #[serde(default)]
    pub high_availability: Option<bool>,
    #[serde(default)]
    pub backup_retention_days: Option<u32>,
    /// PostgreSQL major version (chosen at creation only).
    #[serde(default)]
    pub postgres_version: Option<u32>,
    /// Backups copied to the paired region (chosen at creation only).
    #[serde(default)]
    pub geo_redundant_backup: Option<bool>,
    /// Firewall rules of this server, besides the backend's own.
    #[serde(default)]
    pub firewall_rules: Vec<FirewallRule>,
}

/// The server as the request wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub class_name: String,
    pub class: ClassSettings,
    pub storage_gb: u32,
    pub auto_grow: bool,
    pub high_availability: bool,
    pub backup_retention_days: u32,
    pub geo_redundant_backup: bool,
    pub version: u32,
    pub configurations: BTreeMap<String, String>,
    pub extensions: Vec<String>,
    /// The backend's rules and the instance's.
    pub firewall_rules: Vec<FirewallRule>,
}

fn enabled(on: bool) -> &'static str {
    if on { "Enabled" } else { "Disabled" }
}

impl Desired {
    pub fn of(settings: &AzureSettings, req: &InstanceRequest) -> Result<Self, AzureError> {
        let id = &req.instance_id;
        let plan: PlanSettings = parse(
            &format!("plan {} settings", req.plan.name),
            &req.plan.settings,
        )
        .map_err(AzureError::invalid)?;
        let params: InstanceParameters = parse("parameters", &req.spec.parameters)
            .map_err(|e| AzureError::invalid(format!("instance {id}: {e}")))?;
        let class_name = plan
            .class
            .clone()
            .unwrap_or_else(|| settings.default_class.clone());
        let class = settings.classes.get(&class_name).cloned().ok_or_else(|| {
            AzureError::invalid(format!(
                "instance {id}: plan {} asks for class {class_name:?}, which is not one of the backend's classes ({})",
                req.plan.name,
                settings.classes.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let unsupported =
            |m: String| AzureError::permanent(Reason::Unsupported, format!("instance {id}: {m}"));
        if let Some(why) = crate::shared::server_spec::disallowed(
            params.configurations.keys(),
            &settings.configurations,
            &params.extensions,
            &settings.extensions,
        ) {
            return Err(unsupported(why));
        }
        let asked = params.storage_gb.unwrap_or(0).max(plan.storage_gb);
        let storage_gb = STORAGE_SIZES
            .iter()
            .copied()
            .find(|s| *s >= asked)
            .ok_or_else(|| {
                AzureError::invalid(format!(
                    "instance {id}: {asked} GiB is more than a flexible server holds (32767)"
                ))
            })?;
        let high_availability = params.high_availability.unwrap_or(plan.high_availability);
        if high_availability && class.tier == Tier::Burstable {
            return Err(unsupported(format!(
                "class {class_name:?} is Burstable, and Azure offers high availability on GeneralPurpose and MemoryOptimized only"
            )));
        }
        let backup_retention_days = params
            .backup_retention_days
            .or(plan.backup_retention_days)
            .unwrap_or(settings.parameters.backup_retention_days);
        if !(7..=35).contains(&backup_retention_days) {
            return Err(AzureError::invalid(format!(
                "instance {id}: backup_retention_days {backup_retention_days}: Azure keeps backups 7 to 35 days"
            )));
        }
        Ok(Self {
            class_name,
            class,
            storage_gb,
            auto_grow: plan.auto_grow,
            high_availability,
            backup_retention_days,
            geo_redundant_backup: params
                .geo_redundant_backup
                .or(plan.geo_redundant_backup)
                .unwrap_or(settings.parameters.geo_redundant_backup),
            firewall_rules: {
                let mut rules = settings.firewall_rules();
                for rule in &params.firewall_rules {
                    if rule.start_ip > rule.end_ip {
                        return Err(AzureError::invalid(format!(
                            "instance {id}: firewall rule {}: start_ip {} is after end_ip {}",
                            rule.name, rule.start_ip, rule.end_ip
                        )));
                    }
                    if !settings.network.public_access {
                        return Err(unsupported(format!(
                            "firewall rule {}: this backend's servers have no public access (VNet integration)",
                            rule.name
                        )));
                    }
                    rules.retain(|r| r.name != rule.name);
                    rules.push(rule.clone());
                }
                rules
            },
            version: params.postgres_version.unwrap_or(plan.postgres_version),
            configurations: params.configurations,
            extensions: params.extensions,
        })
    }

    fn high_availability_body(&self, settings: &AzureSettings) -> Value {
        let mut ha =
            json!({"mode": if self.high_availability { "ZoneRedundant" } else { "Disabled" }});
        if self.high_availability
            && let Some(zone) = &settings.standby_availability_zone
        {
            ha["standbyAvailabilityZone"] = json!(zone);
        }
        ha
    }

    /// ARM's PUT body that creates the server.
    pub fn create_body(
        &self,
        settings: &AzureSettings,
        tags: &BTreeMap<String, String>,
        password: &Sensitive<String>,
    ) -> Value {
        let mut properties = json!({
            "administratorLogin": settings.admin_username,
            "administratorLoginPassword": password.expose(),
            "version": self.version.to_string(),
            "storage": {"storageSizeGB": self.storage_gb, "autoGrow": enabled(self.auto_grow)},
            "backup": {
                "backupRetentionDays": self.backup_retention_days,
                "geoRedundantBackup": enabled(self.geo_redundant_backup),
            },
            "network": network(settings),
            "highAvailability": self.high_availability_body(settings),
            "createMode": "Create",
        });
        if let Some(zone) = &settings.availability_zone {
            properties["availabilityZone"] = json!(zone);
        }
        json!({
            "location": settings.location,
            "tags": tags,
            "sku": {"name": self.class.name, "tier": self.class.tier.as_str()},
            "properties": properties,
        })
    }

    /// The PATCH that moves `server` (as ARM's GET shows it) to this; `None` when it is there.
    /// A change Azure cannot make in place is refused, naming it.
    pub fn update_body(
        &self,
        settings: &AzureSettings,
        server: &Value,
    ) -> Result<Option<(Value, Vec<String>)>, String> {
        let text = |pointer: &str| {
            server
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        let number = |pointer: &str| server.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
        let mut body = Map::new();
        let mut properties = Map::new();
        let mut changes = Vec::new();
        if text("/sku/name") != self.class.name || text("/sku/tier") != self.class.tier.as_str() {
            body.insert(
                "sku".into(),
                json!({"name": self.class.name, "tier": self.class.tier.as_str()}),
            );
            changes.push(format!("class {} ({})", self.class_name, self.class.name));
        }
        let current_storage = number("/properties/storage/storageSizeGB") as u32;
        if self.storage_gb < current_storage {
            return Err(format!(
                "storage cannot shrink from {current_storage} GiB to {} GiB on Azure",
                self.storage_gb
            ));
        }
        let auto_grow = enabled(self.auto_grow);
        if self.storage_gb > current_storage || text("/properties/storage/autoGrow") != auto_grow {
            properties.insert(
                "storage".into(),
                json!({"storageSizeGB": self.storage_gb, "autoGrow": auto_grow}),
            );
            changes.push(format!(
                "storage {} GiB (auto-grow {auto_grow})",
                self.storage_gb
            ));
        }
        if number("/properties/backup/backupRetentionDays") != u64::from(self.backup_retention_days)
        {
            properties.insert(
                "backup".into(),
                json!({"backupRetentionDays": self.backup_retention_days}),
            );
            changes.push(format!(
                "backup retention {} days",
                self.backup_retention_days
            ));
        }
        if text("/properties/backup/geoRedundantBackup") != enabled(self.geo_redundant_backup) {
            return Err(
                "geo-redundant backup is chosen when a server is created and cannot change".into(),
            );
        }
        let mode = if self.high_availability {
            "ZoneRedundant"
        } else {
            "Disabled"
        };
        if text("/properties/highAvailability/mode") != mode {
            properties.insert(
                "highAvailability".into(),
                self.high_availability_body(settings),
            );
            changes.push(format!("high availability {mode}"));
        }
        if text("/properties/version") != self.version.to_string() {
            return Err(format!(
                "PostgreSQL {} cannot become {} by a plan change: a major upgrade is a separate, planned step",
                text("/properties/version"),
                self.version
            ));
        }
        if changes.is_empty() {
            return Ok(None);
        }
        if !properties.is_empty() {
            body.insert("properties".into(), Value::Object(properties));
        }
        Ok(Some((Value::Object(body), changes)))
    }

    /// The server parameters the request sets: its own, and `azure.extensions` naming the
    /// extensions it asks for (Azure refuses `CREATE EXTENSION` for any not listed there).
    pub fn configurations(&self) -> BTreeMap<String, String> {
        let mut all = self.configurations.clone();
        if !self.extensions.is_empty() {
            let mut names: Vec<String> = self
                .extensions
                .iter()
                .map(|e| e.to_ascii_uppercase())
                .collect();
            names.sort();
            names.dedup();
            all.insert("azure.extensions".into(), names.join(","));
        }
        all
    }
}

/// The server's network: public access, or VNet integration with the delegated subnet and the
/// private DNS zone (names in the resource group, or resource ids).
pub fn network(settings: &AzureSettings) -> Value {
    let n = &settings.network;
    if n.public_access {
        return json!({"publicNetworkAccess": "Enabled"});
    }
    let id = |provider: &str, name: &str| {
        if name.starts_with("/subscriptions/") {
            name.to_string()
        } else {
            format!(
                "/subscriptions/{}/resourceGroups/{}/providers/{provider}/{name}",
                settings.subscription_id, settings.resource_group
            )
        }
    };
    let subnet = n.subnet.as_deref().unwrap_or_default();
    let subnet = match (&n.virtual_network, subnet.starts_with("/subscriptions/")) {
        (Some(vnet), false) => id(
            "Microsoft.Network/virtualNetworks",
            &format!("{vnet}/subnets/{subnet}"),
        ),
        _ => subnet.to_string(),
    };
    let mut network =
        json!({"publicNetworkAccess": "Disabled", "delegatedSubnetResourceId": subnet});
    if let Some(zone) = &n.dns_zone {
        network["privateDnsZoneArmResourceId"] =
            json!(id("Microsoft.Network/privateDnsZones", zone));
    }
    network
}

/// A firewall rule as ARM's PUT body.
pub fn firewall_body(rule: &FirewallRule) -> Value {
    json!({"properties": {"startIpAddress": rule.start_ip.to_string(), "endIpAddress": rule.end_ip.to_string()}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vnet_names_become_resource_ids() {
        let settings: AzureSettings = serde_json::from_value(json!({
            "subscription_id": "sub", "resource_group": "rg", "location": "westeurope",
            "network": {"public_access": false, "virtual_network": "vnet", "subnet": "db", "dns_zone": "pg.private.postgres.database.azure.com"},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            network(&settings),
            json!({
                "publicNetworkAccess": "Disabled",
                "delegatedSubnetResourceId": "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/db",
                "privateDnsZoneArmResourceId": "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/pg.private.postgres.database.azure.com",
            })
        );
    }
}
