//! Bearer tokens: each names a ServiceAccount (checked to still exist on every request, as the
//! API server's service-account token authenticator does with `--service-account-lookup`) or a
//! fixed user such as the admin.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::registry::Gvr;
use crate::store::{Store, meta};

/// Who a request comes from (k8s.io/apiserver `user.Info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// `system:serviceaccount:<ns>:<name>` in `system:serviceaccounts`,
    /// `system:serviceaccounts:<ns>` and `system:authenticated`.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self {
            name: service_account_user(namespace, name),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
        }
    }
}

pub(super) fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

#[derive(Debug, Clone)]
enum Holder {
    ServiceAccount { namespace: String, name: String },
    User(UserInfo),
}

/// The tokens the server accepts.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    tokens: Mutex<HashMap<String, Holder>>,
}

impl Tokens {
    /// A new token for the ServiceAccount `namespace/name`.
    pub fn issue_for_service_account(&self, namespace: &str, name: &str) -> String {
        self.insert(Holder::ServiceAccount {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    pub fn issue_for_user(&self, user: UserInfo) -> String {
        self.insert(Holder::User(user))
    }

    fn insert(&self, holder: Holder) -> String {
        let token = format!("kts-{}", uuid::Uuid::new_v4().simple());
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.clone(), holder);
        token
    }

    /// The user of an `Authorization` header value; `None` answers 401. A ServiceAccount's
    /// token stops working once the ServiceAccount is deleted or being deleted.
    pub fn authenticate(&self, store: &Store, authorization: Option<&str>) -> Option<UserInfo> {
        // The bearer-token authenticator takes the scheme in any case.
        let (scheme, token) = authorization?.trim().split_once(' ')?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return None;
        }
        let holder = self
            .tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned()?;
        match holder {
            Holder::User(user) => Some(user),
            Holder::ServiceAccount { namespace, name } => {
                let account = store
                    .get(
                        &Gvr::new("", "v1", "serviceaccounts"),
                        Some(&namespace),
                        &name,
                    )
                    .ok()?;
                (!meta::is_deleting(&account)).then(|| UserInfo::service_account(&namespace, &name))
            }
        }
    }
}
