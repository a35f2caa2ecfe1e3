//! Long-running operations in ARM's async pattern
//! (azure-resource-manager/management/async-operations): an `Azure-AsyncOperation` status URL
//! and a `Location` result URL under
//! `/subscriptions/{sub}/providers/Microsoft.DBforPostgreSQL/locations/{location}/`.

use chrono::Utc;
use serde_json::{Value, json};

use super::reply::{Refusal, Reply};
use super::state::{Effect, OpStatus, Operation, State};
use super::{FLEXIBLE_API_VERSION, LOCATION, SUBSCRIPTION, children, servers};

/// Starts an operation on `server` (which must exist) and marks the server busy with it.
pub(crate) fn start(st: &mut State, server: &str, effect: Effect) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let fail_with = st.fail_next.remove(server);
    st.operations.insert(
        id.clone(),
        Operation {
            server: server.to_owned(),
            effect,
            polls_left: st.polls,
            status: OpStatus::InProgress,
            start: Utc::now(),
            end: None,
            fail_with,
            result: None,
        },
    );
    if let Some(s) = st.servers.get_mut(server) {
        s.busy = Some(id.clone());
    }
    id
}

fn url(st: &State, kind: &str, id: &str) -> String {
    format!(
        "{}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.DBforPostgreSQL/locations/{LOCATION}/{kind}/{id}?api-version={FLEXIBLE_API_VERSION}",
        st.base
    )
}

/// The headers of an accepted long-running request.
pub(crate) fn accepted(st: &State, id: &str, reply: Reply) -> Reply {
    let reply = if st.async_operation_header {
        reply.header("Azure-AsyncOperation", url(st, "azureAsyncOperation", id))
    } else {
        reply
    };
    reply
        .header("Location", url(st, "operationResults", id))
        .header("Retry-After", st.retry_after.to_string())
}

/// One poll of either URL: the operation stays in progress for `polls` polls, then ends.
fn advance(st: &mut State, id: &str) {
    let Some(op) = st.operations.get_mut(id) else {
        return;
    };
    if op.status != OpStatus::InProgress {
        return;
    }
    if op.polls_left > 0 {
        op.polls_left -= 1;
        return;
    }
    complete(st, id);
}

fn complete(st: &mut State, id: &str) {
    let Some(op) = st.operations.get(id).cloned() else {
        return;
    };
    let failed = op.fail_with.is_some();
    let result = if failed {
        revert(st, &op);
        None
    } else {
        apply(st, &op)
    };
    if let Some(server) = st.servers.get_mut(&op.server)
        && server.busy.as_deref() == Some(id)
    {
        server.busy = None;
    }
    if let Some(op) = st.operations.get_mut(id) {
        op.status = if failed {
            OpStatus::Failed
        } else {
            OpStatus::Succeeded
        };
        op.end = Some(Utc::now());
        op.result = result;
    }
}

/// Where a failed operation leaves things: a failed create leaves no server, a failed update
/// or delete leaves the server as it was, Ready (see README: ARM's exact end state varies).
fn revert(st: &mut State, op: &Operation) {
    match op.effect {
        Effect::CreateServer => {
            st.servers.remove(&op.server);
        }
        _ => {
            if let Some(server) = st.servers.get_mut(&op.server) {
                server.state = "Ready".to_owned();
            }
        }
    }
}

fn apply(st: &mut State, op: &Operation) -> Option<Value> {
    if matches!(op.effect, Effect::DeleteServer) {
        st.servers.remove(&op.server);
        st.locks.remove(&Some(op.server.clone()));
        return None;
    }
    let server = st.servers.get_mut(&op.server)?;
    match &op.effect {
        Effect::CreateServer => {
            server.state = "Ready".to_owned();
            Some(servers::view(server))
        }
        Effect::UpdateServer { spec, password } => {
            server.spec = (**spec).clone();
            if password.is_some() {
                server.password.clone_from(password);
            }
            server.state = "Ready".to_owned();
            Some(servers::view(server))
        }
        Effect::DeleteServer => None,
        Effect::PutFirewallRule { name, rule } => {
            server.firewall_rules.insert(name.clone(), rule.clone());
            Some(children::firewall_view(&server.name, name, rule))
        }
        Effect::DeleteFirewallRule { name } => {
            server.firewall_rules.remove(name);
            None
        }
        Effect::PutConfiguration { name, value } => {
            server.configurations.insert(name.clone(), value.clone());
            children::configuration_view(server, name)
        }
        Effect::PutDatabase { name, database } => {
            server.databases.insert(name.clone(), database.clone());
            Some(children::database_view(&server.name, name, database))
        }
        Effect::DeleteDatabase { name } => {
            server.databases.remove(name);
            None
        }
    }
}

fn find<'a>(st: &'a State, location: &str, id: &str) -> Result<&'a Operation, Refusal> {
    st.operations
        .get(id)
        .filter(|_| location.eq_ignore_ascii_case(LOCATION))
        .ok_or_else(|| {
            Refusal::outcome(
                404,
                "OperationNotFound",
                format!("The operation '{id}' was not found."),
            )
        })
}

/// GET on the Azure-AsyncOperation URL: always 200, the status in the body.
pub(crate) fn status(st: &mut State, location: &str, id: &str) -> Result<Reply, Refusal> {
    find(st, location, id)?;
    advance(st, id);
    let op = find(st, location, id)?;
    let mut body =
        json!({"name": id, "status": op.status.as_str(), "startTime": op.start.to_rfc3339()});
    if let Some(end) = op.end {
        body["endTime"] = json!(end.to_rfc3339());
    }
    if op.status == OpStatus::Failed
        && let Some((code, message)) = &op.fail_with
    {
        body["error"] = json!({"code": code, "message": message});
    }
    let in_progress = op.status == OpStatus::InProgress;
    let reply = Reply::json(200, body);
    Ok(if in_progress {
        reply.header("Retry-After", st.retry_after.to_string())
    } else {
        reply
    })
}

/// GET on the Location URL: 202 while running, then the result (200 with the resource, 204
/// after a delete) or the operation's error.
pub(crate) fn result(st: &mut State, location: &str, id: &str) -> Result<Reply, Refusal> {
    find(st, location, id)?;
    advance(st, id);
    let op = find(st, location, id)?;
    match op.status {
        OpStatus::InProgress => Ok(accepted(st, id, Reply::empty(202))),
        OpStatus::Succeeded => Ok(match &op.result {
            Some(body) => Reply::json(200, body.clone()),
            None => Reply::empty(204),
        }),
        OpStatus::Failed => {
            let (code, message) = op.fail_with.clone().unwrap_or_default();
            let status = if code == "InternalServerError" {
                500
            } else {
                400
            };
            Err(Refusal::outcome(status, &code, message))
        }
    }
}
