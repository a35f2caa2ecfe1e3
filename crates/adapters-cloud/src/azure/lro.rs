//! Long-running operations: ARM answers a PUT, PATCH or DELETE at once and works on; the
//! backend keeps the status URL it was handed and looks there (as often as `Retry-After`
//! says) before anything else, so each step reports ARM's own status while Azure works.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::AzureBackend;
use super::arm::{Answer, Tracked};
use super::error::AzureError;

/// What a long-running operation is doing to a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Work {
    Create,
    Update(String),
    Rotate,
    Firewall(String),
    Configuration(String),
    Tag,
    Delete,
}

impl std::fmt::Display for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Create => f.write_str("creating it"),
            Self::Update(what) => write!(f, "changing {what}"),
            Self::Rotate => f.write_str("rotating the admin password"),
            Self::Firewall(rule) => write!(f, "setting firewall rule {rule}"),
            Self::Configuration(name) => write!(f, "setting server parameter {name}"),
            Self::Tag => f.write_str("tagging it deleted"),
            Self::Delete => f.write_str("deleting it"),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub work: Work,
    pub tracked: Tracked,
}

/// How the operation a server has under way stands.
pub(super) enum Followed {
    /// None is known (none started here, or it ended and was reported).
    Nothing,
    /// Azure still works: a description with ARM's status, and how long to wait.
    Running(String, Option<Duration>),
    /// It succeeded just now.
    Finished(Work),
}

impl AzureBackend {
    /// Keeps the status URL of the operation `answer` started, if it started one.
    pub(super) fn track(&self, server: &str, work: Work, answer: &Answer) {
        if let Some(tracked) = &answer.operation
            && let Ok(mut pending) = self.pending.lock()
        {
            pending.insert(
                server.to_string(),
                Pending {
                    work,
                    tracked: tracked.clone(),
                },
            );
        }
    }

    pub(super) fn untrack(&self, server: &str) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(server);
        }
    }

    /// Looks at the server's operation under way.
    pub(super) async fn follow(&self, server: &str) -> Result<Followed, AzureError> {
        let Some(p) = self
            .pending
            .lock()
            .ok()
            .and_then(|p| p.get(server).cloned())
        else {
            return Ok(Followed::Nothing);
        };
        let doing = format!("flexible server {server}: {}", p.work);
        let arm = self.arm().await?;
        let (url, by_location) = match &p.tracked {
            Tracked::AsyncOperation(url) => (url, false),
            Tracked::Location(url) => (url, true),
        };
        let answer = arm
            .call(
                &format!("{doing}: following the operation"),
                Method::GET,
                url,
                None,
                None,
                self.max_wait(),
            )
            .await;
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                if !e.is_retryable() {
                    self.untrack(server);
                }
                return Err(e);
            }
        };
        let status = if by_location {
            match answer.status {
                202 => "InProgress".to_string(),
                _ => "Succeeded".to_string(),
            }
        } else {
            answer
                .body
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("InProgress")
                .to_string()
        };
        match status.as_str() {
            "Succeeded" => {
                self.untrack(server);
                Ok(Followed::Finished(p.work))
            }
            "Failed" | "Canceled" => {
                self.untrack(server);
                let error = answer.body.get("error").cloned().unwrap_or(Value::Null);
                let field = |k| {
                    error
                        .get(k)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                let code = if field("code").is_empty() {
                    status.clone()
                } else {
                    field("code")
                };
                let e = AzureError::from_response(
                    &format!("{doing}: Azure ended the operation {status}"),
                    if status == "Canceled" { 409 } else { 400 },
                    &code,
                    &field("message"),
                    None,
                );
                Err(e)
            }
            other => Ok(Followed::Running(
                format!("flexible server {server}: {} (ARM status {other})", p.work),
                answer.retry_after,
            )),
        }
    }
}
