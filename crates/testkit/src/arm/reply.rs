//! What a handler answers: a reply, or a refusal shaped as ARM shapes its errors
//! (`{"error":{"code","message"}}`, common-types/resource-management/v5/types.json#/definitions/ErrorResponse).

use serde_json::{Value, json};

/// A response before the common headers (request ids, rate-limit counters) are added.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// A request ARM would not carry out. `violation` separates requests a correct client never
/// sends (a malformed body, a missing token, a wrong api-version) from answers a correct client
/// meets and handles (not found, locked, busy): only the first kind goes to `Arm::violations`.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub status: u16,
    pub body: Value,
    pub why: String,
    pub violation: bool,
    pub headers: Vec<(String, String)>,
}

impl Refusal {
    /// A refusal for breaking one of ARM's rules: recorded as a violation.
    pub fn rule(status: u16, code: &str, message: impl Into<String>) -> Refusal {
        let message = message.into();
        Refusal {
            status,
            body: json!({"error": {"code": code, "message": message}}),
            why: format!("{code}: {message}"),
            violation: true,
            headers: Vec::new(),
        }
    }

    /// An answer that depends on the state of things, not on the request's form: not a violation.
    pub fn outcome(status: u16, code: &str, message: impl Into<String>) -> Refusal {
        Refusal {
            violation: false,
            ..Refusal::rule(status, code, message)
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Refusal {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The resource-provider validation failure for a value outside what the spec allows.
    pub fn invalid_value(message: impl Into<String>) -> Refusal {
        Refusal::rule(400, "InvalidParameterValue", message)
    }

    /// A body whose shape does not fit the spec's schema (unknown, read-only or mistyped field).
    pub fn invalid_content(message: impl Into<String>) -> Refusal {
        Refusal::rule(400, "InvalidRequestContent", message)
    }

    pub fn into_reply(self) -> Reply {
        Reply {
            status: self.status,
            headers: self.headers,
            body: Some(self.body),
        }
    }
}

/// ARM's 404 for a tracked resource, with its documented message form.
pub(crate) fn resource_not_found(kind: &str, name: &str) -> Refusal {
    Refusal::outcome(
        404,
        "ResourceNotFound",
        format!(
            "The Resource '{kind}/{name}' under resource group '{}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            super::RESOURCE_GROUP
        ),
    )
}

/// ARM's 404 for a nested resource whose parent does not exist.
pub(crate) fn parent_not_found(server: &str) -> Refusal {
    Refusal::outcome(
        404,
        "ParentResourceNotFound",
        format!(
            "Can not perform requested operation on nested resource. Parent resource '{server}' not found."
        ),
    )
}

/// The flexible server RP's answer while another operation runs on the server.
pub(crate) fn server_busy(server: &str) -> Refusal {
    Refusal::outcome(
        409,
        "ServerBusy",
        format!(
            "Server '{server}' is busy with another operation. Please try your operation later."
        ),
    )
}
