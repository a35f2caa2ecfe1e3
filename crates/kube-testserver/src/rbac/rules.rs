//! Policy rules and how one matches a request (k8s.io/kubernetes pkg/apis/rbac/v1/evaluation_helpers.go:
//! `VerbMatches`, `APIGroupMatches`, `ResourceMatches`, `ResourceNameMatches`,
//! `NonResourceURLMatches`).

use serde_json::Value;

use super::authn::UserInfo;
use super::{Attributes, ResourceAttributes};

/// One entry of a Role's or ClusterRole's `rules`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

impl PolicyRule {
    fn from_json(rule: &Value) -> Self {
        let list = |k: &str| -> Vec<String> {
            rule.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        Self {
            verbs: list("verbs"),
            api_groups: list("apiGroups"),
            resources: list("resources"),
            resource_names: list("resourceNames"),
            non_resource_urls: list("nonResourceURLs"),
        }
    }
}

/// The `rules` of a Role or ClusterRole object.
pub(super) fn rules_of(role: &Value) -> Vec<PolicyRule> {
    role.get("rules")
        .and_then(Value::as_array)
        .map(|rules| rules.iter().map(PolicyRule::from_json).collect())
        .unwrap_or_default()
}

const ALL: &str = "*";

/// Whether `rule` allows the request (RBAC's `RuleAllows`).
pub fn rule_allows(attributes: &Attributes, rule: &PolicyRule) -> bool {
    let verb = rule.verbs.iter().any(|v| v == ALL || *v == attributes.verb);
    match &attributes.resource {
        Some(r) => verb && resource_rule_matches(rule, r),
        None => verb && non_resource_url_matches(rule, &attributes.path),
    }
}

fn resource_rule_matches(rule: &PolicyRule, r: &ResourceAttributes) -> bool {
    let group = rule.api_groups.iter().any(|g| g == ALL || *g == r.group);
    let combined = r.combined();
    let resource = rule.resources.iter().any(|res| {
        res == ALL
            || *res == combined
            // `*/status` matches the status subresource of every resource.
            || (!r.subresource.is_empty()
                && res.strip_prefix("*/") == Some(r.subresource.as_str()))
    });
    // A rule that names resources allows nothing without a name: not create (the name is not
    // known when it is authorized), not deletecollection, not list or watch without a
    // `metadata.name` field selector.
    let name = rule.resource_names.is_empty() || rule.resource_names.contains(&r.name);
    group && resource && name
}

fn non_resource_url_matches(rule: &PolicyRule, path: &str) -> bool {
    rule.non_resource_urls.iter().any(|url| {
        url == ALL
            || url == path
            || url
                .strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix))
    })
}

const DISCOVERY_URLS: [&str; 11] = [
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/healthz",
    "/livez",
    "/openapi",
    "/openapi/*",
    "/readyz",
    "/version",
    "/version/",
];
const PUBLIC_INFO_URLS: [&str; 5] = ["/healthz", "/livez", "/readyz", "/version", "/version/"];

/// The bootstrap policy a real cluster starts with for discovery: `system:discovery` bound to
/// `system:authenticated`, `system:public-info-viewer` to it and to `system:unauthenticated`
/// (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go).
pub(super) fn bootstrap_rules(user: &UserInfo) -> Vec<PolicyRule> {
    let has = |g: &str| user.groups.iter().any(|x| x == g);
    let get = |urls: &[&str]| PolicyRule {
        verbs: vec!["get".into()],
        non_resource_urls: urls.iter().map(|u| (*u).to_owned()).collect(),
        ..PolicyRule::default()
    };
    let mut rules = Vec::new();
    if has("system:authenticated") {
        rules.push(get(&DISCOVERY_URLS));
    }
    if has("system:authenticated") || has("system:unauthenticated") {
        rules.push(get(&PUBLIC_INFO_URLS));
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(verb: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource: Some(ResourceAttributes {
                group: "postgresql.cnpg.io".into(),
                version: "v1".into(),
                resource: resource.into(),
                subresource: sub.into(),
                namespace: "ns".into(),
                name: name.into(),
            }),
            path: String::new(),
        }
    }

    fn rule(verbs: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
        let own = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect();
        PolicyRule {
            verbs: own(verbs),
            api_groups: vec!["postgresql.cnpg.io".into()],
            resources: own(resources),
            resource_names: own(names),
            non_resource_urls: Vec::new(),
        }
    }

    #[test]
    fn subresources_are_their_own_resource_unless_a_wildcard_says_so() {
        let status = attrs("patch", "clusters", "status", "pg");
        assert!(!rule_allows(&status, &rule(&["patch"], &["clusters"], &[])));
        assert!(rule_allows(
            &status,
            &rule(&["patch"], &["clusters/status"], &[])
        ));
        assert!(rule_allows(&status, &rule(&["patch"], &["*/status"], &[])));
        assert!(!rule_allows(&status, &rule(&["patch"], &["*/scale"], &[])));
        assert!(rule_allows(&status, &rule(&["*"], &["*"], &[])));
    }

    #[test]
    fn resource_names_need_a_name() {
        let named = rule(&["get", "list", "create"], &["clusters"], &["pg"]);
        assert!(rule_allows(&attrs("get", "clusters", "", "pg"), &named));
        assert!(!rule_allows(&attrs("get", "clusters", "", "other"), &named));
        assert!(!rule_allows(&attrs("list", "clusters", "", ""), &named));
        assert!(!rule_allows(&attrs("create", "clusters", "", ""), &named));
    }

    #[test]
    fn non_resource_urls_match_exactly_or_by_prefix() {
        let r = PolicyRule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/apis/*".into(), "/version".into()],
            ..PolicyRule::default()
        };
        let at = |path: &str| Attributes {
            verb: "get".into(),
            resource: None,
            path: path.into(),
        };
        assert!(rule_allows(&at("/apis/postgresql.cnpg.io/v1"), &r));
        assert!(rule_allows(&at("/version"), &r));
        assert!(!rule_allows(&at("/version/x"), &r));
        assert!(!rule_allows(&at("/metrics"), &r));
    }
}
