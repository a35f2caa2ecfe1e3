//! [`SecretVault`] in Kubernetes Secrets, for instances the operator made: one Secret per
//! instance (`pgbroker-vault-<instance id>`) in the namespace of its object, a data key per
//! secret, owned by that object (the instance id is its uid), so it goes with it by garbage
//! collection and the operator never deletes a Secret. The namespace's own access control
//! guards it, as it guards the credentials Secrets; nothing of it reaches the state store.

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use pgbroker_domain::Sensitive;
use pgbroker_domain::ports::{SecretVault, VaultError, VaultKey};
use serde_json::json;

use crate::labels::{MANAGED_BY, MANAGER};

/// The Secrets of the operator's instances' backend secrets.
#[derive(Clone)]
pub struct SecretsVault {
    client: kube::Client,
    /// The API version of the operator's kinds (`pgbroker.io/v1alpha1`), for owner references.
    owner_api_version: String,
}

impl SecretsVault {
    pub fn new(client: kube::Client, owner_api_version: impl Into<String>) -> Self {
        Self {
            client,
            owner_api_version: owner_api_version.into(),
        }
    }

    /// The object the instance was made for, from its context (`kind`, `instance_name`).
    fn owner(&self, key: &VaultKey) -> Option<OwnerReference> {
        let text = |k: &str| {
            key.context
                .get(k)
                .and_then(|v| v.as_str())
                .filter(|v| !v.is_empty())
        };
        Some(OwnerReference {
            api_version: self.owner_api_version.clone(),
            kind: text("kind")?.to_string(),
            name: text("instance_name")?.to_string(),
            uid: key.instance_id.to_string(),
            controller: Some(false),
            block_owner_deletion: None,
        })
    }

    /// The Secret's API in the key's namespace, and its name.
    fn place(&self, key: &VaultKey) -> Result<(Api<Secret>, String), VaultError> {
        let namespace = key
            .context
            .get("namespace")
            .and_then(|n| n.as_str())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                VaultError(format!(
                    "instance {}: its context names no namespace to keep its secrets in",
                    key.instance_id
                ))
            })?;
        Ok((
            Api::namespaced(self.client.clone(), namespace),
            secret_name(key),
        ))
    }

    fn doing(what: &str, key: &VaultKey, name: &str) -> String {
        format!(
            "{what} secret {} of instance {} (backend {}) in Secret {name}",
            key.name, key.instance_id, key.backend
        )
    }

    async fn get(api: &Api<Secret>, name: &str, doing: &str) -> Result<Option<Secret>, VaultError> {
        api.get_opt(name)
            .await
            .map_err(|e| VaultError(format!("{doing}: {e}")))
    }
}

/// `pgbroker-vault-<instance id>` (the instance id is the object's uid, a valid name).
pub fn secret_name(key: &VaultKey) -> String {
    format!("pgbroker-vault-{}", key.instance_id)
}

#[async_trait]
impl SecretVault for SecretsVault {
    async fn load(&self, key: &VaultKey) -> Result<Option<Sensitive<String>>, VaultError> {
        let (api, name) = self.place(key)?;
        let doing = Self::doing("reading", key, &name);
        let Some(secret) = Self::get(&api, &name, &doing).await? else {
            return Ok(None);
        };
        let Some(bytes) = secret.data.as_ref().and_then(|d| d.get(&key.name)) else {
            return Ok(None);
        };
        String::from_utf8(bytes.0.clone())
            .map(|s| Some(Sensitive::new(s)))
            .map_err(|_| VaultError(format!("{doing}: it is not UTF-8")))
    }

    async fn store(&self, key: &VaultKey, value: &Sensitive<String>) -> Result<(), VaultError> {
        let (api, name) = self.place(key)?;
        let doing = Self::doing("storing", key, &name);
        if Self::get(&api, &name, &doing).await?.is_none() {
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(BTreeMap::from([(
                        MANAGED_BY.to_string(),
                        MANAGER.to_string(),
                    )])),
                    annotations: Some(BTreeMap::from([
                        ("pgbroker.io/backend".to_string(), key.backend.clone()),
                        (
                            "pgbroker.io/instance-id".to_string(),
                            key.instance_id.to_string(),
                        ),
                    ])),
                    owner_references: self.owner(key).map(|o| vec![o]),
                    ..ObjectMeta::default()
                },
                type_: Some("Opaque".into()),
                data: Some(BTreeMap::from([(
                    key.name.clone(),
                    ByteString(value.expose().as_bytes().to_vec()),
                )])),
                ..Secret::default()
            };
            match api.create(&PostParams::default(), &secret).await {
                Ok(_) => return Ok(()),
                // Made meanwhile (another replica): add the key below.
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => return Err(VaultError(format!("{doing}: {e}"))),
            }
        }
        let patch =
            json!({"data": {key.name.clone(): ByteString(value.expose().as_bytes().to_vec())}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
            .map_err(|e| VaultError(format!("{doing}: {e}")))
    }

    async fn remove(&self, key: &VaultKey) -> Result<(), VaultError> {
        let (api, name) = self.place(key)?;
        let doing = Self::doing("removing", key, &name);
        let Some(secret) = Self::get(&api, &name, &doing).await? else {
            return Ok(());
        };
        if !secret.data.unwrap_or_default().contains_key(&key.name) {
            return Ok(());
        }
        // The Secret itself goes with its owner.
        let patch = json!({"data": {key.name.clone(): null}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
            .map_err(|e| VaultError(format!("{doing}: {e}")))
    }
}
