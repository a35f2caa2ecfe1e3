//! A small HTTP client for the double's own tests: a token, then ARM calls with it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Arm, CLIENT_ID, CLIENT_SECRET, FLEXIBLE_API_VERSION, RESOURCE_GROUP, SUBSCRIPTION};

pub(crate) struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

pub(crate) fn server_path(name: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{name}"
    )
}

pub(crate) fn create_body() -> Value {
    json!({
        "location": "westeurope",
        "sku": {"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"},
        "tags": {"owner": "pgbroker"},
        "properties": {
            "administratorLogin": "pgbroker",
            "administratorLoginPassword": "Str0ng-Passw0rd",
            "version": "16",
            "createMode": "Create",
            "storage": {"storageSizeGB": 128, "autoGrow": "Disabled"},
            "backup": {"backupRetentionDays": 7, "geoRedundantBackup": "Disabled"},
            "highAvailability": {"mode": "Disabled"},
        },
    })
}

impl Client {
    pub async fn new(arm: &Arm) -> Client {
        let http = reqwest::Client::new();
        let form = format!(
            "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}&scope=https%3A%2F%2Fmanagement.azure.com%2F.default"
        );
        let reply: Value = http
            .post(arm.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = reply["access_token"].as_str().unwrap().to_owned();
        Client {
            http,
            base: arm.endpoint(),
            token,
        }
    }

    /// A call on `path` (relative to the endpoint, or an absolute URL) with the default api-version.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}?api-version={FLEXIBLE_API_VERSION}", self.base)
        };
        self.raw(method, &url, Some(&self.token), body).await
    }

    pub async fn raw(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Polls the Azure-AsyncOperation URL until the operation leaves InProgress; returns the
    /// final status body and how many InProgress answers came first.
    pub async fn wait(&self, accepted: &Answer) -> (Value, usize) {
        let url = accepted
            .header("azure-asyncoperation")
            .expect("an Azure-AsyncOperation header");
        let mut in_progress = 0;
        loop {
            let answer = self.call(Method::GET, &url, None).await;
            assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
            if answer.body["status"] != "InProgress" {
                return (answer.body, in_progress);
            }
            assert!(
                answer.header("retry-after").is_some(),
                "an InProgress poll says when to come back"
            );
            in_progress += 1;
            assert!(in_progress < 50, "the operation never ends");
        }
    }

    pub async fn create_server(&self, name: &str) -> Answer {
        let created = self
            .call(Method::PUT, &server_path(name), Some(create_body()))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let (done, _) = self.wait(&created).await;
        assert_eq!(done["status"], "Succeeded");
        created
    }
}
