//! OSB conformance with the real shared-server backend on the local PostgreSQL: the default
//! catalog's shared plan provisioned, bound and unbound over HTTP, with the credentials tried
//! against the server (they work while bound and stop working after unbind).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::osb_client::OsbClient;
use common::shared_server::{Cleanup, can_connect};
use pgbroker_adapters_cloud::{SharedServerBackend, SharedSettings};
use pgbroker_app::config::{BasicAuthConfig, Config};
use pgbroker_app::secret_value::SecretValue;
use pgbroker_app::serve;
use pgbroker_app::store_url::StoreUrl;
use pgbroker_domain::ports::BackendRegistry;
use pgbroker_testkit::backend::TestBackend;
use pgbroker_testkit::pg_database::TestDatabase;
use reqwest::Method;
use serde_json::{Value, json};

const SHARED_SERVICE: &str = "f3f7eb7c-f181-44e2-8a8e-95fc51e94990";
const SHARED_SMALL: &str = "8918ebda-7ee3-4766-bb57-9e658fcd9689";

struct Client(OsbClient);

impl Client {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.0.call(method, path, body).await
    }

    /// Sends a mutating request with accepts_incomplete and follows it to its end.
    async fn done(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        poll: &str,
    ) -> (u16, Value) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, body) = self
            .call(method, &format!("{path}{sep}accepts_incomplete=true"), body)
            .await;
        if status != 202 {
            return (status, body);
        }
        let operation = body["operation"].as_str().unwrap().to_string();
        for _ in 0..1000 {
            let (status, body) = self
                .call(Method::GET, &format!("{poll}?operation={operation}"), None)
                .await;
            if status != 200 || body["state"] != "in progress" {
                return (status, body);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{path} did not finish");
    }
}

#[tokio::test]
async fn shared_plan_lifecycle_with_working_credentials() {
    let db = TestDatabase::create().await.unwrap();
    let tag = format!("osbt{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let _cleanup = Cleanup(tag.clone());
    let settings: SharedSettings = serde_json::from_value(json!({
        "servers": [{"name": "local", "admin_url": "postgres://postgres@127.0.0.1:5432/postgres",
                     "client_sslmode": "disable"}],
        "names": {
            "database": format!("{tag}_{{instance}}"),
            "owner_role": format!("{tag}_{{instance}}_owner"),
            "binding_role": format!("{tag}_{{instance}}_{{binding}}"),
        },
    }))
    .unwrap();
    let backends = BackendRegistry::new()
        .with(
            "shared",
            Arc::new(SharedServerBackend::new("shared", settings).unwrap()),
        )
        .with("cnpg", Arc::new(TestBackend::asynchronous()));
    let mut config = Config::default();
    config.state_store.url = StoreUrl::new(db.url());
    config.server.listen = "127.0.0.1:0".into();
    config.engine.poll_interval_ms = 10;
    config.auth.basic = vec![BasicAuthConfig {
        username: "cf".into(),
        password: SecretValue::Inline("shared-test-password".into()),
    }];
    let server = serve::start(&config, Some(backends)).await.unwrap();
    let client = Client(OsbClient::new(
        format!("http://{}", server.addr),
        "cf",
        "shared-test-password",
    ));

    let instance = format!("/v2/service_instances/{}", uuid::Uuid::new_v4());
    let (status, body) = client
        .done(
            Method::PUT,
            &instance,
            Some(
                json!({"service_id": SHARED_SERVICE, "plan_id": SHARED_SMALL,
                        "organization_guid": "cluster-1", "space_guid": "team-a",
                        "context": {"platform": "kubernetes", "namespace": "team-a"},
                        "parameters": {"extensions": ["pgcrypto"]}}),
            ),
            &format!("{instance}/last_operation"),
        )
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("succeeded")),
        "{body}"
    );

    // Bind parameters the backend cannot take are refused by the plan's schema: 400, not a
    // failed operation (500), and no binding is stored.
    for parameters in [json!({"database": "Not-A-Name"}), json!({"size": 1})] {
        let refused = format!("{instance}/service_bindings/{}", uuid::Uuid::new_v4());
        let body = json!({"service_id": SHARED_SERVICE, "plan_id": SHARED_SMALL, "parameters": parameters});
        let (status, body) = client.call(Method::PUT, &refused, Some(body)).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["description"].as_str().unwrap().contains("schema"),
            "{body}"
        );
        let (status, _) = client.call(Method::GET, &refused, None).await;
        assert_eq!(status, 404);
    }

    let first = format!("{instance}/service_bindings/{}", uuid::Uuid::new_v4());
    let second = format!("{instance}/service_bindings/{}", uuid::Uuid::new_v4());
    let mut credentials = Vec::new();
    for binding in [&first, &second] {
        let (status, body) = client
            .done(
                Method::PUT,
                binding,
                Some(json!({"service_id": SHARED_SERVICE, "plan_id": SHARED_SMALL})),
                &format!("{binding}/last_operation"),
            )
            .await;
        assert_eq!(
            (status, body["state"].as_str()),
            (200, Some("succeeded")),
            "{body}"
        );
        let (status, body) = client.call(Method::GET, binding, None).await;
        assert_eq!(status, 200, "{body}");
        let creds = body["credentials"].clone();
        for key in [
            "host", "port", "database", "username", "password", "uri", "jdbc_uri",
        ] {
            assert!(
                creds.get(key).is_some(),
                "credentials lack {key}: keys {:?}",
                creds.as_object().map(|o| o.keys().collect::<Vec<_>>())
            );
        }
        assert!(
            creds["jdbc_uri"]
                .as_str()
                .unwrap()
                .starts_with("jdbc:postgresql://")
        );
        assert!(
            can_connect(creds["uri"].as_str().unwrap()).await,
            "binding credentials do not work"
        );
        credentials.push(creds);
    }
    assert_ne!(credentials[0]["username"], credentials[1]["username"]);
    assert_eq!(credentials[0]["database"], credentials[1]["database"]);

    // The catalog offers a database of the binding's own on the shared plans, and a bind that
    // asks for one gets a login that opens it and nothing else of the instance.
    let (status, catalog) = client.call(Method::GET, "/v2/catalog", None).await;
    assert_eq!(status, 200);
    let small = catalog["services"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["plans"].as_array().unwrap())
        .find(|p| p["id"] == SHARED_SMALL)
        .unwrap();
    let offered =
        &small["schemas"]["service_binding"]["create"]["parameters"]["properties"]["database"];
    assert!(offered["oneOf"].is_array(), "{small}");
    let own = format!("{instance}/service_bindings/{}", uuid::Uuid::new_v4());
    let (status, body) = client
        .done(
            Method::PUT,
            &own,
            Some(json!({"service_id": SHARED_SERVICE, "plan_id": SHARED_SMALL,
                        "parameters": {"database": {"name": "reports", "extensions": ["pgcrypto"]}}})),
            &format!("{own}/last_operation"),
        )
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("succeeded")),
        "{body}"
    );
    let (_, body) = client.call(Method::GET, &own, None).await;
    let own_creds = body["credentials"].clone();
    let own_db = own_creds["database"].as_str().unwrap().to_string();
    assert!(own_db.ends_with("_reports"), "{own_creds}");
    let uri = |creds: &Value, db: &str| {
        let uri = creds["uri"].as_str().unwrap();
        format!("{}/{db}", &uri[..uri.rfind('/').unwrap()])
    };
    let instance_db = credentials[0]["database"].as_str().unwrap();
    assert!(can_connect(&uri(&own_creds, &own_db)).await);
    assert!(!can_connect(&uri(&own_creds, instance_db)).await);
    assert!(!can_connect(&uri(&credentials[0], &own_db)).await);
    let (status, body) = client
        .done(
            Method::DELETE,
            &format!("{own}?service_id={SHARED_SERVICE}&plan_id={SHARED_SMALL}"),
            None,
            &format!("{own}/last_operation"),
        )
        .await;
    assert_eq!(status, 410, "{body}");
    assert!(!can_connect(&uri(&own_creds, &own_db)).await);
    // An encoding the server does not have fails the synchronous bind as the request's fault:
    // 400 saying why, not 500.
    let bad = format!("{instance}/service_bindings/{}", uuid::Uuid::new_v4());
    let (status, body) = client
        .call(
            Method::PUT,
            &bad,
            Some(
                json!({"service_id": SHARED_SERVICE, "plan_id": SHARED_SMALL,
                        "parameters": {"database": {"name": "odd", "charset": "NOPE"}}}),
            ),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["description"].as_str().unwrap().contains("encoding"),
        "{body}"
    );
    let (status, _) = client.call(Method::GET, &bad, None).await;
    assert_eq!(status, 404, "a failed bind leaves no binding");

    // Unbind revokes the first binding's credentials only. The broker's clean-up of the failed
    // bind may still run on the instance: as a platform does, repeat on ConcurrencyError.
    let (status, body) = loop {
        let (status, body) = client
            .done(
                Method::DELETE,
                &format!("{first}?service_id={SHARED_SERVICE}&plan_id={SHARED_SMALL}"),
                None,
                &format!("{first}/last_operation"),
            )
            .await;
        if status != 422 || body["error"] != "ConcurrencyError" {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 410, "removal polled to its end is Gone: {body}");
    assert!(
        !can_connect(credentials[0]["uri"].as_str().unwrap()).await,
        "unbound credentials still work"
    );
    assert!(can_connect(credentials[1]["uri"].as_str().unwrap()).await);

    // Deprovision removes the database with the remaining binding.
    let (status, body) = client
        .done(
            Method::DELETE,
            &format!("{instance}?service_id={SHARED_SERVICE}&plan_id={SHARED_SMALL}"),
            None,
            &format!("{instance}/last_operation"),
        )
        .await;
    assert_eq!(status, 410, "removal polled to its end is Gone: {body}");
    assert!(!can_connect(credentials[1]["uri"].as_str().unwrap()).await);
    let (status, _) = client.call(Method::GET, &instance, None).await;
    assert_eq!(status, 404);
    server.shutdown().await.unwrap();
}
