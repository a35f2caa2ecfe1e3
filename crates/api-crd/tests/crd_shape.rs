//! The generated CRDs as `kubectl` and a real API server see them: names, printer columns,
//! a description on every field (`kubectl explain`), a structural schema, and CEL rules that the
//! test server really evaluates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use pgbroker_kube_testserver::{TestServer, crds as testserver_crds, schema};
use serde_json::{Value, json};
use support::*;

/// The committed CRDs, as the test server loads them.
fn committed() -> Vec<Value> {
    testserver_crds::load_crd_dir(&testserver_crds::pgbroker_crd_dir()).unwrap()
}

fn by_kind(kind: &str) -> CustomResourceDefinition {
    pgbroker_api_crd::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap()
}

fn schema_of(kind: &str) -> Value {
    let crd = committed()
        .into_iter()
        .find(|c| c["spec"]["names"]["kind"] == kind)
        .unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

#[test]
fn names_scope_columns_and_subresources() {
    for (kind, short, third) in [
        (
            "PostgreSQLServer",
            vec!["pgserver", "pgs"],
            ("Class", ".spec.size.class"),
        ),
        (
            "PostgreSQLDatabase",
            vec!["pgdb"],
            ("Server", ".spec.serverRef.name"),
        ),
    ] {
        let crd = by_kind(kind);
        assert_eq!(crd.spec.group, "pgbroker.io");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            crd.spec.names.short_names,
            Some(short.iter().map(|s| (*s).to_owned()).collect())
        );
        assert_eq!(crd.spec.names.categories, Some(vec!["pgbroker".to_owned()]));
        assert_eq!(crd.spec.versions.len(), 1);
        let version = &crd.spec.versions[0];
        assert_eq!(
            (version.name.as_str(), version.served, version.storage),
            ("v1alpha1", true, true)
        );
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        let columns: Vec<(&str, &str, &str)> = version
            .additional_printer_columns
            .as_deref()
            .unwrap()
            .iter()
            .map(|c| (c.name.as_str(), c.type_.as_str(), c.json_path.as_str()))
            .collect();
        assert_eq!(
            columns,
            vec![
                ("Phase", "string", ".status.phase"),
                ("Backend", "string", ".status.backend"),
                (third.0, "string", third.1),
                ("Endpoint", "string", ".status.endpoint"),
                ("Age", "date", ".metadata.creationTimestamp"),
            ],
            "{kind}"
        );
    }
}

#[tokio::test]
async fn the_default_test_server_serves_the_committed_crds_with_short_names_and_category() {
    let server = TestServer::start_default().await.unwrap();
    let resources = server
        .client()
        .list_api_group_resources("pgbroker.io/v1alpha1")
        .await
        .unwrap();
    type Found = (String, Option<Vec<String>>, Option<Vec<String>>, bool);
    let found: Vec<Found> = resources
        .resources
        .iter()
        .filter(|r| !r.name.contains('/'))
        .map(|r| {
            (
                r.name.clone(),
                r.short_names.clone(),
                r.categories.clone(),
                r.namespaced,
            )
        })
        .collect();
    let names = |v: &[&str]| Some(v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    assert!(
        found.contains(&(
            "postgresqlservers".into(),
            names(&["pgserver", "pgs"]),
            names(&["pgbroker"]),
            true
        )),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            "postgresqldatabases".into(),
            names(&["pgdb"]),
            names(&["pgbroker"]),
            true
        )),
        "{found:?}"
    );
}

/// Every property below `spec` and `status` (what `kubectl explain` walks).
fn undocumented(schema: &Value, path: &str, out: &mut Vec<String>) {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, sub) in properties {
            let child = format!("{path}.{name}");
            let documented = sub
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| !d.trim().is_empty());
            let envelope =
                path.is_empty() && matches!(name.as_str(), "apiVersion" | "kind" | "metadata");
            if !documented && !envelope {
                out.push(child.clone());
            }
            undocumented(sub, &child, out);
        }
    }
    if let Some(items) = schema.get("items") {
        undocumented(items, &format!("{path}[]"), out);
    }
    if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
        undocumented(additional, &format!("{path}{{}}"), out);
    }
}

#[test]
fn every_field_has_a_description_for_kubectl_explain() {
    for kind in ["PostgreSQLServer", "PostgreSQLDatabase"] {
        let schema = schema_of(kind);
        assert!(
            schema["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{kind} itself"
        );
        let mut missing = Vec::new();
        undocumented(&schema, "", &mut missing);
        assert!(
            missing.is_empty(),
            "{kind}: fields without a description: {missing:?}"
        );
    }
}

/// The rules a structural schema must follow (Kubernetes docs, "Specifying a structural schema",
/// and apiextensions-apiserver's validation of a CRD) plus what keeps CEL rules within cost.
fn structural_problems(schema: &Value, path: &str, under_rule: bool, out: &mut Vec<String>) {
    let Some(node) = schema.as_object() else {
        out.push(format!("{path}: not an object"));
        return;
    };
    for forbidden in [
        "$ref",
        "definitions",
        "$schema",
        "id",
        "dependencies",
        "patternProperties",
        "additionalItems",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
    ] {
        if node.contains_key(forbidden) {
            out.push(format!("{path}: has {forbidden}"));
        }
    }
    if node.get("uniqueItems") == Some(&json!(true)) {
        out.push(format!(
            "{path}: uniqueItems true is refused by the API server"
        ));
    }
    let free = node.get("x-kubernetes-int-or-string") == Some(&json!(true))
        || node.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    let ty = node.get("type").and_then(Value::as_str);
    if ty.is_none() && !free {
        out.push(format!("{path}: no type"));
    }
    if node.contains_key("properties")
        && node
            .get("additionalProperties")
            .is_some_and(Value::is_object)
    {
        out.push(format!("{path}: both properties and additionalProperties"));
    }
    let under_rule = under_rule || node.contains_key("x-kubernetes-validations");
    if under_rule {
        if ty == Some("string") && !node.contains_key("maxLength") && !node.contains_key("enum") {
            out.push(format!("{path}: string under a CEL rule without maxLength"));
        }
        if ty == Some("array") && !node.contains_key("maxItems") {
            out.push(format!("{path}: list under a CEL rule without maxItems"));
        }
        if ty == Some("object")
            && node
                .get("additionalProperties")
                .is_some_and(Value::is_object)
            && !node.contains_key("maxProperties")
        {
            out.push(format!(
                "{path}: map under a CEL rule without maxProperties"
            ));
        }
    }
    match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("map") => {
            let keys: Vec<&str> = node
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let required: Vec<&str> = node
                .get("items")
                .and_then(|i| i.get("required"))
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if keys.is_empty() || keys.iter().any(|k| !required.contains(k)) {
                out.push(format!(
                    "{path}: list-map keys {keys:?} must be required ({required:?})"
                ));
            }
        }
        Some("set") => {
            let item = schema.pointer("/items/type").and_then(Value::as_str);
            if matches!(item, Some("object" | "array")) {
                out.push(format!("{path}: list-type set of non-scalar items"));
            }
        }
        _ => {}
    }
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        for (name, sub) in properties {
            if path.is_empty() && name == "metadata" {
                continue;
            }
            structural_problems(sub, &format!("{path}.{name}"), under_rule, out);
        }
    }
    if let Some(items) = node.get("items") {
        structural_problems(items, &format!("{path}[]"), under_rule, out);
    }
    if let Some(additional) = node.get("additionalProperties").filter(|a| a.is_object()) {
        structural_problems(additional, &format!("{path}{{}}"), under_rule, out);
    }
}

#[test]
fn schemas_are_structural_and_cel_inputs_are_bounded() {
    for kind in ["PostgreSQLServer", "PostgreSQLDatabase"] {
        let schema = schema_of(kind);
        let mut problems = Vec::new();
        structural_problems(&schema, "", false, &mut problems);
        assert!(problems.is_empty(), "{kind}: {problems:#?}");
        assert!(
            !schema.to_string().contains("\"$ref\""),
            "{kind}: a $ref is left"
        );
    }
}

/// Every rule in a schema, with the path of its node.
fn rules(schema: &Value, path: &str, out: &mut Vec<(String, String)>) {
    for rule in schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.push((
            path.to_owned(),
            rule["rule"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    for (key, sub) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        rules(sub, &format!("{path}.{key}"), out);
    }
    if let Some(items) = schema.get("items") {
        rules(items, &format!("{path}[]"), out);
    }
}

#[test]
fn the_test_server_evaluates_every_rule_of_both_crds() {
    let server_schema = schema_of("PostgreSQLServer");
    let mut server_rules = Vec::new();
    rules(&server_schema, "", &mut server_rules);
    let paths: Vec<&str> = server_rules.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            ".spec",
            ".spec.network.firewallRules[]",
            ".spec.size.storageGB"
        ],
        "a rule was added or removed: give it a test in server_rules.rs and list it here"
    );
    let full = serde_json::to_value(server_object("s", full_server_spec())).unwrap();
    let minimal = serde_json::to_value(server_object("s", minimal_server_spec())).unwrap();
    for (object, old) in [
        (&full, None),
        (&full, Some(&full)),
        (&minimal, Some(&minimal)),
        (&full, Some(&minimal)),
    ] {
        let skipped = schema::unevaluated_rules(&server_schema, object, old);
        assert!(skipped.is_empty(), "{skipped:#?}");
    }

    let database_schema = schema_of("PostgreSQLDatabase");
    let mut database_rules = Vec::new();
    rules(&database_schema, "", &mut database_rules);
    assert_eq!(database_rules.len(), 1, "{database_rules:?}");
    let database = serde_json::to_value(database_object("d", database_spec("s"))).unwrap();
    for old in [None, Some(&database)] {
        let skipped = schema::unevaluated_rules(&database_schema, &database, old);
        assert!(skipped.is_empty(), "{skipped:#?}");
    }
}

#[test]
fn the_rust_types_read_what_the_examples_in_docs_write() {
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/operator.md"
    ))
    .unwrap();
    let mut found = 0;
    for block in docs.split("```yaml\n").skip(1) {
        let yaml = block.split("```").next().unwrap_or_default();
        for document in serde_yaml::Deserializer::from_str(yaml) {
            let value: Value = serde::Deserialize::deserialize(document).unwrap();
            let kind = value["kind"].as_str().unwrap_or_default().to_owned();
            let resource = match kind.as_str() {
                "PostgreSQLServer" => "postgresqlservers.pgbroker.io",
                "PostgreSQLDatabase" => "postgresqldatabases.pgbroker.io",
                _ => continue,
            };
            pgbroker_kube_testserver::validate(resource, &value)
                .unwrap_or_else(|e| panic!("docs/operator.md example {kind}: {e}"));
            match kind.as_str() {
                "PostgreSQLServer" => drop(
                    serde_json::from_value::<pgbroker_api_crd::PostgreSQLServer>(value).unwrap(),
                ),
                _ => drop(
                    serde_json::from_value::<pgbroker_api_crd::PostgreSQLDatabase>(value).unwrap(),
                ),
            }
            found += 1;
        }
    }
    assert!(found >= 4, "docs/operator.md has {found} example objects");
}
