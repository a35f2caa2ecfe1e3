//! The store's keyed reads (lookups). Each is written once, as SQL with its key placeholders, and
//! runs either alone (keys bound to `$1`, `$2`) or, on PostgreSQL, as one statement for a whole
//! batch of lookups of the same kind (keys bound as arrays, the lookup joined laterally to each).
//!
//! Why batches: under load many lookups wait for a reader at once (platforms polling
//! `last_operation`, bindings being fetched). One statement for all of them costs PostgreSQL one
//! wake-up of a backend process, one plan and one reply instead of one of each per lookup. Every
//! lookup still reads the database after its request arrived: nothing is served from memory, so
//! replicas sharing the store never see each other's writes late.

use pgbroker_domain::{BindingId, InstanceId, OperationId};

use crate::dialect::{Param, Statement};

/// The column of a batched lookup's rows that says which lookup of the batch (1-based) a row
/// answers.
pub const BATCH_INDEX: &str = "batch_index";

macro_rules! instance_by_id {
    ($id:literal) => {
        concat!(
            "SELECT ",
            instance_columns!(),
            " FROM instances WHERE id = ",
            $id
        )
    };
}

macro_rules! binding_by_id {
    ($instance:literal, $binding:literal) => {
        concat!(
            "SELECT ",
            binding_columns!(),
            " FROM bindings WHERE instance_id = ",
            $instance,
            " AND binding_id = ",
            $binding
        )
    };
}

macro_rules! operation_by_id {
    ($id:literal) => {
        concat!(
            "SELECT ",
            operation_columns!(),
            " FROM operations WHERE id = ",
            $id
        )
    };
}

/// `'in progress'` is written out (not bound) so that PostgreSQL can use the partial index
/// `operations_one_in_flight`.
macro_rules! operation_in_flight {
    ($instance:literal) => {
        concat!(
            "SELECT ",
            operation_columns!(),
            " FROM operations WHERE instance_id = ",
            $instance,
            " AND state = 'in progress'"
        )
    };
}

macro_rules! latest_of_instance {
    ($instance:literal) => {
        concat!(
            "SELECT ",
            operation_columns!(),
            " FROM operations WHERE instance_id = ",
            $instance,
            " AND binding_id IS NULL ORDER BY created_at DESC, seq DESC LIMIT 1"
        )
    };
}

macro_rules! latest_of_binding {
    ($instance:literal, $binding:literal) => {
        concat!(
            "SELECT ",
            operation_columns!(),
            " FROM operations WHERE instance_id = ",
            $instance,
            " AND binding_id = ",
            $binding,
            " ORDER BY created_at DESC, seq DESC LIMIT 1"
        )
    };
}

/// A batch of lookups keyed by one text column: `$1` is the array of keys.
macro_rules! batch_of_one {
    ($lookup:expr) => {
        concat!(
            "SELECT k.batch_index, r.* FROM unnest($1::text[]) WITH ORDINALITY AS k(key1, batch_index) \
             CROSS JOIN LATERAL (",
            $lookup,
            ") AS r"
        )
    };
}

/// A batch of lookups keyed by two text columns: `$1` and `$2` are the arrays of keys.
macro_rules! batch_of_two {
    ($lookup:expr) => {
        concat!(
            "SELECT k.batch_index, r.* \
             FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(key1, key2, batch_index) \
             CROSS JOIN LATERAL (",
            $lookup,
            ") AS r"
        )
    };
}

/// What a read looks up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Instance(InstanceId),
    Binding(InstanceId, BindingId),
    Operation(OperationId),
    /// The operation in flight on an instance (at most one).
    InFlight(InstanceId),
    /// The newest operation on an instance itself (not on one of its bindings).
    LatestOfInstance(InstanceId),
    LatestOfBinding(InstanceId, BindingId),
}

/// Lookups of one kind share a statement and can be batched together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKind {
    Instance,
    Binding,
    Operation,
    InFlight,
    LatestOfInstance,
    LatestOfBinding,
}

impl Lookup {
    pub fn kind(&self) -> LookupKind {
        match self {
            Self::Instance(_) => LookupKind::Instance,
            Self::Binding(..) => LookupKind::Binding,
            Self::Operation(_) => LookupKind::Operation,
            Self::InFlight(_) => LookupKind::InFlight,
            Self::LatestOfInstance(_) => LookupKind::LatestOfInstance,
            Self::LatestOfBinding(..) => LookupKind::LatestOfBinding,
        }
    }

    /// The statement for this lookup alone.
    pub fn statement(&self) -> Statement<'_> {
        let (sql, params) = match self {
            Self::Instance(id) => (instance_by_id!("$1"), vec![text(id.as_str())]),
            Self::Binding(instance, id) => (
                binding_by_id!("$1", "$2"),
                vec![text(instance.as_str()), text(id.as_str())],
            ),
            Self::Operation(id) => (operation_by_id!("$1"), vec![Param::Id(*id)]),
            Self::InFlight(instance) => (operation_in_flight!("$1"), vec![text(instance.as_str())]),
            Self::LatestOfInstance(instance) => {
                (latest_of_instance!("$1"), vec![text(instance.as_str())])
            }
            Self::LatestOfBinding(instance, id) => (
                latest_of_binding!("$1", "$2"),
                vec![text(instance.as_str()), text(id.as_str())],
            ),
        };
        Statement { sql, params }
    }

    /// The lookup's key columns, as text.
    fn keys(&self) -> (String, Option<String>) {
        match self {
            Self::Instance(id) | Self::InFlight(id) | Self::LatestOfInstance(id) => {
                (id.as_str().to_owned(), None)
            }
            Self::Operation(id) => (id.to_string(), None),
            Self::Binding(instance, id) | Self::LatestOfBinding(instance, id) => {
                (instance.as_str().to_owned(), Some(id.as_str().to_owned()))
            }
        }
    }
}

impl LookupKind {
    /// PostgreSQL's statement for a batch of lookups of this kind; its rows carry
    /// [`BATCH_INDEX`].
    fn batch_sql(self) -> &'static str {
        match self {
            Self::Instance => batch_of_one!(instance_by_id!("k.key1")),
            Self::Binding => batch_of_two!(binding_by_id!("k.key1", "k.key2")),
            Self::Operation => batch_of_one!(operation_by_id!("k.key1::uuid")),
            Self::InFlight => batch_of_one!(operation_in_flight!("k.key1")),
            Self::LatestOfInstance => batch_of_one!(latest_of_instance!("k.key1")),
            Self::LatestOfBinding => batch_of_two!(latest_of_binding!("k.key1", "k.key2")),
        }
    }
}

/// One PostgreSQL statement answering every lookup of `lookups`, which are all of `kind`; a row
/// answers the lookup at position [`BATCH_INDEX`] - 1.
pub fn batch<'a>(
    kind: LookupKind,
    lookups: impl Iterator<Item = &'a Lookup>,
) -> Statement<'static> {
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for lookup in lookups {
        debug_assert_eq!(lookup.kind(), kind);
        let (key1, key2) = lookup.keys();
        first.push(key1);
        second.extend(key2);
    }
    let mut params = vec![Param::TextList(first)];
    if !second.is_empty() {
        params.push(Param::TextList(second));
    }
    Statement {
        sql: kind.batch_sql(),
        params,
    }
}

fn text(value: &str) -> Param<'_> {
    Param::Text(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_binds_one_array_per_key_column_in_lookup_order() {
        let i = |s: &str| InstanceId::parse(s.to_owned()).unwrap();
        let b = |s: &str| BindingId::parse(s.to_owned()).unwrap();
        let lookups = [
            Lookup::LatestOfBinding(i("a"), b("x")),
            Lookup::LatestOfBinding(i("b"), b("y")),
        ];
        let statement = batch(LookupKind::LatestOfBinding, lookups.iter());
        assert!(statement.sql.contains("unnest($1::text[], $2::text[])"));
        assert!(
            statement
                .sql
                .contains("instance_id = k.key1 AND binding_id = k.key2")
        );
        match statement.params.as_slice() {
            [Param::TextList(first), Param::TextList(second)] => {
                assert_eq!(first, &["a", "b"]);
                assert_eq!(second, &["x", "y"]);
            }
            other => panic!("unexpected parameters {other:?}"),
        }
        let one = batch(LookupKind::Instance, [Lookup::Instance(i("a"))].iter());
        assert_eq!(one.params.len(), 1);
    }
}
