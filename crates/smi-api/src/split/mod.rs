//! `split.smi-spec.io`: TrafficSplit. v1alpha4 is the hub.

pub mod v1alpha1;
pub mod v1alpha2;
pub mod v1alpha3;
pub mod v1alpha4;
