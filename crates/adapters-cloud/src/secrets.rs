//! Binding passwords from the operating system's CSPRNG.

use pgbroker_domain::Sensitive;
use pgbroker_domain::ports::SecretGenerator;
use rand::Rng;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;

/// Length of generated passwords: 40 characters of a 62-letter alphabet, about 238 bits.
pub const PASSWORD_LEN: usize = 40;

/// Passwords of [`PASSWORD_LEN`] ASCII letters and digits, drawn from `OsRng`, so they are safe
/// unescaped in URIs, connection strings and SQL literals.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRngSecrets;

impl SecretGenerator for OsRngSecrets {
    fn password(&self) -> Sensitive<String> {
        let password: String = OsRng
            .sample_iter(&Alphanumeric)
            .take(PASSWORD_LEN)
            .map(char::from)
            .collect();
        Sensitive::new(password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_alphanumeric_and_differ() {
        let a = OsRngSecrets.password();
        let b = OsRngSecrets.password();
        assert_eq!(a.expose().len(), PASSWORD_LEN);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.expose(), b.expose());
    }
}
