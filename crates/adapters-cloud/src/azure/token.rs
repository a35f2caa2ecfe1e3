//! Entra ID tokens for ARM (scope `https://management.azure.com/.default`): from the Azure
//! identity crate (client secret, workload identity, managed identity), or from a configured
//! OAuth2 token endpoint (client-credentials grant, the secret from a file). A token is reused until a minute before it
//! expires. Tokens and client secrets are held as `Sensitive` and never logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use pgbroker_domain::{Reason, Sensitive};
use tokio::sync::Mutex;

use super::error::AzureError;
use super::settings::CredentialSettings;

/// What ARM's tokens are for.
pub const SCOPE: &str = "https://management.azure.com/.default";

const EARLY: Duration = Duration::from_secs(60);

enum Source {
    Identity(Arc<dyn TokenCredential>),
    Endpoint {
        url: String,
        client_id: String,
        secret: Sensitive<String>,
    },
}

pub struct Tokens {
    source: Source,
    http: reqwest::Client,
    cached: Mutex<Option<(Sensitive<String>, Instant)>>,
}

fn unavailable(message: impl Into<String>) -> AzureError {
    AzureError::retryable(Reason::BackendUnavailable, message)
}

fn env(name: &str) -> Result<String, AzureError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| unavailable(format!("getting an Azure token: {name} is not set")))
}

impl Tokens {
    /// The token source the settings name; reads the environment it needs (a missing variable
    /// is retryable: it may be set when the pod restarts with its identity).
    pub fn new(settings: &CredentialSettings, http: reqwest::Client) -> Result<Self, AzureError> {
        let options = || ClientOptions {
            transport: Some(Transport::new(Arc::new(http.clone()))),
            ..ClientOptions::default()
        };
        let failed =
            |e: azure_core::Error| unavailable(format!("setting up the Azure credential: {e}"));
        let source = match settings {
            CredentialSettings::ClientSecret => {
                let credential = azure_identity::ClientSecretCredential::new(
                    &env("AZURE_TENANT_ID")?,
                    env("AZURE_CLIENT_ID")?,
                    Secret::new(env("AZURE_CLIENT_SECRET")?),
                    Some(azure_identity::ClientSecretCredentialOptions {
                        client_options: options(),
                    }),
                )
                .map_err(failed)?;
                Source::Identity(credential)
            }
            CredentialSettings::WorkloadIdentity => {
                let credential = azure_identity::WorkloadIdentityCredential::new(Some(
                    azure_identity::WorkloadIdentityCredentialOptions {
                        credential_options: azure_identity::ClientAssertionCredentialOptions {
                            client_options: options(),
                        },
                        ..Default::default()
                    },
                ))
                .map_err(failed)?;
                Source::Identity(credential)
            }
            CredentialSettings::ManagedIdentity { client_id } => {
                let credential = azure_identity::ManagedIdentityCredential::new(Some(
                    azure_identity::ManagedIdentityCredentialOptions {
                        user_assigned_id: client_id
                            .clone()
                            .map(azure_identity::UserAssignedId::ClientId),
                        client_options: options(),
                    },
                ))
                .map_err(failed)?;
                Source::Identity(credential)
            }
            CredentialSettings::TokenEndpoint {
                url,
                client_id,
                client_secret_file,
            } => {
                let secret = std::fs::read_to_string(client_secret_file).map_err(|e| {
                    unavailable(format!(
                        "getting an Azure token: reading the client secret file {}: {e}",
                        client_secret_file.display()
                    ))
                })?;
                Source::Endpoint {
                    url: url.clone(),
                    client_id: client_id.clone(),
                    secret: Sensitive::new(secret.trim_end().to_string()),
                }
            }
        };
        Ok(Self {
            source,
            http,
            cached: Mutex::new(None),
        })
    }

    /// A bearer token for ARM.
    pub async fn token(&self) -> Result<Sensitive<String>, AzureError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = match &self.source {
            Source::Identity(credential) => {
                let token = credential
                    .get_token(&[SCOPE], None)
                    .await
                    .map_err(|e| unavailable(format!("getting an Azure token: {e}")))?;
                let left = token.expires_on - time::OffsetDateTime::now_utc();
                let left = Duration::try_from(left).unwrap_or_default();
                (Sensitive::new(token.token.secret().to_string()), left)
            }
            Source::Endpoint {
                url,
                client_id,
                secret,
            } => self.request_from(url, client_id, secret).await?,
        };
        *cached = Some((
            token.clone(),
            Instant::now() + lifetime.saturating_sub(EARLY),
        ));
        Ok(token)
    }

    async fn request_from(
        &self,
        url: &str,
        client_id: &str,
        secret: &Sensitive<String>,
    ) -> Result<(Sensitive<String>, Duration), AzureError> {
        let doing = format!("getting an Azure token from {url}");
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret.expose().as_str()),
            ("scope", SCOPE),
        ];
        let response = self
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(|e| unavailable(format!("{doing}: {}", e.without_url())))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.map_err(|e| {
            unavailable(format!(
                "{doing}: {status}: unreadable answer: {}",
                e.without_url()
            ))
        })?;
        let field = |k: &str| {
            body.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        if !status.is_success() {
            // Entra ID's error and its description (never the request's secret).
            let e = AzureError::permanent(
                Reason::BackendFailed,
                format!(
                    "{doing}: {status} {}: {}",
                    field("error"),
                    field("error_description")
                ),
            );
            return Err(if status.is_server_error() {
                unavailable(e.message)
            } else {
                e
            });
        }
        let token = field("access_token");
        if token.is_empty() {
            return Err(unavailable(format!(
                "{doing}: the answer has no access_token"
            )));
        }
        let lifetime = body
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(300);
        Ok((Sensitive::new(token), Duration::from_secs(lifetime)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http() -> reqwest::Client {
        super::super::arm::http_client(Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn each_source_says_what_it_lacks_and_none_needs_the_network_to_be_set_up() {
        // The test environment sets no AZURE_* variables.
        let err = Tokens::new(&CredentialSettings::ClientSecret, http())
            .err()
            .map(|e| e.message);
        assert_eq!(
            err.as_deref(),
            Some("getting an Azure token: AZURE_TENANT_ID is not set")
        );
        let managed = CredentialSettings::ManagedIdentity {
            client_id: Some("11111111-2222-3333-4444-555555555555".into()),
        };
        assert!(Tokens::new(&managed, http()).is_ok());
        let missing = CredentialSettings::TokenEndpoint {
            url: "http://127.0.0.1:1/token".into(),
            client_id: "c".into(),
            client_secret_file: "/nonexistent/pgbroker-client-secret".into(),
        };
        let err = Tokens::new(&missing, http())
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(err.contains("/nonexistent/pgbroker-client-secret"), "{err}");
    }
}
