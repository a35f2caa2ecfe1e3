//! Running the real `pgbroker` binary in integration tests.
#![allow(dead_code)] // each test file uses a different part

pub mod aws;
pub mod azure;
pub mod deploy_rbac;
pub mod deploy_render;
pub mod dev;
pub mod kube;
pub mod logged;
pub mod osb_client;
pub mod otlp_receiver;
pub mod shared_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A `pgbroker` command that sees none of the caller's `PGBROKER_*` or `RUST_LOG` variables.
pub fn pgbroker(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pgbroker"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("PGBROKER_") || key == "RUST_LOG" {
            command.env_remove(key.as_ref());
        }
    }
    command.args(args);
    command
}

/// What a finished command did.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with both outputs unless the command exited 0.
    pub fn success(self) -> Self {
        assert_eq!(self.code, Some(0), "{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn run(command: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command
        .output()
        .unwrap_or_else(|e| panic!("starting pgbroker: {e}"));
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A directory of its own under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("pgbroker-app-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` in the directory and returns its path.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
