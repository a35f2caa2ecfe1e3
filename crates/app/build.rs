//! Records what `pgbroker version` prints about the build: the commit (from
//! `PGBROKER_BUILD_COMMIT`, as the Containerfile passes it, else `git rev-parse`, else
//! "unknown") and the Cargo features the binary was built with.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PGBROKER_BUILD_COMMIT");
    // A new commit rewrites the HEAD reflog, so the recorded commit follows it.
    for path in ["HEAD", "logs/HEAD"] {
        if let Some(file) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    let commit = std::env::var("PGBROKER_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=PGBROKER_BUILD_COMMIT={}", commit.trim());

    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| {
            k.strip_prefix("CARGO_FEATURE_")
                .map(|f| f.to_lowercase().replace('_', "-"))
        })
        .collect();
    features.sort();
    println!(
        "cargo:rustc-env=PGBROKER_BUILD_FEATURES={}",
        features.join(",")
    );
}

/// The trimmed output of a successful git command, run in the crate's directory.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    // --git-path answers relative to the working directory: make it absolute for cargo.
    let path = std::path::Path::new(text);
    if args.contains(&"--git-path") && path.is_relative() {
        let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
        return Some(std::path::Path::new(&dir).join(path).display().to_string());
    }
    Some(text.to_string())
}
