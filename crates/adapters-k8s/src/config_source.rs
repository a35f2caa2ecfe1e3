//! Whether there is a Kubernetes client configuration at all, found the way kube's inference
//! looks for one but without reading it or contacting anything: the difference between "no
//! cluster here" (nothing to retry) and "a cluster that does not answer" (try again).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::settings::Connection;

/// Where the client configuration would come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// Kubeconfig files that exist (from `KUBECONFIG`, else `~/.kube/config`, else the path set).
    Kubeconfig(Vec<PathBuf>),
    /// The pod's service account (`KUBERNETES_SERVICE_HOST` is set).
    InCluster,
}

/// No configuration in any place the connection mode looks; `looked` says where and why not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no Kubernetes configuration found ({looked})")]
pub struct NoConfiguration {
    pub looked: String,
}

/// Looks in the process's environment and files.
pub fn locate(connection: &Connection) -> Result<ConfigSource, NoConfiguration> {
    locate_in(
        connection,
        |name| std::env::var_os(name),
        std::env::home_dir(),
    )
}

/// [`locate`] with the environment given, so it can be tested without changing the process's.
pub fn locate_in(
    connection: &Connection,
    var: impl Fn(&str) -> Option<OsString>,
    home: Option<PathBuf>,
) -> Result<ConfigSource, NoConfiguration> {
    let in_cluster = || {
        var("KUBERNETES_SERVICE_HOST")
            .filter(|v| !v.is_empty())
            .map(|_| ConfigSource::InCluster)
    };
    const NO_SERVICE_ACCOUNT: &str =
        "no in-cluster service account: KUBERNETES_SERVICE_HOST not set";
    match connection {
        Connection::InCluster => in_cluster().ok_or_else(|| NoConfiguration {
            looked: NO_SERVICE_ACCOUNT.to_string(),
        }),
        Connection::Kubeconfig { path, .. } => {
            if path.is_file() {
                Ok(ConfigSource::Kubeconfig(vec![path.clone()]))
            } else {
                Err(NoConfiguration {
                    looked: format!("kubeconfig {}: no such file", path.display()),
                })
            }
        }
        Connection::Infer => {
            // kube reads only the KUBECONFIG files when that variable names any, else the
            // default path; either way it falls back to the in-cluster service account.
            let listed: Vec<PathBuf> = var("KUBECONFIG")
                .map(|v| std::env::split_paths(&v).collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .filter(|p| !p.as_os_str().is_empty())
                .collect();
            let (candidates, where_) = if listed.is_empty() {
                let default = home.map(|h| h.join(".kube").join("config"));
                let text = match &default {
                    Some(path) => format!("KUBECONFIG not set; {}: no such file", path.display()),
                    None => "KUBECONFIG not set; no home directory for ~/.kube/config".to_string(),
                };
                (default.into_iter().collect::<Vec<_>>(), text)
            } else {
                let names = listed
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                let text = format!("KUBECONFIG {names}: no such file");
                (listed, text)
            };
            let present: Vec<PathBuf> = candidates
                .into_iter()
                .filter(|p| Path::is_file(p))
                .collect();
            if !present.is_empty() {
                return Ok(ConfigSource::Kubeconfig(present));
            }
            in_cluster().ok_or_else(|| NoConfiguration {
                looked: format!("{where_}; {NO_SERVICE_ACCOUNT}"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    fn dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "pgbroker-config-source-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(dir.join(".kube")).unwrap_or_else(|e| panic!("{e}"));
        dir
    }

    fn rand_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    }

    #[test]
    fn nothing_anywhere_names_every_place_looked() {
        let home = dir();
        let err = locate_in(&Connection::Infer, env(&[]), Some(home.clone())).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "no Kubernetes configuration found (KUBECONFIG not set; {}: no such file; no in-cluster service account: KUBERNETES_SERVICE_HOST not set)",
                home.join(".kube/config").display()
            )
        );
        let err = locate_in(
            &Connection::Infer,
            env(&[("KUBECONFIG", "/nonexistent/a:/nonexistent/b")]),
            Some(home.clone()),
        )
        .unwrap_err();
        assert!(
            err.looked
                .starts_with("KUBECONFIG /nonexistent/a, /nonexistent/b: no such file; "),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(home);
    }

    #[test]
    fn a_kubeconfig_file_or_the_service_account_is_found() {
        let home = dir();
        let default = home.join(".kube/config");
        std::fs::write(&default, "apiVersion: v1\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            locate_in(&Connection::Infer, env(&[]), Some(home.clone())),
            Ok(ConfigSource::Kubeconfig(vec![default.clone()]))
        );
        // A KUBECONFIG that names only missing files hides ~/.kube/config, as in kube.
        let missing = env(&[("KUBECONFIG", "/nonexistent/a")]);
        assert!(locate_in(&Connection::Infer, missing, Some(home.clone())).is_err());
        let in_pod = env(&[
            ("KUBECONFIG", "/nonexistent/a"),
            ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
        ]);
        assert_eq!(
            locate_in(&Connection::Infer, in_pod, None),
            Ok(ConfigSource::InCluster)
        );
        let explicit = Connection::Kubeconfig {
            path: default.clone(),
            context: None,
        };
        assert!(locate_in(&explicit, env(&[]), None).is_ok());
        let _ = std::fs::remove_dir_all(home);
        assert_eq!(
            locate_in(&explicit, env(&[]), None)
                .unwrap_err()
                .to_string(),
            format!(
                "no Kubernetes configuration found (kubeconfig {}: no such file)",
                default.display()
            )
        );
        assert!(locate_in(&Connection::InCluster, env(&[]), None).is_err());
    }
}
