//! Clients generated from docs/openapi.json work unmodified: `openapi-python-client` (installed
//! by scripts/test into target/pyclient-venv) generates a Python client, which then drives a
//! provision/bind/unbind/deprovision against the real server. Without the generator this test
//! fails and says how to install it; it never passes silently.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::TempDir;
use pgbroker_app::config::Config;
use pgbroker_app::secret_value::SecretValue;
use pgbroker_app::serve;
use pgbroker_app::store_url::StoreUrl;
use pgbroker_domain::ports::BackendRegistry;
use pgbroker_testkit::backend::TestBackend;
use pgbroker_testkit::pg_database::TestDatabase;

/// Names the generator executable; default: target/pyclient-venv/bin/openapi-python-client.
const GENERATOR_VAR: &str = "PGBROKER_OPENAPI_PYTHON_CLIENT";

const CATALOG: &str = "
services:
  - id: svc-py
    name: postgresql
    description: test service
    plans:
      - {id: plan-py, name: small, description: asynchronous test plan, backend: async}
";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn generator() -> PathBuf {
    let path = std::env::var_os(GENERATOR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/pyclient-venv/bin/openapi-python-client"));
    assert!(
        path.is_file(),
        "openapi-python-client not found at {} : run scripts/test (it installs it), or \
         `python3 -m venv target/pyclient-venv && target/pyclient-venv/bin/pip install openapi-python-client`, \
         or set {GENERATOR_VAR}",
        path.display()
    );
    path
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{command:?} failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_python_client_drives_the_lifecycle() {
    let generator = generator();
    let python = generator.with_file_name("python");
    let dir = TempDir::new();
    run(Command::new(&generator)
        .current_dir(dir.path())
        .args([
            "generate",
            "--meta",
            "none",
            "--output-path",
            "pgbroker_client",
            "--path",
        ])
        .arg(workspace().join("docs/openapi.json")));

    let db = TestDatabase::create().await.unwrap();
    let mut config = Config::default();
    config.state_store.url = StoreUrl::new(db.url());
    config.catalog.path = Some(dir.file("catalog.yaml", CATALOG));
    config.server.listen = "127.0.0.1:0".into();
    config.engine.poll_interval_ms = 10;
    config.auth.bearer_tokens = vec![SecretValue::Inline("py-client-token".into())];
    let backends = BackendRegistry::new().with("async", Arc::new(TestBackend::asynchronous()));
    let server = serve::start(&config, Some(backends)).await.unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/drive_lifecycle.py");
    let base = format!("http://{}", server.addr);
    let dir_path = dir.path().to_path_buf();
    let stdout = tokio::task::spawn_blocking(move || {
        run(Command::new(python)
            .env("PYTHONPATH", &dir_path)
            .arg(script)
            .args([base.as_str(), "py-client-token", "svc-py", "plan-py"]))
    })
    .await
    .unwrap();
    assert!(stdout.contains("lifecycle ok"), "{stdout}");
    server.shutdown().await.unwrap();
}
