//! The pgbroker binary run the way deploy/'s all-in-one Deployment runs it, short of an image
//! (none can be built here): the test's own build of the binary (the debug build, not the
//! release one the Containerfile makes), the container's arguments, the rendered ConfigMap's
//! files and the Secret's file each in a read-only directory standing for its mount (the paths
//! of the Pod's mounts in the configuration are replaced by those directories), a working
//! directory nobody may write to, writable only the directories standing for the Deployment's
//! writable volumes (the PersistentVolumeClaim with the SQLite file, the `/tmp` emptyDir), as
//! the unprivileged user `nobody` when the test runs as root, and an environment holding only
//! what the Deployment sets (`POD_NAMESPACE`) plus a kubeconfig for the test API server in
//! place of the in-cluster service account, and the listen port, chosen free here because a
//! fixed one collides with tests running beside it. `/readyz` must answer 200: state store,
//! cloudnative-pg backend and operator (leader, watches listed) ready.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::TempDir;
use common::deploy_render::*;
use pgbroker_kube_testserver::TestServer;
use serde_json::Value;

/// Failure guard only: how long the test waits for readiness.
const GIVE_UP: Duration = Duration::from_secs(90);
const NOBODY: u32 = 65534;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn running_as_root() -> bool {
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A directory standing for a mount: read-only (0555, files 0444) or writable by the Pod's user.
fn mount_dir(root: &Path, name: &str, writable: bool, files: &BTreeMap<String, String>) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir(&dir).unwrap();
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        chmod(&path, 0o444);
    }
    if writable {
        if running_as_root() {
            std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
        }
        chmod(&dir, 0o700);
    } else {
        chmod(&dir, 0o555);
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_all_in_one_deployment_runs_read_only_unprivileged_and_gets_ready() {
    let (_, objects) = render("overlays/all-in-one");
    let deployment = one(&objects, "Deployment");
    let namespace = deployment["metadata"]["namespace"].as_str().unwrap();
    let server = TestServer::start_default().await.unwrap();
    server.create_namespace(namespace).unwrap();

    let temp = TempDir::new();
    chmod(temp.path(), 0o755);
    let root = temp.path();
    // Each mount of the Pod, by kind of volume.
    let mut dirs = BTreeMap::new();
    for (path, volume) in mounts(deployment) {
        let name = path.trim_start_matches('/').replace('/', "-");
        let dir = if volume.get("configMap").is_some() {
            mount_dir(root, &name, false, &BTreeMap::new())
        } else if volume.get("secret").is_some() {
            let password = BTreeMap::from([("password".to_string(), "test-password".to_string())]);
            mount_dir(root, &name, false, &password)
        } else {
            assert!(
                volume.get("emptyDir").is_some() || volume.get("persistentVolumeClaim").is_some(),
                "{volume}"
            );
            mount_dir(root, &name, true, &BTreeMap::new())
        };
        dirs.insert(path, dir);
    }
    let config_mount = config_arg(deployment)
        .rsplit_once('/')
        .unwrap()
        .0
        .to_owned();
    let config_dir = dirs[&config_mount].clone();
    chmod(&config_dir, 0o755);
    for (file, text) in config_files(&objects) {
        let path = config_dir.join(&file);
        std::fs::write(&path, remount(&text, &dirs)).unwrap();
        chmod(&path, 0o444);
    }
    chmod(&config_dir, 0o555);
    let kube = root.join("kubeconfig");
    std::fs::write(&kube, common::kube::kubeconfig(&server)).unwrap();
    chmod(&kube, 0o444);
    let workdir = mount_dir(root, "workdir", false, &BTreeMap::new());

    let args: Vec<String> = container(deployment)["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| remount(a.as_str().unwrap(), &dirs))
        .collect();
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_pgbroker"));
    command
        .args(&args)
        .current_dir(&workdir)
        .env_clear()
        .env("POD_NAMESPACE", namespace)
        .env("KUBECONFIG", &kube)
        .env("TMPDIR", &dirs["/tmp"])
        .env("PGBROKER_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if running_as_root() {
        // std drops the supplementary groups too when root sets another uid.
        command.uid(NOBODY).gid(NOBODY);
    }
    let mut child = command.spawn().unwrap();

    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/readyz");
    let ready = tokio::time::timeout(GIVE_UP, async {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Err(format!("pgbroker exited: {status}"));
            }
            if let Ok(response) = http.get(&url).send().await {
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if status == 200 {
                    return Ok(body);
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let body = match ready {
        Ok(Ok(body)) => body,
        Ok(Err(why)) => panic!("{why}\n--- stderr\n{stderr}"),
        Err(_) => panic!("/readyz never answered 200\n--- stderr\n{stderr}"),
    };
    let names: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"operator"), "{body}");
    // It wrote nothing but where the Deployment lets it: the SQLite file is on the volume.
    assert_eq!(std::fs::read_dir(&workdir).unwrap().count(), 0);
    let data = &dirs["/var/lib/pgbroker"];
    assert!(data.join("pgbroker.db").is_file(), "{stderr}");
    if running_as_root() {
        assert_eq!(
            std::fs::metadata(data.join("pgbroker.db")).unwrap().uid(),
            NOBODY
        );
    }
    for dir in dirs.values().chain([&workdir]) {
        chmod(dir, 0o755);
    }
}

#[test]
fn version_prints_the_version_commit_and_what_is_compiled_in() {
    // A configuration file that would fail to load: `version` reads none.
    let dir = TempDir::new();
    let bad = dir.file("bad.yaml", "not_a_key: 1\n");
    let shown = common::run(common::pgbroker(&["version", "--config"]).arg(&bad)).success();
    let lines: Vec<&str> = shown.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("pgbroker {}", env!("CARGO_PKG_VERSION")),
        "{shown}"
    );
    let commit = lines[1].strip_prefix("commit: ").unwrap();
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{shown}"
    );
    assert!(lines[2].starts_with("cargo features: "), "{shown}");
    assert_eq!(
        lines[3], "backends: aws-aurora, aws-rds, azure-flexible, cloudnative-pg, shared-postgres",
        "{shown}"
    );
    assert_eq!(lines[4], "front doors: osb, operator", "{shown}");
}
