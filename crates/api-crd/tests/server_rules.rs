//! PostgreSQLServer objects against the committed CRD in the test API server: valid ones are
//! accepted (create and server-side apply), and each rule of the schema rejects what it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kube::api::{Api, Patch, PatchParams, PostParams};
use pgbroker_api_crd::PostgreSQLServer;
use pgbroker_api_crd::crd::{Phase, PostgreSQLStatus, Weekday};
use serde_json::{Value, json};
use support::*;

fn with(mut spec: Value, pointer: &str, value: Value) -> Value {
    *spec.pointer_mut(pointer).expect("pointer into the spec") = value;
    spec
}

#[tokio::test]
async fn valid_servers_are_accepted_by_create_and_server_side_apply_and_read_back_typed() {
    let server = server().await;
    let api = servers(&server);
    api.create(
        &PostParams::default(),
        &server_object("minimal", minimal_server_spec()),
    )
    .await
    .unwrap();
    apply(&api, &server_object("full", full_server_spec()))
        .await
        .unwrap();

    let typed: Api<PostgreSQLServer> = Api::namespaced(server.client(), NS);
    let full = typed.get("full").await.unwrap();
    assert_eq!(full.spec.size.storage_gb, 32);
    assert_eq!(full.spec.size.memory_mb, Some(4096));
    let window = full.spec.maintenance.and_then(|m| m.window).unwrap();
    assert_eq!(
        (window.weekday, window.starttime.as_str()),
        (Weekday::Wed, "03:00")
    );
    assert_eq!(
        full.spec.highavailability.and_then(|h| h.enabled),
        Some(true)
    );
    assert_eq!(full.spec.network.unwrap().firewall_rules.unwrap().len(), 3);

    // The typed object applies as it reads (what the controller will do) and status is written
    // through the status subresource in the shared shape.
    let mut minimal = typed.get("minimal").await.unwrap();
    minimal.metadata.managed_fields = None;
    typed
        .patch(
            "minimal",
            &PatchParams::apply("test").force(),
            &Patch::Apply(&minimal),
        )
        .await
        .unwrap();
    let status = PostgreSQLStatus {
        phase: Some(Phase::Provisioning),
        observed_generation: Some(1),
        backend: Some("shared".into()),
        operation: Some("creating the database".into()),
        ..Default::default()
    };
    let patched = typed
        .patch_status(
            "minimal",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .unwrap();
    assert_eq!(patched.status, Some(status));
}

#[tokio::test]
async fn storage_gb_is_required_and_positive() {
    let server = server().await;
    let api = servers(&server);
    let missing = create_rejected(
        &api,
        &server_object(
            "s",
            json!({ "size": { "class": "small" }, "credentialsSecret": "s" }),
        ),
    )
    .await;
    assert_cause(&missing, "spec.size.storageGB", "Required value");
    let no_size = create_rejected(
        &api,
        &server_object("s", json!({ "credentialsSecret": "s" })),
    )
    .await;
    assert_cause(&no_size, "spec.size", "Required value");
    let zero = create_rejected(
        &api,
        &server_object(
            "s",
            with(minimal_server_spec(), "/size/storageGB", json!(0)),
        ),
    )
    .await;
    assert_cause(
        &zero,
        "spec.size.storageGB",
        "should be greater than or equal to 1",
    );
}

#[tokio::test]
async fn credentials_secret_is_required_and_a_secret_name() {
    let server = server().await;
    let api = servers(&server);
    let missing = create_rejected(
        &api,
        &server_object("s", json!({ "size": { "storageGB": 1 } })),
    )
    .await;
    assert_cause(&missing, "spec.credentialsSecret", "Required value");
    let bad = create_rejected(
        &api,
        &server_object(
            "s",
            with(
                minimal_server_spec(),
                "/credentialsSecret",
                json!("Not_A_Name"),
            ),
        ),
    )
    .await;
    assert_cause(&bad, "spec.credentialsSecret", "should match");
}

#[tokio::test]
async fn weekday_is_a_three_letter_english_name() {
    let server = server().await;
    let api = servers(&server);
    for weekday in ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] {
        let spec = with(
            full_server_spec(),
            "/maintenance/window/weekday",
            json!(weekday),
        );
        let name = format!("ok-{}", weekday.to_lowercase());
        api.create(&PostParams::default(), &server_object(&name, spec))
            .await
            .unwrap();
    }
    for weekday in ["Monday", "mon", "MON", ""] {
        let spec = with(
            full_server_spec(),
            "/maintenance/window/weekday",
            json!(weekday),
        );
        let status = create_rejected(&api, &server_object("bad", spec)).await;
        assert_cause(
            &status,
            "spec.maintenance.window.weekday",
            "supported values: \"Mon\", \"Tue\", \"Wed\", \"Thu\", \"Fri\", \"Sat\", \"Sun\"",
        );
    }
    let no_starttime = json!({ "size": { "storageGB": 1 }, "credentialsSecret": "s",
                               "maintenance": { "window": { "weekday": "Mon" } } });
    let status = create_rejected(&api, &server_object("bad", no_starttime)).await;
    assert_cause(
        &status,
        "spec.maintenance.window.starttime",
        "Required value",
    );
}

#[tokio::test]
async fn starttime_is_hh_mm_on_a_24_hour_clock() {
    let server = server().await;
    let api = servers(&server);
    for (i, time) in ["00:00", "03:00", "09:59", "23:59"].iter().enumerate() {
        let spec = with(
            full_server_spec(),
            "/maintenance/window/starttime",
            json!(time),
        );
        api.create(
            &PostParams::default(),
            &server_object(&format!("ok-{i}"), spec),
        )
        .await
        .unwrap();
    }
    for time in ["24:00", "3:00", "03:60", "03:00:00", "0300", "ab:cd", ""] {
        let spec = with(
            full_server_spec(),
            "/maintenance/window/starttime",
            json!(time),
        );
        let status = create_rejected(&api, &server_object("bad", spec)).await;
        assert!(
            status
                .message
                .contains("spec.maintenance.window.starttime: "),
            "{time}: {}",
            status.message
        );
    }
}

#[tokio::test]
async fn firewall_ips_are_ipv4_and_start_is_not_after_end() {
    let server = server().await;
    let api = servers(&server);
    let rule = |start: &str, end: &str| {
        with(minimal_server_spec(), "/size", json!({ "storageGB": 1 }))
            .as_object()
            .cloned()
            .map(|mut spec| {
                spec.insert(
                    "network".into(),
                    json!({ "firewallRules": [{ "name": "r", "startIp": start, "endIp": end }] }),
                );
                Value::Object(spec)
            })
            .unwrap()
    };
    for bad in [
        "256.0.0.1",
        "10.0.0",
        "10.0.0.1.2",
        "010.0.0.1",
        "::1",
        "a.b.c.d",
        "10.0.0.-1",
    ] {
        let status = create_rejected(&api, &server_object("bad", rule(bad, "10.0.0.1"))).await;
        assert_cause(
            &status,
            "spec.network.firewallRules[0].startIp",
            "should match",
        );
        let status = create_rejected(&api, &server_object("bad", rule("10.0.0.1", bad))).await;
        assert_cause(
            &status,
            "spec.network.firewallRules[0].endIp",
            "should match",
        );
    }
    // Ordered as numbers, not as text: "9.0.0.0" sorts after "10.0.0.0" as a string.
    api.create(
        &PostParams::default(),
        &server_object("numeric", rule("9.0.0.0", "10.0.0.0")),
    )
    .await
    .unwrap();
    for (start, end) in [
        ("10.0.0.0", "9.255.255.255"),
        ("10.0.0.2", "10.0.0.1"),
        ("255.255.255.255", "0.0.0.0"),
    ] {
        let status = create_rejected(&api, &server_object("reversed", rule(start, end))).await;
        assert_cause(
            &status,
            "spec.network.firewallRules[0]",
            "startIp must not be after endIp",
        );
    }
    let duplicate = json!({ "size": { "storageGB": 1 }, "credentialsSecret": "s", "network": { "firewallRules": [
        { "name": "r", "startIp": "10.0.0.1", "endIp": "10.0.0.1" },
        { "name": "r", "startIp": "10.0.0.2", "endIp": "10.0.0.2" },
    ] } });
    let status = create_rejected(&api, &server_object("dup", duplicate)).await;
    assert_cause(&status, "spec.network.firewallRules[1]", "Duplicate value");
}

#[tokio::test]
async fn backend_cannot_change_be_set_or_be_removed_after_create() {
    let server = server().await;
    let api = servers(&server);
    let shared = with(minimal_server_spec(), "/size", json!({ "storageGB": 5 }));
    let mut shared_obj = shared.clone();
    shared_obj["backend"] = json!("shared");
    apply(&api, &server_object("pinned", shared_obj.clone()))
        .await
        .unwrap();
    apply(&api, &server_object("pinned", shared_obj.clone()))
        .await
        .expect("the same backend again is no change");
    let mut moved = shared_obj.clone();
    moved["backend"] = json!("cnpg");
    let status = apply_rejected(&api, &server_object("pinned", moved)).await;
    assert_cause(&status, "spec.backend", "backend is immutable");
    let status = match api
        .patch(
            "pinned",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "backend": null } })),
        )
        .await
    {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("removing the backend: {other:?}"),
    };
    assert_cause(&status, "spec.backend", "backend is immutable");

    apply(&api, &server_object("defaulted", shared.clone()))
        .await
        .unwrap();
    let mut set_later = shared.clone();
    set_later["backend"] = json!("shared");
    let status = apply_rejected(&api, &server_object("defaulted", set_later)).await;
    assert_cause(&status, "spec.backend", "backend is immutable");
}

#[tokio::test]
async fn storage_gb_grows_but_never_shrinks() {
    let server = server().await;
    let api = servers(&server);
    apply(
        &api,
        &server_object(
            "s",
            with(minimal_server_spec(), "/size/storageGB", json!(20)),
        ),
    )
    .await
    .unwrap();
    apply(
        &api,
        &server_object(
            "s",
            with(minimal_server_spec(), "/size/storageGB", json!(30)),
        ),
    )
    .await
    .expect("growing is allowed");
    apply(
        &api,
        &server_object(
            "s",
            with(minimal_server_spec(), "/size/storageGB", json!(30)),
        ),
    )
    .await
    .expect("the same size is allowed");
    let status = apply_rejected(
        &api,
        &server_object(
            "s",
            with(minimal_server_spec(), "/size/storageGB", json!(29)),
        ),
    )
    .await;
    assert_cause(&status, "spec.size.storageGB", "storageGB cannot shrink");
}

#[tokio::test]
async fn unknown_fields_and_wrong_types_are_rejected() {
    let server = server().await;
    let api = servers(&server);
    let mut unknown = minimal_server_spec();
    unknown["size"]["storageGb"] = json!(10);
    let status = create_rejected(&api, &server_object("s", unknown)).await;
    assert_cause(
        &status,
        "spec.size.storageGb",
        "is not declared in the schema",
    );
    let mut top = minimal_server_spec();
    top["highAvailability"] = json!({ "enabled": true });
    let status = create_rejected(&api, &server_object("s", top)).await;
    assert_cause(
        &status,
        "spec.highAvailability",
        "is not declared in the schema",
    );
    let wrong = with(minimal_server_spec(), "/size/storageGB", json!("10"));
    let status = create_rejected(&api, &server_object("s", wrong)).await;
    assert_cause(&status, "spec.size.storageGB", "Invalid value");
    let mut params = minimal_server_spec();
    params["serverParameters"] = json!({ "work_mem": 8 });
    let status = create_rejected(&api, &server_object("s", params)).await;
    assert_cause(&status, "spec.serverParameters[work_mem]", "Invalid value");
    let version = with(full_server_spec(), "/version", json!("16beta"));
    let status = create_rejected(&api, &server_object("s", version)).await;
    assert_cause(&status, "spec.version", "should match");
}
