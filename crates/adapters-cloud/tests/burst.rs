//! A burst of steps on a server with few admin connections, as the engine sends them (16 at
//! once), while the server is slow to answer (here: another broker replica holds the placement
//! lock for a while): every step waits for its turn and succeeds, none fails for want of a
//! pooled connection within the connect timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use futures::future::join_all;
use serde_json::json;

const STEPS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_steps_at_once_than_admin_connections_all_succeed() {
    let tag = format!("pgbt{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let fx = Fixture::from_settings(
        tag.clone(),
        json!({
            "servers": [{"name": "local", "admin_url": admin_url(), "max_databases": 100000,
                         "max_connections": 1, "connect_timeout_seconds": 1}],
            "names": {
                "database": format!("{tag}_{{instance}}"),
                "owner_role": format!("{tag}_{{instance}}_owner"),
                "binding_role": format!("{tag}_{{instance}}_{{binding}}"),
            },
        }),
    );
    let ids: Vec<_> = (0..STEPS).map(|_| fx.instance_id()).collect();
    let provisions: Vec<_> = ids.iter().map(|id| instance_req(id, json!({}))).collect();
    // The placement lock ("pgbroker" in ASCII), held by another session for 3 s.
    let mut other_replica = admin().await;
    sqlx::query("SELECT pg_advisory_lock(x'706762726f6b6572'::bigint)")
        .execute(&mut other_replica)
        .await
        .unwrap();
    let release = async {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        sqlx::query("SELECT pg_advisory_unlock_all()")
            .execute(&mut other_replica)
            .await
            .unwrap();
    };
    let (_, ()) = tokio::join!(
        join_all(provisions.iter().map(|req| fx.provision(req))),
        release
    );
    let binds: Vec<_> = ids
        .iter()
        .map(|id| bind_req(id, "app", json!({})))
        .collect();
    let credentials = join_all(binds.iter().map(|req| fx.bind(req))).await;
    for creds in &credentials {
        connect(creds).await.unwrap();
    }
    let unbinds: Vec<_> = binds.iter().map(unbind_req).collect();
    join_all(unbinds.iter().map(|req| fx.unbind(req))).await;
    join_all(provisions.iter().map(|req| fx.deprovision(req))).await;
    assert_eq!(fx.leftovers().await, (vec![], vec![]));
}
