//! The credentials a binding hands out.

use std::collections::BTreeMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use pgbroker_domain::{Credentials, Sensitive};
use serde_json::json;

use super::server::Server;
use super::sql::Ident;

/// Everything but RFC 3986 unreserved characters is escaped in URI user, password and path parts.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn enc(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

pub(crate) fn credentials(
    server: &Server,
    database: &Ident,
    role: &Ident,
    password: &Sensitive<String>,
) -> Credentials {
    let (host, port, sslmode) = server.client_endpoint();
    let (db, user, pw) = (database.as_str(), role.as_str(), password.expose());
    let sslmode = sslmode.as_str();
    let uri = format!(
        "postgresql://{}:{}@{host}:{port}/{}?sslmode={sslmode}",
        enc(user),
        enc(pw),
        enc(db)
    );
    let jdbc_uri = format!(
        "jdbc:postgresql://{host}:{port}/{}?user={}&password={}&sslmode={sslmode}",
        enc(db),
        enc(user),
        enc(pw)
    );
    Sensitive::new(BTreeMap::from([
        ("host".to_string(), json!(host)),
        ("port".to_string(), json!(port)),
        ("database".to_string(), json!(db)),
        ("username".to_string(), json!(user)),
        ("password".to_string(), json!(pw)),
        ("uri".to_string(), json!(uri)),
        ("jdbc_uri".to_string(), json!(jdbc_uri)),
        ("sslmode".to_string(), json!(sslmode)),
    ]))
}
