//! A binding's database of its own: a CNPG `Database` owned by the binding's role, dropped
//! with the object (`databaseReclaimPolicy: delete`) unless unbind hands it over first.

use pgbroker_domain::OwnDatabase;
use serde_json::{Map, Value, json};

use super::APP_DATABASE;
use crate::kinds::Kind;
use crate::labels::Owner;
use crate::names::{BindingNames, InstanceNames};

/// Names a binding's database cannot take in a CNPG cluster: PostgreSQL's own (the Database
/// CRD refuses them too) and the instance's application database, which CNPG would otherwise
/// adopt and hand to the binding (`ALTER DATABASE ... OWNER TO`).
pub fn refused_database_name(name: &str) -> Option<String> {
    match name {
        "postgres" | "template0" | "template1" => {
            Some(format!("database name {name:?} is reserved by PostgreSQL"))
        }
        APP_DATABASE => Some(format!(
            "database name {name:?} is the instance's application database"
        )),
        _ => None,
    }
}

/// The `Database` of a binding, named like its other objects. The PostgreSQL name is the one
/// asked for: each instance is a cluster of its own, so no prefix is needed to keep instances
/// apart. Every field of [`OwnDatabase`] maps onto a field of the CNPG 1.30 CRD; the
/// destructuring below stops compiling when the domain adds one, so a new field is mapped or
/// refused here, never dropped.
pub fn own_database(
    instance: &InstanceNames,
    binding: &BindingNames,
    owner: Owner<'_>,
    db: &OwnDatabase,
) -> Value {
    let OwnDatabase {
        name,
        charset,
        collation,
        extensions,
    } = db;
    let mut spec = Map::new();
    spec.insert("cluster".into(), json!({"name": instance.cluster}));
    spec.insert("name".into(), json!(name));
    spec.insert("owner".into(), json!(binding.role));
    spec.insert("databaseReclaimPolicy".into(), json!("delete"));
    if let Some(charset) = charset {
        spec.insert("encoding".into(), json!(charset));
    }
    if let Some(collation) = collation {
        spec.insert("localeCollate".into(), json!(collation));
        spec.insert("localeCType".into(), json!(collation));
    }
    if charset.is_some() || collation.is_some() {
        // PostgreSQL takes another encoding or locale than template1's only from template0.
        spec.insert("template".into(), json!("template0"));
    }
    if !extensions.is_empty() {
        let list: Vec<Value> = extensions
            .iter()
            .map(|e| json!({"name": e, "ensure": "present"}))
            .collect();
        spec.insert("extensions".into(), json!(list));
    }
    json!({
        "apiVersion": Kind::Database.api_version(),
        "kind": Kind::Database.kind(),
        "metadata": owner.metadata(&binding.object, Some(&instance.namespace)),
        "spec": spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_cnpg_or_the_instance_already_use_are_refused() {
        for taken in ["postgres", "template0", "template1", APP_DATABASE] {
            assert!(refused_database_name(taken).is_some(), "{taken}");
        }
        assert_eq!(refused_database_name("reports"), None);
    }
}
