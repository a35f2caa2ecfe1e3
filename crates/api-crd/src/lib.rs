//! Kubernetes operator front door: the `PostgreSQLServer` and `PostgreSQLDatabase` custom
//! resources (group `pgbroker.io`, version `v1alpha1`) and their CustomResourceDefinitions.

pub mod controller;
pub mod crd;

pub use controller::Operator;
pub use crd::{
    PostgreSQLDatabase, PostgreSQLServer, crd_file, crd_file_name, crd_yaml, crds, crds_yaml,
};
