//! The `pgbroker dev` process as the tests drive it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{TempDir, pgbroker};

/// The running `pgbroker dev`; sent SIGTERM when dropped, so a failing test leaves nothing behind.
pub struct Dev {
    child: Child,
    pub banner: Vec<String>,
    _home: TempDir,
}

impl Dev {
    pub fn start(extra: &[&str]) -> Self {
        Self::start_in(&std::env::temp_dir(), extra)
    }

    /// Runs in `dir`, so no configuration file or state of the caller is picked up.
    pub fn start_in(dir: &Path, extra: &[&str]) -> Self {
        Self::start_with(dir, extra, &[])
    }

    /// Runs in `dir` with no Kubernetes configuration to find (a `HOME` of its own without
    /// `.kube`, `KUBECONFIG` naming a missing file, no in-cluster variables) unless `env` sets one.
    pub fn start_with(dir: &Path, extra: &[&str], env: &[(&str, &OsStr)]) -> Self {
        let home = TempDir::new();
        let mut command = pgbroker(&["dev", "--listen", "127.0.0.1:0"]);
        command
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .env("HOME", home.path())
            .env("KUBECONFIG", home.path().join("no-kubeconfig"));
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .args(extra)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut banner = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let end = line.starts_with("Press Ctrl-C");
            banner.push(line);
            if end {
                break;
            }
        }
        Self {
            child,
            banner,
            _home: home,
        }
    }

    /// The text after `label` on the banner line that has it.
    pub fn value(&self, label: &str) -> String {
        self.banner
            .iter()
            .find_map(|l| {
                l.trim_start()
                    .strip_prefix(label)
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no {label:?} in {:#?}", self.banner))
    }

    pub fn base(&self) -> String {
        self.value("OSB API:")
    }

    pub fn data_dir(&self) -> PathBuf {
        let line = self.value("PostgreSQL:");
        let start = line.find("(data in ").unwrap() + "(data in ".len();
        let end = line[start..].find(')').unwrap() + start;
        PathBuf::from(&line[start..end])
    }

    pub fn pg_port(&self) -> u16 {
        let line = self.value("PostgreSQL:");
        let after = line.split("127.0.0.1:").nth(1).unwrap();
        after.split_whitespace().next().unwrap().parse().unwrap()
    }

    /// Sends SIGTERM and waits for the process to end.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("pgbroker dev did not stop within 30 seconds of SIGTERM");
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}
