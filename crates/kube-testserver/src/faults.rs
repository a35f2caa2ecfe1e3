//! Fault injection: the next N requests matching a rule are answered with an error status
//! instead of being served, and open watches can be dropped.

use std::sync::Mutex;

use tokio::sync::watch;

use crate::requests::RequestRecord;

/// Which requests fail, how, and how many times. Unset matchers match everything.
///
/// Note: `kube::Client` retries 429/503/504 by itself (its default retry policy), so a 429 rule
/// must fire more often than the client retries to surface as an error.
#[derive(Debug, Clone)]
pub struct FaultRule {
    pub status: u16,
    pub times: usize,
    pub method: Option<String>,
    pub verb: Option<String>,
    pub resource: Option<String>,
    pub path_contains: Option<String>,
}

impl FaultRule {
    /// Fails the next matching request once with `status` (500, 409, 429, 503, ...).
    pub fn status(status: u16) -> Self {
        Self {
            status,
            times: 1,
            method: None,
            verb: None,
            resource: None,
            path_contains: None,
        }
    }

    pub fn times(mut self, times: usize) -> Self {
        self.times = times;
        self
    }

    /// HTTP method, e.g. `PATCH`.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// RBAC verb, e.g. `create`, `watch`.
    pub fn verb(mut self, verb: &str) -> Self {
        self.verb = Some(verb.to_owned());
        self
    }

    /// Plural resource, e.g. `clusters`.
    pub fn resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.to_owned());
        self
    }

    pub fn path_contains(mut self, fragment: &str) -> Self {
        self.path_contains = Some(fragment.to_owned());
        self
    }

    fn matches(&self, request: &RequestRecord) -> bool {
        self.method.as_ref().is_none_or(|m| *m == request.method)
            && self.verb.as_ref().is_none_or(|v| *v == request.verb)
            && self
                .resource
                .as_ref()
                .is_none_or(|r| *r == request.resource)
            && self
                .path_contains
                .as_ref()
                .is_none_or(|p| request.path.contains(p.as_str()))
    }
}

/// The fault controls of a running server.
#[derive(Debug)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
    drops: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            rules: Mutex::default(),
            drops: watch::channel(0).0,
        }
    }
}

impl Faults {
    pub fn inject(&self, rule: FaultRule) {
        self.lock().push(rule);
    }

    /// Removes every pending rule.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// How many injected failures are still pending.
    pub fn pending(&self) -> usize {
        self.lock().iter().map(|r| r.times).sum()
    }

    /// Ends every open watch stream (clients must re-watch from their last resourceVersion).
    pub fn drop_watches(&self) {
        self.drops.send_modify(|n| *n += 1);
    }

    pub(crate) fn watch_drops(&self) -> watch::Receiver<u64> {
        self.drops.subscribe()
    }

    /// The status to answer instead of serving, consuming one use of the first matching rule.
    pub(crate) fn take(&self, request: &RequestRecord) -> Option<u16> {
        let mut rules = self.lock();
        let index = rules
            .iter()
            .position(|r| r.times > 0 && r.matches(request))?;
        let rule = &mut rules[index];
        rule.times -= 1;
        let status = rule.status;
        if rule.times == 0 {
            rules.remove(index);
        }
        Some(status)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
