//! The same databases through the OSB API of the same `pgbroker serve`: one instance, a
//! binding per database with the bind parameter `database`, asynchronously
//! (`accepts_incomplete`, as the operator asks), polled until done, then its credentials
//! fetched (what the operator's Secret holds). The broker runs one operation per instance at a
//! time and refuses a bind or unbind while another is in flight (422 `ConcurrencyError`), so
//! a refused request is sent again after the poll interval. Every HTTP request is counted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

pub const SERVICE: &str = "svc-shared";
pub const PLAN: &str = "plan-shared-small";
pub const USER: &str = "bench";
pub const PASSWORD: &str = "bench-password";

pub struct Osb {
    pub http: reqwest::Client,
    pub base: String,
    /// Between two polls of an operation (a platform honours Retry-After, which is longer).
    pub poll: Duration,
    pub give_up: Duration,
    requests: AtomicUsize,
    refused: AtomicUsize,
}

impl Osb {
    pub fn new(base: String, poll: Duration, give_up: Duration) -> Self {
        Self {
            http: reqwest::Client::new(),
            base,
            poll,
            give_up,
            requests: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
        }
    }

    /// HTTP requests sent so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests refused because the instance was busy, so far.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::Relaxed)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .basic_auth(USER, Some(PASSWORD))
            .header("X-Broker-API-Version", "2.17");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// Sends a request that starts an operation on the instance, again every `poll` while
    /// the broker answers that the instance has another operation in flight (422
    /// `ConcurrencyError`: one operation per instance at a time).
    async fn start(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let start = Instant::now();
        loop {
            let (status, answer) = self.send(method.clone(), path, body.clone()).await?;
            if status != 422 || answer["error"] != "ConcurrencyError" {
                return Ok((status, answer));
            }
            self.refused.fetch_add(1, Ordering::Relaxed);
            if start.elapsed() > self.give_up {
                bail!(
                    "{method} {path}: the instance stayed busy for {:?}",
                    self.give_up
                );
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Polls `path` (a last_operation) until the operation has succeeded (or, with `gone_ok`,
    /// the resource is gone: 410).
    async fn until_done(&self, path: &str, gone_ok: bool) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let (status, body) = self.send(reqwest::Method::GET, path, None).await?;
            match (status, body["state"].as_str()) {
                (200, Some("succeeded")) => return Ok(()),
                (410, _) if gone_ok => return Ok(()),
                (200, Some("in progress")) => {}
                _ => bail!("GET {path}: {status} {body}"),
            }
            if start.elapsed() > self.give_up {
                bail!("GET {path}: still in progress after {:?}", self.give_up);
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    fn ids() -> String {
        format!("service_id={SERVICE}&plan_id={PLAN}")
    }

    pub async fn provision(&self, instance: &str) -> anyhow::Result<()> {
        let path = format!("/v2/service_instances/{instance}");
        let body = json!({
            "service_id": SERVICE, "plan_id": PLAN,
            "organization_guid": "bench-org", "space_guid": "bench-space",
        });
        let (status, answer) = self
            .send(
                reqwest::Method::PUT,
                &format!("{path}?accepts_incomplete=true"),
                Some(body),
            )
            .await?;
        match status {
            201 | 200 => Ok(()),
            202 => {
                self.until_done(&format!("{path}/last_operation"), false)
                    .await
            }
            _ => bail!("PUT {path}: {status} {answer}"),
        }
    }

    pub async fn deprovision(&self, instance: &str) -> anyhow::Result<()> {
        let path = format!("/v2/service_instances/{instance}");
        let (status, answer) = self
            .send(
                reqwest::Method::DELETE,
                &format!("{path}?{}&accepts_incomplete=true", Self::ids()),
                None,
            )
            .await?;
        match status {
            200 | 410 => Ok(()),
            202 => {
                let last = format!("{path}/last_operation?{}", Self::ids());
                self.until_done(&last, true).await
            }
            _ => bail!("DELETE {path}: {status} {answer}"),
        }
    }

    /// Binds `binding` with a database of its own named `database`, waits until it is bound
    /// and fetches its credentials.
    pub async fn bind(&self, instance: &str, binding: &str, database: &str) -> anyhow::Result<()> {
        let path = format!("/v2/service_instances/{instance}/service_bindings/{binding}");
        let body = json!({
            "service_id": SERVICE, "plan_id": PLAN,
            "parameters": {"database": database},
        });
        let (status, answer) = self
            .start(
                reqwest::Method::PUT,
                &format!("{path}?accepts_incomplete=true"),
                Some(body),
            )
            .await?;
        let credentials = match status {
            201 | 200 => answer,
            202 => {
                let last = format!("{path}/last_operation?{}", Self::ids());
                self.until_done(&last, false).await?;
                let (status, answer) = self.send(reqwest::Method::GET, &path, None).await?;
                if status != 200 {
                    bail!("GET {path}: {status} {answer}");
                }
                answer
            }
            _ => bail!("PUT {path}: {status} {answer}"),
        };
        if credentials["credentials"]["password"].as_str().is_none() {
            bail!("{path}: bound without credentials");
        }
        Ok(())
    }

    pub async fn unbind(&self, instance: &str, binding: &str) -> anyhow::Result<()> {
        let path = format!("/v2/service_instances/{instance}/service_bindings/{binding}");
        let (status, answer) = self
            .start(
                reqwest::Method::DELETE,
                &format!("{path}?{}&accepts_incomplete=true", Self::ids()),
                None,
            )
            .await?;
        match status {
            200 | 410 => Ok(()),
            202 => {
                let last = format!("{path}/last_operation?{}", Self::ids());
                self.until_done(&last, true).await
            }
            _ => bail!("DELETE {path}: {status} {answer}"),
        }
    }
}
