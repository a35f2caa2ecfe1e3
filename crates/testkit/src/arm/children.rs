//! The nested resources of a server: firewallRules (FirewallRules.json), configurations
//! (Configuration.json) and databases (Databases.json), all stable/2024-08-01, all written
//! through long-running operations.

use serde_json::{Value, json};

use super::reply::{Refusal, Reply, parent_not_found, resource_not_found, server_busy};
use super::schema::{known_keys, object, opt_object, opt_str};
use super::servers::{SERVER_TYPE, server_id};
use super::state::{Database, Effect, FirewallRule, Server, State};
use super::{locks, operations, params, rules};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    FirewallRules,
    Configurations,
    Databases,
}

impl Kind {
    pub fn segment(self) -> &'static str {
        match self {
            Kind::FirewallRules => "firewallRules",
            Kind::Configurations => "configurations",
            Kind::Databases => "databases",
        }
    }
}

fn child_id(server: &str, kind: Kind, name: &str) -> String {
    format!("{}/{}/{name}", server_id(server), kind.segment())
}

fn child_type(kind: Kind) -> String {
    format!("{SERVER_TYPE}/{}", kind.segment())
}

pub(crate) fn firewall_view(server: &str, name: &str, rule: &FirewallRule) -> Value {
    json!({
        "id": child_id(server, Kind::FirewallRules, name),
        "name": name,
        "type": child_type(Kind::FirewallRules),
        "properties": {"startIpAddress": rule.start, "endIpAddress": rule.end},
    })
}

pub(crate) fn database_view(server: &str, name: &str, db: &Database) -> Value {
    json!({
        "id": child_id(server, Kind::Databases, name),
        "name": name,
        "type": child_type(Kind::Databases),
        "properties": {"charset": db.charset, "collation": db.collation},
    })
}

pub(crate) fn configuration_view(server: &Server, name: &str) -> Option<Value> {
    let param = params::find(name)?;
    let user = server.configurations.get(param.name);
    let value = user.map(String::as_str).unwrap_or(param.default);
    Some(json!({
        "id": child_id(&server.name, Kind::Configurations, param.name),
        "name": param.name,
        "type": child_type(Kind::Configurations),
        "properties": {
            "value": value,
            "description": param.description,
            "defaultValue": param.default,
            "dataType": param.data_type(),
            "allowedValues": param.allowed_values(),
            "source": if user.is_some() { "user-override" } else { "system-default" },
            "isDynamicConfig": param.dynamic,
            "isReadOnly": false,
            // The double never restarts a server, so a static parameter stays pending.
            "isConfigPendingRestart": user.is_some() && !param.dynamic,
            "documentationLink": "https://www.postgresql.org/docs/current/runtime-config.html",
        },
    }))
}

fn view(server: &Server, kind: Kind, name: &str) -> Option<Value> {
    match kind {
        Kind::FirewallRules => server
            .firewall_rules
            .get(name)
            .map(|r| firewall_view(&server.name, name, r)),
        Kind::Databases => server
            .databases
            .get(name)
            .map(|d| database_view(&server.name, name, d)),
        Kind::Configurations => configuration_view(server, name),
    }
}

pub(crate) fn get(st: &State, server: &str, kind: Kind, name: &str) -> Result<Reply, Refusal> {
    let parent = st
        .servers
        .get(server)
        .ok_or_else(|| resource_not_found(SERVER_TYPE, server))?;
    view(parent, kind, name)
        .map(|v| Reply::json(200, v))
        .ok_or_else(|| {
            resource_not_found(&format!("{SERVER_TYPE}/{server}/{}", kind.segment()), name)
        })
}

pub(crate) fn list(st: &State, server: &str, kind: Kind) -> Result<Reply, Refusal> {
    let parent = st
        .servers
        .get(server)
        .ok_or_else(|| resource_not_found(SERVER_TYPE, server))?;
    let value: Vec<Value> = match kind {
        Kind::FirewallRules => parent
            .firewall_rules
            .iter()
            .map(|(n, r)| firewall_view(server, n, r))
            .collect(),
        Kind::Databases => parent
            .databases
            .iter()
            .map(|(n, d)| database_view(server, n, d))
            .collect(),
        Kind::Configurations => params::PARAMS
            .iter()
            .filter_map(|p| configuration_view(parent, p.name))
            .collect(),
    };
    Ok(Reply::json(200, json!({"value": value})))
}

/// A write below a server: the parent must exist, no lock may forbid it, and the server must
/// not be in the middle of another operation.
fn writable_parent(st: &State, server: &str, target: &str, delete: bool) -> Result<(), Refusal> {
    let parent = st
        .servers
        .get(server)
        .ok_or_else(|| parent_not_found(server))?;
    locks::check(st, Some(server), target, delete)?;
    if parent.busy.is_some() || parent.state != "Ready" {
        return Err(server_busy(server));
    }
    Ok(())
}

fn properties<'a>(
    body: Option<&'a Value>,
    at: &str,
) -> Result<&'a serde_json::Map<String, Value>, Refusal> {
    let body = body.ok_or_else(|| {
        Refusal::invalid_content(
            "The request content was invalid and could not be deserialized: the body is missing.",
        )
    })?;
    let top = object(body, at)?;
    known_keys(
        top,
        at,
        &["properties", "id", "name", "type", "systemData"],
        &[],
    )?;
    opt_object(top, "properties", at)?
        .ok_or_else(|| Refusal::invalid_content(format!("'{at}.properties' is required")))
}

pub(crate) fn put(
    st: &mut State,
    server: &str,
    kind: Kind,
    name: &str,
    body: Option<&Value>,
) -> Result<Reply, Refusal> {
    let target = child_id(server, kind, name);
    let effect = match kind {
        Kind::FirewallRules => {
            rules::child_name("firewall rule", name)?;
            let p = properties(body, "FirewallRule")?;
            known_keys(
                p,
                "FirewallRuleProperties",
                &["startIpAddress", "endIpAddress"],
                &[],
            )?;
            let start = ip(
                opt_str(p, "startIpAddress", "properties")?,
                "startIpAddress",
            )?;
            let end = ip(opt_str(p, "endIpAddress", "properties")?, "endIpAddress")?;
            if start.1 > end.1 {
                return Err(Refusal::invalid_value(format!(
                    "The start IP address '{}' is after the end IP address '{}'.",
                    start.0, end.0
                )));
            }
            Effect::PutFirewallRule {
                name: name.to_owned(),
                rule: FirewallRule {
                    start: start.0,
                    end: end.0,
                },
            }
        }
        Kind::Configurations => {
            let param = params::find(name).ok_or_else(|| {
                Refusal::rule(
                    404,
                    "ResourceNotFound",
                    format!("The configuration '{name}' does not exist for this server."),
                )
            })?;
            let p = properties(body, "Configuration")?;
            known_keys(
                p,
                "ConfigurationProperties",
                &["value", "source"],
                &[
                    "description",
                    "defaultValue",
                    "dataType",
                    "allowedValues",
                    "isDynamicConfig",
                    "isReadOnly",
                    "isConfigPendingRestart",
                    "unit",
                    "documentationLink",
                ],
            )?;
            let value = opt_str(p, "value", "properties")?
                .ok_or_else(|| Refusal::invalid_content("'properties.value' is required"))?;
            if let Some(source) = opt_str(p, "source", "properties")?
                && source != "user-override"
            {
                return Err(Refusal::invalid_value(format!(
                    "The source '{source}' is not valid; use 'user-override'."
                )));
            }
            param.check(value)?;
            Effect::PutConfiguration {
                name: param.name.to_owned(),
                value: value.to_owned(),
            }
        }
        Kind::Databases => {
            rules::child_name("database", name)?;
            let p = properties(body, "Database")?;
            known_keys(p, "DatabaseProperties", &["charset", "collation"], &[])?;
            let charset = opt_str(p, "charset", "properties")?.unwrap_or("UTF8");
            let collation = opt_str(p, "collation", "properties")?.unwrap_or("en_US.utf8");
            // Databases.json patterns: charset ^[a-zA-Z]+\w*$, collation ^[a-zA-Z\-]+([. ]|\w)*$.
            let charset_ok = charset
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && charset.chars().all(|c| c.is_alphanumeric() || c == '_');
            let collation_ok = collation
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '-')
                && collation
                    .chars()
                    .all(|c| c.is_alphanumeric() || "_-. ".contains(c));
            if !charset_ok || !collation_ok {
                return Err(Refusal::invalid_value(format!(
                    "The charset '{charset}' or collation '{collation}' is not valid."
                )));
            }
            let existing = st.servers.get(server).and_then(|s| s.databases.get(name));
            let database = Database {
                charset: charset.to_owned(),
                collation: collation.to_owned(),
            };
            if existing.is_some_and(|e| *e != database) {
                return Err(Refusal::invalid_value(
                    "The charset and collation of an existing database cannot be changed.",
                ));
            }
            Effect::PutDatabase {
                name: name.to_owned(),
                database,
            }
        }
    };
    writable_parent(st, server, &target, false)?;
    let id = operations::start(st, server, effect);
    Ok(operations::accepted(st, &id, Reply::empty(202)))
}

fn ip(text: Option<&str>, field: &str) -> Result<(String, u32), Refusal> {
    let text =
        text.ok_or_else(|| Refusal::invalid_content(format!("'properties.{field}' is required")))?;
    rules::ipv4(text)
        .map(|n| (text.to_owned(), n))
        .ok_or_else(|| {
            Refusal::invalid_value(format!("'{field}' must be an IPv4 address, not '{text}'."))
        })
}

pub(crate) fn delete(
    st: &mut State,
    server: &str,
    kind: Kind,
    name: &str,
) -> Result<Reply, Refusal> {
    let parent = st
        .servers
        .get(server)
        .ok_or_else(|| parent_not_found(server))?;
    let effect = match kind {
        Kind::FirewallRules if parent.firewall_rules.contains_key(name) => {
            Effect::DeleteFirewallRule {
                name: name.to_owned(),
            }
        }
        Kind::Databases if parent.databases.contains_key(name) => Effect::DeleteDatabase {
            name: name.to_owned(),
        },
        Kind::Configurations => {
            return Err(Refusal::rule(
                405,
                "MethodNotAllowed",
                "A configuration cannot be deleted; set its value instead.",
            ));
        }
        _ => return Ok(Reply::empty(204)),
    };
    writable_parent(st, server, &child_id(server, kind, name), true)?;
    let id = operations::start(st, server, effect);
    Ok(operations::accepted(st, &id, Reply::empty(202)))
}
