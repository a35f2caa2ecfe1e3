//! Load from `wrk`, a separate process: the load generator's work is not charged to the server
//! under test any more than to `pgbench`'s PostgreSQL, which gets its load the same way.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// What one `wrk` run measured.
pub struct Stats {
    pub rate: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// The placeholder in a path that [`run`] replaces with 0, 1, ... `spread - 1` in turn.
pub const EACH: &str = "{n}";

/// `connections` keep-alive connections on `threads` threads sending GET `path` back to back for
/// `seconds`, with `headers`. A `path` with [`EACH`] in it asks for `spread` different paths in
/// turn (a Lua script of wrk's numbers them). Panics (the benchmark fails) unless every response
/// was a 2xx and every connection stayed up.
pub fn run(
    addr: SocketAddr,
    path: &str,
    spread: usize,
    headers: &[&str],
    connections: usize,
    threads: usize,
    seconds: u64,
) -> Stats {
    assert!(
        addr.ip().is_loopback(),
        "the benchmark only loads 127.0.0.1"
    );
    let mut command = Command::new("wrk");
    command
        .args(["--latency", "-t", &threads.to_string()])
        .args(["-c", &connections.to_string(), "-d", &format!("{seconds}s")]);
    for header in headers {
        command.args(["-H", header]);
    }
    let script = path.contains(EACH).then(|| spread_script(path, spread));
    if let Some(script) = &script {
        command.arg("-s").arg(script);
    }
    let out = command
        .arg(format!("http://{addr}{path}"))
        .output()
        .unwrap_or_else(|e| panic!("wrk is needed (apt-get install wrk): {e}"));
    if let Some(script) = &script {
        let _ = std::fs::remove_file(script);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed on {path}: {text}");
    for refusal in ["Non-2xx or 3xx responses", "Socket errors"] {
        assert!(!text.contains(refusal), "wrk on {path}: {text}");
    }
    let percentile = |p: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(p))
            .and_then(|v| duration(v.trim()))
            .unwrap_or_else(|| panic!("no {p} latency in wrk's output: {text}"))
    };
    let rate = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output: {text}"));
    Stats {
        rate,
        p50: percentile("50%"),
        p99: percentile("99%"),
    }
}

/// A wrk script asking for `path` with [`EACH`] replaced by 0, 1, ... `spread - 1` in turn, each
/// load thread starting elsewhere so that the threads ask about different things at once.
fn spread_script(path: &str, spread: usize) -> PathBuf {
    assert!(spread > 0 && !path.contains(['"', '\\']));
    let path: Vec<String> = path.split(EACH).map(|part| format!("\"{part}\"")).collect();
    let path = path.join(" .. n .. ");
    let lua = format!(
        r#"local threads = 0
function setup(thread)
  thread:set("first", threads * {spread} / 2)
  threads = threads + 1
end
function init(args)
  n = math.floor(first or 0)
end
function request()
  n = (n + 1) % {spread}
  return wrk.format(nil, {path})
end
"#
    );
    let file = std::env::temp_dir().join(format!("pgbroker-wrk-{}.lua", std::process::id()));
    std::fs::write(&file, lua).unwrap();
    file
}

/// A wrk latency such as `812.00us`, `1.52ms` or `1.01s`.
fn duration(text: &str) -> Option<Duration> {
    let (number, scale) = [("us", 1e-6), ("ms", 1e-3), ("s", 1.0)]
        .into_iter()
        .find_map(|(unit, scale)| text.strip_suffix(unit).map(|n| (n, scale)))?;
    let value: f64 = number.parse().ok()?;
    Some(Duration::from_secs_f64(value * scale))
}
