//! The flexible server resource itself: PUT, GET, PATCH, DELETE and the resource-group list,
//! shaped as FlexibleServers.json 2024-08-01 and its examples (ServerCreate.json, ServerGet.json).

use std::collections::BTreeMap;

use chrono::Utc;
use serde_json::{Value, json};

use super::reply::{Refusal, Reply, resource_not_found, server_busy};
use super::state::{Database, Effect, Server, State};
use super::validate::{self, Mode};
use super::{RESOURCE_GROUP, SUBSCRIPTION, locks, operations, rules};

pub(crate) const SERVER_TYPE: &str = "Microsoft.DBforPostgreSQL/flexibleServers";

pub(crate) fn group_id() -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}")
}

pub(crate) fn server_id(name: &str) -> String {
    format!("{}/providers/{SERVER_TYPE}/{name}", group_id())
}

/// The latest minor version the examples show for each major (a fixed value, see README).
fn minor_version(major: &str) -> &'static str {
    match major {
        "16" => "8",
        "15" => "12",
        "14" => "17",
        "13" => "20",
        _ => "22",
    }
}

/// The server as GET returns it; never with administratorLoginPassword.
pub(crate) fn view(server: &Server) -> Value {
    let s = &server.spec;
    let (default_tier, default_iops) = rules::premium_size(s.storage_gb).unwrap_or(("P10", 500));
    let mut storage = json!({
        "storageSizeGB": s.storage_gb,
        "autoGrow": s.auto_grow,
        "tier": s.storage_tier.clone().unwrap_or_else(|| default_tier.to_owned()),
        "iops": s.iops.unwrap_or(default_iops),
        "type": s.storage_type,
    });
    if let Some(throughput) = s.throughput {
        storage["throughput"] = json!(throughput);
    }
    let mut network = json!({"publicNetworkAccess": s.public_access});
    if let Some(subnet) = &s.subnet {
        network["delegatedSubnetResourceId"] = json!(subnet);
    }
    if let Some(zone) = &s.dns_zone {
        network["privateDnsZoneArmResourceId"] = json!(zone);
    }
    let ha_state = match (s.ha_mode.as_str(), server.state.as_str()) {
        ("Disabled", _) => "NotEnabled",
        (_, "Updating") => "CreatingStandby",
        _ => "Healthy",
    };
    let mut auth = json!({"activeDirectoryAuth": s.ad_auth, "passwordAuth": s.password_auth});
    if !s.tenant_id.is_empty() {
        auth["tenantId"] = json!(s.tenant_id);
    }
    let mut properties = json!({
        "replica": {"role": "Primary", "capacity": 5},
        "storage": storage,
        "network": network,
        "dataEncryption": s.encryption,
        "authConfig": auth,
        "fullyQualifiedDomainName": format!("{}.postgres.database.azure.com", server.name),
        "version": s.version,
        "minorVersion": minor_version(&s.version),
        "state": server.state,
        "availabilityZone": s.zone,
        "backup": {
            "backupRetentionDays": s.retention_days,
            "geoRedundantBackup": s.geo_backup,
            "earliestRestoreDate": server.created.to_rfc3339(),
        },
        "highAvailability": {"mode": s.ha_mode, "state": ha_state, "standbyAvailabilityZone": s.standby_zone},
        "maintenanceWindow": {
            "customWindow": s.maintenance.custom_window,
            "dayOfWeek": s.maintenance.day_of_week,
            "startHour": s.maintenance.start_hour,
            "startMinute": s.maintenance.start_minute,
        },
        "replicationRole": s.replication_role,
        "replicaCapacity": 5,
    });
    if let Some(login) = &s.admin_login {
        properties["administratorLogin"] = json!(login);
    }
    let mut out = json!({
        "sku": {"name": s.sku_name, "tier": s.sku_tier},
        "systemData": {"createdAt": server.created.to_rfc3339()},
        "properties": properties,
        "location": s.location,
        "tags": s.tags,
        "id": server_id(&server.name),
        "name": server.name,
        "type": SERVER_TYPE,
    });
    if let Some(identity) = &s.identity {
        out["identity"] = identity.clone();
    }
    out
}

fn missing_body() -> Refusal {
    Refusal::invalid_content(
        "The request content was invalid and could not be deserialized: the body is missing.",
    )
}

pub(crate) fn get(st: &State, name: &str) -> Result<Reply, Refusal> {
    st.servers
        .get(name)
        .map(|s| Reply::json(200, view(s)))
        .ok_or_else(|| resource_not_found(SERVER_TYPE, name))
}

pub(crate) fn list(st: &State) -> Reply {
    let value: Vec<Value> = st.servers.values().map(view).collect();
    Reply::json(200, json!({"value": value}))
}

pub(crate) fn put(st: &mut State, name: &str, body: Option<&Value>) -> Result<Reply, Refusal> {
    rules::server_name(name)?;
    locks::check(
        st,
        st.servers.contains_key(name).then_some(name),
        &server_id(name),
        false,
    )?;
    let body = body.ok_or_else(missing_body)?;
    let existing = st.servers.get(name);
    let mode = if existing.is_some() {
        Mode::Replace
    } else {
        Mode::Create
    };
    let accepted = validate::server_body(body, existing.map(|s| &s.spec), mode)?;
    match existing {
        None => {
            let mut databases = BTreeMap::new();
            // Every flexible server comes with these (DatabasesListByServer.json shows them).
            for db in ["azure_maintenance", "azure_sys", "postgres"] {
                databases.insert(
                    db.to_owned(),
                    Database {
                        charset: "UTF8".to_owned(),
                        collation: "en_US.utf8".to_owned(),
                    },
                );
            }
            st.servers.insert(
                name.to_owned(),
                Server {
                    name: name.to_owned(),
                    spec: accepted.spec,
                    password: accepted.password,
                    // The spec's ServerState has no "Provisioning"; a server being created reads
                    // as Updating until its operation ends.
                    state: "Updating".to_owned(),
                    created: Utc::now(),
                    busy: None,
                    firewall_rules: BTreeMap::new(),
                    configurations: BTreeMap::new(),
                    databases,
                },
            );
            let id = operations::start(st, name, Effect::CreateServer);
            let body = st.servers.get(name).map(view).unwrap_or(Value::Null);
            Ok(operations::accepted(st, &id, Reply::json(201, body)))
        }
        Some(_) => update(st, name, accepted, 200),
    }
}

fn update(
    st: &mut State,
    name: &str,
    accepted: validate::Accepted,
    status: u16,
) -> Result<Reply, Refusal> {
    let server = st
        .servers
        .get_mut(name)
        .ok_or_else(|| resource_not_found(SERVER_TYPE, name))?;
    if server.busy.is_some() {
        return Err(server_busy(name));
    }
    server.state = "Updating".to_owned();
    let body = view(server);
    let effect = Effect::UpdateServer {
        spec: Box::new(accepted.spec),
        password: accepted.password,
    };
    let id = operations::start(st, name, effect);
    let reply = if status == 200 {
        Reply::json(200, body)
    } else {
        Reply::empty(status)
    };
    Ok(operations::accepted(st, &id, reply))
}

pub(crate) fn patch(st: &mut State, name: &str, body: Option<&Value>) -> Result<Reply, Refusal> {
    let existing = st
        .servers
        .get(name)
        .ok_or_else(|| resource_not_found(SERVER_TYPE, name))?;
    locks::check(st, Some(name), &server_id(name), false)?;
    let body = body.ok_or_else(missing_body)?;
    let accepted = validate::server_body(body, Some(&existing.spec), Mode::Patch)?;
    update(st, name, accepted, 202)
}

pub(crate) fn delete(st: &mut State, name: &str) -> Result<Reply, Refusal> {
    if !st.servers.contains_key(name) {
        return Ok(Reply::empty(204));
    }
    locks::check(st, Some(name), &server_id(name), true)?;
    let server = st
        .servers
        .get_mut(name)
        .ok_or_else(|| resource_not_found(SERVER_TYPE, name))?;
    if server.busy.is_some() {
        return Err(server_busy(name));
    }
    server.state = "Dropping".to_owned();
    let id = operations::start(st, name, Effect::DeleteServer);
    Ok(operations::accepted(st, &id, Reply::empty(202)))
}
