//! The CRDs' CEL rules through a second evaluator: kube's client-side CEL (kube-cel, the `cel`
//! crate with Kubernetes' libraries), independent of the test server's own subset. Each rule
//! compiles there, passes on valid objects and fails on what it should refuse.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kube::core::cel::{ErrorKind, Validator};
use serde_json::{Value, json};
use support::*;

fn schema_of(kind: &str) -> Value {
    let crd = pgbroker_kube_testserver::crds::load_crd_dir(
        &pgbroker_kube_testserver::crds::pgbroker_crd_dir(),
    )
    .unwrap()
    .into_iter()
    .find(|c| c["spec"]["names"]["kind"] == kind)
    .unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// `Ok` when every rule passes; the messages of failed rules otherwise. Anything but a plain
/// rule failure (a rule that does not compile or errs) fails the test.
fn check(schema: &Value, object: &Value, old: Option<&Value>) -> Result<(), Vec<String>> {
    match Validator::new().validate(schema, object, old) {
        Ok(()) => Ok(()),
        Err(errors) => {
            let errors = errors.into_vec();
            for e in &errors {
                assert_eq!(e.kind, ErrorKind::ValidationFailure, "{e:?}");
            }
            Err(errors.into_iter().map(|e| e.message).collect())
        }
    }
}

fn obj(kind: &str, spec: Value) -> Value {
    json!({ "apiVersion": "pgbroker.io/v1alpha1", "kind": kind, "metadata": { "name": "x" }, "spec": spec })
}

#[test]
fn server_rules_hold_in_kubernetes_cel() {
    let schema = schema_of("PostgreSQLServer");
    let full = obj("PostgreSQLServer", full_server_spec());
    let minimal = obj("PostgreSQLServer", minimal_server_spec());
    check(&schema, &full, None).unwrap();
    check(&schema, &full, Some(&full)).unwrap();
    check(&schema, &minimal, Some(&minimal)).unwrap();

    let mut moved = full.clone();
    moved["spec"]["backend"] = json!("cnpg");
    let failed = check(&schema, &moved, Some(&full)).unwrap_err();
    assert!(
        failed.iter().any(|m| m.contains("backend is immutable")),
        "{failed:?}"
    );
    let mut set_later = minimal.clone();
    set_later["spec"]["backend"] = json!("shared");
    let failed = check(&schema, &set_later, Some(&minimal)).unwrap_err();
    assert!(
        failed.iter().any(|m| m.contains("backend is immutable")),
        "{failed:?}"
    );
    let failed = check(&schema, &set_later.clone(), Some(&full)).unwrap_err();
    assert!(
        failed.iter().any(|m| m.contains("storageGB cannot shrink")),
        "{failed:?}"
    );

    let mut shrunk = full.clone();
    shrunk["spec"]["size"]["storageGB"] = json!(31);
    let failed = check(&schema, &shrunk, Some(&full)).unwrap_err();
    assert_eq!(failed, vec!["storageGB cannot shrink".to_owned()]);

    let rule = |start: &str, end: &str| {
        let mut o = minimal.clone();
        o["spec"]["network"] =
            json!({ "firewallRules": [{ "name": "r", "startIp": start, "endIp": end }] });
        o
    };
    check(&schema, &rule("9.0.0.0", "10.0.0.0"), None).unwrap();
    check(&schema, &rule("10.0.0.7", "10.0.0.7"), None).unwrap();
    for (start, end) in [
        ("10.0.0.0", "9.255.255.255"),
        ("10.0.0.2", "10.0.0.1"),
        ("255.255.255.255", "0.0.0.0"),
    ] {
        let failed = check(&schema, &rule(start, end), None).unwrap_err();
        assert_eq!(
            failed,
            vec!["startIp must not be after endIp".to_owned()],
            "{start}-{end}"
        );
    }
    // A malformed address is the pattern's business: the rule steps aside instead of erring.
    check(&schema, &rule("10.0.0", "10.0.0.1"), None).unwrap();
}

#[test]
fn database_rule_holds_in_kubernetes_cel() {
    let schema = schema_of("PostgreSQLDatabase");
    let database = obj("PostgreSQLDatabase", database_spec("teamfoo"));
    check(&schema, &database, None).unwrap();
    check(&schema, &database, Some(&database)).unwrap();
    let moved = obj("PostgreSQLDatabase", database_spec("teambar"));
    let failed = check(&schema, &moved, Some(&database)).unwrap_err();
    assert!(
        failed.iter().any(|m| m.contains("serverRef is immutable")),
        "{failed:?}"
    );
}
