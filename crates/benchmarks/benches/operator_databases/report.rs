//! The figures of the rounds, side by side.

use pgbroker_app::config::Config;

use crate::tally::Tally;
use crate::{Knobs, Round};

pub fn print(knobs: &Knobs, config: &Config, rounds: &[Round]) {
    let n = knobs.objects;
    println!(
        "{n} databases on one shared-backend instance, all requests at once; engine concurrency {}, state store {}; OSB polls every {} ms",
        config.engine.concurrency,
        if std::env::var_os("OPERATOR_BENCH_STORE_URL").is_some() {
            "from OPERATOR_BENCH_STORE_URL"
        } else {
            "SQLite file"
        },
        knobs.poll.as_millis(),
    );
    println!(
        "{:<52} {:>10} {:>10} {:>15}",
        "", "operator", "OSB API", "operator ÷ OSB"
    );
    for (i, r) in rounds.iter().enumerate() {
        let first = if i % 2 == 0 {
            "operator first"
        } else {
            "OSB first"
        };
        for (what, op, osb) in [
            ("create, until all Ready (bound)", r.operator_up, r.osb_up),
            ("delete, until all gone", r.operator_down, r.osb_down),
        ] {
            println!(
                "{:<52} {:>8.3} s {:>8.3} s {:>15.2}",
                format!("round {} ({first}): {what}", i + 1),
                op.as_secs_f64(),
                osb.as_secs_f64(),
                op.as_secs_f64() / osb.as_secs_f64(),
            );
        }
    }
    for (i, r) in rounds.iter().enumerate() {
        for (what, tally, osb_requests, (db, srv)) in [
            ("create", &r.up_tally, r.osb_requests_up, r.reconciles_up),
            (
                "delete",
                &r.down_tally,
                r.osb_requests_down,
                r.reconciles_down,
            ),
        ] {
            let Some(t) = tally else { continue };
            println!(
                "round {} {what}, per object: operator {:.2} Kubernetes API requests ({}), {:.2} reconciles of databases and {:.2} of the server; OSB {:.2} HTTP requests ({:.2} refused: instance busy)",
                i + 1,
                t.total as f64 / n as f64,
                Tally::per_object(&t.by_verb, n),
                db / n as f64,
                srv / n as f64,
                osb_requests.0 as f64 / n as f64,
                osb_requests.1 as f64 / n as f64,
            );
            println!(
                "  by request: {}; not 2xx {}, the bench's own {} (not counted)",
                Tally::per_object(&t.by_request, n),
                t.not_ok,
                t.bench
            );
        }
    }
    println!(
        "limit: the same binds through the OSB API of the same server (same broker, backend, engine and state store), polled every {} ms",
        knobs.poll.as_millis()
    );
}
