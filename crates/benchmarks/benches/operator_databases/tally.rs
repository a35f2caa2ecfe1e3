//! The Kubernetes API requests the operator made during a phase, from the test server's
//! request log, by verb and by resource.

use std::collections::BTreeMap;

use pgbroker_kube_testserver::RequestRecord;

/// Field manager of the bench's own applies, so they are told from the operator's.
pub const BENCH_MANAGER: &str = "operator-bench";

/// Whether the bench itself sent this request: its applies (its field manager) and its
/// deletes of PostgreSQLDatabase objects (the operator never deletes one; it removes its
/// finalizer with a patch).
fn sent_by_bench(r: &RequestRecord) -> bool {
    r.query
        .split('&')
        .any(|kv| kv == format!("fieldManager={BENCH_MANAGER}"))
        || (r.verb == "delete" && r.resource == "postgresqldatabases")
}

pub struct Tally {
    pub total: usize,
    pub by_verb: BTreeMap<String, usize>,
    /// `verb resource[/subresource]`.
    pub by_request: BTreeMap<String, usize>,
    /// Answers other than 2xx (409 conflicts, 404 looks for a Secret not written yet).
    pub not_ok: usize,
    /// The bench's own requests left out of the counts.
    pub bench: usize,
}

impl Tally {
    pub fn of(records: &[RequestRecord]) -> Self {
        let mut tally = Tally {
            total: 0,
            by_verb: BTreeMap::new(),
            by_request: BTreeMap::new(),
            not_ok: 0,
            bench: 0,
        };
        for r in records {
            if sent_by_bench(r) {
                tally.bench += 1;
                continue;
            }
            tally.total += 1;
            *tally.by_verb.entry(r.verb.clone()).or_default() += 1;
            let what = if r.is_non_resource() {
                format!("{} {}", r.verb, r.path)
            } else {
                format!("{} {}", r.verb, r.rbac_resource())
            };
            *tally.by_request.entry(what).or_default() += 1;
            if !(200..300).contains(&r.status) {
                tally.not_ok += 1;
            }
        }
        tally
    }

    /// `get 3.00, patch 4.00, ...` per object.
    pub fn per_object(map: &BTreeMap<String, usize>, objects: usize) -> String {
        map.iter()
            .map(|(k, v)| format!("{k} {:.2}", *v as f64 / objects as f64))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
