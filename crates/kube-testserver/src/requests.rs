//! A log of every request, described the way RBAC sees it, so a test can check a ClusterRole.

use std::sync::Mutex;

/// One API request as an RBAC authorizer would describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    /// get, list, watch, create, update, patch, delete, deletecollection (`get` for discovery).
    pub verb: String,
    /// API group (`""` for core); empty for non-resource URLs.
    pub group: String,
    pub version: String,
    /// Plural resource name; empty for non-resource URLs such as `/api` or `/version`.
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    /// The HTTP status answered (including injected faults).
    pub status: u16,
    /// The W3C `traceparent` header the client sent, if any.
    pub traceparent: Option<String>,
}

impl RequestRecord {
    /// Discovery and `/version` requests (RBAC non-resource URLs).
    pub fn is_non_resource(&self) -> bool {
        self.resource.is_empty()
    }

    /// `resource` or `resource/subresource`, as written in a ClusterRole rule.
    pub fn rbac_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

#[derive(Debug, Default)]
pub struct RequestLog {
    records: Mutex<Vec<RequestRecord>>,
}

impl RequestLog {
    pub fn push(&self, record: RequestRecord) {
        self.lock().push(record);
    }

    pub fn all(&self) -> Vec<RequestRecord> {
        self.lock().clone()
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RequestRecord>> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
