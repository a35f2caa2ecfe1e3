//! The vault backends keep their own secrets in (an Azure server's admin password). Backends
//! are built before the state store is open, so they get a [`LateVault`] that the server fills
//! once it has opened the store (and, with the operator on, its Kubernetes client): the
//! operator's instances' secrets go to Kubernetes Secrets next to their objects, every other
//! instance's to the state store, sealed with `state_store.vault_key`.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use pgbroker_domain::Sensitive;
use pgbroker_domain::ports::{SecretVault, VaultError, VaultKey};

#[derive(Default)]
pub struct LateVault(OnceLock<Arc<dyn SecretVault>>);

impl LateVault {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Fills the vault; a second call changes nothing (one server per set of backends).
    pub fn set(&self, vault: Arc<dyn SecretVault>) {
        let _ = self.0.set(vault);
    }

    fn get(&self) -> Result<&Arc<dyn SecretVault>, VaultError> {
        self.0.get().ok_or_else(|| {
            VaultError("the vault is not open yet (the state store opens it)".into())
        })
    }
}

#[async_trait]
impl SecretVault for LateVault {
    async fn load(&self, key: &VaultKey) -> Result<Option<Sensitive<String>>, VaultError> {
        self.get()?.load(key).await
    }

    async fn store(&self, key: &VaultKey, value: &Sensitive<String>) -> Result<(), VaultError> {
        self.get()?.store(key, value).await
    }

    async fn remove(&self, key: &VaultKey) -> Result<(), VaultError> {
        self.get()?.remove(key).await
    }
}
