//! RBAC's escalation prevention (k8s.io/kubernetes pkg/registry/rbac: the policy-based role and
//! binding storages, `validation.ConfirmNoEscalation` and `Covers`): a user may write a Role or
//! ClusterRole only with permissions it holds itself (or with the `escalate` verb on it), and a
//! binding only to a role whose permissions it holds (or with the `bind` verb on that role);
//! `system:masters` may do either.

use std::collections::BTreeSet;

use serde_json::Value;

use super::rules::{PolicyRule, rules_of};
use super::{Attributes, Rbac, ResourceAttributes, SYSTEM_MASTERS, UserInfo};
use crate::error::ApiError;
use crate::registry::Gvr;
use crate::store::Store;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Checks a write of `object` (the object as it would be stored) to an RBAC resource.
pub fn check(
    rbac: &Rbac,
    store: &Store,
    user: &UserInfo,
    target: &ResourceAttributes,
    object: &Value,
) -> Result<(), ApiError> {
    if target.group != RBAC_GROUP || user.groups.iter().any(|g| g == SYSTEM_MASTERS) {
        return Ok(());
    }
    let name = crate::store::meta::name(object).to_owned();
    let granted = match target.resource.as_str() {
        "roles" | "clusterroles" => {
            let escalate = with_verb(target, "escalate", &target.resource, &name);
            if rbac.authorize(store, user, &escalate).allowed {
                return Ok(());
            }
            rules_of(object)
        }
        "rolebindings" | "clusterrolebindings" => {
            let field = |k: &str| {
                object
                    .pointer(&format!("/roleRef/{k}"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            let role_resource = match field("kind").as_str() {
                "ClusterRole" => "clusterroles",
                "Role" => "roles",
                _ => return Ok(()),
            };
            let bind = with_verb(target, "bind", role_resource, &field("name"));
            if rbac.authorize(store, user, &bind).allowed {
                return Ok(());
            }
            let role_ns = (role_resource == "roles").then_some(target.namespace.as_str());
            let gvr = Gvr::new(RBAC_GROUP, "v1", role_resource);
            match store.get(&gvr, role_ns, &field("name")) {
                Ok(role) => rules_of(&role),
                Err(error) => return Err(forbidden(target, &name, &error.message)),
            }
        }
        _ => return Ok(()),
    };
    let held = super::rules_for(store, user, &target.namespace);
    let missing: Vec<PolicyRule> = atoms(&granted)
        .into_iter()
        .filter(|atom| !held.iter().any(|owner| covers(owner, atom)))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let described: BTreeSet<String> = compact(missing).iter().map(compact_string).collect();
    let groups: Vec<String> = user.groups.iter().map(|g| format!("{g:?}")).collect();
    let message = format!(
        "user \"{}\" (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        groups.join(" "),
        described.into_iter().collect::<Vec<_>>().join("\n")
    );
    Err(forbidden(target, &name, &message))
}

fn with_verb(target: &ResourceAttributes, verb: &str, resource: &str, name: &str) -> Attributes {
    Attributes {
        verb: verb.into(),
        resource: Some(ResourceAttributes {
            group: RBAC_GROUP.into(),
            version: "v1".into(),
            resource: resource.into(),
            subresource: String::new(),
            namespace: target.namespace.clone(),
            name: name.into(),
        }),
        path: String::new(),
    }
}

fn forbidden(target: &ResourceAttributes, name: &str, why: &str) -> ApiError {
    ApiError::forbidden(format!(
        "{}.{RBAC_GROUP} \"{name}\" is forbidden: {why}",
        target.resource
    ))
    .with_details(serde_json::json!({"name": name, "group": RBAC_GROUP, "kind": target.resource}))
}

/// Every rule broken down to one verb, group, resource and name (or one URL and verb).
fn atoms(rules: &[PolicyRule]) -> Vec<PolicyRule> {
    let one = |s: &String| vec![s.clone()];
    let mut out = Vec::new();
    for rule in rules {
        for verb in &rule.verbs {
            for url in &rule.non_resource_urls {
                out.push(PolicyRule {
                    verbs: one(verb),
                    non_resource_urls: one(url),
                    ..PolicyRule::default()
                });
            }
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    let names: Vec<Vec<String>> = if rule.resource_names.is_empty() {
                        vec![Vec::new()]
                    } else {
                        rule.resource_names.iter().map(one).collect()
                    };
                    for names in names {
                        out.push(PolicyRule {
                            verbs: one(verb),
                            api_groups: one(group),
                            resources: one(resource),
                            resource_names: names,
                            non_resource_urls: Vec::new(),
                        });
                    }
                }
            }
        }
    }
    out
}

/// Whether `owner` covers a one-of-each `atom` (`validation.Covers`' `ruleCovers`).
fn covers(owner: &PolicyRule, atom: &PolicyRule) -> bool {
    let has = |list: &[String], wanted: &[String]| {
        list.iter().any(|x| x == "*") || wanted.iter().all(|w| list.contains(w))
    };
    if !has(&owner.verbs, &atom.verbs) {
        return false;
    }
    if let Some(url) = atom.non_resource_urls.first() {
        return owner.non_resource_urls.iter().any(|o| {
            o == "*" || o == url || o.strip_suffix('*').is_some_and(|p| url.starts_with(p))
        });
    }
    let resource_covered = atom.resources.iter().all(|r| {
        owner.resources.iter().any(|o| {
            o == "*"
                || o == r
                || o.strip_prefix("*/")
                    .is_some_and(|sub| r.split_once('/').is_some_and(|(_, s)| s == sub))
        })
    });
    let names_covered = owner.resource_names.is_empty()
        || (!atom.resource_names.is_empty()
            && atom
                .resource_names
                .iter()
                .all(|n| owner.resource_names.contains(n)));
    has(&owner.api_groups, &atom.api_groups) && resource_covered && names_covered
}

/// `validation.CompactRules`: rules of one group, one resource and at most one name merge
/// their verbs.
fn compact(rules: Vec<PolicyRule>) -> Vec<PolicyRule> {
    let mut out: Vec<PolicyRule> = Vec::new();
    for rule in rules {
        let simple = rule.non_resource_urls.is_empty();
        match out.iter_mut().find(|r| {
            simple
                && r.non_resource_urls.is_empty()
                && r.api_groups == rule.api_groups
                && r.resources == rule.resources
                && r.resource_names == rule.resource_names
        }) {
            Some(existing) => existing.verbs.extend(rule.verbs),
            None => out.push(rule),
        }
    }
    out
}

/// `rbacv1helpers.CompactString`: `{APIGroups:["g"], Resources:["r"], Verbs:["get" "list"]}`.
fn compact_string(rule: &PolicyRule) -> String {
    let quoted = |list: &[String]| {
        let items: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
        format!("[{}]", items.join(" "))
    };
    let mut parts = Vec::new();
    for (label, list) in [
        ("APIGroups", &rule.api_groups),
        ("Resources", &rule.resources),
        ("NonResourceURLs", &rule.non_resource_urls),
        ("ResourceNames", &rule.resource_names),
        ("Verbs", &rule.verbs),
    ] {
        if !list.is_empty() {
            parts.push(format!("{label}:{}", quoted(list)));
        }
    }
    format!("{{{}}}", parts.join(", "))
}
