//! The objects CloudNativePG creates for a Cluster and a Pooler, with CNPG's names, types, labels
//! and keys (see `../shared/CNPG_FACTS.md` §2, §3, §5).

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::store::meta;

pub const CNPG_API_VERSION: &str = "postgresql.cnpg.io/v1";

/// Owner reference making `owner` (a CNPG object of `kind`) the controller of a dependent.
pub fn owner_ref(owner: &Value, kind: &str) -> Value {
    json!([{
        "apiVersion": CNPG_API_VERSION,
        "kind": kind,
        "name": meta::name(owner),
        "uid": meta::uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    }])
}

fn encode(data: &[(&str, String)]) -> Value {
    let engine = base64::engine::general_purpose::STANDARD;
    let map: Map<String, Value> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(engine.encode(v))))
        .collect();
    Value::Object(map)
}

fn cluster_labels(cluster: &str) -> Value {
    json!({
        "cnpg.io/cluster": cluster,
        "app.kubernetes.io/name": "postgresql",
        "app.kubernetes.io/instance": cluster,
        "app.kubernetes.io/component": "database",
        "app.kubernetes.io/managed-by": "cloudnative-pg",
    })
}

/// A 64-character password, like CNPG generates.
pub fn generate_password() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// What a basic-auth secret (`-app`, `-superuser`) describes.
pub struct Login<'a> {
    pub cluster: &'a Value,
    pub user_type: &'a str,
    pub username: &'a str,
    pub dbname: &'a str,
    pub password: &'a str,
    pub cluster_domain: &'a str,
}

/// `<cluster>-app` / `<cluster>-superuser`: `kubernetes.io/basic-auth` with CNPG's exact keys.
pub fn login_secret(login: &Login<'_>) -> Value {
    let cluster = meta::name(login.cluster);
    let ns = meta::meta_str(login.cluster, "namespace").unwrap_or("default");
    let (user, pw, db) = (login.username, login.password, login.dbname);
    let (user_esc, pw_esc) = (url_escape(user), url_escape(pw));
    let host = format!("{cluster}-rw");
    let fqdn = format!("{cluster}-rw.{ns}.svc.{}", login.cluster_domain);
    let jdbc_query = format!("password={}&user={}", url_escape(pw), url_escape(user));
    let suffix = if login.user_type == "superuser" {
        "superuser"
    } else {
        "app"
    };
    let data = [
        ("username", user.to_owned()),
        ("user", user.to_owned()),
        ("password", pw.to_owned()),
        ("dbname", db.to_owned()),
        ("host", host.clone()),
        ("port", "5432".to_owned()),
        ("pgpass", format!("{host}:5432:{db}:{user}:{pw}\n")),
        (
            "uri",
            format!("postgresql://{user_esc}:{pw_esc}@{host}.{ns}:5432/{db}"),
        ),
        (
            "jdbc-uri",
            format!("jdbc:postgresql://{host}.{ns}:5432/{db}?{jdbc_query}"),
        ),
        (
            "fqdn-uri",
            format!("postgresql://{user_esc}:{pw_esc}@{fqdn}:5432/{db}"),
        ),
        (
            "fqdn-jdbc-uri",
            format!("jdbc:postgresql://{fqdn}:5432/{db}?{jdbc_query}"),
        ),
    ];
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": format!("{cluster}-{suffix}"),
            "namespace": ns,
            "labels": {
                "cnpg.io/cluster": cluster,
                "cnpg.io/userType": login.user_type,
                "cnpg.io/reload": "true",
                "app.kubernetes.io/managed-by": "cloudnative-pg",
            },
            "ownerReferences": owner_ref(login.cluster, "Cluster"),
        },
        "type": "kubernetes.io/basic-auth",
        "data": encode(&data),
    })
}

fn fake_pem(label: &str, what: &str) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        engine.encode(format!("kube-testserver fake {what}"))
    )
}

/// `<owner>-<suffix>` TLS material: `-ca` (Opaque, `ca.crt`/`ca.key`) or a `kubernetes.io/tls` secret.
pub fn tls_secret(owner_cluster: &Value, suffix: &str) -> Value {
    let cluster = meta::name(owner_cluster);
    let ns = meta::meta_str(owner_cluster, "namespace").unwrap_or("default");
    let name = format!("{cluster}-{suffix}");
    let (kind, data) = if suffix == "ca" {
        (
            "Opaque",
            encode(&[
                (
                    "ca.crt",
                    fake_pem("CERTIFICATE", &format!("CA of {ns}/{cluster}")),
                ),
                (
                    "ca.key",
                    fake_pem("EC PRIVATE KEY", &format!("CA key of {ns}/{cluster}")),
                ),
            ]),
        )
    } else {
        (
            "kubernetes.io/tls",
            encode(&[
                (
                    "tls.crt",
                    fake_pem(
                        "CERTIFICATE",
                        &format!("{suffix} certificate of {ns}/{cluster}"),
                    ),
                ),
                (
                    "tls.key",
                    fake_pem("EC PRIVATE KEY", &format!("{suffix} key of {ns}/{cluster}")),
                ),
            ]),
        )
    };
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": { "cnpg.io/cluster": cluster, "app.kubernetes.io/managed-by": "cloudnative-pg" },
            "ownerReferences": owner_ref(owner_cluster, "Cluster"),
        },
        "type": kind,
        "data": data,
    })
}

/// `<cluster>-rw|-ro|-r` or an additional managed service (`selector_type` rw/ro/r).
pub fn cluster_service(
    cluster: &Value,
    name: &str,
    selector_type: &str,
    template: Option<&Value>,
) -> Value {
    let cluster_name = meta::name(cluster);
    let ns = meta::meta_str(cluster, "namespace").unwrap_or("default");
    let selector = match selector_type {
        "rw" => json!({ "cnpg.io/cluster": cluster_name, "cnpg.io/instanceRole": "primary" }),
        "ro" => json!({ "cnpg.io/cluster": cluster_name, "cnpg.io/instanceRole": "replica" }),
        _ => json!({ "cnpg.io/cluster": cluster_name, "cnpg.io/podRole": "instance" }),
    };
    let mut service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": cluster_labels(cluster_name),
            "ownerReferences": owner_ref(cluster, "Cluster"),
        },
        "spec": {
            "type": "ClusterIP",
            "ports": [{ "name": "postgres", "port": 5432, "protocol": "TCP", "targetPort": 5432 }],
            "selector": selector,
        },
    });
    if let Some(template) = template {
        apply_template(&mut service, template);
    }
    service
}

/// The Pooler's service: same name as the Pooler, port 5432 named `pgbouncer`.
pub fn pooler_service(pooler: &Value) -> Value {
    let name = meta::name(pooler);
    let ns = meta::meta_str(pooler, "namespace").unwrap_or("default");
    let cluster = pooler
        .pointer("/spec/cluster/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": { "cnpg.io/poolerName": name, "cnpg.io/cluster": cluster },
            "ownerReferences": owner_ref(pooler, "Pooler"),
        },
        "spec": {
            "type": "ClusterIP",
            "ports": [{ "name": "pgbouncer", "port": 5432, "protocol": "TCP", "targetPort": "pgbouncer" }],
            "selector": { "cnpg.io/poolerName": name },
        },
    });
    if let Some(template) = pooler.pointer("/spec/serviceTemplate") {
        apply_template(&mut service, template);
    }
    service
}

/// Merges a `serviceTemplate` (`metadata.labels/annotations`, `spec`) over the default service.
fn apply_template(service: &mut Value, template: &Value) {
    for field in ["labels", "annotations"] {
        if let Some(extra) = template
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_object)
        {
            let target = &mut service["metadata"][field];
            if !target.is_object() {
                *target = json!({});
            }
            for (k, v) in extra {
                target[k] = v.clone();
            }
        }
    }
    if let Some(spec) = template.get("spec").and_then(Value::as_object) {
        for (k, v) in spec {
            service["spec"][k] = v.clone();
        }
    }
}

/// Percent-encoding of everything but RFC 3986 unreserved characters.
fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
