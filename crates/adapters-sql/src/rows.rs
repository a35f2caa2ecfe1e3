//! Rows back into the model, the same way on both databases. A row that does not fit the model is
//! [`StoreError::Corrupt`], naming the row and column but never a value (it could be a secret).

use std::fmt::Display;

use chrono::{DateTime, Utc};
use pgbroker_domain::ports::StoreError;
use pgbroker_domain::{
    Binding, BindingId, BindingSpec, BindingState, DeletionPolicy, FrontDoor, Instance, InstanceId,
    InstanceSpec, InstanceState, JsonObject, Lease, Operation, OperationKind, OperationState,
    Origin, PlanId, Reason, Sensitive, ServiceId,
};
use serde_json::Value;

use crate::dialect::{ColumnError, Dialect};

pub fn instance<DB: Dialect>(row: &DB::Row) -> Result<Instance, StoreError> {
    let c = Columns::<DB>(row);
    read_instance(&c).map_err(|e| corrupt(format_args!("instance {}", c.label("id")), e))
}

pub fn binding<DB: Dialect>(row: &DB::Row) -> Result<Binding, StoreError> {
    let c = Columns::<DB>(row);
    read_binding(&c).map_err(|e| {
        let (instance, id) = (c.label("instance_id"), c.label("binding_id"));
        corrupt(format_args!("binding {id} of instance {instance}"), e)
    })
}

pub fn operation<DB: Dialect>(row: &DB::Row) -> Result<Operation, StoreError> {
    let c = Columns::<DB>(row);
    let id = DB::id(row, "id");
    read_operation(&c).map_err(|e| match id {
        Ok(id) => corrupt(format_args!("operation {id}"), e),
        Err(_) => corrupt("operation (id unreadable)", e),
    })
}

fn corrupt(what: impl Display, e: ColumnError) -> StoreError {
    StoreError::Corrupt(format!("{what}: column {}: {}", e.column, e.why))
}

fn read_instance<DB: Dialect>(c: &Columns<'_, DB>) -> Result<Instance, ColumnError> {
    Ok(Instance {
        id: c.parse("id", InstanceId::parse)?,
        spec: InstanceSpec {
            service_id: c.parse("service_id", ServiceId::parse)?,
            plan_id: c.parse("plan_id", PlanId::parse)?,
            parameters: c.object("parameters")?,
            context: c.object("context")?,
            organization_guid: c.opt_text("organization_guid")?,
            space_guid: c.opt_text("space_guid")?,
            maintenance_version: c.opt_text("maintenance_version")?,
        },
        state: c.parse("state", |s| known(InstanceState::parse(&s)))?,
        owner: c.parse("owner", |s| known(FrontDoor::parse(&s)))?,
        dashboard_url: c.opt_text("dashboard_url")?,
        created_at: c.time("created_at")?,
        updated_at: c.time("updated_at")?,
    })
}

fn read_binding<DB: Dialect>(c: &Columns<'_, DB>) -> Result<Binding, ColumnError> {
    let credentials = match c.opt_json("credentials")? {
        None => None,
        Some(Value::Object(map)) => Some(Sensitive::new(map.into_iter().collect())),
        Some(_) => return Err(ColumnError::new("credentials", "not a JSON object")),
    };
    Ok(Binding {
        id: c.parse("binding_id", BindingId::parse)?,
        instance_id: c.parse("instance_id", InstanceId::parse)?,
        spec: BindingSpec {
            service_id: c.parse("service_id", ServiceId::parse)?,
            plan_id: c.parse("plan_id", PlanId::parse)?,
            parameters: c.object("parameters")?,
            context: c.object("context")?,
            bind_resource: c.object("bind_resource")?,
        },
        state: c.parse("state", |s| known(BindingState::parse(&s)))?,
        password: Sensitive::new(c.text("password")?),
        credentials,
        created_at: c.time("created_at")?,
        updated_at: c.time("updated_at")?,
    })
}

fn read_operation<DB: Dialect>(c: &Columns<'_, DB>) -> Result<Operation, ColumnError> {
    let target = match c.opt_json("target")? {
        None => None,
        Some(value) => Some(
            // serde's message may quote a value from the parameters; only its category is shown.
            serde_json::from_value::<InstanceSpec>(value).map_err(|e| {
                let why = format!("not an instance spec ({:?} error)", e.classify());
                ColumnError::new("target", why)
            })?,
        ),
    };
    let lease = match (c.opt_text("lease_owner")?, c.opt_time("lease_expires_at")?) {
        (Some(owner), Some(expires_at)) => Some(Lease {
            owner,
            token: c.int("lease_token")?,
            expires_at,
        }),
        (None, None) => None,
        _ => {
            return Err(ColumnError::new(
                "lease_owner",
                "set without lease_expires_at, or the reverse",
            ));
        }
    };
    Ok(Operation {
        id: DB::id(c.0, "id")?,
        kind: c.parse("kind", |s| known(OperationKind::parse(&s)))?,
        origin: c.parse("origin", |s| known(Origin::parse(&s)))?,
        door: c.parse("door", |s| known(FrontDoor::parse(&s)))?,
        instance_id: c.parse("instance_id", InstanceId::parse)?,
        binding_id: c.opt_parse("binding_id", BindingId::parse)?,
        // NULL on operations written before migration 0002.
        service_id: c.opt_parse("service_id", ServiceId::parse)?,
        plan_id: c.opt_parse("plan_id", PlanId::parse)?,
        state: c.parse("state", |s| known(OperationState::parse(&s)))?,
        description: c.opt_text("description")?,
        // NULL before migration 0004. A name this version does not know (written by a newer
        // broker sharing the store) is read as no reason rather than making the row unreadable.
        reason: c.opt_text("reason")?.and_then(|raw| Reason::parse(&raw)),
        target,
        deletion_policy: c.parse("deletion_policy", |s| known(DeletionPolicy::parse(&s)))?,
        originating_identity: c.opt_text("originating_identity")?,
        // NULL when the starting request was not traced, and before migration 0006.
        trace_parent: c.opt_text("trace_parent")?,
        attempts: c.count("attempts")?,
        failures: c.count("failures")?,
        next_attempt_at: c.time("next_attempt_at")?,
        deadline: c.time("deadline")?,
        lease,
        created_at: c.time("created_at")?,
        updated_at: c.time("updated_at")?,
    })
}

fn known<T>(parsed: Option<T>) -> Result<T, &'static str> {
    parsed.ok_or("not one of the known values")
}

/// Typed, non-null access to the columns of one row.
struct Columns<'r, DB: Dialect>(&'r DB::Row);

impl<DB: Dialect> Columns<'_, DB> {
    /// The column's text for naming the row in an error (ids only: never a secret).
    fn label(&self, column: &'static str) -> String {
        match DB::text(self.0, column) {
            Ok(Some(text)) => text,
            _ => "(unreadable)".to_string(),
        }
    }

    fn opt_text(&self, column: &'static str) -> Result<Option<String>, ColumnError> {
        DB::text(self.0, column)
    }

    fn text(&self, column: &'static str) -> Result<String, ColumnError> {
        required(column, DB::text(self.0, column)?)
    }

    fn parse<T, E: Display>(
        &self,
        column: &'static str,
        parse: impl FnOnce(String) -> Result<T, E>,
    ) -> Result<T, ColumnError> {
        parse(self.text(column)?).map_err(|e| ColumnError::new(column, e))
    }

    fn opt_parse<T, E: Display>(
        &self,
        column: &'static str,
        parse: impl FnOnce(String) -> Result<T, E>,
    ) -> Result<Option<T>, ColumnError> {
        self.opt_text(column)?
            .map(|raw| parse(raw).map_err(|e| ColumnError::new(column, e)))
            .transpose()
    }

    fn int(&self, column: &'static str) -> Result<i64, ColumnError> {
        DB::int(self.0, column)
    }

    fn count(&self, column: &'static str) -> Result<u32, ColumnError> {
        u32::try_from(self.int(column)?).map_err(|e| ColumnError::new(column, e))
    }

    fn opt_json(&self, column: &'static str) -> Result<Option<Value>, ColumnError> {
        DB::json(self.0, column)
    }

    fn object(&self, column: &'static str) -> Result<JsonObject, ColumnError> {
        match required(column, DB::json(self.0, column)?)? {
            Value::Object(map) => Ok(map),
            _ => Err(ColumnError::new(column, "not a JSON object")),
        }
    }

    fn opt_time(&self, column: &'static str) -> Result<Option<DateTime<Utc>>, ColumnError> {
        DB::time(self.0, column)
    }

    fn time(&self, column: &'static str) -> Result<DateTime<Utc>, ColumnError> {
        required(column, DB::time(self.0, column)?)
    }
}

fn required<T>(column: &'static str, value: Option<T>) -> Result<T, ColumnError> {
    value.ok_or_else(|| ColumnError::new(column, "is NULL"))
}
