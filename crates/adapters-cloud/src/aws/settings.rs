//! The settings of an `aws-rds` or `aws-aurora` backend (`backends.<name>.settings`), in the
//! spirit of the hybrid-cloud operator's `aws`/`awsrds`/`awsaurora` sections.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::names::{NamePattern, PatternError};
use crate::cloud_sql::SqlEndpoint;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error("name_pattern: {0}")]
    NamePattern(#[source] PatternError),
    #[error("tags.{key}: {source}")]
    Tag {
        key: String,
        #[source]
        source: PatternError,
    },
    #[error("tags: {0:?} starts with pgbroker:, which the backend keeps for its own tags")]
    ReservedTag(String),
    #[error(
        "admin_username {0:?}: RDS takes 1 to 16 letters, digits and underscores, starting with a letter"
    )]
    AdminUsername(String),
    #[error("default_class {0:?} is not one of classes ({1})")]
    DefaultClass(String, String),
    #[error("classes.{class}: {why}")]
    Class { class: String, why: String },
    #[error("endpoint_url {0:?} is not an http(s) URL")]
    EndpointUrl(String),
    #[error("extensions: {0:?} is not a valid extension name")]
    BadExtension(String),
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

/// Settings of an `aws-rds` or `aws-aurora` backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// AWS region; default: the SDK's (`AWS_REGION`, the profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Endpoint of the RDS and Secrets Manager APIs instead of AWS's: a VPC endpoint, or moto in tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// DB subnet group the databases are placed in; default: the account's default VPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_group: Option<String>,
    /// VPC security groups of the databases; default: the VPC's default group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpc_security_group_ids: Vec<String>,
    /// Whether the databases get a public address.
    #[serde(default)]
    pub public_access: bool,
    /// Whether new databases are protected against deletion (a deprovision then fails until it is switched off).
    #[serde(default)]
    pub deletion_protection: bool,
    /// The master user; its password is managed by RDS in Secrets Manager.
    #[serde(default = "default_admin_username")]
    pub admin_username: String,
    /// The DB instance (or cluster) identifier: `{instance}`, and for operator-made servers `{namespace}` and `{name}`.
    #[serde(default = "default_name_pattern")]
    pub name_pattern: String,
    /// Tags put on everything the backend makes, with the same variables as `name_pattern`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Instance classes that plans choose by name (plan setting `class`).
    #[serde(default = "default_classes")]
    pub classes: BTreeMap<String, ClassSettings>,
    /// The class of plans that name none.
    #[serde(default = "default_class")]
    pub default_class: String,
    /// Availability zone of a single-AZ DB instance; default: AWS chooses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    /// Availability zones of an Aurora cluster; default: AWS chooses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub availability_zones: Vec<String>,
    /// Whether deleting takes a final snapshot (named after the DB).
    #[serde(default = "yes")]
    pub final_snapshot: bool,
    /// Whether changes apply at once (else in the next maintenance window).
    #[serde(default = "yes")]
    pub apply_immediately: bool,
    /// Server parameters an instance may set (provision parameter `parameters`), by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<String>,
    /// Extensions an instance may ask for (parameter `extensions`).
    #[serde(default = "default_extensions")]
    pub extensions: Vec<String>,
    /// CA bundle of RDS's certificates: with it the broker connects with `sslmode=verify-full`, else `require`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_file: Option<PathBuf>,
    /// Where the broker's SQL connections go instead of the DB's endpoint (a bastion, a proxy; tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_endpoint_override: Option<SqlEndpoint>,
    /// Milliseconds between two looks at a DB that is being created, changed or deleted.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Attempts of one AWS API call, retries of throttling and 5xx included (the SDK's retry).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

impl Default for AwsSettings {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({}))
            .unwrap_or_else(|e| unreachable!("defaults deserialize: {e}"))
    }
}

/// One instance class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSettings {
    /// The DB instance class, e.g. `db.t4g.micro`, or `db.serverless` (Aurora Serverless v2).
    pub instance_type: String,
    /// `gp2`, `gp3`, `io1` or `io2` (RDS); `aurora` or `aurora-iopt1` (Aurora).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<StorageType>,
    /// Provisioned IOPS (io1, io2, gp3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i32>,
    /// Storage throughput in MiB/s (gp3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_throughput: Option<i32>,
    /// Least Aurora capacity units (`db.serverless` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_capacity: Option<f64>,
    /// Most Aurora capacity units (`db.serverless` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_capacity: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StorageType {
    Gp2,
    Gp3,
    Io1,
    Io2,
    Aurora,
    AuroraIopt1,
}

impl StorageType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gp2 => "gp2",
            Self::Gp3 => "gp3",
            Self::Io1 => "io1",
            Self::Io2 => "io2",
            Self::Aurora => "aurora",
            Self::AuroraIopt1 => "aurora-iopt1",
        }
    }

    pub fn is_aurora(self) -> bool {
        matches!(self, Self::Aurora | Self::AuroraIopt1)
    }
}

fn yes() -> bool {
    true
}

fn default_admin_username() -> String {
    "pgbroker_admin".into()
}

fn default_name_pattern() -> String {
    "pgbroker-{instance}".into()
}

fn default_class() -> String {
    "small".into()
}

fn default_classes() -> BTreeMap<String, ClassSettings> {
    BTreeMap::from([(
        "small".to_string(),
        ClassSettings {
            instance_type: "db.t4g.micro".into(),
            storage_type: Some(StorageType::Gp3),
            iops: None,
            storage_throughput: None,
            min_capacity: None,
            max_capacity: None,
        },
    )])
}

fn default_extensions() -> Vec<String> {
    crate::shared::SharedSettings::default().extensions
}

fn default_poll_interval_ms() -> u64 {
    15_000
}

fn default_max_attempts() -> u32 {
    3
}

impl AwsSettings {
    /// Checks everything that can be checked without calling AWS.
    pub fn check(&self) -> Result<(), SettingsError> {
        NamePattern::parse(&self.name_pattern).map_err(SettingsError::NamePattern)?;
        for (key, value) in &self.tags {
            if key.starts_with("pgbroker:") {
                return Err(SettingsError::ReservedTag(key.clone()));
            }
            NamePattern::parse_text(value).map_err(|source| SettingsError::Tag {
                key: key.clone(),
                source,
            })?;
        }
        let user = &self.admin_username;
        let valid_user = (1..=16).contains(&user.len())
            && user.starts_with(|c: char| c.is_ascii_alphabetic())
            && user.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_user {
            return Err(SettingsError::AdminUsername(user.clone()));
        }
        if !self.classes.contains_key(&self.default_class) {
            return Err(SettingsError::DefaultClass(
                self.default_class.clone(),
                self.classes.keys().cloned().collect::<Vec<_>>().join(", "),
            ));
        }
        for (name, class) in &self.classes {
            class.check().map_err(|why| SettingsError::Class {
                class: name.clone(),
                why,
            })?;
        }
        if let Some(url) = &self.endpoint_url {
            let ok = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                return Err(SettingsError::EndpointUrl(url.clone()));
            }
        }
        for ext in &self.extensions {
            crate::shared::sql::Ident::new(ext.as_str())
                .map_err(|_| SettingsError::BadExtension(ext.clone()))?;
        }
        if self.poll_interval_ms == 0 {
            return Err(SettingsError::Zero("poll_interval_ms"));
        }
        if self.max_attempts == 0 {
            return Err(SettingsError::Zero("max_attempts"));
        }
        Ok(())
    }
}

impl ClassSettings {
    /// Whether this is Aurora Serverless v2 (`db.serverless`).
    pub fn is_serverless(&self) -> bool {
        self.instance_type == "db.serverless"
    }

    fn check(&self) -> Result<(), String> {
        if !self.instance_type.starts_with("db.") {
            return Err(format!(
                "instance_type {:?} is not a DB instance class (db.*)",
                self.instance_type
            ));
        }
        match (self.is_serverless(), self.min_capacity, self.max_capacity) {
            (true, Some(min), Some(max)) if min > 0.0 && min <= max => Ok(()),
            (true, _, _) => Err(
                "db.serverless needs min_capacity and max_capacity (ACUs, 0 < min <= max)".into(),
            ),
            (false, None, None) => Ok(()),
            (false, _, _) => Err("min_capacity and max_capacity are for db.serverless only".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: serde_json::Value) -> Result<AwsSettings, String> {
        let s: AwsSettings = serde_json::from_value(json).map_err(|e| e.to_string())?;
        s.check().map_err(|e| e.to_string())?;
        Ok(s)
    }

    #[test]
    fn the_defaults_are_valid() {
        let s = check(serde_json::json!({})).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.final_snapshot && s.apply_immediately && !s.deletion_protection);
        assert_eq!(s.name_pattern, "pgbroker-{instance}");
        assert_eq!(AwsSettings::default(), s);
    }

    #[test]
    fn mistakes_are_named() {
        for (json, needle) in [
            (serde_json::json!({"name_pattern": "x-{colour}"}), "colour"),
            (
                serde_json::json!({"tags": {"pgbroker:x": "y"}}),
                "pgbroker:",
            ),
            (
                serde_json::json!({"admin_username": "1admin"}),
                "admin_username",
            ),
            (serde_json::json!({"default_class": "huge"}), "huge"),
            (
                serde_json::json!({"classes": {"small": {"instance_type": "m5.large"}}}),
                "classes.small",
            ),
            (
                serde_json::json!({"classes": {"small": {"instance_type": "db.serverless"}}}),
                "min_capacity",
            ),
            (
                serde_json::json!({"endpoint_url": "ftp://x"}),
                "endpoint_url",
            ),
            (
                serde_json::json!({"poll_interval_ms": 0}),
                "poll_interval_ms",
            ),
            (serde_json::json!({"regoin": "x"}), "regoin"),
        ] {
            let err = check(json).unwrap_err();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
