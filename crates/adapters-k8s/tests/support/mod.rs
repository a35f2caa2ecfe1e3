//! Helpers shared by this crate's integration tests.
#![allow(dead_code)]

pub mod bindings;
pub mod cases;
pub mod crd;
pub mod world;
