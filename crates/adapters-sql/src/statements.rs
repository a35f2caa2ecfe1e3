//! Every statement the store runs, with its parameters taken from the model. The SQL is the same
//! on both databases; `'in progress'` is written out (not bound) so that PostgreSQL can use the
//! partial index `operations_one_in_flight`.

use chrono::{DateTime, Utc};
use pgbroker_domain::{
    Binding, BindingId, Instance, InstanceId, JsonObject, Operation, OperationId, PlanId, Reason,
    ServiceId,
};
use serde_json::Value;

use crate::dialect::{Param, Statement};

macro_rules! instance_columns {
    () => {
        "id, service_id, plan_id, parameters, context, organization_guid, space_guid, \
         maintenance_version, state, dashboard_url, created_at, updated_at, owner"
    };
}

macro_rules! binding_columns {
    () => {
        "instance_id, binding_id, service_id, plan_id, parameters, context, bind_resource, state, \
         password, credentials, created_at, updated_at"
    };
}

macro_rules! operation_columns {
    () => {
        "id, kind, origin, instance_id, binding_id, state, description, target, \
         originating_identity, attempts, failures, next_attempt_at, deadline, lease_owner, \
         lease_token, lease_expires_at, created_at, updated_at, service_id, plan_id, door, reason, \
         deletion_policy, trace_parent"
    };
}

pub mod lookups;

/// Claims due operations: `$1` owner, `$2` lease expiry, `$3` now, `$4` limit. `$lock` is what
/// keeps two concurrent claimers apart on databases with row locks.
macro_rules! claim_due {
    ($lock:literal) => {
        concat!(
            "UPDATE operations SET lease_owner = $1, lease_token = lease_token + 1, \
             lease_expires_at = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE id IN (SELECT id FROM operations WHERE state = 'in progress' \
             AND next_attempt_at <= $3 AND (lease_expires_at IS NULL OR lease_expires_at <= $3) \
             ORDER BY next_attempt_at, seq LIMIT $4",
            $lock,
            ") RETURNING ",
            operation_columns!()
        )
    };
}

/// PostgreSQL: rows another claimer has locked are skipped, not waited for.
pub const CLAIM_DUE_SKIP_LOCKED: &str = claim_due!(" FOR UPDATE SKIP LOCKED");
/// SQLite: the claim runs in a `BEGIN IMMEDIATE` transaction, which serializes writers.
pub const CLAIM_DUE_SERIALIZED: &str = claim_due!("");

/// `sql` is the dialect's [`CLAIM_DUE_SKIP_LOCKED`] or [`CLAIM_DUE_SERIALIZED`].
pub fn claim_due<'a>(
    sql: &'static str,
    owner: &'a str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    limit: i64,
) -> Statement<'a> {
    stmt(
        sql,
        vec![
            text(owner),
            Param::Time(Some(expires_at)),
            Param::Time(Some(now)),
            Param::Int(limit),
        ],
    )
}

pub fn ping() -> Statement<'static> {
    stmt("SELECT 1", vec![])
}

pub fn insert_instance(instance: &Instance) -> Statement<'_> {
    const SQL: &str = concat!(
        "INSERT INTO instances (",
        instance_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    );
    stmt(SQL, instance_params(instance))
}

pub fn update_instance(instance: &Instance) -> Statement<'_> {
    const SQL: &str = "UPDATE instances SET service_id = $2, plan_id = $3, parameters = $4, \
        context = $5, organization_guid = $6, space_guid = $7, maintenance_version = $8, \
        state = $9, dashboard_url = $10, created_at = $11, updated_at = $12, owner = $13 \
        WHERE id = $1";
    stmt(SQL, instance_params(instance))
}

fn instance_params(i: &Instance) -> Vec<Param<'_>> {
    vec![
        text(i.id.as_str()),
        text(i.spec.service_id.as_str()),
        text(i.spec.plan_id.as_str()),
        object(&i.spec.parameters),
        object(&i.spec.context),
        Param::Text(i.spec.organization_guid.as_deref()),
        Param::Text(i.spec.space_guid.as_deref()),
        Param::Text(i.spec.maintenance_version.as_deref()),
        text(i.state.as_str()),
        Param::Text(i.dashboard_url.as_deref()),
        Param::Time(Some(i.created_at)),
        Param::Time(Some(i.updated_at)),
        text(i.owner.as_str()),
    ]
}

/// Bindings go first: the foreign key would remove them too, but not on a SQLite connection
/// someone opened without `foreign_keys`.
pub fn delete_instance(id: &InstanceId) -> [Statement<'_>; 2] {
    [
        stmt(
            "DELETE FROM bindings WHERE instance_id = $1",
            vec![text(id.as_str())],
        ),
        stmt(
            "DELETE FROM instances WHERE id = $1",
            vec![text(id.as_str())],
        ),
    ]
}

pub fn insert_binding(binding: &Binding) -> Statement<'_> {
    const SQL: &str = concat!(
        "INSERT INTO bindings (",
        binding_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    stmt(SQL, binding_params(binding))
}

pub fn update_binding(binding: &Binding) -> Statement<'_> {
    const SQL: &str = "UPDATE bindings SET service_id = $3, plan_id = $4, parameters = $5, \
        context = $6, bind_resource = $7, state = $8, password = $9, credentials = $10, \
        created_at = $11, updated_at = $12 WHERE instance_id = $1 AND binding_id = $2";
    stmt(SQL, binding_params(binding))
}

fn binding_params(b: &Binding) -> Vec<Param<'_>> {
    let credentials = b.credentials.as_ref().map(|c| {
        Value::Object(
            c.expose()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    });
    vec![
        text(b.instance_id.as_str()),
        text(b.id.as_str()),
        text(b.spec.service_id.as_str()),
        text(b.spec.plan_id.as_str()),
        object(&b.spec.parameters),
        object(&b.spec.context),
        object(&b.spec.bind_resource),
        text(b.state.as_str()),
        text(b.password.expose()),
        Param::Json(credentials),
        Param::Time(Some(b.created_at)),
        Param::Time(Some(b.updated_at)),
    ]
}

pub fn delete_binding<'a>(instance: &'a InstanceId, id: &'a BindingId) -> Statement<'a> {
    stmt(
        "DELETE FROM bindings WHERE instance_id = $1 AND binding_id = $2",
        vec![text(instance.as_str()), text(id.as_str())],
    )
}

/// `target` is serialized by the caller: it is the one value whose serialization can fail.
pub fn insert_operation(op: &Operation, target: Option<Value>) -> Statement<'_> {
    const SQL: &str = concat!(
        "INSERT INTO operations (",
        operation_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
          $19, $20, $21, $22, $23, $24)"
    );
    let lease = op.lease.as_ref();
    stmt(
        SQL,
        vec![
            Param::Id(op.id),
            text(op.kind.as_str()),
            text(op.origin.as_str()),
            text(op.instance_id.as_str()),
            Param::Text(op.binding_id.as_ref().map(BindingId::as_str)),
            text(op.state.as_str()),
            Param::Text(op.description.as_deref()),
            Param::Json(target),
            Param::Text(op.originating_identity.as_deref()),
            Param::Int(op.attempts.into()),
            Param::Int(op.failures.into()),
            Param::Time(Some(op.next_attempt_at)),
            Param::Time(Some(op.deadline)),
            Param::Text(lease.map(|l| l.owner.as_str())),
            Param::Int(lease.map_or(0, |l| l.token)),
            Param::Time(lease.map(|l| l.expires_at)),
            Param::Time(Some(op.created_at)),
            Param::Time(Some(op.updated_at)),
            Param::Text(op.service_id.as_ref().map(ServiceId::as_str)),
            Param::Text(op.plan_id.as_ref().map(PlanId::as_str)),
            text(op.door.as_str()),
            Param::Text(op.reason.map(Reason::as_str)),
            text(op.deletion_policy.as_str()),
            Param::Text(op.trace_parent.as_deref()),
        ],
    )
}

/// Only while the claim with `token` is current: the operation is in flight, leased and its
/// token has not moved on. The token itself stays, so the next claim gets a higher one.
pub fn settle_operation(op: &Operation, token: i64) -> Statement<'_> {
    const SQL: &str = "UPDATE operations SET state = $3, description = $4, failures = $5, \
        next_attempt_at = $6, deadline = $7, updated_at = $8, reason = $9, lease_owner = NULL, \
        lease_expires_at = NULL \
        WHERE id = $1 AND lease_token = $2 AND state = 'in progress' AND lease_owner IS NOT NULL";
    stmt(
        SQL,
        vec![
            Param::Id(op.id),
            Param::Int(token),
            text(op.state.as_str()),
            Param::Text(op.description.as_deref()),
            Param::Int(op.failures.into()),
            Param::Time(Some(op.next_attempt_at)),
            Param::Time(Some(op.deadline)),
            Param::Time(Some(op.updated_at)),
            Param::Text(op.reason.map(Reason::as_str)),
        ],
    )
}

pub fn renew_lease(id: OperationId, token: i64, until: DateTime<Utc>) -> Statement<'static> {
    const SQL: &str = "UPDATE operations SET lease_expires_at = $3 \
        WHERE id = $1 AND lease_token = $2 AND state = 'in progress' AND lease_owner IS NOT NULL";
    stmt(
        SQL,
        vec![Param::Id(id), Param::Int(token), Param::Time(Some(until))],
    )
}

fn stmt<'a>(sql: &'static str, params: Vec<Param<'a>>) -> Statement<'a> {
    Statement { sql, params }
}

fn text(value: &str) -> Param<'_> {
    Param::Text(Some(value))
}

fn object(value: &JsonObject) -> Param<'static> {
    Param::Json(Some(Value::Object(value.clone())))
}

#[cfg(test)]
mod tests {
    use pgbroker_domain::OperationState;

    use super::*;

    #[test]
    fn sql_spells_in_progress_as_the_domain_does() {
        assert_eq!(OperationState::InProgress.as_str(), "in progress");
        for sql in [CLAIM_DUE_SKIP_LOCKED, CLAIM_DUE_SERIALIZED] {
            assert!(sql.contains("state = 'in progress'"), "{sql}");
        }
    }

    #[test]
    fn only_postgres_claims_skip_locked_rows() {
        assert!(CLAIM_DUE_SKIP_LOCKED.contains("LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING id,"));
        assert!(CLAIM_DUE_SERIALIZED.contains("LIMIT $4) RETURNING id,"));
    }
}
