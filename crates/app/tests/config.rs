//! `pgbroker config`: layering of file and environment, and secrets kept out of the output.

mod common;

use common::{TempDir, pgbroker, run};
use serde_json::Value;

fn effective(run: &common::Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{run}"))
}

#[test]
fn defaults_are_printed() {
    let out = run(&mut pgbroker(&["config", "--format", "json"])).success();
    let config = effective(&out);
    assert_eq!(
        config["state_store"]["url"],
        "sqlite://pgbroker.db?mode=rwc"
    );
    assert_eq!(config["backends"]["cnpg"]["kind"], "cloudnative-pg");
    assert_eq!(config["backends"]["shared"]["kind"], "shared-postgres");
    assert_eq!(config["log"]["format"], "text");
    assert_eq!(config["log"]["filter"], "info");
    assert_eq!(config["catalog"]["path"], Value::Null);
}

#[test]
fn password_in_the_state_store_url_is_never_printed() {
    let secret = "s3cr3t-Pa55word";
    let url = format!("postgres://broker:{secret}@db.example:5432/pgbroker?password={secret}");
    for format in ["yaml", "json"] {
        let out = run(pgbroker(&["config", "--format", format])
            .env("PGBROKER_STATE_STORE__URL", &url)
            .env("RUST_LOG", "trace"))
        .success();
        assert!(!out.stdout.contains(secret), "{out}");
        assert!(!out.stderr.contains(secret), "{out}");
        assert!(
            out.stdout
                .contains("postgres://broker:***@db.example:5432/pgbroker?password=***"),
            "{out}"
        );
    }
}

#[test]
fn environment_overrides_the_file() {
    let dir = TempDir::new();
    let file = dir.file(
        "pgbroker.toml",
        "[state_store]\nurl = \"sqlite://from-file.db\"\n\n[log]\nformat = \"json\"\nfilter = \"debug\"\n",
    );
    let out = run(pgbroker(&[
        "--config",
        &file.display().to_string(),
        "config",
        "--format",
        "json",
    ])
    .env("PGBROKER_LOG__FILTER", "warn"))
    .success();
    let config = effective(&out);
    assert_eq!(config["state_store"]["url"], "sqlite://from-file.db");
    assert_eq!(config["log"]["format"], "json");
    assert_eq!(config["log"]["filter"], "warn");
}

#[test]
fn unknown_keys_and_missing_files_fail() {
    let out = run(pgbroker(&["config"]).env("PGBROKER_STATE_STORE__URI", "x"));
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("uri"), "{out}");

    let out = run(&mut pgbroker(&[
        "--config",
        "/nonexistent/pgbroker.yaml",
        "config",
    ]));
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("/nonexistent/pgbroker.yaml"), "{out}");
}
