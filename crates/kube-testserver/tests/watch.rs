//! Watches: raw event streams with bookmarks and resume, selector transitions, and the
//! kube-runtime watcher surviving dropped watches and compacted history.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use pgbroker_kube_testserver::TestServer;
use serde_json::json;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(
        json!({ "metadata": { "name": name, "labels": labels }, "data": { "v": "0" } }),
    )
    .unwrap()
}

fn name_of(event: &WatchEvent<ConfigMap>) -> String {
    match event {
        WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
            o.metadata.name.clone().unwrap()
        }
        WatchEvent::Bookmark(_) => "<bookmark>".into(),
        WatchEvent::Error(e) => format!("<error {}>", e.code),
    }
}

fn kind_of(event: &WatchEvent<ConfigMap>) -> &'static str {
    match event {
        WatchEvent::Added(_) => "ADDED",
        WatchEvent::Modified(_) => "MODIFIED",
        WatchEvent::Deleted(_) => "DELETED",
        WatchEvent::Bookmark(_) => "BOOKMARK",
        WatchEvent::Error(_) => "ERROR",
    }
}

#[tokio::test]
async fn watch_streams_changes_with_bookmarks_and_resumes_from_a_resource_version() {
    let server = TestServer::start_default().await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let first = maps
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let from = first.metadata.resource_version.clone().unwrap();

    let mut stream = maps
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let initial = stream.try_next().await.unwrap().unwrap();
    assert_eq!(
        (kind_of(&initial), name_of(&initial)),
        ("ADDED", "a".to_string())
    );

    maps.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({ "data": { "v": "1" } })),
    )
    .await
    .unwrap();
    maps.create(&PostParams::default(), &cm("b", json!({})))
        .await
        .unwrap();
    maps.delete("a", &DeleteParams::default()).await.unwrap();
    // Bookmarks may come in between; the changes arrive in order.
    let mut changes = Vec::new();
    while changes.len() < 3 {
        let event = stream.try_next().await.unwrap().unwrap();
        if !matches!(event, WatchEvent::Bookmark(_)) {
            changes.push((kind_of(&event), name_of(&event)));
        }
    }
    assert_eq!(
        changes,
        [
            ("MODIFIED", "a".to_string()),
            ("ADDED", "b".to_string()),
            ("DELETED", "a".to_string())
        ]
    );
    // An idle watch that allowed bookmarks gets one.
    loop {
        let event = stream.try_next().await.unwrap().unwrap();
        if let WatchEvent::Bookmark(b) = event {
            assert!(!b.metadata.resource_version.is_empty());
            break;
        }
    }

    // Resuming from the first object's version replays exactly what happened after it.
    let mut resumed = maps
        .watch(&WatchParams::default().disable_bookmarks(), &from)
        .await
        .unwrap()
        .boxed();
    let mut replay = Vec::new();
    for _ in 0..3 {
        let event = resumed.try_next().await.unwrap().unwrap();
        replay.push((kind_of(&event), name_of(&event)));
    }
    assert_eq!(
        replay,
        [
            ("MODIFIED", "a".to_string()),
            ("ADDED", "b".to_string()),
            ("DELETED", "a".to_string())
        ]
    );
}

#[tokio::test]
async fn label_selected_watch_sees_objects_enter_and_leave_the_selection() {
    let server = TestServer::start_default().await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let wp = WatchParams::default().labels("team=db").disable_bookmarks();
    let mut stream = maps.watch(&wp, "0").await.unwrap().boxed();
    maps.create(&PostParams::default(), &cm("x", json!({ "team": "web" })))
        .await
        .unwrap();
    maps.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "labels": { "team": "db" } } })),
    )
    .await
    .unwrap();
    maps.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({ "data": { "v": "2" } })),
    )
    .await
    .unwrap();
    maps.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "labels": { "team": null } } })),
    )
    .await
    .unwrap();
    let mut kinds = Vec::new();
    for _ in 0..3 {
        kinds.push(kind_of(&stream.try_next().await.unwrap().unwrap()));
    }
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
}

#[tokio::test]
async fn a_compacted_history_answers_410_gone_in_the_stream() {
    let server = TestServer::start_default().await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let old = maps
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    maps.create(&PostParams::default(), &cm("b", json!({})))
        .await
        .unwrap();
    server.store().compact();
    let rv = old.metadata.resource_version.unwrap();
    let mut stream = maps
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(status) => assert_eq!(status.code, 410),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
}

async fn next_apply(
    events: &mut (
             impl futures::Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>> + Unpin
         ),
    name: &str,
) {
    // Watch errors (such as 410 Gone) are reported and recovered from by the watcher itself.
    while let Some(event) = events.next().await {
        if let Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) = event
            && o.metadata.name.as_deref() == Some(name)
        {
            return;
        }
    }
    panic!("watcher ended before {name} appeared");
}

#[tokio::test]
async fn runtime_watcher_survives_dropped_watches_and_compaction() {
    let server = TestServer::start_default().await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    maps.create(&PostParams::default(), &cm("first", json!({})))
        .await
        .unwrap();
    let mut events = watcher(maps.clone(), watcher::Config::default()).boxed();
    next_apply(&mut events, "first").await;
    maps.create(&PostParams::default(), &cm("second", json!({})))
        .await
        .unwrap();
    next_apply(&mut events, "second").await;

    server.faults().drop_watches();
    maps.create(&PostParams::default(), &cm("third", json!({})))
        .await
        .unwrap();
    next_apply(&mut events, "third").await;

    server.store().compact();
    server.faults().drop_watches();
    maps.create(&PostParams::default(), &cm("fourth", json!({})))
        .await
        .unwrap();
    next_apply(&mut events, "fourth").await;

    let watches = server
        .requests()
        .iter()
        .filter(|r| r.verb == "watch" && r.resource == "configmaps")
        .count();
    let lists = server
        .requests()
        .iter()
        .filter(|r| r.verb == "list" && r.resource == "configmaps")
        .count();
    assert!(
        watches >= 3,
        "the watcher re-watched after each drop: {watches}"
    );
    assert!(lists >= 2, "the watcher relisted after 410 Gone: {lists}");
    // The stream keeps working afterwards.
    maps.create(&PostParams::default(), &cm("fifth", json!({})))
        .await
        .unwrap();
    next_apply(&mut events, "fifth").await;
}

#[tokio::test]
async fn runtime_watcher_with_streaming_lists_gets_initial_events_then_changes() {
    let server = TestServer::start_default().await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    maps.create(&PostParams::default(), &cm("before", json!({})))
        .await
        .unwrap();
    let mut events = watcher(maps.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut init_done = false;
    while let Some(event) = events.next().await {
        match event.unwrap() {
            watcher::Event::InitApply(o) => assert_eq!(o.metadata.name.as_deref(), Some("before")),
            watcher::Event::InitDone => {
                init_done = true;
                break;
            }
            _ => {}
        }
    }
    assert!(init_done);
    maps.create(&PostParams::default(), &cm("after", json!({})))
        .await
        .unwrap();
    next_apply(&mut events, "after").await;
    let watch = server
        .requests()
        .into_iter()
        .find(|r| r.verb == "watch")
        .unwrap();
    assert!(
        watch.query.contains("sendInitialEvents=true"),
        "{}",
        watch.query
    );
}

#[tokio::test]
async fn a_watch_across_all_namespaces_sees_every_namespace() {
    let server = TestServer::start_default().await.unwrap();
    server.create_namespace("other").unwrap();
    let all: Api<ConfigMap> = Api::all(server.client());
    let mut stream = all
        .watch(&WatchParams::default().disable_bookmarks(), "0")
        .await
        .unwrap()
        .boxed();
    for ns in ["default", "other"] {
        let maps: Api<ConfigMap> = Api::namespaced(server.client(), ns);
        maps.create(&PostParams::default(), &cm("x", json!({})))
            .await
            .unwrap();
    }
    let mut namespaces = Vec::new();
    for _ in 0..2 {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(o) => namespaces.push(o.metadata.namespace.unwrap()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(namespaces, ["default", "other"]);
}
