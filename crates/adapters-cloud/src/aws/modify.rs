//! What an update changes on a DB instance: the difference between the request and the DB as
//! it is, or will be (pending modifications count as made, so a change scheduled for the
//! maintenance window is not asked for again).

use std::fmt;

use aws_sdk_rds::types::{DbCluster, DbInstance};

use super::plan::Desired;

/// The fields of a ModifyDBInstance call; `None`: unchanged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Change {
    pub class: Option<String>,
    pub storage_gb: Option<i32>,
    pub max_storage_gb: Option<i32>,
    pub multi_az: Option<bool>,
    pub backup_retention_days: Option<i32>,
    pub parameter_group: Option<String>,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(c) = &self.class {
            parts.push(format!("class {c}"));
        }
        if let Some(s) = self.storage_gb {
            parts.push(format!("storage {s} GiB"));
        }
        if let Some(m) = self.max_storage_gb {
            parts.push(format!("storage ceiling {m} GiB"));
        }
        if let Some(m) = self.multi_az {
            parts.push(format!("Multi-AZ {}", if m { "on" } else { "off" }));
        }
        if let Some(r) = self.backup_retention_days {
            parts.push(format!("backup retention {r} days"));
        }
        if let Some(g) = &self.parameter_group {
            parts.push(format!("parameter group {g}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// The change that takes `db` to `desired`; `Err` for what cannot be done (storage shrinks).
pub fn changes(
    db: &DbInstance,
    desired: &Desired,
    parameter_group: Option<&str>,
) -> Result<Change, String> {
    let pending = db.pending_modified_values();
    let class = pending
        .and_then(|p| p.db_instance_class())
        .or(db.db_instance_class());
    let storage = pending
        .and_then(|p| p.allocated_storage())
        .or(db.allocated_storage())
        .unwrap_or(0);
    let multi_az = pending.and_then(|p| p.multi_az()).or(db.multi_az());
    let retention = pending
        .and_then(|p| p.backup_retention_period())
        .or(db.backup_retention_period());
    if desired.storage_gb < storage {
        return Err(format!(
            "storage cannot shrink on RDS ({storage} GiB now, {} GiB asked for); choose a plan with at least {storage} GiB",
            desired.storage_gb
        ));
    }
    let group = db
        .db_parameter_groups()
        .first()
        .and_then(|g| g.db_parameter_group_name());
    let differs = |now: Option<&str>, want: &str| now != Some(want);
    Ok(Change {
        class: differs(class, &desired.class.instance_type)
            .then(|| desired.class.instance_type.clone()),
        storage_gb: (desired.storage_gb > storage).then_some(desired.storage_gb),
        max_storage_gb: desired
            .max_storage_gb
            .filter(|m| db.max_allocated_storage() != Some(*m)),
        multi_az: (multi_az != Some(desired.multi_az)).then_some(desired.multi_az),
        backup_retention_days: (retention != Some(desired.backup_retention_days))
            .then_some(desired.backup_retention_days),
        parameter_group: parameter_group
            .filter(|g| differs(group, g))
            .map(str::to_string),
    })
}

/// What an update changes on an Aurora cluster (its instances' class is changed one by one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterChange {
    pub backup_retention_days: Option<i32>,
    /// The Serverless v2 capacity range differs from the class's.
    pub scaling: bool,
    pub parameter_group: Option<String>,
}

impl fmt::Display for ClusterChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(r) = self.backup_retention_days {
            parts.push(format!("backup retention {r} days"));
        }
        if self.scaling {
            parts.push("Serverless v2 capacity".to_string());
        }
        if let Some(g) = &self.parameter_group {
            parts.push(format!("cluster parameter group {g}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// The cluster-level change that takes `cluster` to `desired`; `None` when there is none.
pub fn cluster_changes(
    cluster: &DbCluster,
    desired: &Desired,
    parameter_group: Option<&str>,
) -> Option<ClusterChange> {
    let range = cluster
        .serverless_v2_scaling_configuration()
        .map(|c| (c.min_capacity(), c.max_capacity()));
    let class = &desired.class;
    let scaling = class.is_serverless() && range != Some((class.min_capacity, class.max_capacity));
    let change = ClusterChange {
        backup_retention_days: (cluster.backup_retention_period()
            != Some(desired.backup_retention_days))
        .then_some(desired.backup_retention_days),
        scaling,
        parameter_group: parameter_group
            .filter(|g| cluster.db_cluster_parameter_group() != Some(*g))
            .map(str::to_string),
    };
    (change != ClusterChange::default()).then_some(change)
}
