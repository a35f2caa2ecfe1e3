//! Load benchmark of the OSB API (issue 3): 64 concurrent keep-alive connections on 127.0.0.1
//! against the real server over a PostgreSQL state store, for `GET /v2/catalog`,
//! `last_operation` and `GET binding`, printed next to the limits they are compared with: this
//! machine's `pgbench -S` and a bare axum handler serving the same catalog bytes.
//!
//! Run: `cargo bench -p pgbroker-app --bench osb_load` (needs the local PostgreSQL of
//! scripts/test and `pgbench`; `OSB_BENCH_SECONDS` sets each run's length, default 5).
//! Targets: last_operation ≥ 0.7 × pgbench -S; catalog ≥ 0.8 × bare axum; p99 < 5 ms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use pgbroker_app::config::{BasicAuthConfig, Config};
use pgbroker_app::secret_value::SecretValue;
use pgbroker_app::serve;
use pgbroker_app::store_url::StoreUrl;
use pgbroker_domain::ports::BackendRegistry;
use pgbroker_testkit::backend::TestBackend;
use pgbroker_testkit::pg_database::TestDatabase;

const CONNECTIONS: usize = 64;
const AUTH: &str = "Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ="; // bench:bench-password

const CATALOG: &str = "
services:
  - id: svc-bench
    name: postgresql
    description: benchmark service
    plans:
      - {id: plan-bench, name: small, description: synchronous test plan, backend: sync}
";

struct Stats {
    requests: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

impl Stats {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// One connection sending `path` back to back until `deadline`; returns each request's latency.
async fn connection(
    addr: SocketAddr,
    path: Arc<str>,
    osb: bool,
    deadline: Instant,
) -> Vec<Duration> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let mut request = Request::get(&*path).header("host", "127.0.0.1");
        if osb {
            request = request
                .header("authorization", AUTH)
                .header("x-broker-api-version", "2.17");
        }
        let request = request.body(Empty::<Bytes>::new()).unwrap();
        let started = Instant::now();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status();
        response.into_body().collect().await.unwrap();
        latencies.push(started.elapsed());
        assert!(status.is_success(), "{path}: {status}");
    }
    latencies
}

async fn load(addr: SocketAddr, path: &str, osb: bool, seconds: f64) -> Stats {
    let path: Arc<str> = path.into();
    // Warm-up: connections, pools and caches, not measured.
    let warm = Instant::now() + Duration::from_millis(500);
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| tokio::spawn(connection(addr, path.clone(), osb, warm)))
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| tokio::spawn(connection(addr, path.clone(), osb, deadline)))
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Stats {
        requests: all.len(),
        elapsed,
        p50: at(0.50),
        p99: at(0.99),
    }
}

/// `pgbench -S` transactions per second with as many clients, on a throwaway database.
async fn pgbench(seconds: f64) -> Option<f64> {
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
    let out = Command::new("pgbench")
        .args(base)
        .args(["-S", "-n", "-c", &CONNECTIONS.to_string(), "-j", "2"])
        .args(["-T", &format!("{}", seconds.ceil() as u64), db.name()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l["tps = ".len()..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
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

async fn put(addr: SocketAddr, path: &str, body: &str) {
    let client = reqwest::Client::new();
    let response = client
        .put(format!("http://{addr}{path}"))
        .header("authorization", AUTH)
        .header("x-broker-api-version", "2.17")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{path}");
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
    let seconds: f64 = std::env::var("OSB_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let dir = std::env::temp_dir().join(format!("pgbroker-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let catalog_path = dir.join("catalog.yaml");
    std::fs::write(&catalog_path, CATALOG).unwrap();
    let db = TestDatabase::create().await.unwrap();
    let mut config = Config::default();
    config.state_store.url = StoreUrl::new(db.url());
    config.catalog.path = Some(catalog_path);
    config.server.listen = "127.0.0.1:0".into();
    config.auth.basic = vec![BasicAuthConfig {
        username: "bench".into(),
        password: SecretValue::Inline("bench-password".into()),
    }];
    let backends = BackendRegistry::new().with("sync", Arc::new(TestBackend::synchronous()));
    let server = serve::start(&config, Some(backends)).await.unwrap();
    let addr = server.addr;
    put(
        addr,
        "/v2/service_instances/bench-1",
        r#"{"service_id":"svc-bench","plan_id":"plan-bench"}"#,
    )
    .await;
    put(
        addr,
        "/v2/service_instances/bench-1/service_bindings/b-1",
        r#"{"service_id":"svc-bench","plan_id":"plan-bench"}"#,
    )
    .await;
    let catalog = reqwest::Client::new()
        .get(format!("http://{addr}/v2/catalog"))
        .header("authorization", AUTH)
        .header("x-broker-api-version", "2.17")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    println!(
        "osb_load: {CONNECTIONS} connections, {seconds} s per run, 127.0.0.1, {} CPUs",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let bare = load(bare_axum(catalog).await, "/v2/catalog", false, seconds).await;
    let pgbench = pgbench(seconds).await;
    let runs = [
        ("GET /v2/catalog", "/v2/catalog"),
        (
            "GET last_operation",
            "/v2/service_instances/bench-1/last_operation",
        ),
        (
            "GET binding",
            "/v2/service_instances/bench-1/service_bindings/b-1",
        ),
    ];
    let mut results = Vec::new();
    for (name, path) in runs {
        results.push((name, load(addr, path, true, seconds).await));
    }
    println!(
        "{:<22} {:>12} {:>10} {:>10}",
        "limit", "req/s", "p50", "p99"
    );
    println!(
        "{:<22} {:>12.0} {:>10} {:>10}",
        "bare axum catalog",
        bare.rate(),
        ms(bare.p50),
        ms(bare.p99)
    );
    match pgbench {
        Some(tps) => println!("{:<22} {:>12.0}", "pgbench -S (tps)", tps),
        None => println!("{:<22} {:>12}", "pgbench -S (tps)", "unavailable"),
    }
    println!();
    println!(
        "{:<22} {:>12} {:>10} {:>10}   against its target",
        "endpoint", "req/s", "p50", "p99"
    );
    for (name, stats) in &results {
        let verdict = match *name {
            "GET /v2/catalog" => format!(
                "{:.2} x bare axum (target >= 0.8)",
                stats.rate() / bare.rate()
            ),
            "GET last_operation" => match pgbench {
                Some(tps) => format!("{:.2} x pgbench -S (target >= 0.7)", stats.rate() / tps),
                None => "pgbench unavailable".to_string(),
            },
            _ => String::new(),
        };
        let p99 = if stats.p99 < Duration::from_millis(5) {
            "p99 < 5 ms"
        } else {
            "p99 >= 5 ms (target < 5 ms)"
        };
        println!(
            "{:<22} {:>12.0} {:>10} {:>10}   {verdict}; {p99}",
            name,
            stats.rate(),
            ms(stats.p50),
            ms(stats.p99)
        );
    }
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
