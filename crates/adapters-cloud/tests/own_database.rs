//! A binding with a database of its own (bind parameter `database`): its login owns that
//! database and opens no other of the instance; nobody else's login opens it; unbind drops it,
//! or with `Retain` hands it to the instance; deprovision finds what bindings left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use pgbroker_domain::ports::{Backend, Step};
use pgbroker_domain::{DeletionPolicy, Reason};
use serde_json::json;
use sqlx::{Connection, Executor};

async fn owner_of(database: &str) -> Option<String> {
    sqlx::query_scalar("SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1")
        .bind(database)
        .fetch_optional(&mut admin().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_bindings_own_database_opens_to_its_login_only() {
    let fx = Fixture::new();
    let (a, b) = (fx.instance_id(), fx.instance_id());
    fx.provision(&instance_req(&a, json!({}))).await;
    fx.provision(&instance_req(&b, json!({}))).await;
    let reports = fx
        .bind(&bind_req(&a, "r1", json!({"database": "reports"})))
        .await;
    let sales = fx
        .bind(&bind_req(&a, "s1", json!({"database": {"name": "sales"}})))
        .await;
    let main = fx.bind(&bind_req(&a, "m1", json!({}))).await;
    let other = fx.bind(&bind_req(&b, "o1", json!({}))).await;

    let db = field(&reports, "database");
    assert_eq!(db, format!("{}_{a}_reports", fx.tag));
    assert_eq!(
        owner_of(&db).await.as_deref(),
        Some(field(&reports, "username").as_str())
    );
    let mut c = connect(&reports).await.unwrap();
    c.execute("CREATE TABLE r (v int); INSERT INTO r VALUES (3)")
        .await
        .unwrap();
    // The login owns its schema and what it makes: it can hand out rights itself.
    c.execute("CREATE SCHEMA mine; CREATE TABLE mine.t (v int)")
        .await
        .unwrap();
    c.close().await.unwrap();
    // Its login opens nothing else of the instance: not the instance's database, not the
    // other binding's own one.
    let instance_db = field(&main, "database");
    assert!(connect_to(&reports, &instance_db).await.is_err());
    assert!(
        connect_to(&reports, &field(&sales, "database"))
            .await
            .is_err()
    );
    assert!(connect_to(&sales, &db).await.is_err());
    // Nor do the instance's logins, nor another instance's, open it.
    assert!(connect_to(&main, &db).await.is_err());
    assert!(connect_to(&other, &db).await.is_err());
    // The instance's login still works where it belongs.
    connect(&main).await.unwrap().close().await.unwrap();

    // Unbind drops the database and the login.
    fx.unbind(&unbind_req(&bind_req(&a, "r1", json!({})))).await;
    assert_eq!(owner_of(&db).await, None);
    assert!(connect(&reports).await.is_err());
    let (dbs, roles) = fx.leftovers().await;
    assert!(!roles.iter().any(|r| r.ends_with("_r1")), "{roles:?}");
    assert!(dbs.iter().any(|d| d.ends_with("_sales")), "{dbs:?}");
    // Deprovision finds the database a binding left behind, and its login.
    fx.deprovision(&instance_req(&a, json!({}))).await;
    fx.deprovision(&instance_req(&b, json!({}))).await;
    assert_eq!(fx.leftovers().await, (vec![], vec![]));
}

#[tokio::test]
async fn retain_hands_the_database_to_the_instance() {
    let fx = Fixture::new();
    let a = fx.instance_id();
    fx.provision(&instance_req(&a, json!({}))).await;
    let req = bind_req(&a, "r1", json!({"database": "reports"}));
    let reports = fx.bind(&req).await;
    let db = field(&reports, "database");
    let mut c = connect(&reports).await.unwrap();
    c.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)")
        .await
        .unwrap();
    c.close().await.unwrap();
    let mut unbind = unbind_req(&req);
    unbind.deletion_policy = DeletionPolicy::Retain;
    fx.unbind(&unbind).await;
    // Run again, as the engine may after a crash: the same end state.
    fx.unbind(&unbind).await;
    assert!(connect(&reports).await.is_err(), "the login is gone");
    assert_eq!(
        owner_of(&db).await,
        Some(format!("{}_{a}_owner", fx.tag)),
        "the data passed to the instance's owner group"
    );
    // A login of the instance now reads it.
    let main = fx.bind(&bind_req(&a, "m1", json!({}))).await;
    let mut m = connect_to(&main, &db).await.unwrap();
    let v: i32 = sqlx::query_scalar("SELECT v FROM kept")
        .fetch_one(&mut m)
        .await
        .unwrap();
    assert_eq!(v, 7);
    m.close().await.unwrap();
    fx.unbind(&unbind_req(&bind_req(&a, "m1", json!({})))).await;
    fx.deprovision(&instance_req(&a, json!({}))).await;
    assert_eq!(fx.leftovers().await, (vec![], vec![]));
}

#[tokio::test]
async fn charset_collation_and_extensions_are_honoured_or_refused_by_name() {
    let fx = Fixture::with(json!({"extensions": ["pg_trgm", "citext"]}));
    let a = fx.instance_id();
    fx.provision(&instance_req(&a, json!({}))).await;
    let latin = fx
        .bind(&bind_req(
            &a,
            "l1",
            json!({"database": {"name": "latin", "charset": "LATIN1", "collation": "C",
                                 "extensions": ["pg_trgm"]}}),
        ))
        .await;
    let db = field(&latin, "database");
    let (encoding, collate, ctype): (String, String, String) = sqlx::query_as(
        "SELECT pg_encoding_to_char(encoding)::text, datcollate::text, datctype::text \
         FROM pg_database WHERE datname = $1",
    )
    .bind(&db)
    .fetch_one(&mut admin().await)
    .await
    .unwrap();
    assert_eq!(
        (encoding.as_str(), collate.as_str(), ctype.as_str()),
        ("LATIN1", "C", "C")
    );
    let mut c = connect(&latin).await.unwrap();
    let similarity: f32 = sqlx::query_scalar("SELECT similarity('word', 'words')")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert!(similarity > 0.0);
    c.close().await.unwrap();

    for (binding, database, reason, says) in [
        (
            "x1",
            json!({"name": "x1", "charset": "NOPE"}),
            Reason::InvalidSpec,
            "encoding",
        ),
        (
            "x2",
            json!({"name": "x2", "collation": "xx_YY"}),
            Reason::InvalidSpec,
            "locale",
        ),
        (
            "x3",
            json!({"name": "x3", "extensions": ["postgis"]}),
            Reason::Unsupported,
            "not allowed",
        ),
        ("x4", json!({"name": "X"}), Reason::InvalidSpec, "database"),
    ] {
        match fx
            .backend
            .bind(&bind_req(&a, binding, json!({"database": database})))
            .await
        {
            Step::Failed(f) => {
                assert!(!f.retryable, "{binding}: {f:?}");
                assert_eq!(f.reason, reason, "{binding}: {f:?}");
                assert!(f.description.contains(says), "{binding}: {}", f.description);
            }
            other => panic!("{binding}: {other:?}"),
        }
        // What a failed bind made, its unbind removes (the engine's orphan mitigation).
        fx.unbind(&unbind_req(&bind_req(&a, binding, json!({}))))
            .await;
    }
    fx.unbind(&unbind_req(&bind_req(&a, "l1", json!({})))).await;
    fx.deprovision(&instance_req(&a, json!({}))).await;
    assert_eq!(fx.leftovers().await, (vec![], vec![]));
}

#[tokio::test]
async fn retaining_deprovision_keeps_a_bindings_own_database() {
    let fx = Fixture::new();
    let a = fx.instance_id();
    fx.provision(&instance_req(&a, json!({}))).await;
    let reports = fx
        .bind(&bind_req(&a, "r1", json!({"database": "reports"})))
        .await;
    let mut c = connect(&reports).await.unwrap();
    c.execute("CREATE TABLE kept (v int)").await.unwrap();
    c.close().await.unwrap();
    let mut req = instance_req(&a, json!({}));
    req.deletion_policy = DeletionPolicy::Retain;
    fx.deprovision(&req).await;
    fx.deprovision(&req).await;
    let (dbs, roles) = fx.leftovers().await;
    // Both databases kept under new names (the binding's one still holds its table), the owner
    // role renamed too; the binding's login is gone.
    assert_eq!(dbs.len(), 2, "{dbs:?}");
    assert!(dbs.iter().all(|d| d.contains("_del_")), "{dbs:?}");
    let mut tables = 0;
    for db in &dbs {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'kept'")
            .fetch_one(&mut admin_in(db).await)
            .await
            .unwrap();
        tables += n;
    }
    assert_eq!(
        tables, 1,
        "the binding's table survives in its kept database"
    );
    assert!(!roles.iter().any(|r| r.ends_with("_r1")), "{roles:?}");
    assert!(connect(&reports).await.is_err());
}

#[tokio::test]
async fn another_backend_with_the_same_instance_id_keeps_its_bindings() {
    // Two backends (two brokers, or the bench's sections) on one server, with the same
    // instance and binding ids but their own name patterns.
    let (a, b) = (Fixture::new(), Fixture::new());
    let id = a.instance_id();
    a.provision(&instance_req(&id, json!({}))).await;
    b.provision(&instance_req(&id, json!({}))).await;
    let req = bind_req(&id, "r1", json!({"database": "reports"}));
    a.bind(&req).await;
    let theirs = b.bind(&req).await;
    let plain = b.bind(&bind_req(&id, "p1", json!({}))).await;
    a.deprovision(&instance_req(&id, json!({}))).await;
    assert_eq!(a.leftovers().await, (vec![], vec![]));
    // B's logins and databases are untouched.
    connect(&theirs).await.unwrap().close().await.unwrap();
    connect(&plain).await.unwrap().close().await.unwrap();
    b.deprovision(&instance_req(&id, json!({}))).await;
    assert_eq!(b.leftovers().await, (vec![], vec![]));
}
