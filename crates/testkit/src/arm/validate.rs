//! The server body (`Server` for PUT, `ServerForUpdate` for PATCH) checked against
//! specification/postgresql/resource-manager/Microsoft.DBforPostgreSQL/stable/2024-08-01/FlexibleServers.json
//! and folded into a `ServerSpec`.

use serde_json::Value;

use super::reply::Refusal;
use super::rules;
use super::schema::{Obj, known_keys, object, opt_enum, opt_object, opt_str};
use super::state::ServerSpec;
use super::validate_envelope::{cross_checks, default_spec, location, tag_map, version_change};

/// FlexibleServers.json ServerVersion (2024-08-01).
pub(crate) const VERSIONS: [&str; 6] = ["16", "15", "14", "13", "12", "11"];
const TIERS: [&str; 3] = ["Burstable", "GeneralPurpose", "MemoryOptimized"];
pub(crate) const ENABLED: [&str; 2] = ["Enabled", "Disabled"];
pub(crate) const DISK_TIERS: [&str; 14] = [
    "P1", "P2", "P3", "P4", "P6", "P10", "P15", "P20", "P30", "P40", "P50", "P60", "P70", "P80",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// PUT on a server that does not exist.
    Create,
    /// PUT on an existing server.
    Replace,
    /// PATCH (ServerForUpdate).
    Patch,
}

pub(crate) struct Accepted {
    pub spec: ServerSpec,
    pub password: Option<String>,
}

pub(crate) fn server_body(
    body: &Value,
    existing: Option<&ServerSpec>,
    mode: Mode,
) -> Result<Accepted, Refusal> {
    let top = object(body, "Server")?;
    if mode == Mode::Patch {
        known_keys(
            top,
            "ServerForUpdate",
            &["sku", "identity", "properties", "tags"],
            &[],
        )?;
    } else {
        // ARM itself ignores the envelope's read-only fields, so a GET body sent back is fine.
        known_keys(
            top,
            "Server",
            &[
                "location",
                "tags",
                "sku",
                "identity",
                "properties",
                "id",
                "name",
                "type",
                "systemData",
            ],
            &[],
        )?;
    }
    let mut spec = existing.cloned().unwrap_or_else(default_spec);
    if mode != Mode::Patch {
        location(top, existing, &mut spec)?;
    }
    if let Some(tags) = opt_object(top, "tags", "Server")? {
        spec.tags = tag_map(tags)?;
    }
    match opt_object(top, "sku", "Server")? {
        Some(sku) => {
            known_keys(sku, "Sku", &["name", "tier"], &[])?;
            let name = opt_str(sku, "name", "sku")?;
            let tier = opt_enum(sku, "tier", "sku", &TIERS)?;
            let (Some(name), Some(tier)) = (name, tier) else {
                return Err(Refusal::invalid_content(
                    "'sku.name' and 'sku.tier' are both required",
                ));
            };
            if !rules::sku_fits_tier(name, tier) {
                return Err(Refusal::invalid_value(format!(
                    "The SKU '{name}' does not belong to the tier '{tier}'."
                )));
            }
            spec.sku_name = name.to_owned();
            spec.sku_tier = tier.to_owned();
        }
        None if mode == Mode::Create => {
            return Err(Refusal::invalid_content(
                "'sku' is required to create a server",
            ));
        }
        None => {}
    }
    if let Some(identity) = opt_object(top, "identity", "Server")? {
        known_keys(
            identity,
            "UserAssignedIdentity",
            &["userAssignedIdentities", "principalId", "type"],
            &["tenantId"],
        )?;
        if opt_enum(
            identity,
            "type",
            "identity",
            &["None", "UserAssigned", "SystemAssigned"],
        )?
        .is_none()
        {
            return Err(Refusal::invalid_content("'identity.type' is required"));
        }
        spec.identity = Some(Value::Object(identity.clone()));
    }
    let empty = Obj::new();
    let props = match opt_object(top, "properties", "Server")? {
        Some(p) => p,
        None if mode == Mode::Create => {
            return Err(Refusal::invalid_content(
                "'properties' is required to create a server",
            ));
        }
        None => &empty,
    };
    let password = properties(props, existing, mode, &mut spec)?;
    cross_checks(&spec, existing)?;
    Ok(Accepted { spec, password })
}

const PUT_PROPERTIES: [&str; 16] = [
    "administratorLogin",
    "administratorLoginPassword",
    "version",
    "storage",
    "authConfig",
    "dataEncryption",
    "backup",
    "network",
    "highAvailability",
    "maintenanceWindow",
    "sourceServerResourceId",
    "pointInTimeUTC",
    "availabilityZone",
    "replicationRole",
    "replica",
    "createMode",
];
const PATCH_PROPERTIES: [&str; 13] = [
    "administratorLogin",
    "administratorLoginPassword",
    "version",
    "storage",
    "backup",
    "highAvailability",
    "maintenanceWindow",
    "authConfig",
    "dataEncryption",
    "createMode",
    "replicationRole",
    "replica",
    "network",
];
const READ_ONLY_PROPERTIES: [&str; 5] = [
    "minorVersion",
    "state",
    "fullyQualifiedDomainName",
    "replicaCapacity",
    "privateEndpointConnections",
];

fn properties(
    p: &Obj,
    existing: Option<&ServerSpec>,
    mode: Mode,
    spec: &mut ServerSpec,
) -> Result<Option<String>, Refusal> {
    let writable: &[&str] = if mode == Mode::Patch {
        &PATCH_PROPERTIES
    } else {
        &PUT_PROPERTIES
    };
    let at = if mode == Mode::Patch {
        "ServerPropertiesForUpdate"
    } else {
        "ServerProperties"
    };
    known_keys(p, at, writable, &READ_ONLY_PROPERTIES)?;

    let create_modes: &[&str] = if mode == Mode::Patch {
        &["Default", "Update"]
    } else {
        &[
            "Default",
            "Create",
            "Update",
            "PointInTimeRestore",
            "GeoRestore",
            "Replica",
            "ReviveDropped",
        ]
    };
    match opt_enum(p, "createMode", "properties", create_modes)? {
        Some("Update") if mode == Mode::Create => {
            return Err(Refusal::invalid_value(
                "createMode 'Update' needs an existing server.",
            ));
        }
        Some(other @ ("PointInTimeRestore" | "GeoRestore" | "Replica" | "ReviveDropped")) => {
            return Err(Refusal::rule(
                400,
                "UnsupportedByTestDouble",
                format!("createMode '{other}' is valid in ARM but not served by this test double."),
            ));
        }
        _ => {}
    }
    for create_only in ["sourceServerResourceId", "pointInTimeUTC"] {
        if p.contains_key(create_only) {
            return Err(Refusal::invalid_value(format!(
                "'properties.{create_only}' is only valid with createMode PointInTimeRestore, GeoRestore, Replica or ReviveDropped."
            )));
        }
    }

    if let Some(auth) = opt_object(p, "authConfig", "properties")? {
        known_keys(
            auth,
            "AuthConfig",
            &["activeDirectoryAuth", "passwordAuth", "tenantId"],
            &[],
        )?;
        if let Some(v) = opt_enum(auth, "activeDirectoryAuth", "authConfig", &ENABLED)? {
            spec.ad_auth = v.to_owned();
        }
        if let Some(v) = opt_enum(auth, "passwordAuth", "authConfig", &ENABLED)? {
            spec.password_auth = v.to_owned();
        }
        if let Some(v) = opt_str(auth, "tenantId", "authConfig")? {
            spec.tenant_id = v.to_owned();
        }
    }

    // administratorLogin: x-ms-mutability create+read on Server; on update only to add a login
    // to a server that has none.
    if let Some(login) = opt_str(p, "administratorLogin", "properties")? {
        match existing.and_then(|e| e.admin_login.as_deref()) {
            Some(current) if current != login => {
                return Err(Refusal::invalid_value(format!(
                    "The administrator login cannot be changed (it is '{current}')."
                )));
            }
            Some(_) => {}
            None => {
                rules::admin_login(login)?;
                spec.admin_login = Some(login.to_owned());
            }
        }
    }
    let password = opt_str(p, "administratorLoginPassword", "properties")?;
    if let Some(password) = password {
        rules::password(password)?;
    }
    if mode == Mode::Create && spec.password_auth == "Enabled" {
        if spec.admin_login.is_none() {
            return Err(Refusal::invalid_content(
                "'properties.administratorLogin' is required to create a server",
            ));
        }
        if password.is_none() {
            return Err(Refusal::invalid_content(
                "'properties.administratorLoginPassword' is required to create a server",
            ));
        }
    }

    if let Some(version) = opt_enum(p, "version", "properties", &VERSIONS)? {
        version_change(existing, version)?;
        spec.version = version.to_owned();
    }
    if let Some(zone) = opt_enum(p, "availabilityZone", "properties", &["", "1", "2", "3"])? {
        if existing.is_some_and(|e| e.zone != zone) {
            return Err(Refusal::invalid_value(
                "'properties.availabilityZone' can only be set when the server is created.",
            ));
        }
        spec.zone = zone.to_owned();
    }
    if let Some(role) = opt_enum(
        p,
        "replicationRole",
        "properties",
        &["None", "Primary", "AsyncReplica", "GeoAsyncReplica"],
    )? && role != "Primary"
        && role != "None"
    {
        return Err(Refusal::rule(
            400,
            "UnsupportedByTestDouble",
            "The test double serves no replicas.",
        ));
    }
    if let Some(replica) = opt_object(p, "replica", "properties")? {
        known_keys(
            replica,
            "Replica",
            &["role", "promoteMode", "promoteOption"],
            &["capacity", "replicationState"],
        )?;
        if replica.contains_key("promoteMode") || replica.contains_key("promoteOption") {
            return Err(Refusal::invalid_value(
                "Only a replica can be promoted; this server is a primary.",
            ));
        }
    }
    super::validate_parts::storage(p, existing, spec)?;
    super::validate_parts::backup(p, existing, spec)?;
    super::validate_parts::network(p, existing, spec)?;
    super::validate_parts::high_availability(p, spec)?;
    super::validate_parts::maintenance(p, mode, spec)?;
    super::validate_parts::data_encryption(p, spec)?;
    Ok(password.map(str::to_owned))
}
