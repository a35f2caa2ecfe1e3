//! RBAC mode: bearer tokens name a user (a ServiceAccount, or the admin), and the
//! `rbac.authorization.k8s.io/v1` objects in the store decide each request the way the API
//! server's RBAC authorizer does (k8s.io/kubernetes plugin/pkg/auth/authorizer/rbac/rbac.go and
//! pkg/registry/rbac/validation/rule.go): cluster role bindings first, then the role bindings of
//! the request's namespace; a rule allows when verb, API group, resource (`resource/subresource`
//! for subresources) and, if it lists any, resource name all match.

mod authn;
pub(crate) mod escalation;
mod messages;
mod rules;

use std::sync::{Mutex, PoisonError};

use serde_json::Value;

pub(crate) use authn::Tokens;
pub use authn::UserInfo;
pub use messages::{create_on_update_forbidden, forbidden, unauthorized};
pub use rules::{PolicyRule, rule_allows};

use crate::registry::Gvr;
use crate::store::Store;

/// The group every member of which is allowed everything, before RBAC is asked (the API
/// server's privileged-group authorizer).
pub const SYSTEM_MASTERS: &str = "system:masters";

/// What a request asks to do, as the authorizer sees it (k8s.io/apiserver `authorizer.Attributes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    /// `None` for a non-resource request (`/version`, `/api`, ...).
    pub resource: Option<ResourceAttributes>,
    /// The URL path (what `nonResourceURLs` match).
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceAttributes {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    /// `""` at the cluster scope; a Namespace's own name for requests on a Namespace.
    pub namespace: String,
    /// `""` for collections (a `metadata.name=` field selector names one for list and watch).
    pub name: String,
}

impl ResourceAttributes {
    /// `resource` or `resource/subresource`, as rules name it.
    pub fn combined(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// One authorization check the server made, and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRecord {
    pub user: String,
    pub attributes: Attributes,
    pub allowed: bool,
}

/// The authorizer's answer; `reason` carries the errors met on the way (a binding to a missing
/// role), as RBAC's own reason does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

/// Token map and authorization log of a server in RBAC mode.
#[derive(Debug, Default)]
pub(crate) struct Rbac {
    pub tokens: Tokens,
    log: Mutex<Vec<AuthorizationRecord>>,
}

impl Rbac {
    /// Decides and records one check.
    pub fn authorize(&self, store: &Store, user: &UserInfo, attributes: &Attributes) -> Decision {
        let decision = authorize(store, user, attributes);
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(AuthorizationRecord {
                user: user.name.clone(),
                attributes: attributes.clone(),
                allowed: decision.allowed,
            });
        decision
    }

    pub fn log(&self) -> Vec<AuthorizationRecord> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn clear_log(&self) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

fn gvr(plural: &str) -> Gvr {
    Gvr::new(RBAC_GROUP, "v1", plural)
}

/// The RBAC decision for `user` doing `attributes`, from the policy objects in `store`.
pub fn authorize(store: &Store, user: &UserInfo, attributes: &Attributes) -> Decision {
    if user.groups.iter().any(|g| g == SYSTEM_MASTERS) {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let namespace = attributes
        .resource
        .as_ref()
        .map_or("", |r| r.namespace.as_str());
    let mut allowed = false;
    let errors = visit_rules(store, user, namespace, &mut |rule| {
        allowed = rule_allows(attributes, rule);
        allowed
    });
    let reason = match (allowed, errors.len()) {
        (true, _) | (false, 0) => String::new(),
        (false, 1) => format!("RBAC: {}", errors[0]),
        (false, _) => format!("RBAC: [{}]", errors.join(", ")),
    };
    Decision { allowed, reason }
}

/// Every rule that applies to `user` in `namespace` (`""`: cluster-wide bindings only).
pub fn rules_for(store: &Store, user: &UserInfo, namespace: &str) -> Vec<PolicyRule> {
    let mut rules = Vec::new();
    visit_rules(store, user, namespace, &mut |rule| {
        rules.push(rule.clone());
        false
    });
    rules
}

/// Walks the bootstrap rules, then those of the ClusterRoleBindings, then those of the
/// RoleBindings in `namespace`, until `visitor` answers `true` (RBAC's `VisitRulesFor`);
/// answers the errors met (bindings to missing roles).
fn visit_rules(
    store: &Store,
    user: &UserInfo,
    namespace: &str,
    visitor: &mut dyn FnMut(&PolicyRule) -> bool,
) -> Vec<String> {
    let mut errors = Vec::new();
    if rules::bootstrap_rules(user).iter().any(&mut *visitor) {
        return errors;
    }
    let mut bindings: Vec<(Value, &str)> = store
        .objects_of(&gvr("clusterrolebindings"))
        .into_iter()
        .map(|b| (b, ""))
        .collect();
    if !namespace.is_empty() {
        bindings.extend(
            store
                .objects_of(&gvr("rolebindings"))
                .into_iter()
                .filter(|b| crate::store::meta::meta_str(b, "namespace") == Some(namespace))
                .map(|b| (b, namespace)),
        );
    }
    for (binding, binding_namespace) in bindings {
        if !applies_to(user, &binding, binding_namespace) {
            continue;
        }
        match role_rules(store, &binding, binding_namespace) {
            Ok(rules) => {
                if rules.iter().any(&mut *visitor) {
                    return errors;
                }
            }
            Err(e) => errors.push(e),
        }
    }
    errors
}

/// Whether one of the binding's subjects is `user` (a ServiceAccount subject without a namespace
/// means the binding's own namespace).
fn applies_to(user: &UserInfo, binding: &Value, binding_namespace: &str) -> bool {
    let Some(subjects) = binding.get("subjects").and_then(Value::as_array) else {
        return false;
    };
    subjects.iter().any(|subject| {
        let field = |k: &str| subject.get(k).and_then(Value::as_str).unwrap_or("");
        match field("kind") {
            "User" => field("name") == user.name,
            "Group" => user.groups.iter().any(|g| g == field("name")),
            "ServiceAccount" => {
                let ns = match field("namespace") {
                    "" => binding_namespace,
                    ns => ns,
                };
                !ns.is_empty() && user.name == authn::service_account_user(ns, field("name"))
            }
            _ => false,
        }
    })
}

/// The rules of the role a binding refers to; a missing role is an error, as in RBAC.
fn role_rules(store: &Store, binding: &Value, namespace: &str) -> Result<Vec<PolicyRule>, String> {
    let field = |k: &str| {
        binding
            .pointer(&format!("/roleRef/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let name = field("name");
    let role = match field("kind") {
        "ClusterRole" => store
            .get(&gvr("clusterroles"), None, name)
            .map_err(|_| format!("clusterrole.{RBAC_GROUP} \"{name}\" not found"))?,
        "Role" if !namespace.is_empty() => store
            .get(&gvr("roles"), Some(namespace), name)
            .map_err(|_| format!("role.{RBAC_GROUP} \"{name}\" not found"))?,
        other => return Err(format!("unsupported role reference kind: \"{other}\"")),
    };
    Ok(rules::rules_of(&role))
}
