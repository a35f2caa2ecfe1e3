//! The SQL side of a DB: its database, roles and bindings, made by the shared-server backend's
//! own steps (one implementation) on the DB's endpoint, or on `sql_endpoint_override`, as the
//! master user with the password RDS keeps in Secrets Manager. The password is read when a step
//! needs it (so a rotation is picked up), held in memory only, and never logged.

use std::sync::Arc;

use aws_sdk_rds::types::DbInstance;
use pgbroker_domain::ports::{BindRequest, InstanceRequest, StepFailure, UnbindRequest};
use pgbroker_domain::{Credentials, JsonObject, Reason, Sensitive};
use serde_json::json;

use super::error::AwsError;
use super::settings::AwsSettings;
use super::{AwsBackend, Tenant};
use crate::shared::{ServerSettings, SharedServerBackend, SharedSettings, SslMode};

/// Where and as whom the broker's SQL connects to a DB.
pub(crate) struct Endpoint {
    pub identifier: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub secret_arn: String,
}

impl Endpoint {
    pub fn of(db: &DbInstance) -> Result<Self, AwsError> {
        let identifier = db.db_instance_identifier().unwrap_or_default().to_string();
        let endpoint = db.endpoint().ok_or_else(|| {
            AwsError::retryable(
                Reason::BackendUnavailable,
                format!("DB instance {identifier} has no endpoint yet"),
            )
        })?;
        Self::new(
            identifier,
            endpoint.address(),
            endpoint.port(),
            db.master_username(),
            db.master_user_secret().and_then(|s| s.secret_arn()),
        )
    }

    pub fn new(
        identifier: String,
        host: Option<&str>,
        port: Option<i32>,
        username: Option<&str>,
        secret_arn: Option<&str>,
    ) -> Result<Self, AwsError> {
        let missing = |what: &str| {
            AwsError::permanent(
                Reason::BackendFailed,
                format!("DB {identifier}: AWS reports no {what}"),
            )
        };
        let secret_arn = secret_arn.ok_or_else(|| {
            AwsError::permanent(
                Reason::BackendFailed,
                format!("DB {identifier} has no master user secret in Secrets Manager (it was not created with ManageMasterUserPassword); the broker cannot log in to it"),
            )
        })?;
        Ok(Self {
            host: host.ok_or_else(|| missing("endpoint address"))?.to_string(),
            port: port
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| missing("endpoint port"))?,
            username: username
                .ok_or_else(|| missing("master username"))?
                .to_string(),
            secret_arn: secret_arn.to_string(),
            identifier,
        })
    }
}

/// The request as the shared backend's steps read it: no plan settings of theirs, and of the
/// parameters only the extensions.
fn sql_plan(plan: &pgbroker_domain::Plan) -> pgbroker_domain::Plan {
    pgbroker_domain::Plan {
        settings: JsonObject::new(),
        ..plan.clone()
    }
}

pub(crate) fn sql_instance_request(
    req: &InstanceRequest,
    extensions: &[String],
) -> InstanceRequest {
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

fn failure(e: impl Into<StepFailure>) -> AwsError {
    AwsError::from(e.into())
}

impl AwsBackend {
    /// The master password from the DB's secret (`{"username": ..., "password": ...}`).
    async fn master_password(&self, endpoint: &Endpoint) -> Result<Sensitive<String>, AwsError> {
        let doing = format!(
            "DB {}: reading the master user secret {}",
            endpoint.identifier, endpoint.secret_arn
        );
        let out = self
            .clients()
            .await
            .secrets
            .get_secret_value()
            .secret_id(&endpoint.secret_arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&doing, &e))?;
        let text = out.secret_string().ok_or_else(|| {
            AwsError::permanent(Reason::BackendFailed, format!("{doing}: it holds no text"))
        })?;
        // Only the password field is read; an error never shows the secret's text.
        let value: serde_json::Value = serde_json::from_str(text).map_err(|_| {
            AwsError::permanent(Reason::BackendFailed, format!("{doing}: it is not JSON"))
        })?;
        value
            .get("password")
            .and_then(|p| p.as_str())
            .map(|p| Sensitive::new(p.to_string()))
            .ok_or_else(|| {
                AwsError::permanent(
                    Reason::BackendFailed,
                    format!("{doing}: it has no \"password\" field"),
                )
            })
    }

    /// The shared-server backend for the DB, on its (or the override's) endpoint.
    pub(crate) async fn tenant(
        &self,
        endpoint: &Endpoint,
    ) -> Result<Arc<SharedServerBackend>, AwsError> {
        let password = self.master_password(endpoint).await?;
        if let Ok(tenants) = self.tenants.lock()
            && let Some(t) = tenants.get(&endpoint.identifier)
            && t.password == password
        {
            return Ok(t.backend.clone());
        }
        let (url, verified) = admin_url(&self.settings, endpoint)?;
        let server: ServerSettings = serde_json::from_value(json!({
            "name": endpoint.identifier,
            "admin_url": url.to_string(),
            // Applications reach the DB at its own endpoint.
            "client_host": endpoint.host,
            "client_port": endpoint.port,
            "client_sslmode": verified,
        }))
        .map_err(|e| AwsError::invalid(format!("DB {}: {e}", endpoint.identifier)))?;
        let settings = SharedSettings {
            servers: vec![server],
            extensions: self.settings.extensions.clone(),
            ..SharedSettings::default()
        };
        let backend = Arc::new(
            SharedServerBackend::on_server(&self.name, settings, password.clone())
                .map_err(|e| AwsError::invalid(format!("DB {}: {e}", endpoint.identifier)))?,
        );
        if let Ok(mut tenants) = self.tenants.lock() {
            tenants.insert(
                endpoint.identifier.clone(),
                Tenant {
                    password,
                    backend: backend.clone(),
                },
            );
        }
        Ok(backend)
    }

    /// Drops the DB's SQL side from memory (the DB is gone or kept aside).
    pub(crate) fn forget_tenant(&self, identifier: &str) {
        if let Ok(mut tenants) = self.tenants.lock() {
            tenants.remove(identifier);
        }
    }

    /// The instance's database and owner role on the DB (provision and update).
    pub(crate) async fn sql_provision(
        &self,
        endpoint: &Endpoint,
        req: &InstanceRequest,
        extensions: &[String],
        update: bool,
    ) -> Result<(), AwsError> {
        let tenant = self.tenant(endpoint).await?;
        let req = sql_instance_request(req, extensions);
        if update {
            tenant.update_step(&req).await.map_err(failure)
        } else {
            tenant.provision_step(&req).await.map_err(failure)
        }
    }

    /// The DB of a bind or unbind's instance, which must be this backend's.
    async fn bound_endpoint(
        &self,
        id: &pgbroker_domain::InstanceId,
        context: &JsonObject,
    ) -> Result<Option<Endpoint>, AwsError> {
        let identifier = self.identifier(id, context);
        if self.flavor == super::Flavor::Aurora {
            return self.cluster_of(id, &identifier).await;
        }
        let Some(db) = self.describe_instance(&identifier).await? else {
            return Ok(None);
        };
        self.ensure_ours(&identifier, id, db.tag_list())?;
        Endpoint::of(&db).map(Some)
    }

    pub(crate) async fn bind_step(
        &self,
        req: &BindRequest,
    ) -> Result<pgbroker_domain::ports::Step<Credentials>, AwsError> {
        let id = &req.instance_id;
        let endpoint = self
            .bound_endpoint(id, &req.instance.context)
            .await?
            .ok_or_else(|| {
                AwsError::permanent(
                    Reason::NotFound,
                    format!("binding {}: instance {id} has no DB on AWS", req.binding_id),
                )
            })?;
        let tenant = self.tenant(&endpoint).await?;
        let mut req = req.clone();
        req.plan = sql_plan(&req.plan);
        tenant
            .bind_step(&req)
            .await
            .map(pgbroker_domain::ports::Step::Done)
            .map_err(failure)
    }

    pub(crate) async fn unbind_step(
        &self,
        req: &UnbindRequest,
    ) -> Result<pgbroker_domain::ports::Step<()>, AwsError> {
        // No DB, no login on it.
        let Some(endpoint) = self
            .bound_endpoint(&req.instance_id, &req.instance.context)
            .await?
        else {
            return Ok(pgbroker_domain::ports::Step::Done(()));
        };
        let tenant = self.tenant(&endpoint).await?;
        let mut req = req.clone();
        req.plan = sql_plan(&req.plan);
        tenant
            .unbind_step(&req)
            .await
            .map(pgbroker_domain::ports::Step::Done)
            .map_err(failure)
    }
}

/// The URL the broker's own SQL connections take to the DB (its endpoint, or the configured
/// override), and the `sslmode` applications are handed: `verify-full` against the CA bundle
/// when one is configured, else `require`.
fn admin_url(settings: &AwsSettings, endpoint: &Endpoint) -> Result<(url::Url, SslMode), AwsError> {
    let verified = if settings.ca_bundle_file.is_some() {
        SslMode::VerifyFull
    } else {
        SslMode::Require
    };
    let (host, port, sslmode) = match &settings.sql_endpoint_override {
        Some(o) => (o.host.clone(), o.port, o.sslmode.unwrap_or(verified)),
        None => (endpoint.host.clone(), endpoint.port, verified),
    };
    let mut url = url::Url::parse("postgres://placeholder/postgres")
        .map_err(|e| AwsError::invalid(e.to_string()))?;
    let bad = |what: &str| {
        AwsError::invalid(format!(
            "DB {}: {what} does not fit in a URL",
            endpoint.identifier
        ))
    };
    url.set_host(Some(&host)).map_err(|_| bad("host"))?;
    url.set_port(Some(port)).map_err(|()| bad("port"))?;
    url.set_username(&endpoint.username)
        .map_err(|()| bad("master username"))?;
    url.query_pairs_mut()
        .append_pair("sslmode", sslmode.as_str());
    if let Some(ca) = &settings.ca_bundle_file
        && matches!(sslmode, SslMode::VerifyCa | SslMode::VerifyFull)
    {
        url.query_pairs_mut()
            .append_pair("sslrootcert", &ca.to_string_lossy());
    }
    Ok((url, verified))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            identifier: "pgbroker-a".into(),
            host: "pgbroker-a.abc.eu-central-1.rds.amazonaws.com".into(),
            port: 5432,
            username: "pgbroker".into(),
            secret_arn: "arn:aws:secretsmanager:eu-central-1:1:secret:rds!db-a".into(),
        }
    }

    fn query(url: &url::Url) -> Vec<(String, String)> {
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn with_a_ca_bundle_the_broker_verifies_the_db_certificate() {
        let settings = AwsSettings {
            ca_bundle_file: Some("/etc/pgbroker/rds-global-bundle.pem".into()),
            ..AwsSettings::default()
        };
        let (url, handed) = admin_url(&settings, &endpoint()).unwrap();
        assert_eq!(url.host_str(), Some(endpoint().host.as_str()));
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
        let (url, handed) = admin_url(&AwsSettings::default(), &endpoint()).unwrap();
        assert_eq!(
            query(&url),
            [("sslmode".to_string(), "require".to_string())]
        );
        assert_eq!(handed, SslMode::Require);
        let settings = AwsSettings {
            ca_bundle_file: Some("/ca.pem".into()),
            sql_endpoint_override: Some(
                serde_json::from_value(
                    json!({"host": "127.0.0.1", "port": 6432, "sslmode": "disable"}),
                )
                .unwrap(),
            ),
            ..AwsSettings::default()
        };
        let (url, handed) = admin_url(&settings, &endpoint()).unwrap();
        assert_eq!(
            (url.host_str(), url.port()),
            (Some("127.0.0.1"), Some(6432))
        );
        // The override's own sslmode for the broker's connections, no CA for a plain one;
        // applications still get verify-full at the DB's endpoint.
        assert_eq!(
            query(&url),
            [("sslmode".to_string(), "disable".to_string())]
        );
        assert_eq!(handed, SslMode::VerifyFull);
    }
}
