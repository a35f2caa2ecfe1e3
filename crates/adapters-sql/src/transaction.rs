//! A write transaction as one unit: statements run in order, each with what it must change, and
//! committed together or not at all. How it reaches the database is the dialect's
//! ([`crate::dialect::Dialect::transact`]): statement by statement in a sqlx transaction on
//! PostgreSQL (`postgres.rs`), as one text in one call on SQLite (`sqlite/batch.rs`).

use crate::dialect::Statement;

/// A statement of a write transaction and what it must do for the transaction to go on.
#[derive(Debug)]
pub struct Change<'a> {
    pub statement: Statement<'a>,
    pub check: Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Whatever it changes.
    None,
    /// At least one row, or nothing of the transaction is written ([`Failed::Unchanged`]).
    Changed,
    /// Its rows (`RETURNING`) are the transaction's answer.
    Returns,
}

impl<'a> Change<'a> {
    pub fn new(statement: Statement<'a>, check: Check) -> Self {
        Self { statement, check }
    }
}

/// Why a write transaction wrote nothing.
#[derive(Debug)]
pub enum Failed {
    /// Its statement at this index failed.
    Statement(usize, sqlx::Error),
    /// Its statement at this index changed no row (see [`Check::Changed`]).
    Unchanged(usize),
    /// Opening or committing it failed.
    Transaction(sqlx::Error),
}

impl Failed {
    /// The error behind it, if any (not for [`Failed::Unchanged`]).
    pub fn into_error(self) -> Option<sqlx::Error> {
        match self {
            Self::Statement(_, e) | Self::Transaction(e) => Some(e),
            Self::Unchanged(_) => None,
        }
    }
}
