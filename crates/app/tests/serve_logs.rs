//! The `pgbroker serve` binary: every log line of a request carries the platform's request
//! identity, and SIGTERM stops the server gracefully (exit code 0).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::pgbroker;

#[tokio::test]
async fn request_identity_is_in_the_log_lines_and_sigterm_stops_gracefully() {
    let mut child = pgbroker(&["serve"])
        .env("PGBROKER_STATE_STORE__URL", "sqlite::memory:")
        .env("PGBROKER_AUTH__DEV_MODE", "true")
        .env("PGBROKER_SERVER__LISTEN", "127.0.0.1:0")
        .env("PGBROKER_LOG__FILTER", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "the server did not start; log so far:\n{}",
                    lines.join("\n")
                )
            });
        lines.push(line.clone());
        if line.contains("DEV MODE") {
            assert!(line.contains("WARN"), "{line}");
        }
        if line.contains("serving the OSB API") {
            let addr = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("addr="))
                .unwrap()
                .to_string();
            break addr;
        }
    };
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/v2/catalog"))
        .header("X-Broker-API-Version", "2.17")
        .header("X-Broker-API-Request-Identity", "trace-me-7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-broker-api-request-identity"],
        "trace-me-7"
    );

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    let log = lines.join("\n");
    assert!(exit.success(), "exit {exit:?}\n{log}");
    let request_lines: Vec<&String> = lines.iter().filter(|l| l.contains("/v2/catalog")).collect();
    assert!(!request_lines.is_empty(), "{log}");
    for line in request_lines {
        assert!(line.contains("request_identity=trace-me-7"), "{line}");
    }
    assert!(log.contains("termination requested"), "{log}");
    assert!(log.contains("operation engine stopped"), "{log}");
}

/// A backend with no Kubernetes configuration to use: `serve` still starts (the other plans work),
/// warns naming the backend, why and the plans it cannot provision, and `/readyz` says the same.
#[tokio::test]
async fn serve_without_kubernetes_configuration_says_which_plans_cannot_be_provisioned() {
    let home = common::TempDir::new();
    let missing = home.path().join("no-kubeconfig");
    let mut child = pgbroker(&["serve"])
        .current_dir(home.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("HOME", home.path())
        .env("KUBECONFIG", &missing)
        .env("PGBROKER_STATE_STORE__URL", "sqlite::memory:")
        .env("PGBROKER_AUTH__DEV_MODE", "true")
        .env("PGBROKER_SERVER__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stderr).lines();
    let addr = loop {
        let line = reader
            .next()
            .unwrap_or_else(|| panic!("serve ended; log:\n{}", lines.join("\n")))
            .unwrap();
        lines.push(line.clone());
        if let Some(addr) = line
            .contains("serving the OSB API")
            .then(|| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix("addr="))
            })
            .flatten()
        {
            break addr.to_string();
        }
    };
    let log = lines.join("\n");
    let reason = format!(
        "no Kubernetes configuration found (KUBECONFIG {}: no such file; no in-cluster service account: KUBERNETES_SERVICE_HOST not set)",
        missing.display()
    );
    let warning = lines
        .iter()
        .find(|l| l.contains("backend=cnpg"))
        .unwrap_or_else(|| panic!("no start-up line about backend cnpg:\n{log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains(&format!("reason={reason}")), "{warning}");
    assert!(
        warning.contains("plans=dev-small, dev-medium, dev-large of postgresql-dev-db; small, medium, large of postgresql-ha-cluster"),
        "{warning}"
    );

    let http = reqwest::Client::new();
    let ready = http
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let ready: serde_json::Value = ready.json().await.unwrap();
    let cnpg = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "backend:cnpg")
        .unwrap_or_else(|| panic!("{ready}"));
    assert_eq!(cnpg["ok"], false);
    assert!(
        cnpg["error"].as_str().unwrap().ends_with(&reason),
        "{ready}"
    );
    // The catalog is offered whole: the platform's view does not change with the environment.
    let catalog: serde_json::Value = http
        .get(format!("http://{addr}/v2/catalog"))
        .header("X-Broker-API-Version", "2.17")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(catalog["services"].as_array().map(Vec::len), Some(3));

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    // The rest of the log, so the pipe never fills while the process stops.
    let rest: Vec<String> = reader.map_while(Result::ok).collect();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit {exit:?}\n{log}\n{}", rest.join("\n"));
}
