//! SCRAM-SHA-256 verifiers, computed here so that a binding's password never appears in SQL text
//! (where a server with `log_statement = ddl` would write it to its log): PostgreSQL stores a
//! password given in verifier form as it is, whatever `password_encryption` says.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// PostgreSQL's default `scram_iterations`.
const ITERATIONS: u32 = 4096;

/// A verifier with a fresh random salt.
pub(crate) fn verifier(password: &str) -> String {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    verifier_with(password, &salt, ITERATIONS)
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length; the error branch cannot happen.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn verifier_with(password: &str, salt: &[u8], iterations: u32) -> String {
    // As PostgreSQL does: SASLprep the password, or use it as it is when that fails.
    let prepared = stringprep::saslprep(password)
        .map(|p| p.into_owned())
        .unwrap_or_else(|_| password.to_string());
    let key = prepared.as_bytes();
    // Hi(): PBKDF2 with HMAC-SHA-256 and one block.
    let mut u = hmac(key, &[salt, &1u32.to_be_bytes()]);
    let mut salted = u;
    for _ in 1..iterations {
        u = hmac(key, &[&u]);
        salted.iter_mut().zip(u.iter()).for_each(|(s, x)| *s ^= x);
    }
    let client_key = hmac(&salted, &[b"Client Key"]);
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, &[b"Server Key"]);
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_verifier_computed_independently() {
        // Python: hashlib.pbkdf2_hmac + hmac, salt bytes 0..16, 4096 iterations.
        let salt: Vec<u8> = (0u8..16).collect();
        assert_eq!(
            verifier_with("pencil", &salt, 4096),
            "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$zHCdol2044/ZyWzPLi7oxApCkamKw9Z+E4U/QApd/5Y=:dd5peBOitVnLNFu7VmwP+HiDaaw4OUCv396eVCWhYiE="
        );
    }

    #[test]
    fn salts_differ_and_the_password_is_not_in_the_verifier() {
        let (a, b) = (verifier("hunter2hunter2"), verifier("hunter2hunter2"));
        assert_ne!(a, b);
        assert!(!a.contains("hunter2"));
    }
}
