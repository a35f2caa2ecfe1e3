//! Management locks, api-version 2020-05-01
//! (specification/resources/resource-manager/Microsoft.Authorization/stable/2020-05-01/locks.json),
//! at the resource group and at a server, and their effect on writes and deletes below them.

use serde_json::{Value, json};

use super::reply::{Refusal, Reply, resource_not_found};
use super::rules;
use super::schema::{known_keys, object, opt_enum, opt_object, opt_str};
use super::servers::{group_id, server_id};
use super::state::{Lock, State};

pub(crate) fn scope_id(scope: Option<&str>) -> String {
    match scope {
        None => group_id(),
        Some(server) => server_id(server),
    }
}

pub(crate) fn view(scope: Option<&str>, name: &str, lock: &Lock) -> Value {
    let mut properties = json!({"level": lock.level});
    if let Some(notes) = &lock.notes {
        properties["notes"] = json!(notes);
    }
    if let Some(owners) = &lock.owners {
        properties["owners"] = owners.clone();
    }
    json!({
        "id": format!("{}/providers/Microsoft.Authorization/locks/{name}", scope_id(scope)),
        "name": name,
        "type": "Microsoft.Authorization/locks",
        "properties": properties,
    })
}

/// ARM refuses a write below a ReadOnly lock and a delete below any lock, naming the scopes
/// in its documented ScopeLocked message.
pub(crate) fn check(
    st: &State,
    server: Option<&str>,
    target: &str,
    delete: bool,
) -> Result<(), Refusal> {
    let mut scopes: Vec<Option<&str>> = vec![None];
    if let Some(server) = server {
        scopes.push(Some(server));
    }
    let locked: Vec<String> = scopes
        .into_iter()
        .filter(|scope| {
            st.locks
                .get(&scope.map(str::to_owned))
                .is_some_and(|locks| {
                    locks
                        .values()
                        .any(|l| l.level == "ReadOnly" || (delete && l.level == "CanNotDelete"))
                })
        })
        .map(|scope| format!("'{}'", scope_id(scope)))
        .collect();
    if locked.is_empty() {
        return Ok(());
    }
    let action = if delete { "delete" } else { "write" };
    Err(Refusal::outcome(
        409,
        "ScopeLocked",
        format!(
            "The scope '{target}' cannot perform {action} operation because following scope(s) are locked: {}. Please remove the lock and try again.",
            locked.join(", ")
        ),
    ))
}

fn scope_exists(st: &State, scope: Option<&str>) -> Result<(), Refusal> {
    match scope {
        Some(server) if !st.servers.contains_key(server) => Err(resource_not_found(
            "Microsoft.DBforPostgreSQL/flexibleServers",
            server,
        )),
        _ => Ok(()),
    }
}

pub(crate) fn put(
    st: &mut State,
    scope: Option<&str>,
    name: &str,
    body: Option<&Value>,
) -> Result<Reply, Refusal> {
    rules::lock_name(name)?;
    let body = body.ok_or_else(|| {
        Refusal::invalid_content(
            "The request content was invalid and could not be deserialized: missing body.",
        )
    })?;
    let top = object(body, "ManagementLockObject")?;
    known_keys(
        top,
        "ManagementLockObject",
        &["properties", "id", "name", "type"],
        &[],
    )?;
    let Some(props) = opt_object(top, "properties", "ManagementLockObject")? else {
        return Err(Refusal::invalid_content("'properties' is required"));
    };
    known_keys(
        props,
        "ManagementLockProperties",
        &["level", "notes", "owners"],
        &[],
    )?;
    let Some(level) = opt_enum(
        props,
        "level",
        "properties",
        &["NotSpecified", "CanNotDelete", "ReadOnly"],
    )?
    else {
        return Err(Refusal::invalid_content("'properties.level' is required"));
    };
    if level == "NotSpecified" {
        return Err(Refusal::invalid_value(
            "The lock level must be CanNotDelete or ReadOnly.",
        ));
    }
    let notes = opt_str(props, "notes", "properties")?;
    if notes.is_some_and(|n| n.chars().count() > 512) {
        return Err(Refusal::invalid_value(
            "Lock notes can be at most 512 characters.",
        ));
    }
    let owners = match props.get("owners") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Array(items))
            if items
                .iter()
                .all(|i| i.get("applicationId").is_some_and(Value::is_string)) =>
        {
            Some(v.clone())
        }
        Some(_) => {
            return Err(Refusal::invalid_content(
                "'properties.owners' must be a list of {\"applicationId\": string}",
            ));
        }
    };
    scope_exists(st, scope)?;
    let lock = Lock {
        level: level.to_owned(),
        notes: notes.map(str::to_owned),
        owners,
    };
    let existed = st
        .locks
        .entry(scope.map(str::to_owned))
        .or_default()
        .insert(name.to_owned(), lock.clone())
        .is_some();
    Ok(Reply::json(
        if existed { 200 } else { 201 },
        view(scope, name, &lock),
    ))
}

pub(crate) fn get(st: &State, scope: Option<&str>, name: &str) -> Result<Reply, Refusal> {
    scope_exists(st, scope)?;
    st.locks
        .get(&scope.map(str::to_owned))
        .and_then(|locks| locks.get(name))
        .map(|lock| Reply::json(200, view(scope, name, lock)))
        .ok_or_else(|| {
            Refusal::outcome(
                404,
                "LockNotFound",
                format!("The lock '{name}' could not be found."),
            )
        })
}

/// Listing at a server also lists the locks it inherits from its resource group, as ARM's
/// list-at-resource-level does.
pub(crate) fn list(st: &State, scope: Option<&str>) -> Result<Reply, Refusal> {
    scope_exists(st, scope)?;
    let mut value = Vec::new();
    let mut scopes = vec![None];
    if scope.is_some() {
        scopes.push(scope);
    }
    for s in scopes {
        if let Some(locks) = st.locks.get(&s.map(str::to_owned)) {
            value.extend(locks.iter().map(|(name, lock)| view(s, name, lock)));
        }
    }
    Ok(Reply::json(200, json!({"value": value})))
}

pub(crate) fn delete(st: &mut State, scope: Option<&str>, name: &str) -> Result<Reply, Refusal> {
    scope_exists(st, scope)?;
    let removed = st
        .locks
        .get_mut(&scope.map(str::to_owned))
        .and_then(|locks| locks.remove(name));
    Ok(Reply::empty(if removed.is_some() { 200 } else { 204 }))
}
