//! A metrics port for the tests: the reconciles the operator reports, counted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use pgbroker_api_crd::controller::{ControllerKind, ReconcileMetrics};

/// Counts the reconciles the operator reports, per kind, and the failed ones by category.
#[derive(Default)]
pub struct Reconciles {
    counts: Mutex<HashMap<&'static str, u64>>,
    errors: Mutex<Vec<(&'static str, &'static str)>>,
}

impl Reconciles {
    pub fn of(&self, kind: ControllerKind) -> u64 {
        self.counts
            .lock()
            .unwrap()
            .get(kind.as_str())
            .copied()
            .unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.counts.lock().unwrap().values().sum()
    }

    pub fn errors(&self) -> Vec<(&'static str, &'static str)> {
        self.errors.lock().unwrap().clone()
    }
}

impl ReconcileMetrics for Reconciles {
    fn reconciled(&self, kind: ControllerKind, _: Duration, error: Option<&'static str>) {
        *self
            .counts
            .lock()
            .unwrap()
            .entry(kind.as_str())
            .or_default() += 1;
        if let Some(reason) = error {
            self.errors.lock().unwrap().push((kind.as_str(), reason));
        }
    }
}
