//! Turning a URL path into what it addresses, the way RBAC sees it.

use crate::registry::{Gvr, Registry};

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Version,
    CoreVersions,
    GroupList,
    Group(String),
    ResourceList { group: String, version: String },
    Resource(ResourceTarget),
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceTarget {
    pub gvr: Gvr,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

pub fn parse(path: &str, registry: &Registry) -> Target {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segs.as_slice() {
        ["version"] => Target::Version,
        ["api"] => Target::CoreVersions,
        ["apis"] => Target::GroupList,
        ["apis", group] => Target::Group((*group).to_owned()),
        ["api", version] => Target::ResourceList {
            group: String::new(),
            version: (*version).to_owned(),
        },
        ["apis", group, version] => Target::ResourceList {
            group: (*group).to_owned(),
            version: (*version).to_owned(),
        },
        ["api", version, rest @ ..] => resource("", version, rest, registry),
        ["apis", group, version, rest @ ..] => resource(group, version, rest, registry),
        _ => Target::Unknown,
    }
}

fn resource(group: &str, version: &str, rest: &[&str], registry: &Registry) -> Target {
    let namespaced_plural = |plural: &str| {
        registry
            .get(&Gvr::new(group, version, plural))
            .is_some_and(|d| d.namespaced)
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..] if namespaced_plural(plural) => {
            (Some((*ns).to_owned()), [&[*plural][..], tail].concat())
        }
        _ => (None, rest.to_vec()),
    };
    let own = |s: &&str| (*s).to_owned();
    let (plural, name, subresource) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(own(name)), None),
        [plural, name, sub] => (*plural, Some(own(name)), Some(own(sub))),
        _ => return Target::Unknown,
    };
    Target::Resource(ResourceTarget {
        gvr: Gvr::new(group, version, plural),
        namespace,
        name,
        subresource,
    })
}
