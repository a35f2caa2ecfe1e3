//! A test double of Azure Resource Manager for Azure Database for PostgreSQL flexible server:
//! an axum server on 127.0.0.1 (random port), in memory, answering the documented shapes of
//! the Entra ID token endpoint, `Microsoft.DBforPostgreSQL/flexibleServers` (api-version
//! 2024-08-01) with its firewall rules, configurations and databases, ARM's long-running
//! operations, and management locks (2020-05-01) — and refusing what ARM refuses. What it
//! does differently from ARM is in README.md next to this file.

mod children;
mod http;
mod locks;
mod operations;
mod params;
mod reply;
mod route;
mod rules;
mod schema;
mod servers;
mod state;
mod token;
mod validate;
mod validate_envelope;
mod validate_parts;

#[cfg(test)]
mod test_client;
#[cfg(test)]
mod tests_children;
#[cfg(test)]
mod tests_lifecycle;
#[cfg(test)]
mod tests_rules;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use state::{Injected, Lock, State};

pub const SUBSCRIPTION: &str = "00000000-0000-0000-0000-00000000a2b5";
pub const RESOURCE_GROUP: &str = "pgbroker-test";
pub const TENANT: &str = "00000000-0000-0000-0000-0000000000e1";
pub const CLIENT_ID: &str = "pgbroker-test-client";
pub const CLIENT_SECRET: &str = "not-a-real-secret";
pub const LOCATION: &str = "westeurope";
pub const FLEXIBLE_API_VERSION: &str = "2024-08-01";
pub const LOCKS_API_VERSION: &str = "2020-05-01";

/// An error a test makes the double answer in place of the real handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl Fault {
    fn new(status: u16, code: &str, message: &str, retry_after: Option<u64>) -> Fault {
        Fault {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
            retry_after,
        }
    }

    /// ARM's throttling answer: 429 TooManyRequests with Retry-After.
    pub fn throttled(retry_after_secs: u64) -> Fault {
        Fault::new(
            429,
            "TooManyRequests",
            "The request is being throttled as the limit has been reached for operation type - Write_ObservationWindow_00:05:00.",
            Some(retry_after_secs),
        )
    }

    /// The flexible server RP's answer while the server runs another operation.
    pub fn server_busy() -> Fault {
        Fault::new(
            409,
            "ServerBusy",
            "Server is busy with another operation. Please try your operation later.",
            None,
        )
    }

    pub fn internal() -> Fault {
        Fault::new(
            500,
            "InternalServerError",
            "An unexpected error occured while processing the request.",
            None,
        )
    }

    /// The subscription's server or vCore quota is used up (the code is a guess, see README).
    pub fn quota() -> Fault {
        Fault::new(
            409,
            "QuotaExceeded",
            "Operation could not be completed as it results in exceeding approved Total Regional vCores quota for Microsoft.DBforPostgreSQL in region westeurope.",
            None,
        )
    }

    /// The SKU cannot be provisioned in the region (the code is a guess, see README).
    pub fn sku_not_available() -> Fault {
        Fault::new(
            400,
            "SkuNotAvailable",
            "The requested SKU is not available in location 'westeurope' for this subscription. Please try another SKU or location.",
            None,
        )
    }
}

/// One request as the double saw it, secrets redacted.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub api_version: Option<String>,
    pub status: u16,
    pub body: Option<Value>,
    /// Lowercase names; `authorization` is "Bearer [redacted]".
    pub headers: BTreeMap<String, String>,
}

/// The running double; dropping it stops the server.
pub struct Arm {
    state: Arc<Mutex<State>>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Arm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Arm {
    pub async fn start() -> Arm {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the ARM double");
        let addr = listener.local_addr().expect("the ARM double's address");
        let state = Arc::new(Mutex::new(State::new(format!("http://{addr}"))));
        let app = axum::Router::new()
            .fallback(http::handle)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "the ARM double stopped");
            }
        });
        Arm { state, addr, task }
    }

    fn st(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The resource manager base, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token_url(&self) -> String {
        format!("{}/{TENANT}/oauth2/v2.0/token", self.endpoint())
    }

    /// How many polls an operation answers InProgress before it ends (default 2).
    pub fn set_polls(&self, polls: usize) {
        self.st().polls = polls;
    }

    /// The Retry-After the double sends with accepted operations and polls (default 1 s).
    pub fn set_retry_after(&self, secs: u64) {
        self.st().retry_after = secs;
    }

    /// Whether accepted operations carry `Azure-AsyncOperation` (default) or only `Location`,
    /// as ARM allows a resource provider.
    pub fn set_async_operation_header(&self, on: bool) {
        self.st().async_operation_header = on;
    }

    /// The next `times` requests with `method` whose path contains `path_contains` get `fault`.
    pub fn inject(&self, method: &str, path_contains: &str, times: usize, fault: Fault) {
        self.st().faults.push(Injected {
            method: method.to_owned(),
            path_contains: path_contains.to_owned(),
            times,
            fault,
        });
    }

    /// The next long-running operation started on `server` ends Failed with this error.
    pub fn fail_next_operation(&self, server: &str, code: &str, message: &str) {
        self.st()
            .fail_next
            .insert(server.to_owned(), (code.to_owned(), message.to_owned()));
    }

    /// A lock set on the server out of band, as a person in the portal would.
    pub fn add_lock(&self, server: &str, name: &str, level: &str) {
        let lock = Lock {
            level: level.to_owned(),
            notes: None,
            owners: None,
        };
        self.st()
            .locks
            .entry(Some(server.to_owned()))
            .or_default()
            .insert(name.to_owned(), lock);
    }

    pub fn remove_lock(&self, server: &str, name: &str) {
        if let Some(locks) = self.st().locks.get_mut(&Some(server.to_owned())) {
            locks.remove(name);
        }
    }

    /// A lock on the resource group, out of band.
    pub fn add_group_lock(&self, name: &str, level: &str) {
        let lock = Lock {
            level: level.to_owned(),
            notes: None,
            owners: None,
        };
        self.st()
            .locks
            .entry(None)
            .or_default()
            .insert(name.to_owned(), lock);
    }

    pub fn remove_group_lock(&self, name: &str) {
        if let Some(locks) = self.st().locks.get_mut(&None) {
            locks.remove(name);
        }
    }

    /// The server as GET returns it.
    pub fn server(&self, name: &str) -> Option<Value> {
        self.st().servers.get(name).map(servers::view)
    }

    /// Every access token the token endpoint handed out (a test checks none is logged).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.st().tokens.keys().cloned().collect()
    }

    /// The administrator password of the server's last successful PUT/PATCH that set one.
    pub fn admin_password(&self, name: &str) -> Option<String> {
        self.st().servers.get(name).and_then(|s| s.password.clone())
    }

    pub fn firewall_rules(&self, server: &str) -> Vec<Value> {
        self.st()
            .servers
            .get(server)
            .map(|s| {
                s.firewall_rules
                    .iter()
                    .map(|(n, r)| children::firewall_view(server, n, r))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The user-set (source user-override) configuration values.
    pub fn configurations(&self, server: &str) -> BTreeMap<String, String> {
        self.st()
            .servers
            .get(server)
            .map(|s| s.configurations.clone())
            .unwrap_or_default()
    }

    /// The server's databases, including the three every server has.
    pub fn databases(&self, server: &str) -> Vec<String> {
        self.st()
            .servers
            .get(server)
            .map(|s| s.databases.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The locks on the server itself (not those it inherits from the resource group).
    pub fn locks(&self, server: &str) -> Vec<Value> {
        self.st()
            .locks
            .get(&Some(server.to_owned()))
            .map(|locks| {
                locks
                    .iter()
                    .map(|(n, l)| locks::view(Some(server), n, l))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.st().requests.clone()
    }

    /// Every refusal for a rule of ARM's (a request a correct client would not send), with why.
    pub fn violations(&self) -> Vec<String> {
        self.st().violations.clone()
    }
}
