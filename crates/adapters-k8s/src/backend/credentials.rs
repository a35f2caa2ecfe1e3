//! The credentials a binding hands out, built from names the backend controls and the CA that
//! CNPG made. Never the CA's or server's private keys.

use std::collections::BTreeMap;

use pgbroker_domain::{Credentials, Sensitive};
use serde_json::{Value, json};

use crate::names::{BindingNames, InstanceNames};

pub const PORT: u16 = 5432;

/// Where a binding can connect.
pub struct Endpoints {
    /// The database the binding uses: the application database, or its own.
    pub database: String,
    pub pooler: bool,
    /// LoadBalancer address (IP or host name), once the cloud assigned one.
    pub load_balancer: Option<String>,
    /// PEM of CNPG's server CA (`ca.crt` of `<cluster>-ca`).
    pub ca_cert: String,
}

pub fn credentials(
    instance: &InstanceNames,
    binding: &BindingNames,
    password: &Sensitive<String>,
    sslmode: &str,
    endpoints: &Endpoints,
) -> Credentials {
    let user = &binding.role;
    let password = password.expose();
    let mut c: BTreeMap<String, Value> = BTreeMap::new();
    let rw = instance.fqdn(&instance.rw_service());
    let ro = instance.fqdn(&instance.ro_service());
    c.insert("username".into(), json!(user));
    c.insert("password".into(), json!(password));
    let db = endpoints.database.as_str();
    c.insert("database".into(), json!(db));
    c.insert("host".into(), json!(rw));
    c.insert("port".into(), json!(PORT));
    c.insert("ro_host".into(), json!(ro));
    c.insert("ro_port".into(), json!(PORT));
    c.insert("sslmode".into(), json!(sslmode));
    c.insert("ca_cert".into(), json!(endpoints.ca_cert));
    let add_uris = |c: &mut BTreeMap<String, Value>, prefix: &str, host: &str, mode: &str| {
        c.insert(
            format!("{prefix}uri"),
            json!(uri(user, password, host, db, mode)),
        );
        c.insert(
            format!("{prefix}jdbc_uri"),
            json!(jdbc_uri(user, password, host, db, mode)),
        );
    };
    add_uris(&mut c, "", &rw, sslmode);
    add_uris(&mut c, "ro_", &ro, sslmode);
    if endpoints.pooler {
        // The cluster's server certificate names the pooler (see the Cluster manifest).
        let pooler = instance.fqdn(&instance.pooler());
        add_uris(&mut c, "pooler_", &pooler, sslmode);
        c.insert("pooler_host".into(), json!(pooler));
        c.insert("pooler_port".into(), json!(PORT));
    }
    if let Some(lb) = &endpoints.load_balancer {
        // The certificate does not name load balancer addresses: encrypted, not verified.
        let mode = if sslmode.starts_with("verify") {
            "require"
        } else {
            sslmode
        };
        add_uris(&mut c, "lb_", lb, mode);
        c.insert("lb_host".into(), json!(lb));
        c.insert("lb_port".into(), json!(PORT));
        c.insert("lb_sslmode".into(), json!(mode));
    }
    Sensitive::new(c)
}

fn uri(user: &str, password: &str, host: &str, db: &str, sslmode: &str) -> String {
    format!(
        "postgresql://{}:{}@{host}:{PORT}/{db}?sslmode={sslmode}",
        encode(user),
        encode(password)
    )
}

/// Query keys sorted, like CNPG's own `jdbc-uri`.
fn jdbc_uri(user: &str, password: &str, host: &str, db: &str, sslmode: &str) -> String {
    format!(
        "jdbc:postgresql://{host}:{PORT}/{db}?password={}&sslmode={sslmode}&user={}",
        encode(password),
        encode(user)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::APP_DATABASE;
    use crate::settings::CnpgSettings;
    use pgbroker_domain::{BindingId, InstanceId};

    #[test]
    fn credentials_name_every_endpoint_and_escape_the_password() {
        let inst = InstanceNames::new(
            &CnpgSettings::default(),
            &InstanceId::parse("i1").unwrap(),
            &Default::default(),
        )
        .unwrap();
        let b = BindingNames::new(&inst, &BindingId::parse("b1").unwrap());
        let creds = credentials(
            &inst,
            &b,
            &Sensitive::new("p@ss/w:rd".to_string()),
            "verify-full",
            &Endpoints {
                database: APP_DATABASE.into(),
                pooler: true,
                load_balancer: Some("203.0.113.7".into()),
                ca_cert: "-----BEGIN CERTIFICATE-----".into(),
            },
        );
        let c = creds.expose();
        assert_eq!(c["host"], json!("pg-i1-rw.pg-i1.svc"));
        assert_eq!(c["ro_host"], json!("pg-i1-ro.pg-i1.svc"));
        assert_eq!(c["pooler_host"], json!("pg-i1-pooler-rw.pg-i1.svc"));
        assert_eq!(
            c["uri"],
            json!(format!(
                "postgresql://{}:p%40ss%2Fw%3Ard@pg-i1-rw.pg-i1.svc:5432/app?sslmode=verify-full",
                b.role
            ))
        );
        assert_eq!(
            c["jdbc_uri"],
            json!(format!(
                "jdbc:postgresql://pg-i1-rw.pg-i1.svc:5432/app?password=p%40ss%2Fw%3Ard&sslmode=verify-full&user={}",
                b.role
            ))
        );
        assert_eq!(c["lb_sslmode"], json!("require"));
        assert!(c["lb_uri"].as_str().unwrap().contains("@203.0.113.7:5432/"));
        assert!(c.contains_key("pooler_jdbc_uri") && c.contains_key("ro_jdbc_uri"));
        assert!(!format!("{creds:?}").contains("p@ss"));
    }
}
