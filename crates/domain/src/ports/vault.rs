//! Secrets a backend makes for itself and must find again (a cloud server's admin password):
//! kept where the door that asked keeps secrets, never in the backend's memory alone, so a
//! restart or another replica can still log in.

use async_trait::async_trait;

use crate::ids::InstanceId;
use crate::model::JsonObject;
use crate::sensitive::Sensitive;

/// Which secret: the backend's name, the instance and the secret's own name
/// (`admin-password`). `context` is the instance's, so an implementation can keep the secrets
/// of the operator's objects next to them (a Kubernetes Secret in the object's namespace).
#[derive(Debug, Clone, PartialEq)]
pub struct VaultKey {
    pub backend: String,
    pub instance_id: InstanceId,
    pub name: String,
    pub context: JsonObject,
}

impl VaultKey {
    pub fn new(
        backend: impl Into<String>,
        instance_id: &InstanceId,
        name: impl Into<String>,
        context: &JsonObject,
    ) -> Self {
        Self {
            backend: backend.into(),
            instance_id: instance_id.clone(),
            name: name.into(),
            context: context.clone(),
        }
    }

    /// Whether the instance was made by the Kubernetes operator (its context says so).
    pub fn from_kubernetes(&self) -> bool {
        self.context.get("platform").and_then(|p| p.as_str()) == Some("kubernetes")
            && self.context.contains_key("namespace")
    }
}

/// Why a vault could not read or write (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct VaultError(pub String);

#[async_trait]
pub trait SecretVault: Send + Sync {
    async fn load(&self, key: &VaultKey) -> Result<Option<Sensitive<String>>, VaultError>;
    /// Creates or replaces the secret.
    async fn store(&self, key: &VaultKey, value: &Sensitive<String>) -> Result<(), VaultError>;
    /// Removes the secret; removing one that is not there is not an error.
    async fn remove(&self, key: &VaultKey) -> Result<(), VaultError>;
}

#[async_trait]
impl<T: SecretVault + ?Sized> SecretVault for std::sync::Arc<T> {
    async fn load(&self, key: &VaultKey) -> Result<Option<Sensitive<String>>, VaultError> {
        (**self).load(key).await
    }

    async fn store(&self, key: &VaultKey, value: &Sensitive<String>) -> Result<(), VaultError> {
        (**self).store(key, value).await
    }

    async fn remove(&self, key: &VaultKey) -> Result<(), VaultError> {
        (**self).remove(key).await
    }
}

/// The operator's instances' secrets in one vault (Kubernetes Secrets), every other
/// instance's in another (the encrypted state store).
pub struct ByDoor<K, O> {
    pub kubernetes: K,
    pub other: O,
}

#[async_trait]
impl<K: SecretVault, O: SecretVault> SecretVault for ByDoor<K, O> {
    async fn load(&self, key: &VaultKey) -> Result<Option<Sensitive<String>>, VaultError> {
        if key.from_kubernetes() {
            self.kubernetes.load(key).await
        } else {
            self.other.load(key).await
        }
    }

    async fn store(&self, key: &VaultKey, value: &Sensitive<String>) -> Result<(), VaultError> {
        if key.from_kubernetes() {
            self.kubernetes.store(key, value).await
        } else {
            self.other.store(key, value).await
        }
    }

    async fn remove(&self, key: &VaultKey) -> Result<(), VaultError> {
        if key.from_kubernetes() {
            self.kubernetes.remove(key).await
        } else {
            self.other.remove(key).await
        }
    }
}

/// A vault that keeps nothing and says so: for a build without a place to keep secrets, the
/// backends that need one fail with this message instead of forgetting a password.
pub struct NoVault(pub String);

#[async_trait]
impl SecretVault for NoVault {
    async fn load(&self, _key: &VaultKey) -> Result<Option<Sensitive<String>>, VaultError> {
        Err(VaultError(self.0.clone()))
    }

    async fn store(&self, _key: &VaultKey, _value: &Sensitive<String>) -> Result<(), VaultError> {
        Err(VaultError(self.0.clone()))
    }

    async fn remove(&self, _key: &VaultKey) -> Result<(), VaultError> {
        Err(VaultError(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Memory(Mutex<BTreeMap<String, String>>);

    #[async_trait]
    impl SecretVault for Memory {
        async fn load(&self, key: &VaultKey) -> Result<Option<Sensitive<String>>, VaultError> {
            let map = self.0.lock().map_err(|e| VaultError(e.to_string()))?;
            Ok(map.get(&key.name).cloned().map(Sensitive::new))
        }
        async fn store(&self, key: &VaultKey, value: &Sensitive<String>) -> Result<(), VaultError> {
            let mut map = self.0.lock().map_err(|e| VaultError(e.to_string()))?;
            map.insert(key.name.clone(), value.expose().clone());
            Ok(())
        }
        async fn remove(&self, key: &VaultKey) -> Result<(), VaultError> {
            let mut map = self.0.lock().map_err(|e| VaultError(e.to_string()))?;
            map.remove(&key.name);
            Ok(())
        }
    }

    fn key(context: serde_json::Value) -> VaultKey {
        let serde_json::Value::Object(context) = context else {
            unreachable!()
        };
        let id = InstanceId::parse("i-1").unwrap_or_else(|e| panic!("{e}"));
        VaultKey::new("azure", &id, "admin-password", &context)
    }

    #[test]
    fn the_operators_instances_go_to_the_kubernetes_vault() {
        futures::executor::block_on(routed());
    }

    async fn routed() {
        let vault = ByDoor {
            kubernetes: Memory::default(),
            other: Memory::default(),
        };
        let k8s = key(serde_json::json!({"platform": "kubernetes", "namespace": "team-a"}));
        let osb = key(serde_json::json!({"platform": "cloudfoundry"}));
        vault
            .store(&k8s, &Sensitive::new("k".into()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        vault
            .store(&osb, &Sensitive::new("o".into()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let kept = |m: &Memory| {
            m.0.lock()
                .map(|m| m.get("admin-password").cloned())
                .ok()
                .flatten()
        };
        assert_eq!(kept(&vault.kubernetes).as_deref(), Some("k"));
        assert_eq!(kept(&vault.other).as_deref(), Some("o"));
        vault.remove(&k8s).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(kept(&vault.kubernetes), None);
        assert!(
            NoVault("no vault configured".into())
                .load(&osb)
                .await
                .is_err()
        );
    }
}
