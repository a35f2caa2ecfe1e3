//! Every overlay of `deploy/` renders with `kubectl kustomize`, each rendered object is valid
//! against the Kubernetes 1.33 schemas (`kubernetes-validate --strict`; the version k8s-openapi
//! is built for), and the pieces that decide whether the Pod runs hold: the image is this
//! version's, the probes and the Service and NetworkPolicy ports are the port the configuration
//! listens on, the ConfigMap's pgbroker.yaml and catalog load with pgbroker's own loader (and an
//! unknown key in it fails), secrets come from Secrets only, the Pod's hardening, and the RBAC
//! is exactly the files the RBAC tests run under.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::deploy_rbac::{self, SERVICE_ACCOUNT};
use common::deploy_render::*;
use common::{TempDir, pgbroker, run};
use serde_json::{Value, json};

/// What each overlay is meant to run.
struct Expected {
    replicas: u64,
    osb: bool,
    operator: bool,
    sqlite: bool,
    components: &'static [&'static str],
}

fn expected(overlay: &str) -> Expected {
    let all_in_one = Expected {
        replicas: 1,
        osb: true,
        operator: true,
        sqlite: true,
        components: &["components/cnpg-backend", "components/operator"],
    };
    match overlay {
        "overlays/all-in-one" | "." => all_in_one,
        "overlays/broker-cnpg" => Expected {
            replicas: 2,
            osb: true,
            operator: false,
            sqlite: false,
            components: &["components/cnpg-backend"],
        },
        "overlays/operator" => Expected {
            replicas: 2,
            osb: false,
            operator: true,
            sqlite: false,
            components: &["components/cnpg-backend", "components/operator"],
        },
        other => panic!("no expectations for {other}"),
    }
}

/// `kubernetes-validate --strict` on the rendered stream against Kubernetes 1.33; kinds without
/// a Kubernetes schema (the PodMonitor of the monitoring component) are only warned about, and
/// must be named here.
fn validate(label: &str, yaml: &str, objects: &[Value]) {
    validate_for(label, yaml, objects, "1.33.0");
}

/// [`validate`] against the schemas of Kubernetes `version`.
fn validate_for(label: &str, yaml: &str, objects: &[Value], version: &str) {
    let dir = TempDir::new();
    let file = dir.file("rendered.yaml", yaml);
    let (out, err) = checked(
        std::process::Command::new(tool("kubernetes-validate"))
            .args(["--strict", "-k", version])
            .arg(&file),
    );
    let passed = out
        .lines()
        .chain(err.lines())
        .filter(|l| l.contains(" passed for resource "));
    let schemaless: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "PodMonitor")
        .collect();
    assert_eq!(
        passed.count() + schemaless.len(),
        objects.len(),
        "{label}: every object validated\n{out}\n{err}"
    );
}

/// `pgbroker config --format json` on `file`, or its failure.
fn pgbroker_config(file: &std::path::Path) -> common::Run {
    run(pgbroker(&["config", "--format", "json", "--config"]).arg(file))
}

/// The ConfigMap's files written as the Pod sees them, paths under the ConfigMap's mount
/// remapped to the temporary directory; answers the config file.
fn write_config(
    dir: &TempDir,
    deployment: &Value,
    files: &BTreeMap<String, String>,
) -> std::path::PathBuf {
    let config_arg = config_arg(deployment);
    let mount = config_arg.rsplit_once('/').unwrap().0.to_owned();
    let dirs = BTreeMap::from([(mount, dir.path().to_path_buf())]);
    for (name, text) in files {
        dir.file(name, &remount(text, &dirs));
    }
    dir.path().join(config_arg.rsplit_once('/').unwrap().1)
}

fn check_config(label: &str, deployment: &Value, objects: &[Value], want: &Expected) -> Value {
    let files = config_files(objects);
    let dir = TempDir::new();
    let file = write_config(&dir, deployment, &files);
    let shown = pgbroker_config(&file).success();
    let config: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(config["osb"]["enabled"], json!(want.osb), "{label}");
    assert_eq!(
        config["operator"]["enabled"],
        json!(want.operator),
        "{label}"
    );
    // The catalog the ConfigMap carries names only configured backends.
    run(pgbroker(&["catalog", "--config"]).arg(&file)).success();

    // pgbroker's loader refuses a key it does not know, at the top and nested, by name.
    let original: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    for path in [vec!["not_a_pgbroker_key"], vec!["server", "listen_port"]] {
        let mut doc = original.clone();
        let mut at = doc.as_mapping_mut().unwrap();
        for key in &path[..path.len() - 1] {
            at = at.get_mut(*key).unwrap().as_mapping_mut().unwrap();
        }
        at.insert(path[path.len() - 1].into(), 1.into());
        let bad = dir.file("bad.yaml", &serde_yaml::to_string(&doc).unwrap());
        let refused = pgbroker_config(&bad);
        assert_ne!(
            refused.code,
            Some(0),
            "{label}: {path:?} accepted\n{refused}"
        );
        assert!(
            refused.stderr.contains(path[path.len() - 1]),
            "{label}: {refused}"
        );
    }
    config
}

fn check_pod(label: &str, deployment: &Value, config: &Value, want: &Expected) {
    let spec = &deployment["spec"]["template"]["spec"];
    let c = container(deployment);
    assert_eq!(
        deployment["spec"]["replicas"],
        json!(want.replicas),
        "{label}"
    );
    assert_eq!(
        c["image"],
        json!(format!("pgbroker:{}", env!("CARGO_PKG_VERSION"))),
        "{label}"
    );

    // Probes, Service and NetworkPolicy all reach the port pgbroker listens on.
    let listen = config["server"]["listen"].as_str().unwrap();
    let port: u64 = listen.rsplit_once(':').unwrap().1.parse().unwrap();
    let ports = c["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 1, "{label}: one port");
    assert_eq!(ports[0]["containerPort"], json!(port), "{label}");
    let name = &ports[0]["name"];
    assert_eq!(
        c["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": name}),
        "{label}"
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": name}),
        "{label}"
    );

    // The kubelet waits for the broker's own grace before it kills the process.
    let grace = config["server"]["shutdown_grace_seconds"].as_u64().unwrap();
    assert_eq!(
        spec["terminationGracePeriodSeconds"],
        json!(grace + 5),
        "{label}"
    );

    // Hardening.
    assert_eq!(
        spec["securityContext"]["runAsNonRoot"],
        json!(true),
        "{label}"
    );
    assert_eq!(
        spec["securityContext"]["seccompProfile"]["type"],
        json!("RuntimeDefault"),
        "{label}"
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], json!(true), "{label}");
    assert_eq!(sc["allowPrivilegeEscalation"], json!(false), "{label}");
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{label}");
    for key in ["requests", "limits"] {
        assert!(c["resources"][key]["memory"].is_string(), "{label}: {key}");
    }

    // Writable only where a volume is; secrets only from Secrets, never a literal value.
    for (path, volume) in mounts(deployment) {
        let writable =
            volume.get("emptyDir").is_some() || volume.get("persistentVolumeClaim").is_some();
        let mount = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == path)
            .unwrap();
        assert!(
            writable || mount["readOnly"] == json!(true),
            "{label}: {path} read-only"
        );
    }
    for env in c["env"].as_array().unwrap() {
        assert!(env.get("value").is_none(), "{label}: {env} inline");
    }
    let store_url_env = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "PGBROKER_STATE_STORE__URL");
    let store = config["state_store"]["url"].as_str().unwrap();
    if want.sqlite {
        assert!(store_url_env.is_none(), "{label}");
        let file = store
            .strip_prefix("sqlite://")
            .unwrap()
            .split('?')
            .next()
            .unwrap();
        let on_claim = mounts(deployment).into_iter().any(|(path, volume)| {
            file.starts_with(&format!("{path}/")) && volume.get("persistentVolumeClaim").is_some()
        });
        assert!(on_claim, "{label}: {file} on a PersistentVolumeClaim");
    } else {
        let from =
            &store_url_env.unwrap_or_else(|| panic!("{label}: no state store URL"))["valueFrom"];
        assert!(from["secretKeyRef"]["name"].is_string(), "{label}: {from}");
    }
    if want.osb {
        let password = &config["auth"]["basic"][0]["password"]["file"];
        let path = password
            .as_str()
            .unwrap_or_else(|| panic!("{label}: OSB password from a file"));
        let secret = mounts(deployment)
            .into_iter()
            .any(|(mount, v)| path.starts_with(&format!("{mount}/")) && v.get("secret").is_some());
        assert!(secret, "{label}: {path} is in a mounted Secret");
    }
}

fn check_service_and_policy(label: &str, objects: &[Value], deployment: &Value) {
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let selects = |selector: &Value| {
        selector
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| &pod_labels[k] == v)
    };
    let port_name = &container(deployment)["ports"][0]["name"];
    let service = one(objects, "Service");
    assert!(selects(&service["spec"]["selector"]), "{label}");
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"], *port_name,
        "{label}"
    );
    let policy = one(objects, "NetworkPolicy");
    assert!(
        selects(&policy["spec"]["podSelector"]["matchLabels"]),
        "{label}"
    );
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]), "{label}");
    assert_eq!(
        policy["spec"]["ingress"],
        json!([{"ports": [{"port": port_name, "protocol": "TCP"}]}]),
        "{label}"
    );
    let pdb = one(objects, "PodDisruptionBudget");
    assert!(selects(&pdb["spec"]["selector"]["matchLabels"]), "{label}");
    assert!(
        of_kind(objects, "Secret").is_empty(),
        "{label}: no Secret in the manifests"
    );
    for monitor in of_kind(objects, "PodMonitor") {
        assert!(
            selects(&monitor["spec"]["selector"]["matchLabels"]),
            "{label}"
        );
        assert_eq!(
            monitor["spec"]["podMetricsEndpoints"],
            json!([{"port": port_name, "path": "/metrics"}]),
            "{label}"
        );
    }
}

/// A manifest as the RBAC tests read it, and as rendered, compared without what kustomize adds
/// (labels, the namespace of namespaced objects).
fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    let metadata = object["metadata"].as_object_mut().unwrap();
    metadata.remove("labels");
    metadata.remove("namespace");
    object
}

const RBAC_KINDS: &[&str] = &[
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
];

fn check_rbac(label: &str, objects: &[Value], want: &Expected) {
    let namespace = deploy_rbac::deploy_namespace();
    let mut files = vec![SERVICE_ACCOUNT.to_string()];
    for component in want.components {
        files.extend(deploy_rbac::listed_files(component));
    }
    let tested: BTreeSet<String> = deploy_rbac::rbac_files().into_iter().collect();
    let expected: BTreeSet<String> = files
        .iter()
        .inspect(|f| assert!(tested.contains(*f), "{f} is not run by an RBAC test"))
        .map(|f| comparable(&deploy_rbac::yaml(f)).to_string())
        .collect();
    let rendered: Vec<&Value> = objects
        .iter()
        .filter(|o| RBAC_KINDS.contains(&o["kind"].as_str().unwrap()))
        .collect();
    let got: BTreeSet<String> = rendered.iter().map(|o| comparable(o).to_string()).collect();
    assert_eq!(got, expected, "{label}: RBAC is exactly {files:?}");
    for object in rendered {
        let cluster_scoped = object["kind"].as_str().unwrap().starts_with("Cluster");
        if !cluster_scoped {
            assert_eq!(object["metadata"]["namespace"], json!(namespace), "{label}");
        }
        for subject in object["subjects"].as_array().into_iter().flatten() {
            assert_eq!(subject["namespace"], json!(namespace), "{label}: {subject}");
        }
    }
    let crds: BTreeSet<String> = of_kind(objects, "CustomResourceDefinition")
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    let want_crds: BTreeSet<String> = if want.components.contains(&"components/operator") {
        [
            "postgresqldatabases.pgbroker.io",
            "postgresqlservers.pgbroker.io",
        ]
        .map(String::from)
        .into()
    } else {
        BTreeSet::new()
    };
    assert_eq!(crds, want_crds, "{label}");
}

#[test]
fn every_overlay_renders_validates_and_runs_what_it_says() {
    for overlay in OVERLAYS {
        let (yaml, objects) = render(overlay);
        validate(overlay, &yaml, &objects);
        let want = expected(overlay);
        let deployment = one(&objects, "Deployment");
        let config = check_config(overlay, deployment, &objects, &want);
        check_pod(overlay, deployment, &config, &want);
        check_service_and_policy(overlay, &objects, deployment);
        check_rbac(overlay, &objects, &want);
    }
}

/// Renders `overlay` with the optional `components` added, as a user's own kustomization would.
fn render_with(overlay: &str, components: &[&str]) -> (String, Vec<Value>) {
    let dir = TempDir::new();
    // kustomize takes relative paths only: from the temporary directory up to / and down.
    let up = "../".repeat(dir.path().canonicalize().unwrap().components().count() - 1);
    let deploy = format!("{up}{}", deploy_dir().canonicalize().unwrap().display());
    let deploy = deploy.replace("//", "/");
    let components: Vec<String> = components
        .iter()
        .map(|c| format!("{deploy}/components/{c}"))
        .collect();
    dir.file(
        "kustomization.yaml",
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
             resources: [{deploy}/overlays/{overlay}]\ncomponents: [{}]\n",
            components.join(", ")
        ),
    );
    render_dir(dir.path())
}

#[test]
fn the_monitoring_component_scrapes_the_broker_port() {
    let (yaml, objects) = render_with("all-in-one", &["monitoring"]);
    validate("monitoring", &yaml, &objects);
    assert_eq!(of_kind(&objects, "PodMonitor").len(), 1);
    check_service_and_policy("monitoring", &objects, one(&objects, "Deployment"));
}

/// The optional requested-by component (Kubernetes 1.36+): a valid MutatingAdmissionPolicy and
/// its binding that write the annotation the operator reads, on creation and spec changes of
/// both custom resources, and on nothing else (not their status, not other kinds).
#[test]
fn the_requested_by_component_names_the_user_on_both_custom_resources() {
    let (yaml, objects) = render_with("operator", &["requested-by"]);
    validate_for("requested-by", &yaml, &objects, "1.36.0");
    let policy = one(&objects, "MutatingAdmissionPolicy");
    let binding = one(&objects, "MutatingAdmissionPolicyBinding");
    assert_eq!(binding["spec"]["policyName"], policy["metadata"]["name"]);
    let rules = policy["spec"]["matchConstraints"]["resourceRules"]
        .as_array()
        .unwrap();
    assert_eq!(rules.len(), 1, "{policy}");
    let mut plurals: Vec<String> = of_kind(&objects, "CustomResourceDefinition")
        .iter()
        .filter(|crd| crd["spec"]["group"] == "pgbroker.io")
        .map(|crd| crd["spec"]["names"]["plural"].as_str().unwrap().to_owned())
        .collect();
    plurals.sort();
    let mut resources: Vec<String> = rules[0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    resources.sort();
    assert_eq!(resources, plurals, "no subresource, every custom resource");
    assert_eq!(rules[0]["apiGroups"], json!(["pgbroker.io"]));
    assert_eq!(rules[0]["operations"], json!(["CREATE", "UPDATE"]));
    let expression = policy["spec"]["mutations"][0]["applyConfiguration"]["expression"]
        .as_str()
        .unwrap();
    assert!(
        expression.contains(&format!(
            "\"{}\": request.userInfo.username",
            pgbroker_api_crd::controller::REQUESTED_BY
        )),
        "{expression}"
    );
}
