//! The SQL side of a cloud server (an RDS instance, an Aurora cluster, an Azure flexible
//! server): its database, roles and bindings, made by the shared-server backend's own steps (one
//! implementation) on the server's endpoint, or on an override, as its admin user. Each cloud
//! backend finds the admin password its own way and hands it here; it is held in memory only.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use pgbroker_domain::ports::{BindRequest, InstanceRequest, StepFailure, UnbindRequest};
use pgbroker_domain::{JsonObject, Reason, Sensitive};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::shared::{ServerSettings, SharedServerBackend, SharedSettings, SslMode};

/// A reachable address of the server's PostgreSQL for the broker's own SQL connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlEndpoint {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// `sslmode` of the broker's connections there (default: as for the server's endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslmode: Option<SslMode>,
}

fn default_port() -> u16 {
    5432
}

/// Where and as whom the broker logs in to a cloud server.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Login {
    /// The server's name in its cloud (names it in messages and keys the cache).
    pub server: String,
    pub host: String,
    pub port: u16,
    pub username: String,
}

/// How the broker reaches a cloud server: the endpoint override, and the CA bundle that makes
/// its connections verify the certificate.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Reach<'a> {
    pub endpoint_override: Option<&'a SqlEndpoint>,
    pub ca_bundle_file: Option<&'a Path>,
}

fn invalid(message: String) -> StepFailure {
    StepFailure::permanent(Reason::InvalidSpec, message)
}

/// The URL the broker's own SQL connections take to the server (its endpoint, or the
/// override), and the `sslmode` applications are handed: `verify-full` against the CA bundle
/// when one is configured, else `require`.
pub(crate) fn admin_url(
    reach: Reach<'_>,
    login: &Login,
) -> Result<(url::Url, SslMode), StepFailure> {
    let verified = if reach.ca_bundle_file.is_some() {
        SslMode::VerifyFull
    } else {
        SslMode::Require
    };
    let (host, port, sslmode) = match reach.endpoint_override {
        Some(o) => (o.host.clone(), o.port, o.sslmode.unwrap_or(verified)),
        None => (login.host.clone(), login.port, verified),
    };
    let mut url =
        url::Url::parse("postgres://placeholder/postgres").map_err(|e| invalid(e.to_string()))?;
    let bad = |what: &str| {
        invalid(format!(
            "server {}: {what} does not fit in a URL",
            login.server
        ))
    };
    url.set_host(Some(&host)).map_err(|_| bad("host"))?;
    url.set_port(Some(port)).map_err(|()| bad("port"))?;
    url.set_username(&login.username)
        .map_err(|()| bad("admin username"))?;
    url.query_pairs_mut()
        .append_pair("sslmode", sslmode.as_str());
    if let Some(ca) = reach.ca_bundle_file
        && matches!(sslmode, SslMode::VerifyCa | SslMode::VerifyFull)
    {
        url.query_pairs_mut()
            .append_pair("sslrootcert", &ca.to_string_lossy());
    }
    Ok((url, verified))
}

#[derive(Clone)]
struct Tenant {
    password: Sensitive<String>,
    backend: Arc<SharedServerBackend>,
}

/// The shared-server backends of a cloud backend's servers, by server name, each kept while
/// its admin password stays the same.
pub(crate) struct Tenants {
    backend: String,
    extensions: Vec<String>,
    map: Mutex<HashMap<String, Tenant>>,
}

impl Tenants {
    pub fn new(backend: impl Into<String>, extensions: Vec<String>) -> Self {
        Self {
            backend: backend.into(),
            extensions,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The shared-server backend for the server, logged in with `password`.
    pub fn tenant(
        &self,
        reach: Reach<'_>,
        login: &Login,
        password: Sensitive<String>,
    ) -> Result<Arc<SharedServerBackend>, StepFailure> {
        if let Ok(map) = self.map.lock()
            && let Some(t) = map.get(&login.server)
            && t.password == password
        {
            return Ok(t.backend.clone());
        }
        let (url, verified) = admin_url(reach, login)?;
        let server: ServerSettings = serde_json::from_value(json!({
            "name": login.server,
            "admin_url": url.to_string(),
            // Applications reach the server at its own endpoint.
            "client_host": login.host,
            "client_port": login.port,
            "client_sslmode": verified,
        }))
        .map_err(|e| invalid(format!("server {}: {e}", login.server)))?;
        let settings = SharedSettings {
            servers: vec![server],
            extensions: self.extensions.clone(),
            ..SharedSettings::default()
        };
        let backend = Arc::new(
            SharedServerBackend::on_server(&self.backend, settings, password.clone())
                .map_err(|e| invalid(format!("server {}: {e}", login.server)))?,
        );
        if let Ok(mut map) = self.map.lock() {
            map.insert(
                login.server.clone(),
                Tenant {
                    password,
                    backend: backend.clone(),
                },
            );
        }
        Ok(backend)
    }

    /// Drops the server's SQL side from memory (the server is gone or kept aside).
    pub fn forget(&self, server: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(server);
        }
    }
}

/// The plan as the shared backend's steps read it: none of the cloud backend's plan settings.
fn sql_plan(plan: &pgbroker_domain::Plan) -> pgbroker_domain::Plan {
    pgbroker_domain::Plan {
        settings: JsonObject::new(),
        ..plan.clone()
    }
}

/// A provision or update as the shared backend's steps read it: of the parameters only the
/// extensions.
pub(crate) fn instance_request(req: &InstanceRequest, extensions: &[String]) -> InstanceRequest {
    let mut req = req.clone();
    req.plan = sql_plan(&req.plan);
    req.spec.parameters = JsonObject::new();
    if !extensions.is_empty() {
        req.spec
            .parameters
            .insert("extensions".into(), json!(extensions));
    }
    req
}

pub(crate) fn bind_request(req: &BindRequest) -> BindRequest {
    let mut req = req.clone();
    req.plan = sql_plan(&req.plan);
    req
}

pub(crate) fn unbind_request(req: &UnbindRequest) -> UnbindRequest {
    let mut req = req.clone();
    req.plan = sql_plan(&req.plan);
    req
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn login() -> Login {
        Login {
            server: "pgbroker-a".into(),
            host: "pgbroker-a.abc.eu-central-1.rds.amazonaws.com".into(),
            port: 5432,
            username: "pgbroker".into(),
        }
    }

    fn query(url: &url::Url) -> Vec<(String, String)> {
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn with_a_ca_bundle_the_broker_verifies_the_server_certificate() {
        let ca = Path::new("/etc/pgbroker/rds-global-bundle.pem");
        let reach = Reach {
            endpoint_override: None,
            ca_bundle_file: Some(ca),
        };
        let (url, handed) = admin_url(reach, &login()).unwrap();
        assert_eq!(url.host_str(), Some(login().host.as_str()));
        assert_eq!(url.username(), "pgbroker");
        assert_eq!(
            query(&url),
            [
                ("sslmode".to_string(), "verify-full".to_string()),
                (
                    "sslrootcert".to_string(),
                    "/etc/pgbroker/rds-global-bundle.pem".to_string()
                )
            ]
        );
        assert_eq!(handed, SslMode::VerifyFull);
    }

    #[test]
    fn without_a_ca_bundle_it_requires_tls_and_an_override_chooses_its_own() {
        let (url, handed) = admin_url(Reach::default(), &login()).unwrap();
        assert_eq!(
            query(&url),
            [("sslmode".to_string(), "require".to_string())]
        );
        assert_eq!(handed, SslMode::Require);
        let over: SqlEndpoint = serde_json::from_value(
            json!({"host": "127.0.0.1", "port": 6432, "sslmode": "disable"}),
        )
        .unwrap();
        let reach = Reach {
            endpoint_override: Some(&over),
            ca_bundle_file: Some(Path::new("/ca.pem")),
        };
        let (url, handed) = admin_url(reach, &login()).unwrap();
        assert_eq!(
            (url.host_str(), url.port()),
            (Some("127.0.0.1"), Some(6432))
        );
        // The override's own sslmode for the broker's connections, no CA for a plain one;
        // applications still get verify-full at the server's endpoint.
        assert_eq!(
            query(&url),
            [("sslmode".to_string(), "disable".to_string())]
        );
        assert_eq!(handed, SslMode::VerifyFull);
    }
}
