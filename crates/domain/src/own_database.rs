//! A binding that comes with a database of its own: made with the binding inside the
//! instance, owned by the binding's login role, which can open nothing else of the instance.
//! Both front doors reach it the same way: the bind parameter `database` (OSB sends it, the
//! operator's `PostgreSQLDatabase` turns into it), read here once.

use serde_json::{Map, Value, json};

use crate::model::JsonObject;

/// The bind parameter that asks for a database of the binding's own.
pub const PARAMETER: &str = "database";

/// Longest database name a binding may ask for; backends prefix it with the instance's name.
pub const MAX_NAME: usize = 30;
const MAX_EXTENSIONS: usize = 32;

/// What a binding asks of its own database. Every field is checked against the shape
/// PostgreSQL accepts; whether the server has that encoding, locale or extension is the
/// backend's to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnDatabase {
    /// 1 to 30 lowercase ASCII letters, digits or `_`, starting with a letter.
    pub name: String,
    /// Character set (`ENCODING`), e.g. `UTF8`; the server's default when unset.
    pub charset: Option<String>,
    /// Collation and character classification (`LC_COLLATE`, `LC_CTYPE`), e.g. `en_US.UTF-8`;
    /// the server's default when unset.
    pub collation: Option<String>,
    /// Extensions to create in the database.
    pub extensions: Vec<String>,
}

/// Why a `database` parameter was refused, for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter database: {0}")]
pub struct InvalidOwnDatabase(String);

fn shown(text: &str) -> String {
    text.chars().take(40).collect()
}

fn check(what: &str, text: &str, max: usize, ok: impl Fn(u8) -> bool) -> Result<(), String> {
    if text.is_empty() || text.len() > max || !text.bytes().all(ok) {
        return Err(format!("{what} {:?} is not allowed", shown(text)));
    }
    Ok(())
}

impl OwnDatabase {
    /// A database with the server's defaults.
    pub fn named(name: impl Into<String>) -> Result<Self, InvalidOwnDatabase> {
        Self::new(name, None, None, Vec::new())
    }

    /// A database as asked, if every part has a shape PostgreSQL accepts.
    pub fn new(
        name: impl Into<String>,
        charset: Option<String>,
        collation: Option<String>,
        extensions: Vec<String>,
    ) -> Result<Self, InvalidOwnDatabase> {
        let db = Self {
            name: name.into(),
            charset,
            collation,
            extensions,
        };
        db.check().map(|()| db)
    }

    fn check(&self) -> Result<(), InvalidOwnDatabase> {
        let name_ok = (1..=MAX_NAME).contains(&self.name.len())
            && self.name.starts_with(|c: char| c.is_ascii_lowercase())
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return Err(InvalidOwnDatabase(format!(
                "name {:?} must be 1 to {MAX_NAME} lowercase letters, digits or '_', starting with a letter",
                shown(&self.name)
            )));
        }
        let fail = InvalidOwnDatabase;
        if let Some(charset) = &self.charset {
            check("charset", charset, 32, |b| {
                b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
            })
            .map_err(fail)?;
        }
        if let Some(collation) = &self.collation {
            check("collation", collation, 64, |b| {
                b.is_ascii_alphanumeric() || b"_.@-".contains(&b)
            })
            .map_err(fail)?;
        }
        if self.extensions.len() > MAX_EXTENSIONS {
            return Err(fail(format!(
                "at most {MAX_EXTENSIONS} extensions, not {}",
                self.extensions.len()
            )));
        }
        for (i, ext) in self.extensions.iter().enumerate() {
            check("extension", ext, 63, |b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
            })
            .map_err(fail)?;
            if self.extensions[..i].contains(ext) {
                return Err(fail(format!("extension {ext:?} is named twice")));
            }
        }
        Ok(())
    }

    /// The `database` bind parameter, if there is one: a name, or an object with `name` and
    /// optionally `charset`, `collation` and `extensions`.
    pub fn from_parameters(parameters: &JsonObject) -> Result<Option<Self>, InvalidOwnDatabase> {
        let Some(value) = parameters.get(PARAMETER) else {
            return Ok(None);
        };
        let bad = |what: &str| InvalidOwnDatabase(what.to_string());
        let db = match value {
            Value::String(name) => Self::named(name.clone())?,
            Value::Object(fields) => {
                if let Some(unknown) = fields
                    .keys()
                    .find(|k| !["name", "charset", "collation", "extensions"].contains(&k.as_str()))
                {
                    return Err(InvalidOwnDatabase(format!(
                        "unknown field {:?} (known: name, charset, collation, extensions)",
                        shown(unknown)
                    )));
                }
                let text = |key: &str| match fields.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(InvalidOwnDatabase(format!("{key} must be a string"))),
                };
                let extensions = match fields.get("extensions") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(items)) => items
                        .iter()
                        .map(|v| v.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| bad("extensions must be a list of names"))?,
                    Some(_) => return Err(bad("extensions must be a list of names")),
                };
                let db = Self {
                    name: text("name")?.ok_or_else(|| bad("name is required"))?,
                    charset: text("charset")?,
                    collation: text("collation")?,
                    extensions,
                };
                db.check()?;
                db
            }
            _ => return Err(bad("must be a name or an object with a name")),
        };
        Ok(Some(db))
    }

    /// The bind parameter that [`Self::from_parameters`] reads back as `self`: the bare name
    /// when nothing else is asked.
    pub fn parameter(&self) -> Value {
        if self.charset.is_none() && self.collation.is_none() && self.extensions.is_empty() {
            return json!(self.name);
        }
        let mut fields = Map::new();
        fields.insert("name".into(), json!(self.name));
        if let Some(c) = &self.charset {
            fields.insert("charset".into(), json!(c));
        }
        if let Some(c) = &self.collation {
            fields.insert("collation".into(), json!(c));
        }
        if !self.extensions.is_empty() {
            fields.insert("extensions".into(), json!(self.extensions));
        }
        Value::Object(fields)
    }

    /// The JSON schema of the parameter, as plans whose backend supports it declare it in
    /// their bind schema (the same rules [`Self::from_parameters`] applies).
    pub fn schema() -> Value {
        let name = json!({
            "type": "string",
            "pattern": format!("^[a-z][a-z0-9_]{{0,{}}}$", MAX_NAME - 1),
            "description": "1 to 30 lowercase letters, digits or '_', starting with a letter"
        });
        json!({
            "description": "A database of this binding's own inside the instance, owned by the \
                binding's login role, which can open no other database of the instance: its \
                name, or an object with its name and optionally charset, collation and extensions",
            "oneOf": [
                name,
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name"],
                    "properties": {
                        "name": name,
                        "charset": {
                            "type": "string",
                            "pattern": "^[A-Za-z0-9_-]{1,32}$",
                            "description": "Character set (ENCODING), e.g. UTF8"
                        },
                        "collation": {
                            "type": "string",
                            "pattern": "^[A-Za-z0-9_.@-]{1,64}$",
                            "description": "LC_COLLATE and LC_CTYPE, e.g. en_US.UTF-8"
                        },
                        "extensions": {
                            "type": "array",
                            "maxItems": MAX_EXTENSIONS,
                            "uniqueItems": true,
                            "items": {"type": "string", "pattern": "^[a-z0-9_-]{1,63}$"},
                            "description": "Extensions to create in the database, from the backend's allow-list"
                        }
                    }
                }
            ]
        })
    }

    /// `schema` (a plan's bind schema) with the `database` property set to [`Self::schema`]
    /// when `offered`, and without it when not, so the catalog advertises exactly what the
    /// plan's backend can do. A plan without a bind schema gets one that only describes it.
    pub fn in_bind_schema(schema: Option<Value>, offered: bool) -> Option<Value> {
        match (schema, offered) {
            (None, false) => None,
            (None, true) => Some(json!({
                "type": "object",
                "properties": {PARAMETER: Self::schema()}
            })),
            (Some(mut schema), offered) => {
                if let Some(obj) = schema.as_object_mut() {
                    let properties = obj
                        .entry("properties")
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Some(properties) = properties.as_object_mut() {
                        if offered {
                            properties.insert(PARAMETER.into(), Self::schema());
                        } else {
                            properties.remove(PARAMETER);
                        }
                    }
                }
                Some(schema)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Value) -> JsonObject {
        let mut m = JsonObject::new();
        m.insert(PARAMETER.into(), v);
        m
    }

    #[test]
    fn a_name_or_an_object_reads_back_from_its_parameter() {
        assert_eq!(OwnDatabase::from_parameters(&JsonObject::new()), Ok(None));
        let plain = OwnDatabase::named("reports_2").unwrap();
        assert_eq!(plain.parameter(), json!("reports_2"));
        let full = OwnDatabase {
            name: "app".into(),
            charset: Some("UTF8".into()),
            collation: Some("en_US.UTF-8".into()),
            extensions: vec!["pg_trgm".into(), "uuid-ossp".into()],
        };
        for db in [plain, full] {
            assert_eq!(
                OwnDatabase::from_parameters(&params(db.parameter())),
                Ok(Some(db))
            );
        }
    }

    #[test]
    fn bad_shapes_are_refused_with_what_is_wrong() {
        for (bad, says) in [
            (json!(""), "name"),
            (json!("Reports"), "name"),
            (json!("a-b"), "name"),
            (json!("x;drop"), "name"),
            (json!("1a"), "name"),
            (json!("a".repeat(31)), "name"),
            (json!("ä"), "name"),
            (json!(7), "must be a name"),
            (json!({}), "name is required"),
            (json!({"name": "a", "owner": "x"}), "unknown field"),
            (json!({"name": "a", "charset": "UTF8'; --"}), "charset"),
            (json!({"name": "a", "collation": "en US"}), "collation"),
            (json!({"name": "a", "extensions": "pg_trgm"}), "extensions"),
            (json!({"name": "a", "extensions": ["A"]}), "extension"),
            (json!({"name": "a", "extensions": ["x", "x"]}), "twice"),
        ] {
            let err = OwnDatabase::from_parameters(&params(bad.clone()))
                .expect_err(&bad.to_string())
                .to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn bind_schemas_offer_the_parameter_only_where_the_backend_supports_it() {
        let declared = json!({"type": "object", "additionalProperties": false,
            "properties": {"database": {"type": "string"}, "other": {"type": "integer"}}});
        let offered = OwnDatabase::in_bind_schema(Some(declared.clone()), true).unwrap();
        assert_eq!(offered["properties"]["database"], OwnDatabase::schema());
        assert_eq!(offered["properties"]["other"], json!({"type": "integer"}));
        let refused = OwnDatabase::in_bind_schema(Some(declared), false).unwrap();
        assert!(refused["properties"].get("database").is_none());
        assert_eq!(OwnDatabase::in_bind_schema(None, false), None);
        let made = OwnDatabase::in_bind_schema(None, true).unwrap();
        assert_eq!(made["properties"]["database"], OwnDatabase::schema());
    }
}
