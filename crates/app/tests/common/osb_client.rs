//! An OSB platform's requests to a running broker: basic auth, the API version header, JSON in
//! and out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Method;
use serde_json::Value;

#[derive(Clone)]
pub struct OsbClient {
    pub http: reqwest::Client,
    /// `http://host:port`, without a trailing slash.
    pub base: String,
    pub username: String,
    pub password: String,
}

impl OsbClient {
    pub fn new(base: String, username: &str, password: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base,
            username: username.to_string(),
            password: password.to_string(),
        }
    }

    /// Status and JSON body (`Null` when the body is not JSON) of `method` on `path`.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.username, Some(&self.password))
            .header("X-Broker-API-Version", "2.17");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}
