//! `deploy/` as `kubectl apply -k deploy/` installs it, into the Kubernetes API test server in
//! RBAC mode, and what a run under its ServiceAccount was allowed and refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use pgbroker_kube_testserver::TestServer;
use serde_json::{Value, json};

/// One granted or used permission: API group, resource (`resource/subresource`), verb.
pub type Grant = (String, String, String);

pub fn deploy_file(relative: &str) -> String {
    let path = format!("{}/../../deploy/{relative}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn yaml(relative: &str) -> Value {
    serde_yaml::from_str(&deploy_file(relative)).unwrap()
}

/// The namespace `kubectl apply -k deploy/` installs into.
pub fn deploy_namespace() -> String {
    yaml("kustomization.yaml")["namespace"]
        .as_str()
        .expect("deploy/kustomization.yaml sets a namespace")
        .to_owned()
}

/// The one ServiceAccount a (Cluster)RoleBinding file binds its role to, and the role's name.
pub fn binding(relative: &str) -> ((String, String), String) {
    let binding = yaml(relative);
    let subjects = binding["subjects"].as_array().unwrap();
    assert_eq!(subjects.len(), 1, "{relative}: one subject");
    assert_eq!(subjects[0]["kind"], json!("ServiceAccount"), "{relative}");
    let field = |k: &str| subjects[0][k].as_str().unwrap().to_owned();
    let role = binding["roleRef"]["name"].as_str().unwrap().to_owned();
    ((field("namespace"), field("name")), role)
}

/// Every (group, resource, verb) a Role or ClusterRole file grants; `kind` is checked.
pub fn grants(relative: &str, kind: &str) -> BTreeSet<Grant> {
    let role = yaml(relative);
    assert_eq!(role["kind"], json!(kind), "{relative}");
    let mut grants = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        assert!(
            rule.get("resourceNames").is_none(),
            "{relative}: no rule names objects"
        );
        let s = |v: &Value| v.as_str().unwrap().to_string();
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                for verb in rule["verbs"].as_array().unwrap() {
                    assert!(
                        s(verb) != "*" && s(resource) != "*",
                        "{relative}: no wildcards"
                    );
                    grants.insert((s(group), s(resource), s(verb)));
                }
            }
        }
    }
    grants
}

/// The manifest files (relative to `deploy/`) a kustomization or component lists, without the
/// directories it includes (the operator component's `../../crds`).
pub fn listed_files(dir: &str) -> Vec<String> {
    let kustomization = yaml(&format!("{dir}/kustomization.yaml"));
    kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file.as_str().unwrap())
        .filter(|file| file.ends_with(".yaml"))
        .map(|file| format!("{dir}/{file}"))
        .collect()
}

/// The RBAC files of the components: the ServiceAccount of `deploy/base` and the roles and
/// bindings of `deploy/components/cnpg-backend` and `deploy/components/operator`, the very
/// files the overlays include (crates/app/tests/deploy_manifests.rs checks that).
pub fn rbac_files() -> Vec<String> {
    let mut files = vec![SERVICE_ACCOUNT.to_string()];
    files.extend(listed_files("components/cnpg-backend"));
    files.extend(listed_files("components/operator"));
    files
}

/// pgbroker's ServiceAccount, relative to `deploy/`.
pub const SERVICE_ACCOUNT: &str = "base/serviceaccount.yaml";

/// Installs the RBAC files of both components and the ServiceAccount into the deploy namespace
/// (namespaced objects without one go there, as with `kubectl apply -k`).
pub fn install(server: &TestServer) {
    let namespace = deploy_namespace();
    server.create_namespace(&namespace).unwrap();
    for file in rbac_files() {
        server
            .create_from_yaml(&deploy_file(&file), Some(&namespace))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

/// A resource request the ServiceAccount made, as the authorizer saw it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Check {
    pub grant: Grant,
    pub namespace: String,
    pub name: String,
}

/// What `user` was allowed (resource requests only: discovery is the bootstrap policy's) and
/// what it was refused.
pub fn checks(server: &TestServer, user: &str) -> (BTreeSet<Check>, Vec<Check>) {
    let mut allowed = BTreeSet::new();
    let mut refused = Vec::new();
    for check in server.authorizations() {
        if check.user != user {
            continue;
        }
        let Some(r) = &check.attributes.resource else {
            continue;
        };
        let seen = Check {
            grant: (r.group.clone(), r.combined(), check.attributes.verb.clone()),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
        };
        if check.allowed {
            allowed.insert(seen);
        } else {
            refused.push(seen);
        }
    }
    (allowed, refused)
}
