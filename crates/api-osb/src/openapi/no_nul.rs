//! The character U+0000 is valid in JSON strings and keys, but no PostgreSQL `text` or `jsonb`
//! can hold it, so the broker refuses request bodies holding it anywhere (400 naming the field,
//! [`crate::extract::nul_character_at`]). The document says so with a pattern on every plain
//! string and on the keys of request objects. Strings and keys nested deeper in free-form objects
//! (`context`, `parameters`, `bind_resource`) are refused too, which only a recursive schema could
//! say; generated clients cannot use one (openapi-python-client drops every operation that
//! refers to it), so there it is said in words, in the description of the objects.

use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, SchemaType};
use utoipa::openapi::{Components, RefOr, Type};

/// Any string without U+0000.
pub const NO_NUL_PATTERN: &str = "^[^\\u0000]*$";

/// The request bodies (and the objects inside them) the broker parses.
const REQUEST_SCHEMAS: &[&str] = &[
    "ProvisionRequest",
    "UpdateRequest",
    "BindRequest",
    "MaintenanceInfoRequest",
    "PreviousValues",
];

fn no_nul_string() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(NO_NUL_PATTERN))
        .build()
        .into()
}

/// Keys without U+0000.
fn constrain_keys(object: &mut Object) {
    object.property_names = Some(Box::new(no_nul_string()));
}

/// Said of free-form objects in their descriptions.
const NESTED: &str =
    "No string or key in it, however deep, may contain the character U+0000 (400).";

fn has_type(object: &Object, wanted: Type) -> bool {
    match &object.schema_type {
        SchemaType::Type(t) => *t == wanted,
        SchemaType::Array(types) => types.contains(&wanted),
        SchemaType::AnyValue => false,
    }
}

pub fn declare(components: &mut Components) {
    for name in REQUEST_SCHEMAS {
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(*name) else {
            continue;
        };
        constrain_keys(object);
        for property in object.properties.values_mut() {
            let RefOr::T(Schema::Object(property)) = property else {
                continue;
            };
            if has_type(property, Type::String) && property.pattern.is_none() {
                property.pattern = Some(NO_NUL_PATTERN.to_string());
            } else if has_type(property, Type::Object) {
                constrain_keys(property);
                property.description = Some(match property.description.take() {
                    Some(text) => format!("{text} {NESTED}"),
                    None => NESTED.to_string(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::extract::nul_character_at;
    use crate::openapi::ApiDoc;
    use utoipa::OpenApi;

    /// What the document can say (plain strings, keys of the body and of its free-form objects)
    /// it says exactly as the broker's NUL check refuses.
    #[test]
    fn the_document_refuses_what_the_nul_check_refuses_where_it_can_say_so() {
        let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let schemas = document["components"]["schemas"].take();
        let base = || json!({"service_id": "s", "plan_id": "p", "organization_guid": "o", "space_guid": "s"});
        let mut bodies = vec![base()];
        for (field, value) in [
            ("organization_guid", json!("o\u{0}")),
            ("space_guid", json!("\u{0}")),
            ("context", json!({"k\u{0}": 1})),
            ("parameters", json!({"\u{0}": null})),
            ("maintenance_info", json!({"version": "1\u{0}"})),
            ("unknown\u{0}", json!(1)),
            ("context", json!({"n": [1, true, null, "ok"]})),
        ] {
            let mut body = base();
            body[field] = value;
            bodies.push(body);
        }
        let schema = json!({
            "$ref": "#/components/schemas/ProvisionRequest",
            "components": {"schemas": schemas},
        });
        let validator = jsonschema::validator_for(&schema).unwrap();
        for body in bodies {
            assert_eq!(
                validator.is_valid(&body),
                nul_character_at(&body, "").is_none(),
                "{body}"
            );
        }
    }
}
