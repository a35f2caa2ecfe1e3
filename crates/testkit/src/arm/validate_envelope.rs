//! The envelope of a server body (defaults, location, tags) and the rules between fields,
//! from FlexibleServers.json 2024-08-01 and the flexible server docs.

use std::collections::BTreeMap;

use serde_json::json;

use super::LOCATION;
use super::reply::Refusal;
use super::rules;
use super::schema::{Obj, opt_str};
use super::state::{Maintenance, ServerSpec};

pub(crate) fn default_spec() -> ServerSpec {
    ServerSpec {
        location: LOCATION.to_owned(),
        tags: BTreeMap::new(),
        sku_name: String::new(),
        sku_tier: String::new(),
        identity: None,
        admin_login: None,
        // The RP's default major version when none is given (a guess, see README).
        version: "16".to_owned(),
        storage_gb: 128,
        auto_grow: "Disabled".to_owned(),
        storage_tier: None,
        storage_type: "Premium_LRS".to_owned(),
        iops: None,
        throughput: None,
        retention_days: 7,
        geo_backup: "Disabled".to_owned(),
        public_access: String::new(),
        subnet: None,
        dns_zone: None,
        ha_mode: "Disabled".to_owned(),
        standby_zone: String::new(),
        zone: String::new(),
        ad_auth: "Disabled".to_owned(),
        password_auth: "Enabled".to_owned(),
        tenant_id: String::new(),
        encryption: json!({"type": "SystemManaged"}),
        maintenance: Maintenance {
            custom_window: "Disabled".to_owned(),
            start_hour: 0,
            start_minute: 0,
            day_of_week: 0,
        },
        replication_role: "Primary".to_owned(),
    }
}

pub(crate) fn location(
    top: &Obj,
    existing: Option<&ServerSpec>,
    spec: &mut ServerSpec,
) -> Result<(), Refusal> {
    let Some(given) = opt_str(top, "location", "Server")? else {
        return Err(Refusal::rule(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    };
    // ARM accepts display names ("West Europe") as well as location names.
    let normal: String = given
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    if let Some(existing) = existing {
        if normal != existing.location {
            return Err(Refusal::rule(
                400,
                "InvalidResourceLocation",
                format!(
                    "The resource already exists in location '{}' in resource group '{}'. A resource with the same name cannot be created in location '{given}'. Please select a new resource name.",
                    existing.location,
                    super::RESOURCE_GROUP
                ),
            ));
        }
    } else if normal != LOCATION {
        return Err(Refusal::rule(
            400,
            "LocationNotAvailableForResourceType",
            format!(
                "The provided location '{given}' is not available for resource type 'Microsoft.DBforPostgreSQL/flexibleServers'. List of available regions for the resource type is '{LOCATION}'."
            ),
        ));
    }
    spec.location = normal;
    Ok(())
}

pub(crate) fn tag_map(tags: &Obj) -> Result<BTreeMap<String, String>, Refusal> {
    if tags.len() > 50 {
        return Err(Refusal::rule(
            400,
            "InvalidTagCount",
            "A resource can have at most 50 tags.",
        ));
    }
    let mut out = BTreeMap::new();
    for (name, value) in tags {
        let Some(value) = value.as_str() else {
            return Err(Refusal::invalid_content(format!(
                "tag '{name}' must have a string value"
            )));
        };
        rules::tag(name, value)?;
        out.insert(name.clone(), value.to_owned());
    }
    Ok(out)
}

pub(crate) fn version_change(existing: Option<&ServerSpec>, to: &str) -> Result<(), Refusal> {
    let Some(existing) = existing else {
        return Ok(());
    };
    let (from, to_n): (u32, u32) = (
        existing.version.parse().unwrap_or(0),
        to.parse().unwrap_or(0),
    );
    if to_n < from {
        return Err(Refusal::invalid_value(format!(
            "The server version cannot be downgraded from {} to {to}.",
            existing.version
        )));
    }
    // ServerPropertiesForUpdate.version: "Version 16 is currently not supported for MVU."
    if to_n > from && to == "16" {
        return Err(Refusal::invalid_value(
            "Major version upgrade to version 16 is not supported.",
        ));
    }
    Ok(())
}

/// Rules between fields: the documented limits of HA on Burstable, zones for ZoneRedundant.
pub(crate) fn cross_checks(
    spec: &ServerSpec,
    _existing: Option<&ServerSpec>,
) -> Result<(), Refusal> {
    if spec.sku_tier == "Burstable" && spec.ha_mode != "Disabled" {
        return Err(Refusal::invalid_value(format!(
            "High availability mode '{}' is not supported for the Burstable tier.",
            spec.ha_mode
        )));
    }
    if spec.ha_mode == "ZoneRedundant" && !spec.zone.is_empty() && spec.zone == spec.standby_zone {
        return Err(Refusal::invalid_value(
            "For ZoneRedundant high availability the standby availability zone must differ from the primary's.",
        ));
    }
    if spec.ha_mode == "SameZone" && !spec.standby_zone.is_empty() && spec.zone != spec.standby_zone
    {
        return Err(Refusal::invalid_value(
            "For SameZone high availability the standby availability zone must be the primary's.",
        ));
    }
    Ok(())
}
