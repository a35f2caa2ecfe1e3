//! Retry delays: exponential in the number of failures in a row, with "equal jitter" so that
//! operations failing together do not retry together.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use crate::ids::OperationId;

/// Delay before the retry that follows the `failures`-th failure in a row (1-based).
/// Lies in `[d/2, d]` where `d = min(base * 2^(failures-1), max)`; the spread comes from a hash of
/// the operation id and the failure count, so it differs between operations yet is reproducible.
pub fn retry_delay(base: Duration, max: Duration, id: OperationId, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(30);
    let full = base.saturating_mul(1u32 << exponent).min(max);
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    failures.hash(&mut hasher);
    let fraction = (hasher.finish() % 1_000) as f64 / 1_000.0;
    full / 2 + full.mul_f64(fraction / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(60);

    #[test]
    fn grows_exponentially_within_jitter_bounds() {
        let id = OperationId::new();
        for failures in 1..=6u32 {
            let full = BASE * 2u32.pow(failures - 1);
            let d = retry_delay(BASE, MAX, id, failures);
            assert!(
                d >= full / 2 && d <= full,
                "{failures}: {d:?} not in [{:?}, {full:?}]",
                full / 2
            );
        }
    }

    #[test]
    fn is_capped() {
        let d = retry_delay(BASE, MAX, OperationId::new(), 40);
        assert!(d <= MAX && d >= MAX / 2, "{d:?}");
    }

    #[test]
    fn spreads_operations_apart() {
        let delays: std::collections::BTreeSet<_> = (0..50)
            .map(|_| retry_delay(BASE, MAX, OperationId::new(), 4))
            .collect();
        assert!(delays.len() > 10, "only {} distinct delays", delays.len());
    }
}
