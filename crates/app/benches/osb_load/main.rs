//! Load benchmark of the OSB API (issue 3): 64 concurrent keep-alive connections on 127.0.0.1
//! against the real server over a PostgreSQL state store, for `GET /v2/catalog`,
//! `last_operation` and `GET binding`, printed next to the limits they are compared with: this
//! machine's `pgbench -S` and a bare axum handler serving the same catalog bytes.
//!
//! Every load comes from another process with the same concurrency: `wrk -t 2 -c 64` for both
//! HTTP servers, `pgbench -j 2 -c 64` for PostgreSQL (its p50/p99 from a second run with `-l`).
//! See docs/benchmarks.md.
//!
//! Run: `cargo bench -p pgbroker-app --bench osb_load` (needs the local PostgreSQL of
//! scripts/test, `pgbench` and `wrk`; `OSB_BENCH_SECONDS` sets each run's length, default 5; `OSB_BENCH_ROUNDS` the rounds, default 3;
//! `OSB_BENCH_POOL` the state store's pool size, default the broker's default).
//! Targets: last_operation ≥ 0.7 × pgbench -S; catalog ≥ 0.8 × bare axum; p99 < 5 ms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod wrk;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use pgbroker_app::config::{BasicAuthConfig, Config};
use pgbroker_app::secret_value::SecretValue;
use pgbroker_app::serve;
use pgbroker_app::store_url::StoreUrl;
use pgbroker_domain::ports::BackendRegistry;
use pgbroker_testkit::backend::TestBackend;
use pgbroker_testkit::pg_database::TestDatabase;

const CONNECTIONS: usize = 64;
/// Load-generator threads: as many as `pgbench -j`.
const THREADS: usize = 2;
const AUTH: &str = "Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ="; // bench:bench-password
/// Instances (each with one binding) the polls spread over, as a platform polls many at once.
const INSTANCES: usize = 256;

const CATALOG: &str = "
services:
  - id: svc-bench
    name: postgresql
    description: benchmark service
    plans:
      - {id: plan-bench, name: small, description: synchronous test plan, backend: sync}
";

struct Pgbench {
    tps: f64,
    latency_ms: f64,
    /// Per-transaction latencies from `pgbench -l`.
    p50: Duration,
    p99: Duration,
}

/// `pgbench -S` with as many clients, on a throwaway database.
async fn pgbench(seconds: u64) -> Option<Pgbench> {
    let db = TestDatabase::create().await.unwrap();
    let base = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"];
    let init = Command::new("pgbench")
        .args(base)
        .args(["-i", "-s", "1", "-q", db.name()])
        .output();
    match init {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            eprintln!(
                "pgbench -i failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        Err(e) => {
            eprintln!("pgbench is not available: {e}");
            return None;
        }
    }
    let run = |extra: &[String]| {
        Command::new("pgbench")
            .args(base)
            .args(["-S", "-n", "-c", &CONNECTIONS.to_string()])
            .args(["-j", &THREADS.to_string(), "-T", &seconds.to_string()])
            .args(extra)
            .arg(db.name())
            .output()
            .ok()
    };
    // Throughput from a run without logging; latencies from a second run logging every
    // transaction, which costs pgbench some throughput.
    let out = run(&[])?;
    let logs = std::env::temp_dir().join(format!("pgbroker-pgbench-{}", db.name()));
    std::fs::create_dir_all(&logs).unwrap();
    let prefix = format!("--log-prefix={}", logs.join("tx").display());
    run(&["-l".to_string(), prefix])?;
    let (p50, p99) = logged_latencies(&logs);
    let _ = std::fs::remove_dir_all(&logs);
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some(Pgbench {
        tps: value("tps = ")?,
        latency_ms: value("latency average = ")?,
        p50,
        p99,
    })
}

/// p50 and p99 of the transaction latencies in pgbench's logs (third field, microseconds).
fn logged_latencies(dir: &std::path::Path) -> (Duration, Duration) {
    let mut micros: Vec<u64> = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        micros.extend(
            text.lines()
                .filter_map(|l| l.split_whitespace().nth(2))
                .filter_map(|v| v.parse::<u64>().ok()),
        );
    }
    assert!(!micros.is_empty(), "pgbench -l logged no transactions");
    micros.sort_unstable();
    let at = |q: f64| {
        Duration::from_micros(micros[((micros.len() as f64 * q) as usize).min(micros.len() - 1)])
    };
    (at(0.50), at(0.99))
}

/// A bare axum server answering the same catalog bytes, with nothing else in the way.
async fn bare_axum(catalog: Bytes) -> SocketAddr {
    let router = axum::Router::new().route(
        "/v2/catalog",
        axum::routing::get(move || {
            let body = catalog.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn osb_request(
    client: &reqwest::Client,
    method: reqwest::Method,
    addr: SocketAddr,
    path: &str,
) -> reqwest::RequestBuilder {
    client
        .request(method, format!("http://{addr}{path}"))
        .header("authorization", AUTH)
        .header("x-broker-api-version", "2.17")
}

async fn put(addr: SocketAddr, path: &str, body: &str) {
    let response = osb_request(&reqwest::Client::new(), reqwest::Method::PUT, addr, path)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{path}");
}

/// wrk blocks its caller for the whole run; the server's runtime keeps its threads meanwhile.
/// Both servers get the same request, credentials and API version included, so that the bare
/// handler's limit includes reading the same bytes (it ignores the headers).
async fn load(addr: SocketAddr, path: &'static str, seconds: u64) -> wrk::Stats {
    let spread = if path.contains(wrk::EACH) {
        INSTANCES
    } else {
        1
    };
    // The credentials of AUTH.
    let headers: &'static [&'static str] = &[
        "Authorization: Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ=",
        "X-Broker-API-Version: 2.17",
    ];
    tokio::task::spawn_blocking(move || {
        // Warm-up: connections, pools and caches, not measured.
        wrk::run(addr, path, spread, headers, CONNECTIONS, THREADS, 1);
        wrk::run(addr, path, spread, headers, CONNECTIONS, THREADS, seconds)
    })
    .await
    .unwrap()
}

/// Each figure's median over the rounds, taken separately.
fn median(stats: Vec<&wrk::Stats>) -> wrk::Stats {
    wrk::Stats {
        rate: median_of(stats.iter().map(|s| s.rate).collect()),
        p50: Duration::from_secs_f64(median_of(
            stats.iter().map(|s| s.p50.as_secs_f64()).collect(),
        )),
        p99: Duration::from_secs_f64(median_of(
            stats.iter().map(|s| s.p99.as_secs_f64()).collect(),
        )),
    }
}

fn median_of(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The 1, 5 and 15 minute load averages: other work on the machine skews every figure.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let seconds: u64 = std::env::var("OSB_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dir = std::env::temp_dir().join(format!("pgbroker-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let catalog_path = dir.join("catalog.yaml");
    std::fs::write(&catalog_path, CATALOG).unwrap();
    let db = TestDatabase::create().await.unwrap();
    let mut config = Config::default();
    config.state_store.url = StoreUrl::new(db.url());
    if let Some(pool) = std::env::var("OSB_BENCH_POOL")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        config.state_store.max_connections = pool;
    }
    config.catalog.path = Some(catalog_path);
    config.server.listen = "127.0.0.1:0".into();
    config.auth.basic = vec![BasicAuthConfig {
        username: "bench".into(),
        password: SecretValue::Inline("bench-password".into()),
    }];
    let backends = BackendRegistry::new().with("sync", Arc::new(TestBackend::synchronous()));
    let server = serve::start(&config, Some(backends)).await.unwrap();
    let addr = server.addr;
    let bind = r#"{"service_id":"svc-bench","plan_id":"plan-bench"}"#;
    let provision = r#"{"service_id":"svc-bench","plan_id":"plan-bench","organization_guid":"org-bench","space_guid":"space-bench"}"#;
    for n in 0..INSTANCES {
        let instance = format!("/v2/service_instances/bench-{n}");
        put(addr, &instance, provision).await;
        put(addr, &format!("{instance}/service_bindings/b-{n}"), bind).await;
    }
    let catalog = osb_request(
        &reqwest::Client::new(),
        reqwest::Method::GET,
        addr,
        "/v2/catalog",
    )
    .send()
    .await
    .unwrap()
    .bytes()
    .await
    .unwrap();

    let rounds: usize = std::env::var("OSB_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    println!(
        "osb_load: {CONNECTIONS} connections, {THREADS} load threads, {seconds} s per run, \
         {rounds} rounds (medians), 127.0.0.1, {} CPUs, polls spread over {INSTANCES} instances \
         and bindings, state store pool of {}; load average \
         before: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        config.state_store.max_connections,
        load_average()
    );
    let bare_addr = bare_axum(catalog).await;
    let runs = [
        ("GET /v2/catalog", "/v2/catalog"),
        (
            "GET last_operation",
            "/v2/service_instances/bench-{n}/last_operation",
        ),
        (
            "GET binding",
            "/v2/service_instances/bench-{n}/service_bindings/b-{n}",
        ),
    ];
    // Each round measures the limits and the endpoints one after the other, so a burst of
    // other work on the machine hits one round of each rather than only one side of a ratio.
    let (mut bares, mut pgbenches, mut results) = (Vec::new(), Vec::new(), Vec::new());
    // The ratios are of runs back to back, in turn limit first and endpoint first, so
    // that the machine changing speed between runs (other work, a noisy neighbour of the VM)
    // moves both sides of a ratio; the verdicts use the median of the rounds' ratios.
    let (mut catalog_ratios, mut last_operation_ratios) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let limit_first = round % 2 == 0;
        let (bare, catalog) = if limit_first {
            let bare = load(bare_addr, "/v2/catalog", seconds).await;
            (bare, load(addr, runs[0].1, seconds).await)
        } else {
            let catalog = load(addr, runs[0].1, seconds).await;
            (load(bare_addr, "/v2/catalog", seconds).await, catalog)
        };
        let (pg, last_operation) = if limit_first {
            let pg = pgbench(seconds).await;
            (pg, load(addr, runs[1].1, seconds).await)
        } else {
            let last_operation = load(addr, runs[1].1, seconds).await;
            (pgbench(seconds).await, last_operation)
        };
        let binding = load(addr, runs[2].1, seconds).await;
        catalog_ratios.push(catalog.rate / bare.rate);
        if let Some(pg) = &pg {
            last_operation_ratios.push(last_operation.rate / pg.tps);
        }
        bares.push(bare);
        pgbenches.extend(pg);
        results.push(vec![catalog, last_operation, binding]);
    }
    let rounds_text = |ratios: &[f64]| {
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        each.join(", ")
    };
    let bare = median(bares.iter().collect());
    let pgbench = (!pgbenches.is_empty()).then(|| Pgbench {
        tps: median_of(pgbenches.iter().map(|p| p.tps).collect()),
        latency_ms: median_of(pgbenches.iter().map(|p| p.latency_ms).collect()),
        p50: Duration::from_secs_f64(median_of(
            pgbenches.iter().map(|p| p.p50.as_secs_f64()).collect(),
        )),
        p99: Duration::from_secs_f64(median_of(
            pgbenches.iter().map(|p| p.p99.as_secs_f64()).collect(),
        )),
    });
    println!("load average after: {}", load_average());
    println!(
        "{:<22} {:>12} {:>10} {:>10}",
        "limit", "req/s", "p50", "p99"
    );
    println!(
        "{:<22} {:>12.0} {:>10} {:>10}",
        "bare axum catalog",
        bare.rate,
        ms(bare.p50),
        ms(bare.p99)
    );
    match &pgbench {
        Some(pg) => println!(
            "{:<22} {:>12.0} {:>10} {:>10}   latency average {:.2} ms",
            "pgbench -S (tps)",
            pg.tps,
            ms(pg.p50),
            ms(pg.p99),
            pg.latency_ms
        ),
        None => println!("{:<22} {:>12}", "pgbench -S (tps)", "unavailable"),
    }
    println!();
    println!(
        "{:<22} {:>12} {:>10} {:>10}   against its target",
        "endpoint", "req/s", "p50", "p99"
    );
    for (i, (name, _)) in runs.iter().enumerate() {
        let stats = median(results.iter().map(|round| &round[i]).collect());
        let verdict = match *name {
            "GET /v2/catalog" => format!(
                "{:.2} x bare axum (target >= 0.8; rounds {}); ",
                median_of(catalog_ratios.clone()),
                rounds_text(&catalog_ratios)
            ),
            "GET last_operation" if !last_operation_ratios.is_empty() => format!(
                "{:.2} x pgbench -S (target >= 0.7; rounds {}); ",
                median_of(last_operation_ratios.clone()),
                rounds_text(&last_operation_ratios)
            ),
            "GET last_operation" => "pgbench unavailable; ".to_string(),
            _ => String::new(),
        };
        let p99 = if stats.p99 < Duration::from_millis(5) {
            "p99 < 5 ms"
        } else {
            "p99 >= 5 ms (target < 5 ms)"
        };
        println!(
            "{:<22} {:>12.0} {:>10} {:>10}   {verdict}{p99}",
            name,
            stats.rate,
            ms(stats.p50),
            ms(stats.p99)
        );
    }
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
