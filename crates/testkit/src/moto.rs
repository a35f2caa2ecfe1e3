//! moto's server mode (AWS APIs in memory, from PyPI: `moto[server]`, which scripts/test
//! installs into target/moto-venv) on a free port of 127.0.0.1, behind a small recording proxy:
//! the proxy keeps the IAM action of every call (`rds:CreateDBInstance`,
//! `secretsmanager:GetSecretValue`), so a test can hold the documented IAM policy against the
//! calls really made, and answers chosen calls with AWS's throttling error, so a test can show
//! they are retried. Both stop when the value is dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Names the venv holding `moto_server`; default: target/moto-venv of the workspace.
pub const VENV_VAR: &str = "PGBROKER_MOTO_VENV";

/// moto's fixed account id in ARNs.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

#[derive(Default)]
struct Shared {
    actions: BTreeSet<String>,
    /// IAM action → how many more calls get which error.
    inject: BTreeMap<String, (usize, Fault)>,
    injected: usize,
}

/// An error response of AWS's, as a query-protocol (RDS) or JSON-protocol (Secrets Manager) body.
#[derive(Debug, Clone)]
pub struct Fault {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl Fault {
    pub fn throttling() -> Self {
        Self {
            status: 400,
            code: "Throttling".into(),
            message: "Rate exceeded".into(),
        }
    }
}

/// A running moto server and its proxy.
pub struct Moto {
    child: Child,
    moto: SocketAddr,
    proxy: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

/// `moto_server` of the venv, or a panic saying how to get it (a missing tool fails the test,
/// it does not skip it).
pub fn moto_server() -> PathBuf {
    let venv = std::env::var_os(VENV_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/moto-venv"));
    let path = venv.join("bin").join("moto_server");
    assert!(
        path.is_file(),
        "moto_server not found at {} : run scripts/test (it installs it), or \
         `python3 -m venv target/moto-venv && target/moto-venv/bin/pip install 'moto[server]'`, \
         or set {VENV_VAR} to such a venv",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

impl Moto {
    /// Starts moto and the proxy; waits until moto answers (at most 30 s). A port taken between
    /// choosing it and moto binding it makes moto exit: then another port is tried.
    pub async fn start() -> Self {
        let (child, moto) = 'tries: {
            for _ in 0..3 {
                let port = free_port();
                let mut child = Command::new(moto_server())
                    .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("starting moto_server");
                let moto: SocketAddr = ([127, 0, 0, 1], port).into();
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    if TcpStream::connect(moto).await.is_ok() {
                        break 'tries (child, moto);
                    }
                    if child.try_wait().ok().flatten().is_some() {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "moto_server did not listen on {moto} within 30 s"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            panic!(
                "moto_server exited at once three times (see `moto_server -H 127.0.0.1 -p PORT`)"
            );
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let proxy = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let task = tokio::spawn(serve(listener, moto, shared.clone()));
        Self {
            child,
            moto,
            proxy,
            shared,
            task,
        }
    }

    /// The endpoint URL to give the backend (the recording proxy).
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.proxy)
    }

    /// moto itself, for a test's own look at what exists (not recorded).
    pub fn moto_url(&self) -> String {
        format!("http://{}", self.moto)
    }

    /// The IAM actions of every call that reached the proxy so far.
    pub fn actions(&self) -> BTreeSet<String> {
        self.shared.lock().unwrap().actions.clone()
    }

    /// The next `times` calls of `action` (e.g. `rds:DescribeDBInstances`) get AWS's throttling error.
    pub fn throttle(&self, action: &str, times: usize) {
        self.fail(action, times, Fault::throttling());
    }

    /// The next `times` calls of `action` get `fault` instead of reaching moto.
    pub fn fail(&self, action: &str, times: usize, fault: Fault) {
        self.shared
            .lock()
            .unwrap()
            .inject
            .insert(action.to_string(), (times, fault));
    }

    /// How many calls were answered with an injected error.
    pub fn injected(&self) -> usize {
        self.shared.lock().unwrap().injected
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.task.abort();
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

async fn serve(listener: TcpListener, moto: SocketAddr, shared: Arc<Mutex<Shared>>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(handle(stream, moto, shared.clone()));
    }
}

/// One request per connection: it is answered with `connection: close`.
async fn handle(mut client: TcpStream, moto: SocketAddr, shared: Arc<Mutex<Shared>>) {
    let Some((head, body)) = read_request(&mut client).await else {
        return;
    };
    let action = action_of(&head, &body);
    let injected = {
        let mut s = shared.lock().unwrap();
        if let Some(a) = &action {
            s.actions.insert(a.clone());
        }
        let left = action.as_ref().and_then(|a| s.inject.get_mut(a));
        match left {
            Some((n, fault)) if *n > 0 => {
                *n -= 1;
                let fault = fault.clone();
                s.injected += 1;
                Some(fault)
            }
            _ => None,
        }
    };
    let response = if let Some(fault) = injected {
        error_response(&head, &fault)
    } else {
        match forward(moto, &head, &body).await {
            Some(r) => r,
            None => return,
        }
    };
    client.write_all(&response).await.ok();
    client.shutdown().await.ok();
}

async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let length = header(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// `rds:Action` from a query-protocol body, `secretsmanager:Action` from the JSON protocol's target.
fn action_of(head: &str, body: &[u8]) -> Option<String> {
    if let Some(target) = header(head, "x-amz-target") {
        let (service, action) = target.split_once('.')?;
        let service = service.to_ascii_lowercase();
        return Some(format!("{service}:{action}"));
    }
    let body = String::from_utf8_lossy(body);
    let action = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))?;
    Some(format!("rds:{action}"))
}

fn error_response(head: &str, fault: &Fault) -> Vec<u8> {
    let (code, message) = (&fault.code, &fault.message);
    let (content_type, body) = if header(head, "x-amz-target").is_some() {
        (
            "application/x-amz-json-1.1",
            format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
        )
    } else {
        (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
                 <Message>{message}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
            ),
        )
    };
    format!(
        "HTTP/1.1 {} Injected\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        fault.status,
        body.len()
    )
    .into_bytes()
}

/// Sends the request to moto with `connection: close` and answers moto's response with the
/// same header, read to its end.
async fn forward(moto: SocketAddr, head: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut upstream = TcpStream::connect(moto).await.ok()?;
    let mut request: String = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    request.push_str("\r\nconnection: close\r\n\r\n");
    upstream.write_all(request.as_bytes()).await.ok()?;
    upstream.write_all(body).await.ok()?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response).await.ok()?;
    let end = find(&response, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&response[..end]);
    let mut out: String = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    out.push_str("\r\nconnection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response[end + 4..]);
    Some(bytes)
}
