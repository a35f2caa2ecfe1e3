use crate::sensitive::Sensitive;

/// Makes passwords for bindings. Implementations must use a cryptographically secure generator.
pub trait SecretGenerator: Send + Sync {
    /// A password of at least 32 characters that is safe in URIs and connection strings unescaped.
    fn password(&self) -> Sensitive<String>;
}
