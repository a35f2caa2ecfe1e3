//! Claiming, renewing and settling: the rules that keep replicas from doing the same work twice.

use std::collections::HashSet;

use anyhow::{Context, ensure};
use pgbroker_domain::ports::{StoreError, Write};
use pgbroker_domain::{
    BindingState, InstanceState, Lease, Operation, OperationKind, OperationState, Origin, Reason,
};

use super::fixtures::*;

fn lease_of(op: &Operation) -> anyhow::Result<&Lease> {
    op.lease
        .as_ref()
        .with_context(|| format!("operation {} has no lease", op.id))
}

pub async fn claim_due_takes_due_unleased_operations(store: Store) -> anyhow::Result<()> {
    let mut ops = Vec::new();
    for (tag, due) in [("late", 20), ("first", 0), ("second", 10)] {
        let op = operation(OperationKind::Provision, &instance_id(tag)?, None, at(due));
        store.start(&op, &[]).await?;
        ops.push(op);
    }
    let [late, first, second] = [&ops[0], &ops[1], &ops[2]];
    ensure!(store.claim_due(OWNER, at(-1), LEASE, 10).await?.is_empty());
    ensure!(store.claim_due(OWNER, at(10), LEASE, 0).await?.is_empty());

    // Oldest due first; attempts and the lease are recorded.
    let claimed = claim_exactly(&store, OWNER, at(10), &[first.id, second.id]).await?;
    for (op, original) in claimed.iter().zip([first, second]) {
        let lease = lease_of(op)?;
        ensure!(lease.owner == OWNER && lease.expires_at == at(10) + LEASE);
        ensure!(op.attempts == original.attempts + 1);
        ensure!(op.updated_at == at(10));
        ensure!(
            store.operation(op.id).await?.as_ref() == Some(op),
            "claim not stored"
        );
    }
    // Leased operations are not claimed again while the lease lasts.
    claim_exactly(&store, "worker-b", at(20), &[late.id]).await?;
    claim_exactly(&store, "worker-b", at(39), &[]).await?;

    // Settled operations are never due again; expired leases are.
    let settled = finish_claimed(&store, &claimed[0], OperationState::Succeeded, at(41)).await?;
    ensure!(settled.lease.is_none());
    claim_exactly(&store, "worker-c", at(41), &[second.id]).await?;
    claim_exactly(&store, "worker-c", at(1000), &[second.id, late.id]).await?;

    // `limit` caps a claim.
    for tag in ["l1", "l2", "l3"] {
        let op = operation(OperationKind::Provision, &instance_id(tag)?, None, at(1005));
        store.start(&op, &[]).await?;
    }
    ensure!(store.claim_due(OWNER, at(1010), LEASE, 2).await?.len() == 2);
    ensure!(store.claim_due(OWNER, at(1010), LEASE, 2).await?.len() == 1);
    ensure!(store.claim_due(OWNER, at(1010), LEASE, 2).await?.is_empty());
    Ok(())
}

pub async fn expired_lease_is_reclaimed_with_higher_token(store: Store) -> anyhow::Result<()> {
    let op = operation(OperationKind::Provision, &instance_id("lapse")?, None, t0());
    store.start(&op, &[]).await?;
    let first = claim_exactly(&store, OWNER, t0(), &[op.id])
        .await?
        .remove(0);
    let first_token = lease_of(&first)?.token;
    claim_exactly(&store, "worker-b", at(29), &[]).await?;

    let second = claim_exactly(&store, "worker-b", at(31), &[op.id])
        .await?
        .remove(0);
    let lease = lease_of(&second)?;
    ensure!(
        lease.owner == "worker-b" && lease.token > first_token,
        "{lease:?}"
    );
    ensure!(lease.expires_at == at(31) + LEASE);
    ensure!(second.attempts == 2, "attempts {}", second.attempts);

    // The first worker is fenced off.
    ensure!(!store.renew_lease(op.id, first_token, at(100)).await?);
    let mut late = first.clone();
    late.state = OperationState::Succeeded;
    ensure!(!store.settle(&late, first_token, &[], None).await?);
    ensure!(store.operation(op.id).await?.as_ref() == Some(&second));
    Ok(())
}

pub async fn renew_lease_extends_only_a_current_lease(store: Store) -> anyhow::Result<()> {
    let op = operation(OperationKind::Provision, &instance_id("renew")?, None, t0());
    store.start(&op, &[]).await?;
    let claimed = claim_exactly(&store, OWNER, t0(), &[op.id])
        .await?
        .remove(0);
    let token = lease_of(&claimed)?.token;

    ensure!(store.renew_lease(op.id, token, at(60)).await?);
    let stored = store.operation(op.id).await?.context("operation lost")?;
    let expected = Lease {
        expires_at: at(60),
        ..lease_of(&claimed)?.clone()
    };
    ensure!(
        stored.lease.as_ref() == Some(&expected),
        "{:?}",
        stored.lease
    );
    claim_exactly(&store, "worker-b", at(45), &[]).await?;

    ensure!(!store.renew_lease(op.id, token + 1, at(90)).await?);
    ensure!(!store.renew_lease(op.id, token - 1, at(90)).await?);
    ensure!(
        !store
            .renew_lease(pgbroker_domain::OperationId::new(), token, at(90))
            .await?
    );
    ensure!(
        store.operation(op.id).await?.as_ref() == Some(&stored),
        "stale renew wrote"
    );

    // A settled claim is over, even while the operation stays in flight.
    let mut retry = stored.clone();
    retry.lease = None;
    retry.next_attempt_at = at(500);
    ensure!(store.settle(&retry, token, &[], None).await?);
    ensure!(!store.renew_lease(op.id, token, at(90)).await?);
    ensure!(store.operation(op.id).await?.as_ref() == Some(&retry));
    Ok(())
}

pub async fn settle_with_stale_token_changes_nothing(store: Store) -> anyhow::Result<()> {
    let i = ready_instance(&store, "stale").await?;
    let b = binding(&i.id, &binding_id("b")?)?;
    let bind = operation(OperationKind::Bind, &i.id, Some(&b.id), at(10));
    store
        .start(&bind, &[Write::InsertBinding(b.clone())])
        .await?;
    let claimed = claim_exactly(&store, OWNER, at(10), &[bind.id])
        .await?
        .remove(0);
    let token = lease_of(&claimed)?.token;

    let mut failed = claimed.clone();
    failed.state = OperationState::Failed;
    failed.lease = None;
    let mut unbind = operation(OperationKind::Unbind, &i.id, Some(&b.id), at(11));
    unbind.origin = Origin::OrphanMitigation;
    let writes = [Write::UpdateBinding(pgbroker_domain::Binding {
        state: BindingState::Failed,
        ..b.clone()
    })];
    for stale in [token - 1, token + 1] {
        ensure!(!store.settle(&failed, stale, &writes, Some(&unbind)).await?);
    }
    ensure!(store.operation(bind.id).await?.as_ref() == Some(&claimed));
    ensure!(store.binding(&i.id, &b.id).await?.as_ref() == Some(&b));
    ensure!(store.operation(unbind.id).await?.is_none());

    // Still the token after its lease lapsed and another worker took over? No longer.
    let taken = claim_exactly(&store, "worker-b", at(100), &[bind.id])
        .await?
        .remove(0);
    ensure!(!store.settle(&failed, token, &writes, Some(&unbind)).await?);
    ensure!(store.operation(bind.id).await?.as_ref() == Some(&taken));
    ensure!(store.operation(unbind.id).await?.is_none());
    Ok(())
}

pub async fn settle_applies_writes_and_follow_up(store: Store) -> anyhow::Result<()> {
    let id = instance_id("settle")?;
    let provisioning = instance(&id, InstanceState::Provisioning)?;
    let provision = operation(OperationKind::Provision, &id, None, t0());
    store
        .start(&provision, &[Write::InsertInstance(provisioning.clone())])
        .await?;
    let claimed = claim_exactly(&store, OWNER, at(1), &[provision.id])
        .await?
        .remove(0);
    let token = lease_of(&claimed)?.token;

    let mut failed = claimed.clone();
    failed.state = OperationState::Failed;
    failed.description = Some("backend refused: quota".into());
    failed.reason = Some(Reason::QuotaExceeded);
    failed.failures = 4;
    failed.lease = None;
    failed.updated_at = at(2);
    let failed_instance = pgbroker_domain::Instance {
        state: InstanceState::Failed,
        updated_at: at(2),
        ..provisioning
    };
    // Orphan mitigation, created in the same millisecond as the provision it cleans up after.
    let mut cleanup = operation(OperationKind::Deprovision, &id, None, at(2));
    cleanup.origin = Origin::OrphanMitigation;
    cleanup.reason = Some(Reason::QuotaExceeded);
    cleanup.created_at = failed.created_at;
    let writes = [Write::UpdateInstance(failed_instance.clone())];
    ensure!(
        store
            .settle(&failed, token, &writes, Some(&cleanup))
            .await?
    );

    ensure!(store.operation(provision.id).await?.as_ref() == Some(&failed));
    ensure!(store.instance(&id).await?.as_ref() == Some(&failed_instance));
    ensure!(store.operation(cleanup.id).await?.as_ref() == Some(&cleanup));
    ensure!(store.operation_in_flight(&id).await?.as_ref() == Some(&cleanup));
    let latest = store.latest_operation(&id, None).await?;
    ensure!(latest.as_ref() == Some(&cleanup), "latest is {latest:?}");
    ensure!(
        !store.settle(&failed, token, &[], None).await?,
        "settled twice"
    );
    claim_exactly(&store, OWNER, at(2), &[cleanup.id]).await?;
    Ok(())
}

pub async fn settle_is_all_or_nothing(store: Store) -> anyhow::Result<()> {
    let busy = ready_instance(&store, "busy").await?;
    let i = ready_instance(&store, "atomic").await?;
    let update = operation(OperationKind::Update, &i.id, None, at(10));
    store.start(&update, &[]).await?;
    let claimed = claim_exactly(&store, OWNER, at(10), &[update.id])
        .await?
        .remove(0);
    let token = lease_of(&claimed)?.token;
    store
        .start(
            &operation(OperationKind::Update, &busy.id, None, at(500)),
            &[],
        )
        .await?;

    let mut done = claimed.clone();
    done.state = OperationState::Succeeded;
    done.lease = None;
    let updated = Write::UpdateInstance(pgbroker_domain::Instance {
        dashboard_url: Some("https://new.example".into()),
        ..i.clone()
    });
    let missing = Write::UpdateBinding(binding(&i.id, &binding_id("missing")?)?);
    expect_error(
        store
            .settle(&done, token, &[updated.clone(), missing], None)
            .await,
        |e| matches!(e, StoreError::NotFound(_)),
        "settling with a write to a missing binding",
    )?;
    let busy_follow_up = operation(OperationKind::Deprovision, &busy.id, None, at(11));
    expect_error(
        store
            .settle(
                &done,
                token,
                std::slice::from_ref(&updated),
                Some(&busy_follow_up),
            )
            .await,
        |e| matches!(e, StoreError::Busy(id) if *id == busy.id),
        "settling with a follow-up on a busy instance",
    )?;
    ensure!(store.operation(update.id).await?.as_ref() == Some(&claimed));
    ensure!(store.instance(&i.id).await?.as_ref() == Some(&i));
    ensure!(store.operation(busy_follow_up.id).await?.is_none());

    // Nothing happened, so the claim is still good.
    ensure!(store.settle(&done, token, &[updated], None).await?);
    Ok(())
}

pub async fn settle_in_progress_schedules_a_retry(store: Store) -> anyhow::Result<()> {
    let op = operation(OperationKind::Provision, &instance_id("retry")?, None, t0());
    store.start(&op, &[]).await?;
    let claimed = claim_exactly(&store, OWNER, t0(), &[op.id])
        .await?
        .remove(0);
    let token = lease_of(&claimed)?.token;

    let mut retry = claimed.clone();
    retry.lease = None;
    retry.failures = 1;
    retry.description = Some("backend busy (retry 1 in 60s)".into());
    retry.reason = Some(Reason::BackendUnavailable);
    retry.next_attempt_at = at(60);
    retry.updated_at = at(1);
    ensure!(store.settle(&retry, token, &[], None).await?);
    ensure!(store.operation(op.id).await?.as_ref() == Some(&retry));
    ensure!(store.operation_in_flight(&op.instance_id).await?.is_some());
    ensure!(
        !store.settle(&retry, token, &[], None).await?,
        "settled twice"
    );

    claim_exactly(&store, OWNER, at(59), &[]).await?;
    let again = claim_exactly(&store, "worker-b", at(60), &[op.id])
        .await?
        .remove(0);
    ensure!(lease_of(&again)?.token > token);
    ensure!(again.attempts == 2 && again.failures == 1);
    Ok(())
}

/// Many workers claim at once; each operation goes to exactly one of them.
pub async fn concurrent_claims_never_overlap(store: Store) -> anyhow::Result<()> {
    const OPERATIONS: usize = 60;
    const WORKERS: usize = 8;
    let mut started = HashSet::new();
    for n in 0..OPERATIONS {
        let op = operation(
            OperationKind::Provision,
            &instance_id(&format!("c{n}"))?,
            None,
            t0(),
        );
        store.start(&op, &[]).await?;
        started.insert(op.id);
    }
    let workers = (0..WORKERS).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let owner = format!("worker-{w}");
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_due(&owner, at(1), LEASE, 3).await?;
                if batch.is_empty() {
                    return Ok::<_, StoreError>(mine);
                }
                mine.extend(batch.into_iter().map(|op| op.id));
                tokio::task::yield_now().await;
            }
        })
    });
    let mut claimed = Vec::new();
    for worker in futures::future::join_all(workers).await {
        claimed.extend(worker??);
    }
    let unique: HashSet<_> = claimed.iter().copied().collect();
    ensure!(
        unique.len() == claimed.len(),
        "an operation was claimed twice"
    );
    ensure!(
        unique == started,
        "claimed {} of {OPERATIONS}",
        unique.len()
    );
    Ok(())
}

async fn finish_claimed(
    store: &Store,
    claimed: &Operation,
    state: OperationState,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Operation> {
    let mut next = claimed.clone();
    let token = lease_of(claimed)?.token;
    next.lease = None;
    next.state = state;
    next.updated_at = now;
    ensure!(store.settle(&next, token, &[], None).await?);
    Ok(next)
}
