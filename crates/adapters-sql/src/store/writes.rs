//! The domain's writes as one write transaction ([`crate::transaction`]), and what the failure
//! of each of its statements means to the domain.

use pgbroker_domain::Operation;
use pgbroker_domain::ports::{StoreError, Write};

use crate::dialect::Statement;
use crate::error::{Refusal, refusal, unavailable};
use crate::statements;
use crate::transaction::{Change, Check, Failed};

/// What a statement of the transaction is to the domain.
#[derive(Debug)]
enum Part<'a> {
    /// Inserting this operation (refused while another is in flight on its instance).
    Operation(&'a Operation),
    /// Inserting `what`, whose foreign key points to `parent`.
    Insert {
        what: String,
        parent: Option<String>,
    },
    /// Updating `what`, which must exist.
    Update(String),
    /// Deleting, described.
    Delete(String),
    /// The statement of the caller's own (settling an operation).
    Own,
}

/// Statements to run as one transaction, and what each one is.
#[derive(Debug, Default)]
pub(super) struct Transaction<'a> {
    changes: Vec<Change<'a>>,
    parts: Vec<Part<'a>>,
}

/// What the failure of a statement of a [`Transaction`] means; see [`Meanings::error`].
#[derive(Debug)]
pub(super) struct Meanings<'a> {
    parts: Vec<Part<'a>>,
}

impl<'a> Transaction<'a> {
    /// A statement of the caller's own; its failure is the caller's to interpret.
    pub(super) fn own(&mut self, statement: Statement<'a>, check: Check) {
        self.push(statement, check, Part::Own);
    }

    fn push(&mut self, statement: Statement<'a>, check: Check, part: Part<'a>) {
        self.changes.push(Change::new(statement, check));
        self.parts.push(part);
    }

    /// Inserts `op`.
    pub(super) fn operation(&mut self, op: &'a Operation) -> Result<(), StoreError> {
        let target = op
            .target
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| {
                StoreError::Unavailable(format!("recording operation {}: target spec: {e}", op.id))
            })?;
        let statement = statements::insert_operation(op, target);
        self.push(statement, Check::None, Part::Operation(op));
        Ok(())
    }

    /// Applies `writes`, in order.
    pub(super) fn writes(&mut self, writes: &'a [Write]) {
        for write in writes {
            match write {
                Write::InsertInstance(i) => self.push(
                    statements::insert_instance(i),
                    Check::None,
                    Part::Insert {
                        what: format!("instance {}", i.id),
                        parent: None,
                    },
                ),
                Write::UpdateInstance(i) => self.push(
                    statements::update_instance(i),
                    Check::Changed,
                    Part::Update(format!("instance {}", i.id)),
                ),
                Write::DeleteInstance(id) => {
                    for statement in statements::delete_instance(id) {
                        let part = Part::Delete(format!("deleting instance {id}"));
                        self.push(statement, Check::None, part);
                    }
                }
                Write::InsertBinding(b) => self.push(
                    statements::insert_binding(b),
                    Check::None,
                    Part::Insert {
                        what: format!("binding {} of instance {}", b.id, b.instance_id),
                        parent: Some(format!("instance {}", b.instance_id)),
                    },
                ),
                Write::UpdateBinding(b) => self.push(
                    statements::update_binding(b),
                    Check::Changed,
                    Part::Update(format!("binding {} of instance {}", b.id, b.instance_id)),
                ),
                Write::DeleteBinding(instance, id) => self.push(
                    statements::delete_binding(instance, id),
                    Check::None,
                    Part::Delete(format!("deleting binding {id} of instance {instance}")),
                ),
            }
        }
    }

    /// The statements to hand to [`crate::dialect::Dialect::transact`], and their meanings.
    pub(super) fn split(self) -> (Vec<Change<'a>>, Meanings<'a>) {
        (self.changes, Meanings { parts: self.parts })
    }
}

impl Meanings<'_> {
    /// `failed` as the domain's error; `doing` describes the whole transaction.
    pub(super) fn error(&self, failed: Failed, doing: impl Fn() -> String) -> StoreError {
        let (index, error) = match failed {
            Failed::Transaction(e) => return unavailable(doing(), e),
            Failed::Unchanged(index) => {
                return match self.parts.get(index) {
                    Some(Part::Update(what)) => StoreError::NotFound(what.clone()),
                    _ => StoreError::Unavailable(format!(
                        "{}: its statement {index} changed no row",
                        doing()
                    )),
                };
            }
            Failed::Statement(index, e) => (index, e),
        };
        match self.parts.get(index) {
            Some(Part::Operation(op)) => match refusal(&error) {
                Some(Refusal::InFlight) => StoreError::Busy(op.instance_id.clone()),
                Some(Refusal::Duplicate) => {
                    StoreError::AlreadyExists(format!("operation {}", op.id))
                }
                _ => unavailable(format_args!("recording operation {}", op.id), error),
            },
            Some(Part::Insert { what, parent }) => match (refusal(&error), parent) {
                (Some(Refusal::Duplicate), _) => StoreError::AlreadyExists(what.clone()),
                (Some(Refusal::NoParent), Some(parent)) => StoreError::NotFound(parent.clone()),
                _ => unavailable(format_args!("inserting {what}"), error),
            },
            Some(Part::Update(what)) => unavailable(format_args!("updating {what}"), error),
            Some(Part::Delete(deleting)) => unavailable(deleting, error),
            Some(Part::Own) | None => unavailable(doing(), error),
        }
    }
}
