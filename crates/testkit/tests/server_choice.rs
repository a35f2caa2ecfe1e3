//! `Broker::choose_server`: the operator's rules for turning a server spec into a provision
//! (allowed and default backend, plan by class or size, storage, fields a backend cannot
//! honour, the plan's schema), with test backends that say what their plans give.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use async_trait::async_trait;
use pgbroker_api_osb::JsonSchemaParameters;
use pgbroker_domain::ports::{
    Backend, BackendRegistry, BindRequest, InstanceRequest, ProvisionOutput, Step, UnbindRequest,
};
use pgbroker_domain::server::{
    Cpu, FirewallRule, PlanSize, ServerField, ServerPolicy, ServerRequest, ServerTarget,
    Translation, Unsupported,
};
use pgbroker_domain::{
    Broker, Catalog, CatalogDocument, Core, Credentials, JsonObject, OperationKind, Plan, Reason,
};
use pgbroker_testkit::backend::TestBackend;
use pgbroker_testkit::clock::{CountingSecrets, ManualClock};
use pgbroker_testkit::world::{memory_store, test_policy};
use serde_json::{Value, json};

/// Plans sized by `settings` {cpu_m, memory_mb, storage_gb, instances}; honours version,
/// extensions and storage as parameters, high availability through the plan's instances, and
/// refuses the rest by name.
struct SizedBackend(TestBackend);

#[async_trait]
impl Backend for SizedBackend {
    fn completes_synchronously(&self, kind: OperationKind) -> bool {
        self.0.completes_synchronously(kind)
    }
    async fn provision(&self, req: &InstanceRequest) -> Step<ProvisionOutput> {
        self.0.provision(req).await
    }
    async fn update(&self, req: &InstanceRequest) -> Step<()> {
        self.0.update(req).await
    }
    async fn deprovision(&self, req: &InstanceRequest) -> Step<()> {
        self.0.deprovision(req).await
    }
    async fn bind(&self, req: &BindRequest) -> Step<Credentials> {
        self.0.bind(req).await
    }
    async fn unbind(&self, req: &UnbindRequest) -> Step<()> {
        self.0.unbind(req).await
    }
    async fn check(&self) -> Result<(), pgbroker_domain::ports::CheckError> {
        self.0.check().await
    }

    fn plan_size(&self, plan: &Plan) -> Option<PlanSize> {
        let n = |key: &str| plan.settings.get(key).and_then(Value::as_u64);
        Some(PlanSize {
            cpu_millicores: n("cpu_m").and_then(|v| u32::try_from(v).ok()),
            memory_mb: n("memory_mb"),
            storage_gb: n("storage_gb").and_then(|v| u32::try_from(v).ok()),
            instances: n("instances").and_then(|v| u32::try_from(v).ok()),
        })
    }

    fn server_parameters(
        &self,
        plan: &Plan,
        target: &ServerTarget<'_>,
    ) -> Result<Translation, Unsupported> {
        let request = target.request;
        request.refuse_any(
            &[ServerField::FirewallRules, ServerField::MaintenanceWindow],
            |_| "the sized test backend has no such thing".into(),
        )?;
        if request.high_availability && self.plan_size(plan).and_then(|s| s.instances) < Some(2) {
            return Err(Unsupported::new(
                ServerField::HighAvailability,
                "plan has one instance",
            ));
        }
        let mut parameters = JsonObject::new();
        if let Some(v) = request.version {
            parameters.insert("postgres_version".into(), json!(v));
        }
        if !request.extensions.is_empty() {
            parameters.insert("extensions".into(), json!(request.extensions));
        }
        if let Some(gb) = target.storage_gb {
            parameters.insert("storage_gb".into(), json!(gb));
        }
        Ok(Translation {
            parameters,
            notes: vec!["sized backend note".into()],
        })
    }
}

fn catalog() -> Catalog {
    let sized = |id: &str, name: &str, cpu: u64, mem: u64, storage: u64, instances: u64| {
        json!({"id": id, "name": name, "description": name, "backend": "sized",
               "settings": {"cpu_m": cpu, "memory_mb": mem, "storage_gb": storage, "instances": instances}})
    };
    let mut medium = sized("p-medium", "medium", 2000, 2048, 50, 1);
    medium["maintenance_info"] = json!({"version": "1.2.0"});
    medium["schemas"] = json!({"instance_create": {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object", "additionalProperties": false,
    "properties": {
        "postgres_version": {"type": "integer", "enum": [16, 17]},
        "extensions": {"type": "array", "items": {"type": "string"}},
        "storage_gb": {"type": "integer", "minimum": 1}
    }}});
    let mut locked = sized("p-locked", "locked", 16000, 65536, 500, 1);
    locked["bindable"] = json!(false);
    let doc: CatalogDocument = serde_json::from_value(json!({"services": [
        {"id": "svc-sized", "name": "sized", "description": "sized plans", "plans": [
            sized("p-tiny", "tiny", 500, 512, 10, 1),
            medium,
            sized("p-ha-small", "ha-small", 1000, 1024, 10, 2),
            sized("p-ha-big", "ha-big", 4000, 4096, 100, 3),
            sized("p-extra-1", "extra", 8000, 8192, 100, 1),
            locked
        ]},
        {"id": "svc-sized-2", "name": "sized2", "description": "more sized plans", "plans": [
            sized("p-extra-2", "extra", 8000, 16384, 100, 1)
        ]},
        {"id": "svc-plain", "name": "plain", "description": "unsized plans", "plans": [
            {"id": "p-plain-a", "name": "a", "description": "a", "backend": "plain"},
            {"id": "p-plain-b", "name": "b", "description": "b", "backend": "plain"}
        ]},
        {"id": "svc-single", "name": "single", "description": "one unsized plan", "plans": [
            {"id": "p-single", "name": "only", "description": "only", "backend": "single"}
        ]}
    ]}))
    .unwrap();
    let names = ["sized", "plain", "single"].map(String::from).into();
    Catalog::load(doc, &names).unwrap()
}

async fn broker() -> Broker {
    let core = Core {
        traces: std::sync::Arc::new(pgbroker_domain::ports::NoTraceContext),
        catalog: Arc::new(catalog()),
        store: memory_store().await,
        backends: BackendRegistry::new()
            .with("sized", Arc::new(SizedBackend(TestBackend::synchronous())))
            .with("plain", Arc::new(TestBackend::synchronous()))
            .with("single", Arc::new(TestBackend::synchronous())),
        clock: Arc::new(ManualClock::new()),
        secrets: Arc::new(CountingSecrets::default()),
        parameter_schemas: Arc::new(JsonSchemaParameters),
        policy: test_policy(),
    };
    Broker::new(Arc::new(core))
}

fn all_allowed() -> ServerPolicy {
    ServerPolicy::new(
        ["sized", "plain", "single", "ghost"].map(String::from),
        Some("sized".into()),
    )
}

fn request(backend: &str, class: Option<&str>) -> ServerRequest {
    let mut r = ServerRequest {
        backend: Some(backend.into()),
        ..ServerRequest::default()
    };
    r.size.class = class.map(String::from);
    r.size.storage_gb = 10;
    r
}

fn sized(cpu: &str, memory_mb: u64) -> ServerRequest {
    let mut r = request("sized", None);
    r.size.cpu = Some(Cpu::parse(cpu).unwrap());
    r.size.memory_mb = Some(memory_mb);
    r
}

#[tokio::test]
async fn the_backend_must_be_allowed_and_empty_takes_the_default() {
    let broker = broker().await;
    let policy = ServerPolicy::new(["plain".to_string()], Some("sized".into()));
    let err = broker
        .choose_server(&request("single", Some("only")), &policy)
        .unwrap_err();
    assert_eq!(err.reason, Reason::InvalidSpec);
    assert_eq!(
        err.message,
        "spec.backend \"single\" is not allowed for servers (allowed: plain, sized)"
    );
    let mut no_backend = request("", Some("tiny"));
    no_backend.backend = None;
    let choice = broker.choose_server(&no_backend, &policy).unwrap();
    assert_eq!(choice.backend, "sized");
    let empty = request("", Some("tiny"));
    assert_eq!(
        broker.choose_server(&empty, &policy).unwrap().backend,
        "sized"
    );

    let no_default = ServerPolicy::new(["plain".to_string()], None);
    let err = broker.choose_server(&no_backend, &no_default).unwrap_err();
    assert_eq!(err.reason, Reason::InvalidSpec);
    assert!(
        err.message.contains("name one of: plain"),
        "{}",
        err.message
    );

    let err = broker
        .choose_server(&request("ghost", Some("x")), &all_allowed())
        .unwrap_err();
    assert_eq!(err.reason, Reason::InvalidSpec);
    assert!(err.message.contains("not configured"), "{}", err.message);
}

#[tokio::test]
async fn a_class_names_a_plan_of_the_chosen_backend() {
    let broker = broker().await;
    let choice = broker
        .choose_server(&request("sized", Some("medium")), &all_allowed())
        .unwrap();
    assert_eq!(choice.plan_id.as_str(), "p-medium");
    assert_eq!(choice.service_id.as_str(), "svc-sized");
    assert_eq!(choice.plan_name, "medium");
    assert_eq!(choice.maintenance_version.as_deref(), Some("1.2.0"));
    // By id too.
    let choice = broker
        .choose_server(&request("sized", Some("p-ha-big")), &all_allowed())
        .unwrap();
    assert_eq!(choice.plan_name, "ha-big");

    // A plan of another backend is not a class of this one.
    let err = broker
        .choose_server(&request("sized", Some("a")), &all_allowed())
        .unwrap_err();
    assert_eq!(err.reason, Reason::NoFittingPlan);
    assert!(
        err.message.starts_with(
            "spec.size.class \"a\" is not a plan of backend sized (classes: tiny (500m CPU, 512 MiB memory, 1 instance), medium"
        ),
        "{}",
        err.message
    );
    assert!(err.message.contains("sized/extra"), "{}", err.message);
    assert!(!err.message.contains("locked"), "{}", err.message);
}

#[tokio::test]
async fn an_ambiguous_class_is_refused_and_the_qualified_name_accepted() {
    let broker = broker().await;
    let err = broker
        .choose_server(&request("sized", Some("extra")), &all_allowed())
        .unwrap_err();
    assert_eq!(err.reason, Reason::InvalidSpec);
    assert_eq!(
        err.message,
        "spec.size.class \"extra\" names 2 plans of backend sized; write one of sized/extra, sized2/extra"
    );
    let choice = broker
        .choose_server(&request("sized", Some("sized2/extra")), &all_allowed())
        .unwrap();
    assert_eq!(choice.plan_id.as_str(), "p-extra-2");
}

#[tokio::test]
async fn a_plan_without_credentials_is_no_class() {
    let broker = broker().await;
    let err = broker
        .choose_server(&request("sized", Some("locked")), &all_allowed())
        .unwrap_err();
    assert_eq!(err.reason, Reason::InvalidSpec);
    assert!(
        err.message.contains("without credentials"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn without_a_class_the_smallest_plan_covering_cpu_and_memory_is_chosen() {
    let broker = broker().await;
    let pick = |r: ServerRequest| {
        broker
            .choose_server(&r, &all_allowed())
            .map(|c| c.plan_name)
    };
    assert_eq!(pick(sized("500m", 512)).unwrap(), "tiny");
    // One more MiB than tiny gives: the next one up, never tiny.
    assert_eq!(pick(sized("500m", 513)).unwrap(), "medium");
    assert_eq!(pick(sized("1", 1024)).unwrap(), "medium");
    assert_eq!(pick(sized("2001m", 10)).unwrap(), "extra");
    // Only cpu, or only memory.
    let mut only_cpu = request("sized", None);
    only_cpu.size.cpu = Some(Cpu::parse("600m").unwrap());
    assert_eq!(pick(only_cpu).unwrap(), "medium");
    let mut only_memory = request("sized", None);
    only_memory.size.memory_mb = Some(4096);
    assert_eq!(pick(only_memory).unwrap(), "extra");
    // Nothing asked: the smallest plan.
    assert_eq!(pick(request("sized", None)).unwrap(), "tiny");
    let choice = broker
        .choose_server(&sized("500m", 512), &all_allowed())
        .unwrap();
    assert!(
        choice.notes[0].contains("the smallest of backend sized"),
        "{:?}",
        choice.notes
    );
}

#[tokio::test]
async fn high_availability_takes_a_plan_with_replicas() {
    let broker = broker().await;
    let mut ha = sized("1", 1024);
    ha.high_availability = true;
    let choice = broker.choose_server(&ha, &all_allowed()).unwrap();
    assert_eq!(choice.plan_name, "ha-small");
    ha.size.cpu = Some(Cpu::parse("2").unwrap());
    assert_eq!(
        broker.choose_server(&ha, &all_allowed()).unwrap().plan_name,
        "ha-big"
    );
    let mut ha_tiny = request("sized", Some("tiny"));
    ha_tiny.high_availability = true;
    let err = broker.choose_server(&ha_tiny, &all_allowed()).unwrap_err();
    assert_eq!(err.reason, Reason::NoFittingPlan);
    assert!(
        err.message.starts_with("spec.size.class \"tiny\" gives 1 instance, less than the 2 or more instances asked for (classes that fit: ha-small"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn no_fit_names_the_classes_and_makes_nothing() {
    let broker = broker().await;
    let err = broker
        .choose_server(&sized("32", 512), &all_allowed())
        .unwrap_err();
    assert_eq!(err.reason, Reason::NoFittingPlan);
    assert!(
        err.message
            .starts_with("no plan of backend sized gives 32 CPU, 512 MiB memory (classes: tiny"),
        "{}",
        err.message
    );
    // A class smaller than the size asked is not silently taken.
    let mut too_small = sized("1", 512);
    too_small.size.class = Some("tiny".into());
    let err = broker
        .choose_server(&too_small, &all_allowed())
        .unwrap_err();
    assert_eq!(err.reason, Reason::NoFittingPlan);
    assert!(
        err.message.starts_with(
            "spec.size.class \"tiny\" gives 500m CPU, less than the 1 CPU, 512 MiB memory asked for"
        ),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn unsized_backends_choose_by_class_only() {
    let broker = broker().await;
    let mut r = request("plain", None);
    r.size.cpu = Some(Cpu::parse("1").unwrap());
    let err = broker.choose_server(&r, &all_allowed()).unwrap_err();
    assert_eq!(err.reason, Reason::NoFittingPlan);
    assert_eq!(
        err.message,
        "backend plain does not size its plans in CPU and memory; choose one with spec.size.class (classes: a, b)"
    );
    let err = broker
        .choose_server(&request("plain", None), &all_allowed())
        .unwrap_err();
    assert_eq!(err.reason, Reason::InvalidSpec);
    assert!(err.message.contains("(classes: a, b)"), "{}", err.message);
    // With one plan there is nothing to choose.
    let choice = broker
        .choose_server(&request("single", None), &all_allowed())
        .unwrap();
    assert_eq!(choice.plan_name, "only");
    // A class with a size the backend cannot check: the size field is refused by name.
    let mut r = request("plain", Some("a"));
    r.size.memory_mb = Some(512);
    let err = broker.choose_server(&r, &all_allowed()).unwrap_err();
    assert_eq!(err.reason, Reason::Unsupported);
    assert!(
        err.message
            .starts_with("spec.size.memoryMB is not supported"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn storage_is_never_below_the_plan_and_unsized_storage_is_said_in_words() {
    let broker = broker().await;
    let mut r = request("sized", Some("medium"));
    r.size.storage_gb = 20;
    let choice = broker.choose_server(&r, &all_allowed()).unwrap();
    assert_eq!(choice.parameters.get("storage_gb"), Some(&json!(50)));
    assert!(
        choice
            .notes
            .iter()
            .any(|n| n.contains("50 GiB, the size of plan medium")),
        "{:?}",
        choice.notes
    );
    r.size.storage_gb = 80;
    let choice = broker.choose_server(&r, &all_allowed()).unwrap();
    assert_eq!(choice.parameters.get("storage_gb"), Some(&json!(80)));
    assert_eq!(choice.notes, vec!["sized backend note".to_string()]);

    let choice = broker
        .choose_server(&request("plain", Some("b")), &all_allowed())
        .unwrap();
    assert!(choice.parameters.is_empty());
    assert_eq!(
        choice.notes,
        vec!["storage: backend plain does not size storage per server; the database shares its server's disk, so the 10 GiB of spec.size.storageGB are not reserved".to_string()]
    );

    let mut zero = request("sized", Some("medium"));
    zero.size.storage_gb = 0;
    let err = broker.choose_server(&zero, &all_allowed()).unwrap_err();
    assert_eq!(err.reason, Reason::InvalidSpec);
}

#[tokio::test]
async fn a_field_the_backend_cannot_honour_is_refused_by_name() {
    let broker = broker().await;
    let mut r = request("sized", Some("tiny"));
    r.firewall_rules = vec![FirewallRule::parse("office", "10.0.0.1", "10.0.0.9").unwrap()];
    let err = broker.choose_server(&r, &all_allowed()).unwrap_err();
    assert_eq!(err.reason, Reason::Unsupported);
    assert_eq!(
        err.message,
        "spec.network.firewallRules is not supported: the sized test backend has no such thing"
    );
    // A backend with the port's defaults honours no field at all.
    let mut r = request("plain", Some("a"));
    r.extensions = vec!["pg_trgm".into()];
    let err = broker.choose_server(&r, &all_allowed()).unwrap_err();
    assert_eq!(err.reason, Reason::Unsupported);
    assert_eq!(
        err.message,
        "spec.extensions is not supported: backend plain does not take operator server specs beyond the plan"
    );
}

#[tokio::test]
async fn the_translation_passes_the_plans_schema() {
    let broker = broker().await;
    let mut r = request("sized", Some("medium"));
    r.version = Some(17);
    r.extensions = vec!["citext".into()];
    let choice = broker.choose_server(&r, &all_allowed()).unwrap();
    assert_eq!(
        Value::Object(choice.parameters.clone()),
        json!({"postgres_version": 17, "extensions": ["citext"], "storage_gb": 50})
    );
    r.version = Some(14);
    let err = broker.choose_server(&r, &all_allowed()).unwrap_err();
    assert_eq!(err.reason, Reason::InvalidSpec);
    assert!(
        err.message
            .starts_with("plan medium does not accept the spec: parameters.postgres_version"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_choice_becomes_a_provision_spec_and_update_changes() {
    let broker = broker().await;
    let mut r = request("sized", Some("medium"));
    r.version = Some(16);
    let choice = broker.choose_server(&r, &all_allowed()).unwrap();
    let context = JsonObject::from_iter([("namespace".to_string(), json!("team-a"))]);
    let spec = choice.instance_spec(context.clone());
    assert_eq!(spec.plan_id, choice.plan_id);
    assert_eq!(spec.parameters, choice.parameters);
    assert_eq!(spec.context, context);
    assert_eq!(spec.maintenance_version.as_deref(), Some("1.2.0"));
    let current: JsonObject =
        serde_json::from_value(json!({"postgres_version": 16, "extensions": ["x"]})).unwrap();
    assert_eq!(
        Value::Object(choice.parameter_changes(&current)),
        json!({"postgres_version": 16, "storage_gb": 50, "extensions": null})
    );
}
