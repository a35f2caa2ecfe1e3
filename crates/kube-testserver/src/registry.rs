//! The resource types the server knows: core v1 built-ins, PodMonitor, and every CRD loaded or created.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

/// Group/version/plural: how a URL names a collection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gvr {
    pub group: String,
    pub version: String,
    pub plural: String,
}

impl Gvr {
    pub fn new(group: &str, version: &str, plural: &str) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            plural: plural.to_owned(),
        }
    }

    /// `clusters.postgresql.cnpg.io` or `secrets` for the core group, as error messages print it.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// Everything the server needs to serve one resource type.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub gvr: Gvr,
    pub kind: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    /// `spec.names.categories` of a CRD (`kubectl get <category>` lists every kind in it).
    pub categories: Vec<String>,
    /// With a status subresource, main-resource writes keep the stored status and `/status` writes
    /// change nothing else.
    pub status_subresource: bool,
    /// Custom resources carry `metadata.generation`, bumped when anything but metadata/status changes.
    pub tracks_generation: bool,
    /// The CRD's `openAPIV3Schema`, validated on every write.
    pub schema: Option<Arc<Value>>,
    /// The CRD's scale subresource: JSON paths of the replica counts and the label selector.
    pub scale: Option<ScaleSpec>,
    /// A CRD's type, served as the apiextensions server serves custom resources: no strategic
    /// merge patch, no update without `metadata.resourceVersion`.
    pub custom: bool,
    /// A PUT of a missing object creates it (the strategy's `AllowCreateOnUpdate`: Leases).
    pub create_on_update: bool,
}

/// Where a scale subresource reads and writes replicas (`.spec.instances` for a CNPG Cluster).
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleSpec {
    pub spec_replicas_path: String,
    pub status_replicas_path: String,
    pub label_selector_path: Option<String>,
}

impl ResourceDef {
    fn builtin(group: &str, kind: &str, plural: &str, namespaced: bool, status: bool) -> Self {
        let version = "v1";
        Self {
            gvr: Gvr::new(group, version, plural),
            kind: kind.to_owned(),
            singular: kind.to_lowercase(),
            namespaced,
            short_names: Vec::new(),
            categories: Vec::new(),
            status_subresource: status,
            tracks_generation: false,
            schema: None,
            scale: None,
            custom: false,
            create_on_update: false,
        }
    }

    /// `Cluster.postgresql.cnpg.io` as used in 422 messages.
    pub fn kind_group(&self) -> String {
        if self.gvr.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.gvr.group)
        }
    }
}

/// The set of served resource types.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    defs: BTreeMap<Gvr, ResourceDef>,
}

pub const CRD_GROUP: &str = "apiextensions.k8s.io";

impl Registry {
    /// Core v1 (namespaces, secrets, services, configmaps, events), events.k8s.io,
    /// rbac.authorization.k8s.io (roles, bindings and their cluster-wide kinds), PodMonitor and the
    /// CRD resource itself (creating a CRD registers its type).
    pub fn with_builtins() -> Self {
        let mut registry = Self::default();
        let mut ns = ResourceDef::builtin("", "Namespace", "namespaces", false, true);
        ns.short_names = vec!["ns".into()];
        registry.insert(ns);
        registry.insert(ResourceDef::builtin("", "Secret", "secrets", true, false));
        let mut svc = ResourceDef::builtin("", "Service", "services", true, true);
        svc.short_names = vec!["svc".into()];
        registry.insert(svc);
        let mut cm = ResourceDef::builtin("", "ConfigMap", "configmaps", true, false);
        cm.short_names = vec!["cm".into()];
        registry.insert(cm);
        registry.insert(ResourceDef::builtin("", "Event", "events", true, false));
        let mut pod = ResourceDef::builtin("", "Pod", "pods", true, true);
        pod.short_names = vec!["po".into()];
        registry.insert(pod);
        let mut pvc = ResourceDef::builtin(
            "",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            true,
            true,
        );
        pvc.short_names = vec!["pvc".into()];
        registry.insert(pvc);
        let mut lease = ResourceDef::builtin("coordination.k8s.io", "Lease", "leases", true, false);
        lease.create_on_update = true;
        registry.insert(lease);
        registry.insert(ResourceDef::builtin(
            "",
            "ServiceAccount",
            "serviceaccounts",
            true,
            false,
        ));
        registry.insert(ResourceDef::builtin(
            "events.k8s.io",
            "Event",
            "events",
            true,
            false,
        ));
        for (kind, plural, namespaced) in [
            ("ClusterRole", "clusterroles", false),
            ("ClusterRoleBinding", "clusterrolebindings", false),
            ("Role", "roles", true),
            ("RoleBinding", "rolebindings", true),
        ] {
            registry.insert(ResourceDef::builtin(
                "rbac.authorization.k8s.io",
                kind,
                plural,
                namespaced,
                false,
            ));
        }
        let mut pod_monitor = ResourceDef::builtin(
            "monitoring.coreos.com",
            "PodMonitor",
            "podmonitors",
            true,
            false,
        );
        // Prometheus Operator's CRD in a real cluster.
        pod_monitor.tracks_generation = true;
        pod_monitor.custom = true;
        registry.insert(pod_monitor);
        let mut crd = ResourceDef::builtin(
            CRD_GROUP,
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            true,
        );
        crd.short_names = vec!["crd".into(), "crds".into()];
        crd.tracks_generation = true;
        registry.insert(crd);
        registry
    }

    pub fn insert(&mut self, def: ResourceDef) {
        self.defs.insert(def.gvr.clone(), def);
    }

    pub fn get(&self, gvr: &Gvr) -> Option<&ResourceDef> {
        self.defs.get(gvr)
    }

    pub fn all(&self) -> impl Iterator<Item = &ResourceDef> {
        self.defs.values()
    }

    /// Finds a type by plural (`clusters`), `plural.group`, kind (`Cluster`) or `Kind.group`.
    pub fn find(&self, name: &str) -> Option<&ResourceDef> {
        self.defs.values().find(|d| {
            let qualified_kind = format!("{}.{}", d.kind, d.gvr.group);
            d.gvr.plural == name
                || d.gvr.qualified() == name
                || d.kind == name
                || qualified_kind == name
        })
    }

    /// Registers every served version of a `CustomResourceDefinition` object.
    pub fn register_crd(&mut self, crd: &Value) -> Result<Vec<Gvr>, String> {
        let spec = crd.get("spec").ok_or("CRD without spec")?;
        let group = str_at(spec, "group").ok_or("CRD without spec.group")?;
        let names = spec.get("names").ok_or("CRD without spec.names")?;
        let plural = str_at(names, "plural").ok_or("CRD without spec.names.plural")?;
        let kind = str_at(names, "kind").ok_or("CRD without spec.names.kind")?;
        let singular = str_at(names, "singular").map_or_else(|| kind.to_lowercase(), str::to_owned);
        let namespaced = str_at(spec, "scope") != Some("Cluster");
        let short_names: Vec<String> = names
            .get("shortNames")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let categories: Vec<String> = names
            .get("categories")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let versions = spec
            .get("versions")
            .and_then(Value::as_array)
            .ok_or("CRD without spec.versions")?;
        let mut registered = Vec::new();
        for version in versions {
            if version.get("served") == Some(&Value::Bool(false)) {
                continue;
            }
            let name = str_at(version, "name").ok_or("CRD version without name")?;
            let schema = version
                .pointer("/schema/openAPIV3Schema")
                .cloned()
                .map(Arc::new);
            let status_subresource = version.pointer("/subresources/status").is_some();
            let scale = version.pointer("/subresources/scale").map(|scale| {
                let path = |k: &str| scale.get(k).and_then(Value::as_str).map(str::to_owned);
                ScaleSpec {
                    spec_replicas_path: path("specReplicasPath")
                        .unwrap_or_else(|| ".spec.replicas".into()),
                    status_replicas_path: path("statusReplicasPath")
                        .unwrap_or_else(|| ".status.replicas".into()),
                    label_selector_path: path("labelSelectorPath"),
                }
            });
            let def = ResourceDef {
                gvr: Gvr::new(group, name, plural),
                kind: kind.to_owned(),
                singular: singular.clone(),
                namespaced,
                short_names: short_names.clone(),
                categories: categories.clone(),
                status_subresource,
                tracks_generation: true,
                schema,
                scale,
                custom: true,
                create_on_update: false,
            };
            registered.push(def.gvr.clone());
            self.insert(def);
        }
        Ok(registered)
    }

    /// `APIResourceList` for one group/version (discovery).
    pub fn resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let defs: Vec<&ResourceDef> = self
            .defs
            .values()
            .filter(|d| d.gvr.group == group && d.gvr.version == version)
            .collect();
        if defs.is_empty() {
            return None;
        }
        let verbs = [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        let mut resources = Vec::new();
        for def in defs {
            let mut resource = json!({
                "name": def.gvr.plural,
                "singularName": def.singular,
                "namespaced": def.namespaced,
                "kind": def.kind,
                "verbs": verbs,
                "shortNames": def.short_names,
            });
            if !def.categories.is_empty() {
                resource["categories"] = json!(def.categories);
            }
            resources.push(resource);
            if def.status_subresource {
                resources.push(json!({
                    "name": format!("{}/status", def.gvr.plural),
                    "singularName": "",
                    "namespaced": def.namespaced,
                    "kind": def.kind,
                    "verbs": ["get", "patch", "update"],
                }));
            }
            if def.scale.is_some() {
                resources.push(json!({
                    "name": format!("{}/scale", def.gvr.plural),
                    "singularName": "",
                    "namespaced": def.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": ["get", "patch", "update"],
                }));
            }
        }
        let group_version = Gvr::new(group, version, "").api_version();
        Some(json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        }))
    }

    /// Aggregated discovery (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`): the core group for
    /// `/api`, every named group for `/apis`.
    pub fn aggregated_discovery(&self, core: bool) -> Value {
        let mut groups: BTreeMap<&str, BTreeMap<&str, Vec<&ResourceDef>>> = BTreeMap::new();
        for def in self
            .defs
            .values()
            .filter(|d| d.gvr.group.is_empty() == core)
        {
            groups
                .entry(&def.gvr.group)
                .or_default()
                .entry(&def.gvr.version)
                .or_default()
                .push(def);
        }
        let verbs = [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        let items: Vec<Value> = groups
            .into_iter()
            .map(|(group, versions)| {
                let versions: Vec<Value> = versions
                    .into_iter()
                    .map(|(version, defs)| {
                        let resources: Vec<Value> = defs
                            .iter()
                            .map(|d| {
                                let kind = json!({ "group": group, "version": version, "kind": d.kind });
                                let subresources: Vec<Value> = if d.status_subresource {
                                    vec![json!({ "subresource": "status", "responseKind": kind, "verbs": ["get", "patch", "update"] })]
                                } else {
                                    Vec::new()
                                };
                                let mut resource = json!({
                                    "resource": d.gvr.plural,
                                    "responseKind": kind,
                                    "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
                                    "singularResource": d.singular,
                                    "verbs": verbs,
                                    "shortNames": d.short_names,
                                    "subresources": subresources,
                                });
                                if !d.categories.is_empty() {
                                    resource["categories"] = json!(d.categories);
                                }
                                resource
                            })
                            .collect();
                        json!({ "version": version, "resources": resources, "freshness": "Current" })
                    })
                    .collect();
                json!({ "metadata": { "name": group }, "versions": versions })
            })
            .collect();
        json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": items,
        })
    }

    /// `APIGroupList` for `/apis` (every named group).
    pub fn group_list(&self) -> Value {
        let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for def in self.defs.values().filter(|d| !d.gvr.group.is_empty()) {
            let versions = groups.entry(&def.gvr.group).or_default();
            if !versions.contains(&def.gvr.version.as_str()) {
                versions.push(&def.gvr.version);
            }
        }
        let groups: Vec<Value> = groups
            .into_iter()
            .map(|(name, versions)| {
                let list: Vec<Value> = versions
                    .iter()
                    .map(|v| json!({ "groupVersion": format!("{name}/{v}"), "version": v }))
                    .collect();
                let preferred = list.first().cloned().unwrap_or(Value::Null);
                json!({ "name": name, "versions": list, "preferredVersion": preferred })
            })
            .collect();
        json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
    }
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}
