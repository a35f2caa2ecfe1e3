//! The [`StateStore`] contract: one suite every store implementation must pass unchanged.
//!
//! Each check takes a fresh, empty, migrated store (checks claim whatever is due, so they cannot
//! share one). An adapter's tests run them all, one test each, with
//!
//! ```ignore
//! async fn fresh() -> anyhow::Result<pgbroker_testkit::store_contract::FreshStore> { ... }
//! pgbroker_testkit::state_store_contract_tests!(fresh);
//! ```
//!
//! or in one go with [`run_all`].

pub mod fixtures;
mod leases;
mod lookups;
mod records;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use pgbroker_domain::ports::StateStore;

pub use leases::*;
pub use lookups::*;
pub use records::*;

/// What a check returns.
pub type CheckResult = anyhow::Result<()>;

/// A store for one check, and whatever must live as long as it does (a test database, a temporary
/// file) and be cleaned up after it: `guard` is dropped after the store.
pub struct FreshStore {
    pub store: Arc<dyn StateStore>,
    guard: Box<dyn Send>,
}

impl FreshStore {
    pub fn new(store: Arc<dyn StateStore>, guard: impl Send + 'static) -> Self {
        Self {
            store,
            guard: Box::new(guard),
        }
    }

    /// Runs `check` on this store, then drops the store and the guard, in that order.
    pub async fn run<F, Fut>(self, check: F) -> CheckResult
    where
        F: FnOnce(Arc<dyn StateStore>) -> Fut,
        Fut: Future<Output = CheckResult>,
    {
        let Self { store, guard } = self;
        let result = check(store).await;
        drop(guard);
        result
    }
}

type Check = fn(Arc<dyn StateStore>) -> Pin<Box<dyn Future<Output = CheckResult> + Send>>;

/// Calls `$callback!($($prefix)* <every check's name>,)`; the one list of checks.
#[doc(hidden)]
#[macro_export]
macro_rules! __state_store_checks {
    ($callback:ident!($($prefix:tt)*)) => {
        $crate::$callback!(
            $($prefix)*
            ping_answers,
            instances_round_trip,
            bindings_round_trip,
            operations_round_trip,
            duplicates_are_already_exists,
            second_in_flight_is_busy,
            latest_operation_by_instance_and_binding,
            operation_in_flight_covers_bindings,
            delete_instance_removes_bindings,
            updates_of_missing_rows_fail_the_whole_start,
            claim_due_takes_due_unleased_operations,
            expired_lease_is_reclaimed_with_higher_token,
            renew_lease_extends_only_a_current_lease,
            settle_with_stale_token_changes_nothing,
            settle_applies_writes_and_follow_up,
            settle_is_all_or_nothing,
            settle_in_progress_schedules_a_retry,
            concurrent_claims_never_overlap,
            concurrent_lookups_each_get_their_own_answer,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __state_store_check_table {
    ($($check:ident,)*) => {
        /// Every check, by name.
        pub const CHECKS: &[(&str, Check)] = &[
            $((stringify!($check), |store| Box::pin($check(store))),)*
        ];
    };
}

__state_store_checks!(__state_store_check_table!());

/// One `#[tokio::test]` (multi-threaded: the concurrency check needs it) per contract check, each
/// on a store from `$fresh`, an `async fn() -> anyhow::Result<FreshStore>`. The calling crate
/// needs `tokio` with the `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! state_store_contract_tests {
    ($fresh:path) => {
        $crate::__state_store_checks!(__state_store_contract_test!($fresh;));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __state_store_contract_test {
    ($fresh:path; $($check:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() -> $crate::store_contract::CheckResult {
                $fresh().await?.run($crate::store_contract::$check).await
            }
        )*
    };
}

/// Runs every check, each on a store from `fresh`, stopping at the first failure.
pub async fn run_all<F, Fut>(fresh: F) -> CheckResult
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<FreshStore>>,
{
    for (name, check) in CHECKS {
        let store = fresh()
            .await
            .with_context(|| format!("making a store for check {name}"))?;
        store
            .run(check)
            .await
            .with_context(|| format!("state store contract check {name}"))?;
    }
    Ok(())
}
