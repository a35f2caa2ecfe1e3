//! The nested objects of ServerProperties (FlexibleServers.json 2024-08-01: Storage, Backup,
//! Network, HighAvailability, MaintenanceWindow, DataEncryption).

use super::reply::Refusal;
use super::rules;
use super::schema::{Obj, known_keys, opt_enum, opt_int, opt_object, opt_str};
use super::state::ServerSpec;
use super::validate::{DISK_TIERS, ENABLED, Mode};

pub(crate) fn storage(
    p: &Obj,
    existing: Option<&ServerSpec>,
    spec: &mut ServerSpec,
) -> Result<(), Refusal> {
    let Some(s) = opt_object(p, "storage", "properties")? else {
        return Ok(());
    };
    known_keys(
        s,
        "Storage",
        &[
            "storageSizeGB",
            "autoGrow",
            "tier",
            "iops",
            "throughput",
            "type",
        ],
        &[],
    )?;
    if let Some(kind) = opt_enum(s, "type", "storage", &["Premium_LRS", "PremiumV2_LRS"])? {
        if existing.is_some_and(|e| e.storage_type != kind) {
            return Err(Refusal::invalid_value(
                "The storage type cannot be changed after the server is created.",
            ));
        }
        spec.storage_type = kind.to_owned();
    }
    if let Some(gb) = opt_int(s, "storageSizeGB", "storage")? {
        let allowed = if spec.storage_type == "PremiumV2_LRS" {
            (32..=65536).contains(&gb)
        } else {
            rules::premium_size(gb).is_some()
        };
        if !allowed {
            let sizes: Vec<String> = rules::PREMIUM_SIZES
                .iter()
                .map(|(g, _, _)| g.to_string())
                .collect();
            return Err(Refusal::invalid_value(format!(
                "The storage size {gb} GB is not supported. Supported sizes (GB): {}.",
                sizes.join(", ")
            )));
        }
        if existing.is_some_and(|e| gb < e.storage_gb) {
            return Err(Refusal::invalid_value(format!(
                "The storage size cannot be decreased (from {} GB to {gb} GB).",
                spec.storage_gb
            )));
        }
        spec.storage_gb = gb;
    }
    if let Some(grow) = opt_enum(s, "autoGrow", "storage", &ENABLED)? {
        spec.auto_grow = grow.to_owned();
    }
    if spec.storage_type == "PremiumV2_LRS" && spec.auto_grow == "Enabled" {
        return Err(Refusal::invalid_value(
            "Storage autogrow is supported on Premium_LRS only.",
        ));
    }
    if let Some(tier) = opt_enum(s, "tier", "storage", &DISK_TIERS)? {
        spec.storage_tier = Some(tier.to_owned());
    }
    spec.iops = opt_int(s, "iops", "storage")?.or(spec.iops);
    spec.throughput = opt_int(s, "throughput", "storage")?.or(spec.throughput);
    if spec.storage_type == "PremiumV2_LRS" && (spec.iops.is_none() || spec.throughput.is_none()) {
        return Err(Refusal::invalid_value(
            "Storage type PremiumV2_LRS needs 'iops' and 'throughput'.",
        ));
    }
    Ok(())
}

pub(crate) fn backup(
    p: &Obj,
    existing: Option<&ServerSpec>,
    spec: &mut ServerSpec,
) -> Result<(), Refusal> {
    let Some(b) = opt_object(p, "backup", "properties")? else {
        return Ok(());
    };
    known_keys(
        b,
        "Backup",
        &["backupRetentionDays", "geoRedundantBackup"],
        &["earliestRestoreDate"],
    )?;
    if let Some(days) = opt_int(b, "backupRetentionDays", "backup")? {
        if !(7..=35).contains(&days) {
            return Err(Refusal::invalid_value(format!(
                "The backup retention period {days} is out of range; it must be between 7 and 35 days."
            )));
        }
        spec.retention_days = days;
    }
    if let Some(geo) = opt_enum(b, "geoRedundantBackup", "backup", &ENABLED)? {
        // x-ms-mutability: create, read.
        if existing.is_some_and(|e| e.geo_backup != geo) {
            return Err(Refusal::invalid_value(
                "Geo-redundant backup can only be chosen when the server is created.",
            ));
        }
        spec.geo_backup = geo.to_owned();
    }
    Ok(())
}

pub(crate) fn network(
    p: &Obj,
    existing: Option<&ServerSpec>,
    spec: &mut ServerSpec,
) -> Result<(), Refusal> {
    let Some(n) = opt_object(p, "network", "properties")? else {
        if spec.public_access.is_empty() {
            spec.public_access = "Enabled".to_owned();
        }
        return Ok(());
    };
    known_keys(
        n,
        "Network",
        &[
            "publicNetworkAccess",
            "delegatedSubnetResourceId",
            "privateDnsZoneArmResourceId",
        ],
        &[],
    )?;
    if let Some(subnet) = opt_str(n, "delegatedSubnetResourceId", "network")? {
        arm_id(
            subnet,
            "delegatedSubnetResourceId",
            "/providers/microsoft.network/virtualnetworks/",
            "/subnets/",
        )?;
        if existing.is_some_and(|e| e.subnet.as_deref() != Some(subnet)) {
            return Err(Refusal::invalid_value(
                "The delegated subnet cannot be changed after the server is created.",
            ));
        }
        spec.subnet = Some(subnet.to_owned());
    }
    if let Some(zone) = opt_str(n, "privateDnsZoneArmResourceId", "network")? {
        arm_id(
            zone,
            "privateDnsZoneArmResourceId",
            "/providers/microsoft.network/privatednszones/",
            "",
        )?;
        spec.dns_zone = Some(zone.to_owned());
    }
    if let Some(public) = opt_enum(n, "publicNetworkAccess", "network", &ENABLED)? {
        spec.public_access = public.to_owned();
    }
    if spec.public_access.is_empty() {
        spec.public_access = if spec.subnet.is_some() {
            "Disabled"
        } else {
            "Enabled"
        }
        .to_owned();
    }
    if spec.subnet.is_some() && spec.public_access == "Enabled" {
        return Err(Refusal::invalid_value(
            "A server in a delegated subnet (private access) cannot have public network access.",
        ));
    }
    Ok(())
}

/// `x-ms-arm-id-details`: the id must name a resource of the allowed type.
fn arm_id(id: &str, field: &str, provider: &str, child: &str) -> Result<(), Refusal> {
    let lower = id.to_ascii_lowercase();
    if lower.starts_with("/subscriptions/") && lower.contains(provider) && lower.contains(child) {
        Ok(())
    } else {
        Err(Refusal::invalid_value(format!(
            "'{field}' must be an ARM resource id of the right type, not '{id}'."
        )))
    }
}

pub(crate) fn high_availability(p: &Obj, spec: &mut ServerSpec) -> Result<(), Refusal> {
    let Some(h) = opt_object(p, "highAvailability", "properties")? else {
        return Ok(());
    };
    known_keys(
        h,
        "HighAvailability",
        &["mode", "standbyAvailabilityZone"],
        &["state"],
    )?;
    if let Some(mode) = opt_enum(
        h,
        "mode",
        "highAvailability",
        &["Disabled", "ZoneRedundant", "SameZone"],
    )? {
        spec.ha_mode = mode.to_owned();
    }
    if let Some(zone) = opt_enum(
        h,
        "standbyAvailabilityZone",
        "highAvailability",
        &["", "1", "2", "3"],
    )? {
        spec.standby_zone = zone.to_owned();
    }
    Ok(())
}

pub(crate) fn maintenance(p: &Obj, mode: Mode, spec: &mut ServerSpec) -> Result<(), Refusal> {
    let Some(m) = opt_object(p, "maintenanceWindow", "properties")? else {
        return Ok(());
    };
    // x-ms-mutability: update, read.
    if mode == Mode::Create {
        return Err(Refusal::invalid_content(
            "'properties.maintenanceWindow' can only be set on an existing server",
        ));
    }
    known_keys(
        m,
        "MaintenanceWindow",
        &["customWindow", "startHour", "startMinute", "dayOfWeek"],
        &[],
    )?;
    if let Some(custom) = opt_enum(m, "customWindow", "maintenanceWindow", &ENABLED)? {
        spec.maintenance.custom_window = custom.to_owned();
    }
    for (key, max) in [("startHour", 23), ("startMinute", 59), ("dayOfWeek", 6)] {
        if let Some(v) = opt_int(m, key, "maintenanceWindow")? {
            if !(0..=max).contains(&v) {
                return Err(Refusal::invalid_value(format!(
                    "'maintenanceWindow.{key}' must be between 0 and {max}."
                )));
            }
            match key {
                "startHour" => spec.maintenance.start_hour = v,
                "startMinute" => spec.maintenance.start_minute = v,
                _ => spec.maintenance.day_of_week = v,
            }
        }
    }
    Ok(())
}

pub(crate) fn data_encryption(p: &Obj, spec: &mut ServerSpec) -> Result<(), Refusal> {
    let Some(d) = opt_object(p, "dataEncryption", "properties")? else {
        return Ok(());
    };
    known_keys(
        d,
        "DataEncryption",
        &[
            "primaryKeyURI",
            "primaryUserAssignedIdentityId",
            "geoBackupKeyURI",
            "geoBackupUserAssignedIdentityId",
            "type",
        ],
        &["primaryEncryptionKeyStatus", "geoBackupEncryptionKeyStatus"],
    )?;
    let kind = opt_enum(
        d,
        "type",
        "dataEncryption",
        &["SystemManaged", "AzureKeyVault"],
    )?;
    if kind == Some("AzureKeyVault")
        && (opt_str(d, "primaryKeyURI", "dataEncryption")?.is_none()
            || opt_str(d, "primaryUserAssignedIdentityId", "dataEncryption")?.is_none())
    {
        return Err(Refusal::invalid_value(
            "Data encryption with AzureKeyVault needs 'primaryKeyURI' and 'primaryUserAssignedIdentityId'.",
        ));
    }
    spec.encryption = serde_json::Value::Object(d.clone());
    Ok(())
}
