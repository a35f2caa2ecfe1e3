//! The state store's vault on both databases: a secret comes back as stored, is replaced and
//! removed; what the table holds is not the secret; a row does not open under another key or
//! when moved to another row's place; the secret survives reopening the store.

use anyhow::{Context, ensure};
use pgbroker_adapters_sql::{PoolSettings, VaultCipher, open_with_vault};
use pgbroker_domain::ports::{SecretVault, VaultKey};
use pgbroker_domain::{InstanceId, Sensitive};
use pgbroker_testkit::pg_database::TestDatabase;

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes
const OTHER_KEY: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

fn key(instance: &str, name: &str) -> anyhow::Result<VaultKey> {
    let id = InstanceId::parse(instance)?;
    Ok(VaultKey::new("azure", &id, name, &Default::default()))
}

async fn exercise(url: &str) -> anyhow::Result<()> {
    let (_, vault) = open_with_vault(
        url,
        &PoolSettings::default(),
        VaultCipher::from_base64(KEY)?,
    )
    .await?;
    let a = key("inst-a", "admin-password")?;
    let b = key("inst-b", "admin-password")?;
    ensure!(vault.load(&a).await?.is_none(), "nothing stored yet");
    vault
        .store(&a, &Sensitive::new("Secret-One-1".into()))
        .await?;
    vault
        .store(&b, &Sensitive::new("Secret-Two-2".into()))
        .await?;
    vault
        .store(&a, &Sensitive::new("Secret-Three-3".into()))
        .await?;
    let got = vault.load(&a).await?.context("stored")?;
    ensure!(
        got.expose() == "Secret-Three-3",
        "replaced value comes back"
    );

    // The table holds neither the secret nor anything the wrong key opens.
    let (_, wrong) = open_with_vault(
        url,
        &PoolSettings::default(),
        VaultCipher::from_base64(OTHER_KEY)?,
    )
    .await?;
    let err = wrong
        .load(&a)
        .await
        .err()
        .context("another key must not open it")?;
    ensure!(err.to_string().contains("configure the key"), "{err}");
    ensure!(!err.to_string().contains("Secret-"), "{err}");

    // A new store on the same database (a restart) reads it back.
    let (_, again) = open_with_vault(
        url,
        &PoolSettings::default(),
        VaultCipher::from_base64(KEY)?,
    )
    .await?;
    ensure!(again.load(&b).await?.context("kept")?.expose() == "Secret-Two-2");
    again.remove(&b).await?;
    again.remove(&b).await?;
    ensure!(again.load(&b).await?.is_none(), "removed");
    Ok(())
}

#[tokio::test]
async fn postgres_vault_seals_what_it_keeps() -> anyhow::Result<()> {
    let db = TestDatabase::create().await?;
    exercise(db.url()).await?;
    // Raw rows: no plaintext, and a row moved under another instance does not open.
    let pool = sqlx::PgPool::connect(db.url()).await?;
    let sealed: Vec<(String,)> = sqlx::query_as("SELECT sealed FROM backend_secrets")
        .fetch_all(&pool)
        .await?;
    ensure!(sealed.len() == 1, "{sealed:?}");
    ensure!(
        !sealed[0].0.contains("Secret"),
        "sealed text holds the secret"
    );
    sqlx::query("UPDATE backend_secrets SET instance_id = 'inst-c'")
        .execute(&pool)
        .await?;
    pool.close().await;
    let (_, vault) = open_with_vault(
        db.url(),
        &PoolSettings::default(),
        VaultCipher::from_base64(KEY)?,
    )
    .await?;
    let err = vault
        .load(&key("inst-c", "admin-password")?)
        .await
        .err()
        .context("moved row must not open")?;
    ensure!(err.to_string().contains("sealed for another row"), "{err}");
    db.drop_now().await
}

#[tokio::test]
async fn sqlite_vault_seals_what_it_keeps() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("pgbroker-vault-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}", dir.join("state.db").display());
    let result = exercise(&url).await;
    std::fs::remove_dir_all(&dir)?;
    result
}

#[test]
fn a_key_that_is_not_32_bytes_of_base64_is_refused_without_showing_it() {
    let short = VaultCipher::from_base64("c2hvcnQ=")
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        short.as_deref(),
        Some("the vault key has 5 bytes; it must have 32 (e.g. `openssl rand -base64 32`)")
    );
    let junk = VaultCipher::from_base64("not base64!")
        .err()
        .map(|e| e.to_string());
    assert_eq!(junk.as_deref(), Some("the vault key is not base64"));
    let debug = VaultCipher::from_base64(KEY)
        .map(|c| format!("{c:?}"))
        .unwrap_or_default();
    assert!(
        debug.starts_with("VaultCipher { key_id:") && !debug.contains(KEY),
        "{debug}"
    );
}
