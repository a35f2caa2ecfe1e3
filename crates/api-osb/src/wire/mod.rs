//! The JSON the OSB API speaks, with OpenAPI schemas.

pub mod binding;
pub mod catalog;
pub mod instance;
