//! Reading back what was written: instances, bindings, operations, and the rules on inserting them.

use anyhow::{Context, ensure};
use pgbroker_domain::ports::{StoreError, Write};
use pgbroker_domain::{
    BindingState, Instance, InstanceState, Lease, OperationKind, OperationState, Origin, PlanId,
    Reason,
};

use super::fixtures::*;

pub async fn ping_answers(store: Store) -> anyhow::Result<()> {
    store.ping().await?;
    Ok(())
}

pub async fn instances_round_trip(store: Store) -> anyhow::Result<()> {
    let full = instance(&instance_id("full")?, InstanceState::Provisioning)?;
    let op = operation(OperationKind::Provision, &full.id, None, t0());
    store
        .start(&op, &[Write::InsertInstance(full.clone())])
        .await?;
    ensure!(store.instance(&full.id).await?.as_ref() == Some(&full));

    let bare = bare_instance(&instance_id("bare")?)?;
    let op = operation(OperationKind::Provision, &bare.id, None, t0());
    store
        .start(&op, &[Write::InsertInstance(bare.clone())])
        .await?;
    ensure!(store.instance(&bare.id).await?.as_ref() == Some(&bare));

    ensure!(store.instance(&instance_id("nobody")?).await?.is_none());
    Ok(())
}

pub async fn bindings_round_trip(store: Store) -> anyhow::Result<()> {
    let i = ready_instance(&store, "bound").await?;
    let b = binding(&i.id, &binding_id("b")?)?;
    let bind = operation(OperationKind::Bind, &i.id, Some(&b.id), at(10));
    store
        .start(&bind, &[Write::InsertBinding(b.clone())])
        .await?;
    let stored = store
        .binding(&i.id, &b.id)
        .await?
        .context("binding not stored")?;
    ensure!(stored == b);
    ensure!(stored.password.expose() == PASSWORD, "password changed");

    let done = Write::UpdateBinding(pgbroker_domain::Binding {
        state: BindingState::Ready,
        credentials: Some(credentials()),
        updated_at: at(11),
        ..b.clone()
    });
    finish(
        &store,
        &bind,
        OperationState::Succeeded,
        at(11),
        std::slice::from_ref(&done),
    )
    .await?;
    let stored = store.binding(&i.id, &b.id).await?;
    ensure!(matches!(&done, Write::UpdateBinding(b) if Some(b) == stored.as_ref()));
    let creds = stored
        .and_then(|b| b.credentials)
        .context("credentials lost")?;
    ensure!(
        creds.expose() == credentials().expose(),
        "credentials changed"
    );

    ensure!(store.binding(&i.id, &binding_id("other")?).await?.is_none());
    ensure!(
        store
            .binding(&instance_id("nobody")?, &b.id)
            .await?
            .is_none()
    );
    Ok(())
}

pub async fn operations_round_trip(store: Store) -> anyhow::Result<()> {
    let i = instance_id("ops")?;
    let mut full = operation(OperationKind::Update, &i, None, at(5));
    full.origin = Origin::OrphanMitigation;
    full.plan_id = Some(PlanId::parse("medium")?);
    full.target = Some(spec("large")?);
    full.originating_identity = Some("kubernetes eyJ1c2VybmFtZSI6ImFsaWNlIn0=".into());
    full.trace_parent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
    full.attempts = 3;
    full.failures = 2;
    full.reason = Some(Reason::ForeignObject);
    full.deadline = at(3_600_000);
    full.lease = Some(Lease {
        owner: "worker-z".into(),
        token: 7,
        expires_at: at(35),
    });
    full.updated_at = at(6);
    // Operations need no instance row: they outlive the instance they delete.
    store.start(&full, &[]).await?;
    ensure!(store.operation(full.id).await?.as_ref() == Some(&full));

    let b = binding_id("b")?;
    let mut bare = operation(OperationKind::Bind, &instance_id("ops2")?, Some(&b), at(7));
    bare.description = None;
    // As operations recorded before the store kept their service and plan.
    bare.service_id = None;
    bare.plan_id = None;
    store.start(&bare, &[]).await?;
    ensure!(store.operation(bare.id).await?.as_ref() == Some(&bare));
    // Service and plan come back the same way from the other reads of operations.
    let latest = store.latest_operation(&i, None).await?;
    ensure!(latest.as_ref() == Some(&full), "latest of {i}: {latest:?}");
    let in_flight = store.operation_in_flight(&i).await?;
    ensure!(
        in_flight.as_ref() == Some(&full),
        "in flight: {in_flight:?}"
    );
    let claimed = claim_exactly(&store, OWNER, at(7), &[bare.id]).await?;
    ensure!(
        claimed
            .iter()
            .all(|op| op.service_id.is_none() && op.plan_id.is_none()),
        "claimed: {claimed:?}"
    );

    ensure!(
        store
            .operation(pgbroker_domain::OperationId::new())
            .await?
            .is_none()
    );
    Ok(())
}

pub async fn duplicates_are_already_exists(store: Store) -> anyhow::Result<()> {
    let i = ready_instance(&store, "dup").await?;
    let again = operation(OperationKind::Provision, &i.id, None, at(10));
    let insert = Write::InsertInstance(instance(&i.id, InstanceState::Provisioning)?);
    let e = expect_error(
        store.start(&again, &[insert]).await,
        |e| matches!(e, StoreError::AlreadyExists(_)),
        "inserting an instance twice",
    )?;
    ensure!(
        e.to_string() == format!("instance {} already exists", i.id),
        "{e}"
    );
    ensure!(
        store.operation(again.id).await?.is_none(),
        "failed start left its operation"
    );
    ensure!(store.operation_in_flight(&i.id).await?.is_none());
    ensure!(store.instance(&i.id).await?.as_ref() == Some(&i));

    let b = bound(&store, &i.id, "b").await?;
    let rebind = operation(OperationKind::Bind, &i.id, Some(&b.id), at(10));
    let e = expect_error(
        store
            .start(&rebind, &[Write::InsertBinding(b.clone())])
            .await,
        |e| matches!(e, StoreError::AlreadyExists(_)),
        "inserting a binding twice",
    )?;
    let shown = format!("{e} {e:?}");
    ensure!(
        shown.contains(&format!("binding {} of instance {}", b.id, i.id)),
        "{e}"
    );
    ensure!(!shown.contains(PASSWORD), "an error shows the password");
    ensure!(store.operation(rebind.id).await?.is_none());

    let settled = store.latest_operation(&i.id, Some(&b.id)).await?;
    let settled = settled.context("bind operation lost")?;
    expect_error(
        store.start(&settled, &[]).await,
        |e| matches!(e, StoreError::AlreadyExists(_)),
        "recording an operation id twice",
    )?;
    Ok(())
}

pub async fn second_in_flight_is_busy(store: Store) -> anyhow::Result<()> {
    let i = ready_instance(&store, "busy").await?;
    let update = operation(OperationKind::Update, &i.id, None, at(10));
    store.start(&update, &[]).await?;
    let elsewhere = instance(&instance_id("elsewhere")?, InstanceState::Provisioning)?;
    let deprovision = operation(OperationKind::Deprovision, &i.id, None, at(11));
    let e = expect_error(
        store
            .start(&deprovision, &[Write::InsertInstance(elsewhere.clone())])
            .await,
        |e| matches!(e, StoreError::Busy(id) if *id == i.id),
        "a second operation on a busy instance",
    )?;
    ensure!(e.to_string().contains(i.id.as_str()), "{e}");
    ensure!(store.operation(deprovision.id).await?.is_none());
    ensure!(
        store.instance(&elsewhere.id).await?.is_none(),
        "busy start wrote"
    );
    finish(&store, &update, OperationState::Succeeded, at(10), &[]).await?;

    // A binding operation occupies its instance too.
    let b = binding(&i.id, &binding_id("b")?)?;
    let bind = operation(OperationKind::Bind, &i.id, Some(&b.id), at(20));
    store
        .start(&bind, &[Write::InsertBinding(b.clone())])
        .await?;
    for second in [
        operation(OperationKind::Update, &i.id, None, at(21)),
        operation(OperationKind::Bind, &i.id, Some(&binding_id("c")?), at(21)),
        operation(OperationKind::Unbind, &i.id, Some(&b.id), at(21)),
    ] {
        expect_error(
            store.start(&second, &[]).await,
            |e| matches!(e, StoreError::Busy(id) if *id == i.id),
            "an operation next to a binding operation",
        )?;
    }

    // Other instances are not affected, and a settled operation frees its instance.
    let other = operation(OperationKind::Provision, &elsewhere.id, None, at(30));
    store
        .start(&other, &[Write::InsertInstance(elsewhere)])
        .await?;
    finish(&store, &bind, OperationState::Failed, at(20), &[]).await?;
    store
        .start(
            &operation(OperationKind::Deprovision, &i.id, None, at(40)),
            &[],
        )
        .await?;
    Ok(())
}

pub async fn latest_operation_by_instance_and_binding(store: Store) -> anyhow::Result<()> {
    let i = ready_instance(&store, "latest").await?;
    let b = bound(&store, &i.id, "b").await?;
    let update = operation(OperationKind::Update, &i.id, None, at(20));
    store.start(&update, &[]).await?;
    let update = finish(&store, &update, OperationState::Succeeded, at(20), &[]).await?;
    let unbind = operation(OperationKind::Unbind, &i.id, Some(&b.id), at(30));
    store.start(&unbind, &[]).await?;

    ensure!(store.latest_operation(&i.id, None).await?.as_ref() == Some(&update));
    ensure!(store.latest_operation(&i.id, Some(&b.id)).await?.as_ref() == Some(&unbind));
    let other = binding_id("other")?;
    ensure!(store.latest_operation(&i.id, Some(&other)).await?.is_none());
    ensure!(
        store
            .latest_operation(&instance_id("nobody")?, None)
            .await?
            .is_none()
    );
    Ok(())
}

pub async fn operation_in_flight_covers_bindings(store: Store) -> anyhow::Result<()> {
    let i = instance_id("flight")?;
    ensure!(store.operation_in_flight(&i).await?.is_none());
    let provision = operation(OperationKind::Provision, &i, None, t0());
    let provisioning = instance(&i, InstanceState::Provisioning)?;
    store
        .start(&provision, &[Write::InsertInstance(provisioning)])
        .await?;
    ensure!(store.operation_in_flight(&i).await?.as_ref() == Some(&provision));
    finish(&store, &provision, OperationState::Succeeded, t0(), &[]).await?;
    ensure!(store.operation_in_flight(&i).await?.is_none());

    let b = binding(&i, &binding_id("b")?)?;
    let bind = operation(OperationKind::Bind, &i, Some(&b.id), at(10));
    store.start(&bind, &[Write::InsertBinding(b)]).await?;
    ensure!(store.operation_in_flight(&i).await?.as_ref() == Some(&bind));
    Ok(())
}

pub async fn delete_instance_removes_bindings(store: Store) -> anyhow::Result<()> {
    let i = ready_instance(&store, "gone").await?;
    let (b1, b2) = (
        bound(&store, &i.id, "b1").await?,
        bound(&store, &i.id, "b2").await?,
    );
    let deprovision = operation(OperationKind::Deprovision, &i.id, None, at(50));
    store.start(&deprovision, &[]).await?;
    let writes = [Write::DeleteInstance(i.id.clone())];
    let done = finish(
        &store,
        &deprovision,
        OperationState::Succeeded,
        at(50),
        &writes,
    )
    .await?;
    ensure!(store.instance(&i.id).await?.is_none());
    ensure!(store.binding(&i.id, &b1.id).await?.is_none());
    ensure!(store.binding(&i.id, &b2.id).await?.is_none());
    // Operations outlive the instance, so last_operation can still answer.
    ensure!(store.operation(deprovision.id).await?.as_ref() == Some(&done));
    ensure!(store.latest_operation(&i.id, None).await?.as_ref() == Some(&done));
    ensure!(store.latest_operation(&i.id, Some(&b1.id)).await?.is_some());

    // Deleting what is already gone is no error.
    let again = operation(OperationKind::Deprovision, &i.id, None, at(60));
    let writes = [
        Write::DeleteBinding(i.id.clone(), b1.id.clone()),
        Write::DeleteInstance(i.id.clone()),
    ];
    store.start(&again, &writes).await?;
    Ok(())
}

pub async fn updates_of_missing_rows_fail_the_whole_start(store: Store) -> anyhow::Result<()> {
    let created = instance(&instance_id("created")?, InstanceState::Provisioning)?;
    let missing = instance(&instance_id("missing")?, InstanceState::Ready)?;
    let op = operation(OperationKind::Provision, &created.id, None, t0());
    let writes = [
        Write::InsertInstance(created.clone()),
        Write::UpdateInstance(missing.clone()),
    ];
    let e = expect_error(
        store.start(&op, &writes).await,
        |e| matches!(e, StoreError::NotFound(_)),
        "updating a missing instance",
    )?;
    ensure!(
        e.to_string() == format!("instance {} does not exist", missing.id),
        "{e}"
    );
    ensure!(
        store.instance(&created.id).await?.is_none(),
        "start was not atomic"
    );
    ensure!(
        store.operation(op.id).await?.is_none(),
        "start was not atomic"
    );

    let i = ready_instance(&store, "unbound").await?;
    let b = binding(&i.id, &binding_id("missing")?)?;
    let unbind = operation(OperationKind::Unbind, &i.id, Some(&b.id), at(10));
    let renamed = Instance {
        dashboard_url: None,
        ..i.clone()
    };
    let writes = [Write::UpdateInstance(renamed), Write::UpdateBinding(b)];
    expect_error(
        store.start(&unbind, &writes).await,
        |e| matches!(e, StoreError::NotFound(_)),
        "updating a missing binding",
    )?;
    ensure!(
        store.instance(&i.id).await?.as_ref() == Some(&i),
        "start was not atomic"
    );
    ensure!(store.operation(unbind.id).await?.is_none());
    Ok(())
}
