//! Everything the double remembers, behind one mutex (handlers never await while holding it).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Fault, Recorded};

/// ARM's documented hourly budgets per subscription (12000 reads, 1200 writes); the double
/// counts down from them and never refills.
pub(crate) const READS_PER_HOUR: u64 = 12_000;
pub(crate) const WRITES_PER_HOUR: u64 = 1_200;

pub(crate) struct State {
    pub base: String,
    pub polls: usize,
    pub retry_after: u64,
    /// Whether accepted operations name an `Azure-AsyncOperation` URL (ARM lets a provider
    /// give only `Location`).
    pub async_operation_header: bool,
    pub tokens: HashMap<String, Instant>,
    pub servers: BTreeMap<String, Server>,
    /// Locks by scope: `None` is the resource group, `Some(server)` a server.
    pub locks: BTreeMap<Option<String>, BTreeMap<String, Lock>>,
    pub operations: HashMap<String, Operation>,
    pub faults: Vec<Injected>,
    pub fail_next: HashMap<String, (String, String)>,
    pub requests: Vec<Recorded>,
    pub violations: Vec<String>,
    pub reads_left: u64,
    pub writes_left: u64,
}

impl State {
    pub fn new(base: String) -> State {
        State {
            base,
            polls: 2,
            retry_after: 1,
            async_operation_header: true,
            tokens: HashMap::new(),
            servers: BTreeMap::new(),
            locks: BTreeMap::new(),
            operations: HashMap::new(),
            faults: Vec::new(),
            fail_next: HashMap::new(),
            requests: Vec::new(),
            violations: Vec::new(),
            reads_left: READS_PER_HOUR,
            writes_left: WRITES_PER_HOUR,
        }
    }
}

pub(crate) struct Injected {
    pub method: String,
    pub path_contains: String,
    pub times: usize,
    pub fault: Fault,
}

#[derive(Debug, Clone)]
pub(crate) struct Lock {
    pub level: String,
    pub notes: Option<String>,
    pub owners: Option<Value>,
}

/// The writable part of a server, as the last successful PUT/PATCH left it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServerSpec {
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub sku_name: String,
    pub sku_tier: String,
    pub identity: Option<Value>,
    pub admin_login: Option<String>,
    pub version: String,
    pub storage_gb: i64,
    pub auto_grow: String,
    pub storage_tier: Option<String>,
    pub storage_type: String,
    pub iops: Option<i64>,
    pub throughput: Option<i64>,
    pub retention_days: i64,
    pub geo_backup: String,
    pub public_access: String,
    pub subnet: Option<String>,
    pub dns_zone: Option<String>,
    pub ha_mode: String,
    pub standby_zone: String,
    pub zone: String,
    pub ad_auth: String,
    pub password_auth: String,
    pub tenant_id: String,
    pub encryption: Value,
    pub maintenance: Maintenance,
    pub replication_role: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Maintenance {
    pub custom_window: String,
    pub start_hour: i64,
    pub start_minute: i64,
    pub day_of_week: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub name: String,
    pub spec: ServerSpec,
    pub password: Option<String>,
    /// `properties.state` (FlexibleServers.json ServerState).
    pub state: String,
    pub created: DateTime<Utc>,
    /// The running operation, if any: the RP takes one at a time.
    pub busy: Option<String>,
    pub firewall_rules: BTreeMap<String, FirewallRule>,
    /// User-set configuration values (source user-override).
    pub configurations: BTreeMap<String, String>,
    pub databases: BTreeMap<String, Database>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FirewallRule {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Database {
    pub charset: String,
    pub collation: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpStatus {
    InProgress,
    Succeeded,
    Failed,
}

impl OpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OpStatus::InProgress => "InProgress",
            OpStatus::Succeeded => "Succeeded",
            OpStatus::Failed => "Failed",
        }
    }
}

/// What a long-running operation does to the world when it succeeds.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    CreateServer,
    UpdateServer {
        spec: Box<ServerSpec>,
        password: Option<String>,
    },
    DeleteServer,
    PutFirewallRule {
        name: String,
        rule: FirewallRule,
    },
    DeleteFirewallRule {
        name: String,
    },
    PutConfiguration {
        name: String,
        value: String,
    },
    PutDatabase {
        name: String,
        database: Database,
    },
    DeleteDatabase {
        name: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub server: String,
    pub effect: Effect,
    pub polls_left: usize,
    pub status: OpStatus,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    /// Set by `fail_next_operation`: the error the operation ends with.
    pub fail_with: Option<(String, String)>,
    /// The resource as the Location URL returns it once the operation succeeded (None: 204).
    pub result: Option<Value>,
}
