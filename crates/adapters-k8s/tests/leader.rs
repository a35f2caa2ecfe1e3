//! Leader election among replicas on the Kubernetes API test server: of two candidates exactly
//! one leads; when it steps down the other takes over at once, and when it dies without stepping
//! down the other takes over once the Lease has expired. Work run "while leading" runs in one
//! replica at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use pgbroker_adapters_k8s::leader::{LeaderSettings, Leadership};
use pgbroker_kube_testserver::TestServer;

fn settings(identity: &str, lease_name: &str) -> LeaderSettings {
    LeaderSettings {
        namespace: "default".into(),
        lease_name: lease_name.into(),
        identity: identity.into(),
        lease_seconds: 3,
        renew_margin_seconds: 1,
    }
}

async fn holder(server: &TestServer, name: &str) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(server.client(), "default");
    leases
        .get(name)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.holder_identity)
}

/// Failure guard only (not a performance check): how long a takeover may take before the test
/// gives up.
const GIVE_UP: Duration = Duration::from_secs(30);

#[tokio::test]
async fn one_leader_and_takeover_when_it_steps_down() {
    let server = TestServer::start_default().await.unwrap();
    let mut a = Leadership::start(server.client(), settings("replica-a", "op-step-down"))
        .await
        .unwrap();
    tokio::time::timeout(GIVE_UP, a.acquired())
        .await
        .unwrap()
        .unwrap();
    let mut b = Leadership::start(server.client(), settings("replica-b", "op-step-down"))
        .await
        .unwrap();
    // b competes for a few renewal periods of a and never gets the lock while a holds it.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert!(a.is_leader());
        assert!(!b.is_leader(), "two leaders at once");
        assert_eq!(
            holder(&server, "op-step-down").await.as_deref(),
            Some("replica-a")
        );
    }
    a.step_down().await.unwrap();
    tokio::time::timeout(GIVE_UP, b.acquired())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        holder(&server, "op-step-down").await.as_deref(),
        Some("replica-b")
    );
    b.step_down().await.unwrap();
    assert_eq!(holder(&server, "op-step-down").await, None);
}

#[tokio::test]
async fn a_dead_leaders_lease_is_taken_over_after_it_expires() {
    let server = TestServer::start_default().await.unwrap();
    // Replica a runs on a runtime of its own, which is shut down as a crashed process would be:
    // its renewals stop and nothing releases the Lease.
    let crashed = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client = server.client();
    let a = crashed.spawn(async move {
        let mut a = Leadership::start(client, settings("replica-a", "op-crash"))
            .await
            .unwrap();
        a.acquired().await.unwrap();
        a
    });
    let a = tokio::time::timeout(GIVE_UP, a).await.unwrap().unwrap();
    let mut b = Leadership::start(server.client(), settings("replica-b", "op-crash"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!b.is_leader(), "took over a live leader's lease");
    crashed.shutdown_background();
    drop(a);
    assert_eq!(
        holder(&server, "op-crash").await.as_deref(),
        Some("replica-a")
    );
    tokio::time::timeout(GIVE_UP, b.acquired())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        holder(&server, "op-crash").await.as_deref(),
        Some("replica-b")
    );
    b.step_down().await.unwrap();
}

#[tokio::test]
async fn work_runs_in_one_replica_at_a_time_and_moves_on_shutdown() {
    let server = TestServer::start_default().await.unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let starts = Arc::new(AtomicUsize::new(0));
    let mut stops = Vec::new();
    let mut tasks = Vec::new();
    for name in ["replica-a", "replica-b", "replica-c"] {
        let leadership = Leadership::start(server.client(), settings(name, "op-work"))
            .await
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        stops.push(stop);
        let (running, most, starts) = (running.clone(), most.clone(), starts.clone());
        tasks.push(tokio::spawn(leadership.run_while_leading(
            move || {
                let (running, most, starts) = (running.clone(), most.clone(), starts.clone());
                async move {
                    starts.fetch_add(1, Ordering::SeqCst);
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let _guard = Decrement(running);
                    std::future::pending::<()>().await;
                }
            },
            async move {
                let _ = stopped.await;
            },
        )));
    }
    let wait_for_starts = |n: usize| {
        let starts = starts.clone();
        async move {
            tokio::time::timeout(GIVE_UP, async {
                while starts.load(Ordering::SeqCst) < n {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
            .await
            .unwrap();
        }
    };
    wait_for_starts(1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(starts.load(Ordering::SeqCst), 1, "work started twice");
    // Shut down whichever replica leads; another takes the work over, then the next.
    for round in 0..3 {
        let leader = holder(&server, "op-work").await.unwrap();
        let index = ["replica-a", "replica-b", "replica-c"]
            .iter()
            .position(|n| *n == leader)
            .unwrap();
        let stop = std::mem::replace(&mut stops[index], tokio::sync::oneshot::channel().0);
        stop.send(()).unwrap();
        if round < 2 {
            wait_for_starts(round + 2).await;
        }
    }
    for task in tasks {
        tokio::time::timeout(GIVE_UP, task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "two replicas ran the work at once"
    );
    assert_eq!(running.load(Ordering::SeqCst), 0);
    assert_eq!(starts.load(Ordering::SeqCst), 3);
}

struct Decrement(Arc<AtomicUsize>);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn invalid_times_are_an_error_not_a_panic() {
    let server = TestServer::start_default().await.unwrap();
    let mut s = settings("replica-a", "op-bad");
    s.renew_margin_seconds = 3;
    let err = Leadership::start(server.client(), s).await.err().unwrap();
    assert!(err.to_string().contains("renew_margin_seconds"), "{err}");
}
