//! `pgbroker catalog`: the embedded default catalog and rejected catalog files.

mod common;

use common::{TempDir, pgbroker, run};
use serde_json::Value;

const KNOWN_PLAN_IDS: [&str; 6] = [
    "22cedd15-900f-4625-9f10-a57f43c64585",
    "de7acc66-412d-41c0-bf3e-763307a86c38",
    "bfefc341-29a1-48e5-a6be-690f44aabbb3",
    "9098f862-fb7e-42b5-9e8c-94c49e231cc3",
    "31aaeae1-4716-4631-b43e-93144e689427",
    "b870dc08-1110-4bf8-ac82-e8a9d2bdd5c7",
];

fn plans_of(catalog: &Value) -> Vec<&Value> {
    catalog["services"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["plans"].as_array().into_iter().flatten())
        .collect()
}

#[test]
fn default_catalog_has_the_known_plans_and_the_shared_service() {
    let out = run(pgbroker(&["catalog", "--format", "json"]).current_dir(TempDir::new().path()))
        .success();
    let catalog: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let plans = plans_of(&catalog);
    for id in KNOWN_PLAN_IDS {
        let plan = plans
            .iter()
            .find(|p| p["id"] == id)
            .unwrap_or_else(|| panic!("plan {id} missing\n{out}"));
        assert_eq!(plan["backend"], "cnpg", "plan {id}");
        assert_eq!(plan["plan_updateable"], true, "plan {id}");
        assert_eq!(plan["bindable"], true, "plan {id}");
        let schema = &plan["schemas"]["instance_create"];
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(
            schema["properties"]["postgres_version"]["enum"],
            serde_json::json!([15, 16, 17, 18])
        );
    }
    let shared = catalog["services"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == "postgresql-shared")
        .unwrap_or_else(|| panic!("no postgresql-shared service\n{out}"));
    let shared_plans = shared["plans"].as_array().map(Vec::len).unwrap_or(0);
    assert!(shared_plans >= 2, "{out}");
    assert!(plans_of(&catalog).len() == 6 + shared_plans, "{out}");
    let small = &shared["plans"][0];
    assert_eq!(small["backend"], "shared");
    assert_eq!(small["settings"]["connection_limit"], 20);
}

#[test]
fn default_output_is_yaml_that_reads_back_as_a_catalog() {
    let dir = TempDir::new();
    let out = run(pgbroker(&["catalog"]).current_dir(dir.path())).success();
    assert!(out.stdout.starts_with("services:\n"), "{out}");
    // What `catalog` prints is itself a valid catalog file.
    let file = dir.file("printed.yaml", &out.stdout);
    let again = run(pgbroker(&["catalog"]).env("PGBROKER_CATALOG__PATH", &file)).success();
    assert_eq!(again.stdout, out.stdout);
}

fn catalog_with(plan_a: &str, plan_b: &str, backend_b: &str) -> String {
    format!(
        "services:
  - id: svc-a
    name: a
    description: Service A
    plans:
      - {{id: {plan_a}, name: one, description: Plan one, backend: cnpg}}
  - id: svc-b
    name: b
    description: Service B
    plans:
      - {{id: {plan_b}, name: one, description: Plan one of b, backend: {backend_b}}}
"
    )
}

#[test]
fn duplicate_plan_id_fails_naming_it() {
    let dir = TempDir::new();
    let file = dir.file(
        "catalog.yaml",
        &catalog_with("plan-dup", "plan-dup", "shared"),
    );
    let out = run(pgbroker(&["catalog"]).env("PGBROKER_CATALOG__PATH", &file));
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    assert!(
        out.stderr
            .contains("plan id plan-dup is used twice (services svc-a and svc-b)"),
        "{out}"
    );
    assert!(out.stderr.contains(&file.display().to_string()), "{out}");
}

#[test]
fn dangling_backend_fails_naming_it() {
    let dir = TempDir::new();
    let file = dir.file("catalog.yaml", &catalog_with("plan-1", "plan-2", "rds"));
    let config = dir.file(
        "pgbroker.yaml",
        &format!("catalog:\n  path: {}\n", file.display()),
    );
    let config = config.display().to_string();
    let out = run(&mut pgbroker(&["--config", &config, "catalog"]));
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains(
            "plan plan-2 names backend \"rds\", which is not configured (configured: cnpg, shared)"
        ),
        "{out}"
    );
    // Configuring the backend makes the same file valid.
    let out = run(pgbroker(&["--config", &config, "catalog"])
        .env("PGBROKER_BACKENDS__RDS__KIND", "shared-postgres")
        .env("PGBROKER_BACKENDS__CNPG__KIND", "cloudnative-pg"));
    assert_eq!(out.code, Some(0), "{out}");
    // An AWS backend builds without calling AWS.
    let out = run(pgbroker(&["--config", &config, "catalog"])
        .env("PGBROKER_BACKENDS__RDS__KIND", "aws-rds")
        .env("PGBROKER_BACKENDS__CNPG__KIND", "cloudnative-pg"));
    assert_eq!(out.code, Some(0), "{out}");
    // The backends are built as `serve` builds them: a kind this build lacks is an error.
    let out = run(pgbroker(&["--config", &config, "catalog"])
        .env("PGBROKER_BACKENDS__RDS__KIND", "mainframe")
        .env("PGBROKER_BACKENDS__CNPG__KIND", "cloudnative-pg"));
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains("backend \"rds\": unknown kind \"mainframe\""),
        "{out}"
    );
    // So are invalid settings, named; and a backend that needs the vault says it has no key.
    let out = run(pgbroker(&["--config", &config, "catalog"])
        .env("PGBROKER_BACKENDS__RDS__KIND", "azure-flexible")
        .env("PGBROKER_BACKENDS__CNPG__KIND", "cloudnative-pg"));
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains(
            "backend \"rds\" (azure-flexible): invalid settings: subscription_id is required"
        ),
        "{out}"
    );
    let out = run(pgbroker(&["--config", &config, "catalog"])
        .env("PGBROKER_BACKENDS__RDS__KIND", "azure-flexible")
        .env("PGBROKER_BACKENDS__RDS__SETTINGS__SUBSCRIPTION_ID", "sub")
        .env("PGBROKER_BACKENDS__RDS__SETTINGS__RESOURCE_GROUP", "rg")
        .env("PGBROKER_BACKENDS__RDS__SETTINGS__LOCATION", "westeurope")
        .env("PGBROKER_BACKENDS__CNPG__KIND", "cloudnative-pg"));
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stderr.contains("state_store.vault_key is not set"),
        "{out}"
    );
}

/// `pgbroker catalog` where no Kubernetes configuration can be found: no `HOME/.kube/config`,
/// `KUBECONFIG` naming a missing file (or `kubeconfig` when given), no in-cluster variables.
fn catalog_without_kubernetes(home: &TempDir, kubeconfig: Option<&std::path::Path>) -> common::Run {
    let missing = home.path().join("no-kubeconfig");
    run(pgbroker(&["catalog"])
        .current_dir(home.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("HOME", home.path())
        .env("KUBECONFIG", kubeconfig.unwrap_or(&missing)))
}

#[test]
fn plans_of_a_backend_without_kubernetes_configuration_are_named() {
    let home = TempDir::new();
    let out = catalog_without_kubernetes(&home, None).success();
    // The catalog is still printed whole: `serve` offers it whole.
    assert!(out.stdout.contains("name: dev-small"), "{out}");
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("backend=cnpg"))
        .unwrap_or_else(|| panic!("no warning about backend cnpg\n{out}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("cannot be provisioned"), "{line}");
    assert!(
        line.contains(&format!(
            "reason=no Kubernetes configuration found (KUBECONFIG {}: no such file; no in-cluster service account: KUBERNETES_SERVICE_HOST not set)",
            home.path().join("no-kubeconfig").display()
        )),
        "{line}"
    );
    assert!(
        line.contains(
            "plans=dev-small, dev-medium, dev-large of postgresql-dev-db; small, medium, large of postgresql-ha-cluster"
        ),
        "{line}"
    );
    // The default shared backend has no servers: its plans are named the same way.
    assert!(
        out.stderr.lines().any(|l| l.contains("backend=shared")
            && l.contains("no servers configured")
            && l.contains("plans=shared-small, shared-medium of postgresql-shared")),
        "{out}"
    );

    // Once a kubeconfig is there, the CNPG plans are no longer reported.
    let kubeconfig = home.file("kubeconfig", "apiVersion: v1\nkind: Config\n");
    let out = catalog_without_kubernetes(&home, Some(&kubeconfig)).success();
    assert!(!out.stderr.contains("backend=cnpg"), "{out}");
}

#[test]
fn unreadable_catalog_file_fails_naming_the_field() {
    let dir = TempDir::new();
    let file = dir.file(
        "catalog.yaml",
        &catalog_with("plan-1", "plan-2", "shared").replace("backend: cnpg", "bakend: cnpg"),
    );
    let out = run(pgbroker(&["catalog"]).env("PGBROKER_CATALOG__PATH", &file));
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("bakend"), "{out}");
}
