//! [`SecretVault`] in the state store: each secret sealed with ChaCha20-Poly1305 under the
//! configured key before it is written, so the store's backups and its readers never see a
//! backend's admin password. The nonce is random per write and kept with the ciphertext.

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pgbroker_domain::Sensitive;
use pgbroker_domain::ports::{SecretVault, VaultError, VaultKey};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use std::sync::Arc;

use crate::dialect::{Dialect, Durability, Param, Statement};
use crate::store::SqlStateStore;
use crate::transaction::{Change, Check};
use crate::writer::Writer;

/// The key secrets are sealed with: 32 bytes, configured as base64.
pub struct VaultCipher {
    key: LessSafeKey,
    id: String,
}

impl fmt::Debug for VaultCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultCipher")
            .field("key_id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why a configured key cannot be used (never the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("the vault key is not base64")]
    NotBase64,
    #[error("the vault key has {0} bytes; it must have 32 (e.g. `openssl rand -base64 32`)")]
    Length(usize),
}

impl VaultCipher {
    pub fn from_base64(text: &str) -> Result<Self, CipherError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| CipherError::NotBase64)?;
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
            .map_err(|_| CipherError::Length(bytes.len()))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let id = digest.as_ref()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            key: LessSafeKey::new(unbound),
            id,
        })
    }

    fn aad(key: &VaultKey) -> String {
        format!("{}\u{0}{}\u{0}{}", key.backend, key.instance_id, key.name)
    }

    fn seal(&self, key: &VaultKey, value: &Sensitive<String>) -> Result<String, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| VaultError("the system's random source failed".into()))?;
        let mut data = value.expose().as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(key).as_bytes()),
                &mut data,
            )
            .map_err(|_| VaultError("sealing a secret failed".into()))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&data);
        Ok(STANDARD.encode(sealed))
    }

    fn open(&self, key: &VaultKey, sealed: &str) -> Result<Sensitive<String>, VaultError> {
        let broken = || {
            VaultError(format!(
                "secret {} of instance {} (backend {}) does not open with the vault key {}: it was sealed for another row or is damaged",
                key.name, key.instance_id, key.backend, self.id
            ))
        };
        let bytes = STANDARD.decode(sealed).map_err(|_| broken())?;
        if bytes.len() < NONCE_LEN {
            return Err(broken());
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| broken())?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(Self::aad(key).as_bytes()), &mut data)
            .map_err(|_| broken())?;
        String::from_utf8(plain.to_vec())
            .map(Sensitive::new)
            .map_err(|_| broken())
    }
}

/// The vault in a state store's database, writing where the store writes (a SQLite file has
/// one writer: the vault queues for it with the store's own writes).
pub struct SqlVault<DB: Dialect> {
    writer: Arc<Writer<DB>>,
    cipher: VaultCipher,
}

impl<DB: Dialect> SqlVault<DB> {
    pub fn new(store: &SqlStateStore<DB>, cipher: VaultCipher) -> Self {
        Self {
            writer: store.writer.clone(),
            cipher,
        }
    }

    fn doing(what: &str, key: &VaultKey) -> String {
        format!(
            "{what} secret {} of instance {} (backend {}) in the state store",
            key.name, key.instance_id, key.backend
        )
    }
}

fn failed(doing: &str, e: impl fmt::Display) -> VaultError {
    VaultError(format!("{doing}: {e}"))
}

#[async_trait]
impl<DB: Dialect> SecretVault for SqlVault<DB> {
    async fn load(&self, key: &VaultKey) -> Result<Option<Sensitive<String>>, VaultError> {
        let doing = Self::doing("reading", key);
        let mut conn = self.writer.acquire().await.map_err(|e| failed(&doing, e))?;
        let rows = DB::fetch_all(
            &mut *conn,
            Statement {
                sql: "SELECT sealed, key_id FROM backend_secrets WHERE backend = $1 AND instance_id = $2 AND name = $3",
                params: vec![
                    Param::Text(Some(&key.backend)),
                    Param::Text(Some(key.instance_id.as_str())),
                    Param::Text(Some(&key.name)),
                ],
            },
        )
        .await
        .map_err(|e| failed(&doing, e))?;
        conn.done();
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let column = |c| {
            DB::text(row, c)
                .map_err(|e| failed(&doing, e.why))
                .map(Option::unwrap_or_default)
        };
        let (sealed, key_id) = (column("sealed")?, column("key_id")?);
        if key_id != self.cipher.id {
            return Err(VaultError(format!(
                "{doing}: it is sealed with vault key {key_id}, and the configured key is {}; configure the key it was sealed with",
                self.cipher.id
            )));
        }
        self.cipher.open(key, &sealed).map(Some)
    }

    async fn store(&self, key: &VaultKey, value: &Sensitive<String>) -> Result<(), VaultError> {
        let doing = Self::doing("storing", key);
        let sealed = self.cipher.seal(key, value)?;
        let statement = Statement {
            sql: "INSERT INTO backend_secrets (backend, instance_id, name, sealed, key_id) VALUES ($1, $2, $3, $4, $5) \
                  ON CONFLICT (backend, instance_id, name) DO UPDATE SET sealed = excluded.sealed, key_id = excluded.key_id",
            params: vec![
                Param::Text(Some(&key.backend)),
                Param::Text(Some(key.instance_id.as_str())),
                Param::Text(Some(&key.name)),
                Param::Text(Some(&sealed)),
                Param::Text(Some(&self.cipher.id)),
            ],
        };
        let mut conn = self.writer.acquire().await.map_err(|e| failed(&doing, e))?;
        // The only copy of a password a server was (or is about to be) given: wait for the disk.
        let store = vec![Change::new(statement, Check::None)];
        DB::transact(&mut conn, Durability::Durable, store)
            .await
            .map_err(|f| match f.into_error() {
                Some(e) => failed(&doing, e),
                None => VaultError(format!("{doing}: nothing was written")),
            })?;
        conn.done();
        Ok(())
    }

    async fn remove(&self, key: &VaultKey) -> Result<(), VaultError> {
        let doing = Self::doing("removing", key);
        let mut conn = self.writer.acquire().await.map_err(|e| failed(&doing, e))?;
        DB::execute(
            &mut *conn,
            Statement {
                sql: "DELETE FROM backend_secrets WHERE backend = $1 AND instance_id = $2 AND name = $3",
                params: vec![
                    Param::Text(Some(&key.backend)),
                    Param::Text(Some(key.instance_id.as_str())),
                    Param::Text(Some(&key.name)),
                ],
            },
        )
        .await
        .map_err(|e| failed(&doing, e))?;
        conn.done();
        Ok(())
    }
}
