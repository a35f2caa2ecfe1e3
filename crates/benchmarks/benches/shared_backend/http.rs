//! The OSB requests a platform sends for provision+bind and unbind+deprovision, synchronously
//! (no `accepts_incomplete`), as the benchmark's broker sections send them.

use anyhow::bail;
use serde_json::json;

pub const SERVICE: &str = "f3f7eb7c-f181-44e2-8a8e-95fc51e94990";
pub const PLAN: &str = "8918ebda-7ee3-4766-bb57-9e658fcd9689";
pub const PASSWORD: &str = "bench-password";

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        want: u16,
    ) -> anyhow::Result<()> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .basic_auth("bench", Some(PASSWORD))
            .header("X-Broker-API-Version", "2.17");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        // Read to the end, as a platform does (a bind's answer holds the credentials): a
        // response dropped unread leaves its connection unusable for the next request.
        let body = response.bytes().await?;
        if status != want {
            bail!(
                "{method} {path}: {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(())
    }

    pub async fn up(&self, id: &str) -> anyhow::Result<()> {
        let body = json!({
            "service_id": SERVICE, "plan_id": PLAN,
            "organization_guid": "bench-org", "space_guid": "bench-space",
        });
        let instance = format!("/v2/service_instances/{id}");
        self.send(reqwest::Method::PUT, &instance, Some(body.clone()), 201)
            .await?;
        self.send(
            reqwest::Method::PUT,
            &format!("{instance}/service_bindings/app"),
            Some(body),
            201,
        )
        .await
    }

    pub async fn down(&self, id: &str) -> anyhow::Result<()> {
        let ids = format!("service_id={SERVICE}&plan_id={PLAN}");
        let instance = format!("/v2/service_instances/{id}");
        self.send(
            reqwest::Method::DELETE,
            &format!("{instance}/service_bindings/app?{ids}"),
            None,
            200,
        )
        .await?;
        self.send(
            reqwest::Method::DELETE,
            &format!("{instance}?{ids}"),
            None,
            200,
        )
        .await
    }
}
