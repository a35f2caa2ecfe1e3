//! The SDK clients, made on first use (building a backend never calls AWS). Credentials come
//! from the SDK's default chain (environment, profile, web identity, container, instance
//! metadata) unless the composition root hands over an `SdkConfig` of its own.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_rds::config::SharedHttpClient;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use super::settings::AwsSettings;

#[derive(Debug, Clone)]
pub struct Clients {
    pub rds: aws_sdk_rds::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

/// The HTTPS client: rustls on ring (in the tree already) instead of the SDK's default aws-lc-rs.
pub fn https() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The SDK's configuration from its default chain, with the backend's region.
pub async fn load(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https());
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    loader.load().await
}

/// Clients on `base` with the backend's endpoint and retry settings.
pub fn clients(settings: &AwsSettings, base: &SdkConfig) -> Clients {
    let retry = RetryConfig::standard().with_max_attempts(settings.max_attempts);
    let mut rds = aws_sdk_rds::config::Builder::from(base).retry_config(retry.clone());
    let mut secrets = aws_sdk_secretsmanager::config::Builder::from(base).retry_config(retry);
    if let Some(region) = &settings.region {
        rds = rds.region(Region::new(region.clone()));
        secrets = secrets.region(Region::new(region.clone()));
    }
    if let Some(url) = &settings.endpoint_url {
        rds = rds.endpoint_url(url);
        secrets = secrets.endpoint_url(url);
    }
    Clients {
        rds: aws_sdk_rds::Client::from_conf(rds.build()),
        secrets: aws_sdk_secretsmanager::Client::from_conf(secrets.build()),
    }
}

/// A configuration with fixed credentials and region (no default chain), for setups that hand
/// credentials over themselves, such as tests against moto.
pub fn fixed(region: &str, credentials: aws_sdk_rds::config::Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(aws_sdk_rds::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .http_client(https())
        .build()
}
