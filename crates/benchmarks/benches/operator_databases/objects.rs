//! The bench's side of the Kubernetes API: applying and deleting the objects as a user would
//! (server-side apply, all at once), and watching for their readiness in the test server's
//! store directly, so that the bench's own looks are not among the requests counted.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::bail;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use pgbroker_api_crd::{PostgreSQLDatabase, PostgreSQLServer};
use pgbroker_kube_testserver::TestServer;
use serde_json::{Value, json};

use crate::tally::BENCH_MANAGER;

pub const NS: &str = "default";
const LOOK_EVERY: Duration = Duration::from_millis(10);
/// How often a wait says how far it is (on standard error).
const PROGRESS: Duration = Duration::from_secs(10);

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

pub async fn apply_server(kube: &TestServer, server: &str) -> anyhow::Result<()> {
    let api: Api<PostgreSQLServer> = Api::namespaced(kube.client(), NS);
    let object = json!({
        "apiVersion": "pgbroker.io/v1alpha1", "kind": "PostgreSQLServer",
        "metadata": {"name": server},
        "spec": {"size": {"class": "small", "storageGB": 1}, "credentialsSecret": format!("{server}-db")},
    });
    api.patch(
        server,
        &PatchParams::apply(BENCH_MANAGER),
        &Patch::Apply(object),
    )
    .await?;
    Ok(())
}

/// Applies a PostgreSQLDatabase per name on `server`, all requests at once; each one's
/// Secret is `<name>-db`.
pub async fn apply_databases(
    kube: &TestServer,
    server: &str,
    names: &[String],
) -> anyhow::Result<()> {
    let api: Api<PostgreSQLDatabase> = Api::namespaced(kube.client(), NS);
    let applies = names.iter().map(|db| {
        let api = api.clone();
        let object = json!({
            "apiVersion": "pgbroker.io/v1alpha1", "kind": "PostgreSQLDatabase",
            "metadata": {"name": db},
            "spec": {"serverRef": {"name": server}, "credentialsSecret": format!("{db}-db")},
        });
        async move {
            api.patch(
                db,
                &PatchParams::apply(BENCH_MANAGER),
                &Patch::Apply(object),
            )
            .await
        }
    });
    for result in futures::future::join_all(applies).await {
        result?;
    }
    Ok(())
}

pub async fn delete_databases(kube: &TestServer, names: &[String]) -> anyhow::Result<()> {
    let api: Api<PostgreSQLDatabase> = Api::namespaced(kube.client(), NS);
    let deletes = names.iter().map(|db| {
        let api = api.clone();
        async move { api.delete(db, &DeleteParams::default()).await }
    });
    for result in futures::future::join_all(deletes).await {
        result?;
    }
    Ok(())
}

pub async fn delete_server(kube: &TestServer, server: &str) -> anyhow::Result<()> {
    let api: Api<PostgreSQLServer> = Api::namespaced(kube.client(), NS);
    api.delete(server, &DeleteParams::default()).await?;
    Ok(())
}

/// Secrets in the namespace, by name.
fn secrets(kube: &TestServer) -> BTreeSet<String> {
    kube.objects("secrets")
        .iter()
        .filter(|s| s["metadata"]["namespace"] == NS)
        .map(|s| name(s).to_string())
        .collect()
}

/// Waits until every object of `resource` named in `names` is Ready and its Secret
/// `<name>-db` exists; fails at once on an object reported Failed.
pub async fn until_ready(
    kube: &TestServer,
    resource: &str,
    names: &[String],
    give_up: Duration,
) -> anyhow::Result<()> {
    let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let start = Instant::now();
    let mut next_note = PROGRESS;
    loop {
        let objects = kube.objects(resource);
        let secrets = secrets(kube);
        let mut ready = 0;
        for object in objects.iter().filter(|o| wanted.contains(name(o))) {
            match object["status"]["phase"].as_str() {
                Some("Ready") if secrets.contains(&format!("{}-db", name(object))) => ready += 1,
                Some("Failed") => bail!(
                    "{resource} {} failed: {}",
                    name(object),
                    object["status"]["conditions"][0]["message"]
                ),
                _ => {}
            }
        }
        if ready == wanted.len() {
            return Ok(());
        }
        if start.elapsed() > give_up {
            bail!(
                "{resource}: {ready} of {} Ready after {give_up:?}",
                wanted.len()
            );
        }
        if start.elapsed() > next_note {
            // The shape of a slow run: how many were Ready when.
            eprintln!(
                "  {resource}: {ready} of {} Ready after {:.0} s",
                wanted.len(),
                start.elapsed().as_secs_f64()
            );
            next_note += PROGRESS;
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// Waits until no object of `resource` named in `names` is left (finalizers done) and
/// neither is its Secret.
pub async fn until_gone(
    kube: &TestServer,
    resource: &str,
    names: &[String],
    give_up: Duration,
) -> anyhow::Result<()> {
    let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let start = Instant::now();
    loop {
        let left = kube
            .objects(resource)
            .iter()
            .filter(|o| wanted.contains(name(o)))
            .count();
        let secrets = secrets(kube);
        let secrets_left = names
            .iter()
            .filter(|n| secrets.contains(&format!("{n}-db")))
            .count();
        if left == 0 && secrets_left == 0 {
            return Ok(());
        }
        if start.elapsed() > give_up {
            bail!("{resource}: {left} objects and {secrets_left} Secrets left after {give_up:?}");
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}
