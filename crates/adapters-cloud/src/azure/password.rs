//! The server's administrator password: made here (Azure's rules: 8 to 128 characters from
//! three of upper case, lower case, digits and symbols), kept only in the vault, and rotated
//! with a binding's password reset: the new password is stored as `admin-password-next` before
//! the server is given it, and becomes `admin-password` once Azure has applied it, so neither a
//! crash nor a failed change ever leaves the broker without a password that works.

use pgbroker_domain::ports::VaultKey;
use pgbroker_domain::{InstanceId, JsonObject, OperationId, Reason, Sensitive};

use super::AzureBackend;
use super::error::AzureError;

pub(super) const CURRENT: &str = "admin-password";
pub(super) const NEXT: &str = "admin-password-next";
/// The operation whose reset rotated the password last, so its retries do not rotate again.
pub(super) const ROTATED_BY: &str = "admin-password-rotated-by";

fn vault_error(e: impl std::fmt::Display) -> AzureError {
    AzureError::retryable(Reason::BackendUnavailable, e.to_string())
}

/// Whether `p` has characters of three of the four classes Azure counts.
fn complex(p: &str) -> bool {
    let classes = [
        p.chars().any(|c| c.is_ascii_uppercase()),
        p.chars().any(|c| c.is_ascii_lowercase()),
        p.chars().any(|c| c.is_ascii_digit()),
        p.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    classes.iter().filter(|c| **c).count() >= 3
}

impl AzureBackend {
    fn key(&self, id: &InstanceId, context: &JsonObject, name: &str) -> VaultKey {
        VaultKey::new(&self.name, id, name, context)
    }

    pub(super) async fn load(
        &self,
        id: &InstanceId,
        context: &JsonObject,
        name: &str,
    ) -> Result<Option<Sensitive<String>>, AzureError> {
        self.vault
            .load(&self.key(id, context, name))
            .await
            .map_err(vault_error)
    }

    pub(super) async fn keep(
        &self,
        id: &InstanceId,
        context: &JsonObject,
        name: &str,
        value: &Sensitive<String>,
    ) -> Result<(), AzureError> {
        self.vault
            .store(&self.key(id, context, name), value)
            .await
            .map_err(vault_error)
    }

    pub(super) async fn forget(
        &self,
        id: &InstanceId,
        context: &JsonObject,
    ) -> Result<(), AzureError> {
        for name in [CURRENT, NEXT, ROTATED_BY] {
            self.vault
                .remove(&self.key(id, context, name))
                .await
                .map_err(vault_error)?;
        }
        Ok(())
    }

    /// A new password Azure accepts.
    pub(super) fn new_password(&self) -> Sensitive<String> {
        for _ in 0..16 {
            let p = self.secrets.password();
            if complex(p.expose()) {
                return p;
            }
        }
        // 40 random letters and digits of one class only: practically never; make it complex.
        Sensitive::new(format!("{}Aa1", self.secrets.password().expose()))
    }

    /// The password to create the server with: the one stored for it (a retried create), or
    /// a new one, stored before ARM sees it.
    pub(super) async fn create_password(
        &self,
        id: &InstanceId,
        context: &JsonObject,
    ) -> Result<Sensitive<String>, AzureError> {
        if let Some(p) = self.load(id, context, CURRENT).await? {
            return Ok(p);
        }
        let p = self.new_password();
        self.keep(id, context, CURRENT, &p).await?;
        Ok(p)
    }

    /// Once Azure has the next password, it is the current one.
    pub(super) async fn promote(
        &self,
        id: &InstanceId,
        context: &JsonObject,
        server: &str,
    ) -> Result<(), AzureError> {
        if let Some(next) = self.load(id, context, NEXT).await? {
            self.keep(id, context, CURRENT, &next).await?;
            self.vault
                .remove(&self.key(id, context, NEXT))
                .await
                .map_err(vault_error)?;
            self.tenants.forget(server);
            tracing::info!(instance_id = %id, server = %server, "admin password rotated");
        }
        Ok(())
    }

    /// Starts a rotation for `operation` unless it started one already; `false` if it did.
    pub(super) async fn begin_rotation(
        &self,
        id: &InstanceId,
        context: &JsonObject,
        operation: &OperationId,
    ) -> Result<bool, AzureError> {
        let op = operation.to_string();
        let by = self.load(id, context, ROTATED_BY).await?;
        if by.as_ref().map(|b| b.expose().as_str()) == Some(op.as_str()) {
            return Ok(false);
        }
        if self.load(id, context, NEXT).await?.is_none() {
            self.keep(id, context, NEXT, &self.new_password()).await?;
        }
        self.keep(id, context, ROTATED_BY, &Sensitive::new(op))
            .await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::complex;

    #[test]
    fn complexity_counts_three_classes() {
        assert!(complex("abcDEF123"));
        assert!(complex("abc-DEF"));
        assert!(!complex("abcdef123"));
        assert!(!complex("ABCDEFGH"));
    }
}
