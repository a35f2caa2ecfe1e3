//! The credentials Secret of a server or database: the keys of the hybrid-cloud operator,
//! CloudNativePG's `-app` Secret and servicebinding.io, owned by the custom resource. A Secret
//! of that name that the resource does not own is never written.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use pgbroker_domain::Credentials;
use serde_json::Value;

use super::{Error, FIELD_MANAGER};

/// Label on every Secret pgbroker writes.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "pgbroker");

/// The Secret's string data, from a binding's credentials.
pub fn secret_data(credentials: &Credentials) -> BTreeMap<String, String> {
    let c = credentials.expose();
    let text = |key: &str| match c.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut data = BTreeMap::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            data.insert(key.to_string(), v);
        }
    };
    let (host, port, db, user, password) = (
        text("host"),
        text("port"),
        text("database"),
        text("username"),
        text("password"),
    );
    put("hostname", host.clone());
    put("host", host.clone());
    put("port", port.clone());
    put("dbname", db.clone());
    put("database", db.clone());
    put("username", user.clone());
    put("password", password.clone());
    put("sslmode", text("sslmode"));
    put("uri", text("uri"));
    put("jdbc-uri", text("jdbc_uri"));
    put("ca.crt", text("ca_cert").filter(|c| !c.is_empty()));
    if let (Some(h), Some(p), Some(d), Some(u), Some(pw)) = (host, port, db, user, password) {
        // libpq's .pgpass: `:` and `\` inside a field are escaped with `\`.
        let esc = |s: &str| s.replace('\\', "\\\\").replace(':', "\\:");
        put(
            "pgpass",
            Some(format!(
                "{}:{}:{}:{}:{}\n",
                esc(&h),
                esc(&p),
                esc(&d),
                esc(&u),
                esc(&pw)
            )),
        );
    }
    put("type", Some("postgresql".into()));
    put("provider", Some("pgbroker".into()));
    data
}

/// Whether `secret` is owned by the object with `uid`.
pub fn owned_by(secret: &Secret, uid: &str) -> bool {
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == uid)
}

/// What writing the Secret found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Written,
    /// A Secret of that name exists and is not the object's.
    Foreign,
}

/// Writes the Secret `name` in the object's namespace with `data` (server-side apply, owned
/// by `owner`), unless a Secret of that name exists that `owner` does not own. Nothing is
/// sent when the stored Secret already holds exactly `data`.
pub async fn write<K>(
    secrets: &Api<Secret>,
    owner: &K,
    name: &str,
    data: BTreeMap<String, String>,
) -> Result<Written, Error>
where
    K: Resource<DynamicType = ()>,
{
    let uid = owner.uid().ok_or(Error::MissingField("metadata.uid"))?;
    if let Some(existing) = secrets.get_opt(name).await? {
        if !owned_by(&existing, &uid) {
            return Ok(Written::Foreign);
        }
        let same = existing.data.as_ref().is_some_and(|have| {
            have.len() == data.len()
                && data
                    .iter()
                    .all(|(k, v)| have.get(k).is_some_and(|b| b.0 == v.as_bytes()))
        });
        if same {
            return Ok(Written::Written);
        }
    }
    let owner_ref = OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.name_any(),
        uid,
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(BTreeMap::from([(
                MANAGED_BY.0.to_string(),
                MANAGED_BY.1.to_string(),
            )])),
            owner_references: Some(vec![owner_ref]),
            ..ObjectMeta::default()
        },
        data: Some(
            data.into_iter()
                .map(|(k, v)| (k, ByteString(v.into_bytes())))
                .collect(),
        ),
        type_: Some("Opaque".into()),
        ..Secret::default()
    };
    let mut value = serde_json::to_value(&secret).map_err(Error::Serialize)?;
    if let Value::Object(map) = &mut value {
        map.insert("apiVersion".into(), Value::String("v1".into()));
        map.insert("kind".into(), Value::String("Secret".into()));
    }
    secrets
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(value),
        )
        .await?;
    Ok(Written::Written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgbroker_domain::Sensitive;
    use serde_json::json;

    #[test]
    fn keys_for_every_reader() {
        let creds = Sensitive::new(BTreeMap::from([
            ("host".to_string(), json!("db.local")),
            ("port".to_string(), json!(5432)),
            ("database".to_string(), json!("app")),
            ("username".to_string(), json!("u")),
            ("password".to_string(), json!("p:w\\d")),
            ("uri".to_string(), json!("postgresql://u@db.local/app")),
            (
                "jdbc_uri".to_string(),
                json!("jdbc:postgresql://db.local/app"),
            ),
            ("sslmode".to_string(), json!("prefer")),
        ]));
        let data = secret_data(&creds);
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "database", "dbname", "host", "hostname", "jdbc-uri", "password", "pgpass", "port",
                "provider", "sslmode", "type", "uri", "username"
            ]
        );
        assert_eq!(data["port"], "5432");
        assert_eq!(data["pgpass"], "db.local:5432:app:u:p\\:w\\\\d\n");
        assert_eq!(data["type"], "postgresql");
    }
}
