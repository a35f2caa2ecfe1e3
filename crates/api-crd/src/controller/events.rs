//! A Kubernetes Event (events.k8s.io/v1) for each transition of an object's status: a new
//! phase or a new `Ready` reason. The reason is the condition's (CamelCase, the domain's
//! `Reason` for failures), the note its message, the action what the phase says the operator
//! was doing. Compared with the status the object had before the reconcile, so a resync that
//! changes nothing publishes nothing. Events are best effort: one that cannot be written is
//! logged and the reconcile goes on.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource, ResourceExt};

use crate::crd::{Phase, PostgreSQLStatus};

use super::FIELD_MANAGER;
use super::status::Report;

/// The API server's limits (`pkg/apis/core/validation/events.go`), in bytes.
const REASON_LIMIT: usize = 128;
const NOTE_LIMIT: usize = 1024;
const INSTANCE_LIMIT: usize = 128;

/// Publishes the transitions; one per operator run.
pub struct Events {
    recorder: Recorder,
    /// The last transition published per object uid: a reconcile that starts from a cache not
    /// yet showing this operator's own status write would otherwise publish it twice.
    published: Mutex<HashMap<String, (Phase, String)>>,
}

impl Events {
    /// Events reported by `pgbroker-operator`, from `instance` (this replica; the controller's
    /// name when `None`).
    pub fn new(client: Client, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance: instance.map(|i| truncated(&i, INSTANCE_LIMIT)),
        };
        Self {
            recorder: Recorder::new(client, reporter),
            published: Mutex::new(HashMap::new()),
        }
    }

    fn published(&self) -> MutexGuard<'_, HashMap<String, (Phase, String)>> {
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes `report` on `obj` when it is a transition from `current`.
    pub(super) async fn transition<K>(
        &self,
        obj: &K,
        current: Option<&PostgreSQLStatus>,
        report: &Report,
    ) where
        K: Resource<DynamicType = ()>,
    {
        if !is_transition(current, report) {
            return;
        }
        let key = (report.phase, report.reason.clone());
        let uid = obj.uid().unwrap_or_default();
        if self.published().get(&uid) == Some(&key) {
            return;
        }
        let reference = obj.object_ref(&());
        match self.recorder.publish(&event(report), &reference).await {
            Ok(()) => {
                self.published().insert(uid, key);
            }
            Err(e) => tracing::warn!(
                object = %obj.name_any(),
                reason = %report.reason,
                error = %e,
                "could not publish an event"
            ),
        }
    }

    /// Drops what is kept of an object that is gone.
    pub(super) fn forget(&self, uid: &str) {
        self.published().remove(uid);
    }
}

/// A new phase or a new reason is a transition; a new message alone is not (an operation's
/// progress text changes while it runs).
pub fn is_transition(current: Option<&PostgreSQLStatus>, report: &Report) -> bool {
    let Some(current) = current else {
        return true;
    };
    let reason = current
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.reason.as_str());
    current.phase != Some(report.phase) || reason != Some(report.reason.as_str())
}

/// What the operator was doing when it reached `phase`.
fn action(phase: Phase) -> &'static str {
    match phase {
        Phase::Pending => "Wait",
        Phase::Provisioning => "Provision",
        Phase::Updating => "Update",
        Phase::Deleting => "Delete",
        Phase::Ready | Phase::Failed => "Reconcile",
    }
}

fn event(report: &Report) -> Event {
    Event {
        type_: if report.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: truncated(&report.reason, REASON_LIMIT),
        note: Some(truncated(&report.message, NOTE_LIMIT)),
        action: action(report.phase).into(),
        secondary: None,
    }
}

/// At most `limit` bytes of `text`, cut at a character boundary.
fn truncated(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use pgbroker_domain::Reason;

    use super::super::status::status_for;
    use super::*;

    #[test]
    fn a_phase_or_reason_change_is_a_transition_a_message_change_is_not() {
        let provisioning = Report::new(Phase::Provisioning, "OperationInProgress", "step 1");
        assert!(is_transition(None, &provisioning));
        let status = status_for(None, Some(1), &provisioning);
        let step2 = Report::new(Phase::Provisioning, "OperationInProgress", "step 2");
        assert!(!is_transition(Some(&status), &step2));
        let binding = Report::new(Phase::Provisioning, "Binding", "making the login");
        assert!(is_transition(Some(&status), &binding));
        let ready = Report::new(Phase::Ready, "Ready", "ready");
        assert!(is_transition(Some(&status), &ready));
    }

    #[test]
    fn failures_are_warnings_and_fit_the_api_servers_limits() {
        let failed = Report::failed(Phase::Failed, Reason::NoFittingPlan, "é".repeat(600));
        let e = event(&failed);
        assert_eq!(e.type_, EventType::Warning);
        assert_eq!(e.reason, "NoFittingPlan");
        assert_eq!(e.action, "Reconcile");
        let note = e.note.unwrap();
        assert!(note.len() <= NOTE_LIMIT && note.len() >= NOTE_LIMIT - 1);
        let waiting = event(&Report::new(Phase::Pending, "ServerNotReady", "waiting"));
        assert_eq!(waiting.type_, EventType::Normal);
        assert_eq!(waiting.action, "Wait");
    }
}
