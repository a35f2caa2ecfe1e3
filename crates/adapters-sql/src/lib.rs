//! adapters-sql
