//! What a server's and a database's reconcile do once their login exists: a password reset if
//! the object asks for one, the credentials into the object's Secret (never into a Secret it
//! does not own), then the reset's label goes.

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::{Resource, ResourceExt};
use pgbroker_domain::{BindingId, Credentials, Instance, Reason};
use serde::de::DeserializeOwned;

use crate::crd::Phase;

use super::reset::{clear, credentials_for_secret};
use super::secret::{Written, secret_data, write};
use super::status::Report;
use super::{Context, Error};

pub enum Delivered {
    /// The Secret holds the credentials: where clients connect and, after a reset, what it did.
    Written {
        endpoint: Option<String>,
        note: Option<String>,
    },
    /// A Secret of that name belongs to someone else: nothing was written.
    Foreign(Report),
    /// A password reset runs: the report says so; look again after this long.
    Resetting(Report, Duration),
}

/// Delivers `credentials` of `obj`'s login (`binding` on `instance`) to its Secret `secret_name`.
pub async fn deliver<K>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    (instance, binding): (&Instance, BindingId),
    credentials: Credentials,
    secret_name: &str,
) -> Result<Delivered, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let (credentials, note) =
        match credentials_for_secret(ctx, api, obj.meta(), instance, binding, credentials).await? {
            Ok(found) => found,
            Err(after) => {
                let r = Report::new(
                    Phase::Updating,
                    "ResettingPassword",
                    "setting a new password",
                );
                return Ok(Delivered::Resetting(r, after));
            }
        };
    let data = secret_data(&credentials);
    let endpoint = match (data.get("host"), data.get("port")) {
        (Some(h), Some(p)) => Some(format!("{h}:{p}")),
        _ => None,
    };
    let secrets: Api<Secret> =
        Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    if write(&secrets, obj, secret_name, data).await? == Written::Foreign {
        return Ok(Delivered::Foreign(Report::failed(
            Phase::Failed,
            Reason::ForeignObject,
            format!(
                "Secret {secret_name} exists and does not belong to this {}; pgbroker does not overwrite it",
                K::kind(&())
            ),
        )));
    }
    if note.is_some() {
        clear(api, obj.meta()).await?;
    }
    Ok(Delivered::Written { endpoint, note })
}
