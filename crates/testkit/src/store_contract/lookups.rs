//! Many lookups at once: a store may answer lookups waiting together with one statement (the
//! PostgreSQL store does), and each caller must still get the answer to its own question.

use anyhow::ensure;
use futures::FutureExt;
use futures::future::{BoxFuture, join_all};
use pgbroker_domain::{Binding, Instance, Operation, OperationKind};

use super::fixtures::*;

/// Instances the check makes; each gets a binding, and every other one an update in flight.
const INSTANCES: usize = 8;

/// Lookups the check sends at once.
pub const CONCURRENT_LOOKUPS: usize = INSTANCES * 8 * ROUNDS;

/// Times every lookup is sent, interleaved, so the same question appears several times at once.
const ROUNDS: usize = 3;

/// What a lookup returned, to compare with what it should return.
#[derive(Debug, PartialEq)]
enum Found {
    Instance(Option<Instance>),
    Binding(Option<Binding>),
    Operation(Box<Option<Operation>>),
}

impl Found {
    fn op(found: Option<Operation>) -> Self {
        Self::Operation(Box::new(found))
    }
}

pub async fn concurrent_lookups_each_get_their_own_answer(store: Store) -> anyhow::Result<()> {
    let mut setups = Vec::new();
    for n in 0..INSTANCES {
        let i = ready_instance(&store, &format!("many-{n}")).await?;
        let b = bound(&store, &i.id, "b").await?;
        let in_flight = if n % 2 == 0 {
            let update = operation(OperationKind::Update, &i.id, None, at(10 + n as i64));
            store.start(&update, &[]).await?;
            Some(update)
        } else {
            None
        };
        let latest = store.latest_operation(&i.id, None).await?;
        let latest_of_binding = store.latest_operation(&i.id, Some(&b.id)).await?;
        ensure!(latest.is_some() && latest_of_binding.is_some());
        setups.push((i, b, in_flight, latest, latest_of_binding));
    }
    let missing_binding = binding_id("missing")?;
    let mut cases: Vec<(BoxFuture<'_, anyhow::Result<Found>>, Found)> = Vec::new();
    for _ in 0..ROUNDS {
        for (i, b, in_flight, latest, latest_of_binding) in &setups {
            let s = &store;
            let (id, bid) = (&i.id, &b.id);
            cases.push((
                async move { Ok(Found::Instance(s.instance(id).await?)) }.boxed(),
                Found::Instance(Some(i.clone())),
            ));
            cases.push((
                async move { Ok(Found::Binding(s.binding(id, bid).await?)) }.boxed(),
                Found::Binding(Some(b.clone())),
            ));
            let missing = &missing_binding;
            cases.push((
                async move { Ok(Found::Binding(s.binding(id, missing).await?)) }.boxed(),
                Found::Binding(None),
            ));
            cases.push((
                async move { Ok(Found::op(s.operation_in_flight(id).await?)) }.boxed(),
                Found::op(in_flight.clone()),
            ));
            cases.push((
                async move { Ok(Found::op(s.latest_operation(id, None).await?)) }.boxed(),
                Found::op(latest.clone()),
            ));
            cases.push((
                async move { Ok(Found::op(s.latest_operation(id, Some(bid)).await?)) }.boxed(),
                Found::op(latest_of_binding.clone()),
            ));
            let op = latest_of_binding.as_ref().map(|op| op.id);
            cases.push((
                async move {
                    Ok(Found::op(match op {
                        Some(op) => s.operation(op).await?,
                        None => None,
                    }))
                }
                .boxed(),
                Found::op(latest_of_binding.clone()),
            ));
            cases.push((
                async move { Ok(Found::op(s.latest_operation(id, Some(missing)).await?)) }.boxed(),
                Found::op(None),
            ));
        }
    }
    ensure!(cases.len() == CONCURRENT_LOOKUPS, "{} lookups", cases.len());
    let (lookups, expected): (Vec<_>, Vec<_>) = cases.into_iter().unzip();
    for (n, (found, expected)) in join_all(lookups)
        .await
        .into_iter()
        .zip(expected)
        .enumerate()
    {
        let found = found?;
        ensure!(
            found == expected,
            "lookup {n} answered {found:?}, expected {expected:?}"
        );
    }
    Ok(())
}
