//! ARM paths, matched as ARM matches them: fixed segments case-insensitively, names as given
//! (server names are looked up in lowercase, as ARM treats names case-insensitively).

use super::children::Kind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Token {
        tenant: String,
    },
    AsyncOperation {
        sub: String,
        location: String,
        id: String,
    },
    OperationResult {
        sub: String,
        location: String,
        id: String,
    },
    ServerList {
        sub: String,
        rg: String,
    },
    Server {
        sub: String,
        rg: String,
        name: String,
    },
    Child {
        sub: String,
        rg: String,
        server: String,
        kind: Kind,
        name: Option<String>,
    },
    /// `server: None` is the resource group's scope.
    Locks {
        sub: String,
        rg: String,
        server: Option<String>,
        name: Option<String>,
    },
    Unknown,
}

impl Route {
    pub fn is_lock(&self) -> bool {
        matches!(self, Route::Locks { .. })
    }

    pub fn scope(&self) -> Option<(&str, Option<&str>)> {
        match self {
            Route::AsyncOperation { sub, .. } | Route::OperationResult { sub, .. } => {
                Some((sub, None))
            }
            Route::ServerList { sub, rg }
            | Route::Server { sub, rg, .. }
            | Route::Child { sub, rg, .. }
            | Route::Locks { sub, rg, .. } => Some((sub, Some(rg))),
            Route::Token { .. } | Route::Unknown => None,
        }
    }
}

fn is(segment: &str, word: &str) -> bool {
    segment.eq_ignore_ascii_case(word)
}

pub(crate) fn parse(path: &str) -> Route {
    let s: Vec<&str> = path.trim_matches('/').split('/').collect();
    let owned = |i: usize| s[i].to_owned();
    match s.len() {
        4 if is(s[1], "oauth2") && is(s[2], "v2.0") && is(s[3], "token") => {
            return Route::Token { tenant: owned(0) };
        }
        8 if is(s[0], "subscriptions")
            && is(s[2], "providers")
            && is(s[3], "Microsoft.DBforPostgreSQL")
            && is(s[4], "locations") =>
        {
            let (sub, location, id) = (owned(1), owned(5), owned(7));
            if is(s[6], "azureAsyncOperation") {
                return Route::AsyncOperation { sub, location, id };
            }
            if is(s[6], "operationResults") {
                return Route::OperationResult { sub, location, id };
            }
        }
        _ => {}
    }
    if s.len() < 4 || !is(s[0], "subscriptions") || !is(s[2], "resourceGroups") {
        return Route::Unknown;
    }
    let (sub, rg) = (owned(1), owned(3));
    let rest = &s[4..];
    let lock_tail = |tail: &[&str]| -> Option<Option<String>> {
        match tail {
            [p, ns, l]
                if is(p, "providers") && is(ns, "Microsoft.Authorization") && is(l, "locks") =>
            {
                Some(None)
            }
            [p, ns, l, name]
                if is(p, "providers") && is(ns, "Microsoft.Authorization") && is(l, "locks") =>
            {
                Some(Some((*name).to_owned()))
            }
            _ => None,
        }
    };
    if let Some(name) = lock_tail(rest) {
        return Route::Locks {
            sub,
            rg,
            server: None,
            name,
        };
    }
    if rest.len() < 3
        || !is(rest[0], "providers")
        || !is(rest[1], "Microsoft.DBforPostgreSQL")
        || !is(rest[2], "flexibleServers")
    {
        return Route::Unknown;
    }
    let Some(server) = rest.get(3).map(|n| n.to_ascii_lowercase()) else {
        return Route::ServerList { sub, rg };
    };
    let tail = &rest[4..];
    if tail.is_empty() {
        // Validation sees the name as sent, so an uppercase name is refused on PUT.
        return Route::Server {
            sub,
            rg,
            name: rest[3].to_owned(),
        };
    }
    if let Some(name) = lock_tail(tail) {
        return Route::Locks {
            sub,
            rg,
            server: Some(server),
            name,
        };
    }
    let kind = if is(tail[0], "firewallRules") {
        Kind::FirewallRules
    } else if is(tail[0], "configurations") {
        Kind::Configurations
    } else if is(tail[0], "databases") {
        Kind::Databases
    } else {
        return Route::Unknown;
    };
    match tail.len() {
        1 => Route::Child {
            sub,
            rg,
            server,
            kind,
            name: None,
        },
        2 => Route::Child {
            sub,
            rg,
            server,
            kind,
            name: Some(tail[1].to_owned()),
        },
        _ => Route::Unknown,
    }
}
