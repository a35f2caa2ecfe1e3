//! The API server's validation of Events (`pkg/apis/core/validation/events.go`): every Event
//! passes the legacy rules; one written through `events.k8s.io/v1` also passes the strict
//! rules (required `eventTime`, `Normal`/`Warning`, no deprecated fields, a valid series) and
//! on update keeps everything but its series and metadata. Both API versions are checked on the
//! internal type, so the field paths are the internal names (`message` for `note`,
//! `involvedObject` for `regarding`, `count` for `deprecatedCount`), as the API server prints them.

use serde_json::Value;

use super::validation::{field_error, qualified_name_problem, subdomain_problem};
use crate::error::{ApiError, FieldError};
use crate::registry::ResourceDef;

const REPORTING_INSTANCE_LENGTH_LIMIT: usize = 128;
const ACTION_LENGTH_LIMIT: usize = 128;
const REASON_LENGTH_LIMIT: usize = 128;
const NOTE_LENGTH_LIMIT: usize = 1024;

/// Which API an Event is written through.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Version {
    CoreV1,
    EventsV1,
}

fn version(def: &ResourceDef) -> Option<Version> {
    match (def.gvr.group.as_str(), def.gvr.plural.as_str()) {
        ("", "events") => Some(Version::CoreV1),
        ("events.k8s.io", "events") => Some(Version::EventsV1),
        _ => None,
    }
}

/// An Event's fields under their internal names, whichever version it came in.
struct Internal<'a> {
    object: &'a Value,
    version: Version,
}

impl<'a> Internal<'a> {
    /// The internal field `internal`, found under its name in the version written.
    fn get(&self, internal: &str) -> Option<&'a Value> {
        let wire = match (self.version, internal) {
            (Version::EventsV1, "involvedObject") => "regarding",
            (Version::EventsV1, "message") => "note",
            (Version::EventsV1, "count") => "deprecatedCount",
            (Version::EventsV1, "source") => "deprecatedSource",
            (Version::EventsV1, "firstTimestamp") => "deprecatedFirstTimestamp",
            (Version::EventsV1, "lastTimestamp") => "deprecatedLastTimestamp",
            (Version::CoreV1, "reportingController") => "reportingComponent",
            (_, other) => other,
        };
        self.object.get(wire).filter(|v| !v.is_null())
    }

    fn text(&self, internal: &str) -> &'a str {
        self.get(internal).and_then(Value::as_str).unwrap_or("")
    }

    fn is_set(&self, internal: &str) -> bool {
        self.get(internal)
            .is_some_and(|v| v.as_str().is_none_or(|s| !s.is_empty()))
    }

    fn namespace(&self) -> &'a str {
        self.object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    fn involved_namespace(&self) -> &'a str {
        self.get("involvedObject")
            .and_then(|o| o.get("namespace"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

fn required(field: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        reason: "FieldValueRequired",
        detail: "Required value".into(),
    }
}

fn invalid(field: &str, value: &str, detail: &str) -> FieldError {
    field_error(
        field,
        &format!("Invalid value: {}: {detail}", Value::String(value.into())),
    )
}

/// `legacyValidateEvent`: every Event, any version.
fn legacy(event: &Internal<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let (namespace, involved) = (event.namespace(), event.involved_namespace());
    if !event.is_set("eventTime") {
        let mismatch = if involved.is_empty() {
            !namespace.is_empty() && namespace != "default"
        } else {
            namespace != involved
        };
        if mismatch {
            errors.push(invalid(
                "involvedObject.namespace",
                involved,
                "does not match event.namespace",
            ));
        }
    } else {
        if involved.is_empty() && namespace != "default" && namespace != "kube-system" {
            errors.push(invalid(
                "involvedObject.namespace",
                involved,
                "does not match event.namespace",
            ));
        }
        let controller = event.text("reportingController");
        if controller.is_empty() {
            errors.push(required("reportingController"));
        }
        if let Some(problem) = qualified_name_problem(controller) {
            errors.push(invalid("reportingController", controller, &problem));
        }
        for (field, limit) in [
            ("reportingInstance", REPORTING_INSTANCE_LENGTH_LIMIT),
            ("action", ACTION_LENGTH_LIMIT),
            ("reason", REASON_LENGTH_LIMIT),
        ] {
            let value = event.text(field);
            if value.is_empty() {
                errors.push(required(field));
            }
            // Go's len(): bytes, not characters.
            if value.len() > limit {
                errors.push(invalid(
                    field,
                    "",
                    &format!("can have at most {limit} characters"),
                ));
            }
        }
        if event.text("message").len() > NOTE_LENGTH_LIMIT {
            errors.push(invalid(
                "message",
                "",
                &format!("can have at most {NOTE_LENGTH_LIMIT} characters"),
            ));
        }
    }
    if let Some(problem) = subdomain_problem(namespace) {
        errors.push(invalid("namespace", namespace, &problem));
    }
    errors
}

/// `validateV1EventSeries`.
fn series(event: &Internal<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(series) = event.get("series") {
        if series.get("count").and_then(Value::as_i64).unwrap_or(0) < 2 {
            errors.push(invalid("series.count", "", "should be at least 2"));
        }
        if series
            .get("lastObservedTime")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            errors.push(required("series.lastObservedTime"));
        }
    }
    errors
}

/// `ValidateEventCreate`; `Ok` for any other resource.
pub(super) fn check_create(def: &ResourceDef, new: &Value) -> Result<(), ApiError> {
    let Some(version) = version(def) else {
        return Ok(());
    };
    let event = Internal {
        object: new,
        version,
    };
    let mut errors = legacy(&event);
    if version == Version::EventsV1 {
        errors.extend(series(&event));
        if !event.is_set("eventTime") {
            errors.push(required("eventTime"));
        }
        let type_ = event.text("type");
        if type_ != "Normal" && type_ != "Warning" {
            errors.push(invalid("type", "", &format!("has invalid value: {type_}")));
        }
        for field in ["firstTimestamp", "lastTimestamp"] {
            if event.is_set(field) {
                errors.push(invalid(field, "", "needs to be unset"));
            }
        }
        if event.get("count").and_then(Value::as_i64).unwrap_or(0) != 0 {
            errors.push(invalid("count", "", "needs to be unset"));
        }
        let source = event.get("source");
        let source_set = ["component", "host"].iter().any(|k| {
            source
                .and_then(|s| s.get(*k))
                .and_then(Value::as_str)
                .is_some_and(|v| !v.is_empty())
        });
        if source_set {
            errors.push(invalid("source", "", "needs to be unset"));
        }
    }
    finish(def, new, errors)
}

/// `ValidateEventUpdate`; `Ok` for any other resource.
pub(super) fn check_update(def: &ResourceDef, old: &Value, new: &Value) -> Result<(), ApiError> {
    let Some(version) = version(def) else {
        return Ok(());
    };
    let (old_event, event) = (
        Internal {
            object: old,
            version,
        },
        Internal {
            object: new,
            version,
        },
    );
    let mut errors = legacy(&event);
    if version == Version::EventsV1 {
        if event.get("series") != old_event.get("series") {
            errors.extend(series(&event));
        }
        for field in [
            "involvedObject",
            "reason",
            "message",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "count",
            // The API server checks `reason` twice and so reports it twice.
            "reason",
            "type",
            "eventTime",
            "action",
            "related",
            "reportingController",
            "reportingInstance",
        ] {
            let (was, now) = (old_event.get(field), event.get(field));
            if was != now {
                let shown = now.map(Value::to_string).unwrap_or_else(|| "null".into());
                errors.push(field_error(
                    field,
                    &format!("Invalid value: {shown}: field is immutable"),
                ));
            }
        }
    }
    finish(def, new, errors)
}

fn finish(def: &ResourceDef, new: &Value, errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        return Ok(());
    }
    let name = super::meta::name(new);
    Err(ApiError::invalid(&def.kind_group(), name, &errors))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;
    use crate::registry::Registry;

    fn def(group: &str) -> ResourceDef {
        Registry::with_builtins()
            .find(&if group.is_empty() {
                "events".to_string()
            } else {
                format!("events.{group}")
            })
            .unwrap()
            .clone()
    }

    fn event() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "orders.1", "namespace": "team-a"},
            "eventTime": "2025-01-01T00:00:00.000000Z",
            "type": "Normal", "reason": "Ready", "action": "Reconcile", "note": "ready",
            "reportingController": "pgbroker-operator", "reportingInstance": "pod-1",
            "regarding": {"kind": "PostgreSQLServer", "namespace": "team-a", "name": "orders"},
        })
    }

    fn fields(result: Result<(), ApiError>) -> Vec<String> {
        let details = result.unwrap_err().details.unwrap();
        details["causes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn a_complete_events_v1_event_is_accepted() {
        check_create(&def("events.k8s.io"), &event()).unwrap();
    }

    #[test]
    fn required_fields_limits_and_type_are_enforced() {
        let mut e = event();
        let m = e.as_object_mut().unwrap();
        for k in [
            "eventTime",
            "reportingController",
            "reportingInstance",
            "action",
        ] {
            m.remove(k);
        }
        m.insert("reason".into(), json!("R".repeat(129)));
        m.insert("note".into(), json!("n".repeat(1025)));
        m.insert("type".into(), json!("Info"));
        m.insert("deprecatedCount".into(), json!(3));
        let got = fields(check_create(&def("events.k8s.io"), &e));
        // Without eventTime the reporting fields and limits are the legacy kind's business:
        // not checked, as in the API server.
        assert_eq!(got, ["eventTime", "type", "count"]);

        let mut e = event();
        e["reason"] = json!("R".repeat(129));
        e["note"] = json!("n".repeat(1025));
        e["action"] = json!("");
        e["regarding"]["namespace"] = json!("elsewhere");
        e["reportingController"] = json!("not a name");
        let got = fields(check_create(&def("events.k8s.io"), &e));
        for want in ["reason", "message", "action", "reportingController"] {
            assert!(got.contains(&want.to_string()), "{want} in {got:?}");
        }
    }

    #[test]
    fn an_update_may_change_only_the_series() {
        let def = def("events.k8s.io");
        let old = event();
        let mut new = old.clone();
        new["series"] = json!({"count": 2, "lastObservedTime": "2025-01-01T00:01:00.000000Z"});
        check_update(&def, &old, &new).unwrap();
        new["series"]["count"] = json!(1);
        assert_eq!(fields(check_update(&def, &old, &new)), ["series.count"]);
        let mut new = old.clone();
        new["note"] = json!("changed");
        new["reason"] = json!("Failed");
        let got = fields(check_update(&def, &old, &new));
        assert_eq!(got, ["reason", "message", "reason"]);
    }

    #[test]
    fn core_v1_events_pass_only_the_legacy_rules() {
        let e = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "x.1", "namespace": "team-a"},
            "involvedObject": {"kind": "Pod", "namespace": "team-a", "name": "x"},
            "reason": "Started", "message": "m", "type": "Whatever", "count": 4,
        });
        check_create(&def(""), &e).unwrap();
        let mut wrong = e.clone();
        wrong["involvedObject"]["namespace"] = json!("team-b");
        assert_eq!(
            fields(check_create(&def(""), &wrong)),
            ["involvedObject.namespace"]
        );
    }
}
