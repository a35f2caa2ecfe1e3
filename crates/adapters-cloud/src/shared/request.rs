//! What a request asks for, parsed into types: the plan's settings, the instance's and the
//! binding's parameters. Anything that does not parse fails the step permanently with a
//! message that says what is wrong.

use serde::Deserialize;
use serde_json::{Map, Value};

/// Settings of a plan placed on this backend (`settings` of the plan in the catalog).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// Most concurrent connections to the instance's database; unlimited when unset.
    #[serde(default)]
    pub connection_limit: Option<u32>,
    /// Default `statement_timeout` of the database: milliseconds, or a text such as `30s`,
    /// `500ms`, `2min`, `1h`. No timeout when unset.
    #[serde(default)]
    pub statement_timeout: Option<Timeout>,
}

/// A duration in whole milliseconds, as PostgreSQL's time settings take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    pub millis: u64,
}

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Millis(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Millis(millis) => Ok(Self { millis }),
            Raw::Text(text) => Self::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

impl Timeout {
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("{text:?} is not a duration such as 30s, 500ms, 2min or 1h"))?;
        let factor = match unit.trim() {
            "" | "ms" => 1,
            "s" => 1_000,
            "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            other => {
                return Err(format!(
                    "{text:?} has unknown unit {other:?} (use ms, s, min, h or d)"
                ));
            }
        };
        // PostgreSQL keeps time settings in an int of milliseconds.
        number
            .checked_mul(factor)
            .filter(|ms| *ms <= i32::MAX as u64)
            .map(|millis| Self { millis })
            .ok_or_else(|| format!("{text:?} is longer than PostgreSQL allows (about 24 days)"))
    }
}

/// Parameters of a provision or update.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceParameters {
    /// Extensions to create in the database, each from the backend's allow-list.
    #[serde(default)]
    pub extensions: Vec<String>,
}

/// Parameters of a bind: only `database`, whose shape the domain reads
/// ([`pgbroker_domain::OwnDatabase`]); anything else is refused by name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindParameters {
    #[serde(default)]
    pub database: Option<Value>,
}

/// Reads a JSON object into `T`, naming `what` in the message.
pub fn parse<T: for<'de> Deserialize<'de>>(
    what: &str,
    raw: &Map<String, Value>,
) -> Result<T, String> {
    serde_path_to_error::deserialize(Value::Object(raw.clone())).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("{what}: {}", e.inner())
        } else {
            format!("{what}: {path}: {}", e.inner())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(v: Value) -> Result<PlanSettings, String> {
        match v {
            Value::Object(m) => parse("plan settings", &m),
            _ => Err("not an object".into()),
        }
    }

    #[test]
    fn timeouts_parse_in_postgres_units() {
        let t = |v| {
            plan(json!({"statement_timeout": v})).map(|p| p.statement_timeout.map(|t| t.millis))
        };
        assert_eq!(t(json!("30s")), Ok(Some(30_000)));
        assert_eq!(t(json!("500ms")), Ok(Some(500)));
        assert_eq!(t(json!("2min")), Ok(Some(120_000)));
        assert_eq!(t(json!(1500)), Ok(Some(1500)));
        for bad in [
            json!("30 parsecs"),
            json!("s"),
            json!("-1s"),
            json!("100d"),
            json!(true),
        ] {
            assert!(t(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_plan_settings_are_named() {
        let err = plan(json!({"connection_limit": 5, "cpu": 2})).unwrap_err();
        assert!(err.contains("cpu"), "{err}");
        assert!(plan(json!({"connection_limit": -3})).is_err());
    }
}
